//! Golden tests: the exact JSON of every variant (other clients are written
//! from PROTOCOL.md, which shows these same strings), and round trips.

use super::*;
use crate::limits::Limits;

fn uid(s: &str) -> UserId {
    UserId::new(s).unwrap()
}
fn cid(s: &str) -> ClientMsgId {
    ClientMsgId::new(s).unwrap()
}
fn profile(id: &str, name: &str) -> Profile {
    Profile { id: uid(id), name: name.into(), color: "#e0245e".into() }
}
fn dm(to: &str) -> Conversation {
    Conversation::Direct { user: uid(to) }
}

fn golden<T>(value: T, json: &str)
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(serde_json::to_string(&value).unwrap(), json);
    assert_eq!(serde_json::from_str::<T>(json).unwrap(), value, "round trip of {json}");
}

#[test]
fn client_messages() {
    golden(
        ClientMsg::Hello(Hello {
            protocol: 1,
            auth: Auth::Guest { name: "mks".into(), color: "#e0245e".into(), project: ProjectId::new("2424").unwrap() },
            cursor: None,
            replay_batches: false,
        }),
        r##"{"type":"hello","protocol":1,"auth":{"kind":"guest","name":"mks","color":"#e0245e","project":"2424"}}"##,
    );
    golden(
        ClientMsg::Hello(Hello {
            protocol: 1,
            auth: Auth::Token { token: "eyJ...".into(), project: Some(ProjectId::new("2424").unwrap()) },
            cursor: Some(MessageId(41)),
            replay_batches: false,
        }),
        r#"{"type":"hello","protocol":1,"auth":{"kind":"token","token":"eyJ...","project":"2424"},"cursor":41}"#,
    );
    golden(
        ClientMsg::Hello(Hello {
            protocol: 1,
            auth: Auth::Token { token: "eyJ...".into(), project: None },
            cursor: Some(MessageId(41)),
            replay_batches: true,
        }),
        r#"{"type":"hello","protocol":1,"auth":{"kind":"token","token":"eyJ..."},"cursor":41,"replay_batches":true}"#,
    );
    golden(
        ClientMsg::Send { client_id: cid("c-1"), to: dm("5"), body: "hi <b>".into() },
        r#"{"type":"send","client_id":"c-1","to":{"kind":"direct","user":"5"},"body":"hi <b>"}"#,
    );
    golden(
        ClientMsg::Send { client_id: cid("c-2"), to: Conversation::Room, body: "all".into() },
        r#"{"type":"send","client_id":"c-2","to":{"kind":"room"},"body":"all"}"#,
    );
    golden(
        ClientMsg::Typing { to: dm("5"), active: true },
        r#"{"type":"typing","to":{"kind":"direct","user":"5"},"active":true}"#,
    );
    golden(
        ClientMsg::History { conversation: Conversation::Room, before: Some(MessageId(100)), limit: Some(50) },
        r#"{"type":"history","conversation":{"kind":"room"},"before":100,"limit":50}"#,
    );
    golden(
        ClientMsg::History { conversation: dm("5"), before: None, limit: None },
        r#"{"type":"history","conversation":{"kind":"direct","user":"5"}}"#,
    );
    golden(
        ClientMsg::Read { conversation: dm("5"), up_to: MessageId(42) },
        r#"{"type":"read","conversation":{"kind":"direct","user":"5"},"up_to":42}"#,
    );
    golden(
        ClientMsg::Users { query: Some("ma".into()), after: Some(uid("5")), limit: Some(100) },
        r#"{"type":"users","query":"ma","after":"5","limit":100}"#,
    );
    golden(ClientMsg::Users { query: None, after: None, limit: None }, r#"{"type":"users"}"#);
    golden(ClientMsg::Ping, r#"{"type":"ping"}"#);
}

fn chat_message() -> ChatMessage {
    ChatMessage {
        id: MessageId(42),
        ts: 1_764_000_000_000,
        from: profile("7", "mks"),
        to: dm("5"),
        body: "hi".into(),
        client_id: Some(cid("c-1")),
    }
}

#[test]
fn server_messages() {
    golden(
        ServerMsg::Welcome(Welcome {
            protocol: 1,
            me: profile("7", "mks"),
            project: ProjectId::new("2424").unwrap(),
            session_token: "eyJ...".into(),
            session_expires: 1_766_592_000_000,
            online: vec![profile("7", "mks")],
            unread: vec![UnreadCount { conversation: dm("5"), count: 3, read_up_to: Some(MessageId(40)) }],
            limits: Limits::default(),
        }),
        r##"{"type":"welcome","protocol":1,"me":{"id":"7","name":"mks","color":"#e0245e"},"project":"2424","session_token":"eyJ...","session_expires":1766592000000,"online":[{"id":"7","name":"mks","color":"#e0245e"}],"unread":[{"conversation":{"kind":"direct","user":"5"},"count":3,"read_up_to":40}],"limits":{"max_frame_bytes":65536,"max_body_chars":4000,"rate_per_sec":20,"rate_burst":40,"history_page_max":200}}"##,
    );
    golden(
        ServerMsg::Message(chat_message()),
        r##"{"type":"message","id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"hi","client_id":"c-1"}"##,
    );
    golden(
        ServerMsg::Replay { messages: vec![chat_message()] },
        r##"{"type":"replay","messages":[{"id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"hi","client_id":"c-1"}]}"##,
    );
    golden(
        ServerMsg::Ack { client_id: cid("c-1"), id: MessageId(42), ts: 1_764_000_000_000, duplicate: false },
        r#"{"type":"ack","client_id":"c-1","id":42,"ts":1764000000000}"#,
    );
    golden(
        ServerMsg::Ack { client_id: cid("c-1"), id: MessageId(42), ts: 1_764_000_000_000, duplicate: true },
        r#"{"type":"ack","client_id":"c-1","id":42,"ts":1764000000000,"duplicate":true}"#,
    );
    golden(
        ServerMsg::Presence { user: profile("5", "ann"), online: true },
        r##"{"type":"presence","user":{"id":"5","name":"ann","color":"#e0245e"},"online":true}"##,
    );
    golden(
        ServerMsg::Online { users: vec![profile("5", "ann")] },
        r##"{"type":"online","users":[{"id":"5","name":"ann","color":"#e0245e"}]}"##,
    );
    golden(
        ServerMsg::Typing { from: uid("7"), to: Conversation::Room, active: false },
        r#"{"type":"typing","from":"7","to":{"kind":"room"},"active":false}"#,
    );
    golden(
        ServerMsg::History { conversation: dm("7"), messages: vec![chat_message()], has_more: true },
        r##"{"type":"history","conversation":{"kind":"direct","user":"7"},"messages":[{"id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"hi","client_id":"c-1"}],"has_more":true}"##,
    );
    golden(
        ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(42), unread: 0 },
        r#"{"type":"read","conversation":{"kind":"room"},"up_to":42,"unread":0}"#,
    );
    golden(ServerMsg::Synced { cursor: Some(MessageId(42)) }, r#"{"type":"synced","cursor":42}"#);
    golden(
        ServerMsg::Error {
            code: ErrorCode::UnknownUser,
            message: "no user 9 in this project".into(),
            client_id: Some(cid("c-3")),
        },
        r#"{"type":"error","code":"unknown_user","message":"no user 9 in this project","client_id":"c-3"}"#,
    );
    golden(
        ServerMsg::Users {
            query: Some("ma".into()),
            after: None,
            users: vec![Member { user: profile("7", "mks"), online: true }],
            has_more: false,
        },
        r##"{"type":"users","query":"ma","users":[{"user":{"id":"7","name":"mks","color":"#e0245e"},"online":true}],"has_more":false}"##,
    );
    golden(ServerMsg::Pong, r#"{"type":"pong"}"#);
    golden(
        ServerMsg::UserUpdated { user: profile("7", "Mark") },
        r##"{"type":"user_updated","user":{"id":"7","name":"Mark","color":"#e0245e"}}"##,
    );
    golden(ServerMsg::UserErased { user: uid("9") }, r#"{"type":"user_erased","user":"9"}"#);
}

#[test]
fn bot_ids_are_recognised() {
    assert!(uid("bot:deploy").is_bot());
    assert!(!uid("deploy").is_bot());
    assert!(!uid("g-bot:x").is_bot());
}

#[test]
fn error_codes_are_snake_case() {
    let all = [
        (ErrorCode::Malformed, "malformed"),
        (ErrorCode::UnknownType, "unknown_type"),
        (ErrorCode::InvalidMessage, "invalid_message"),
        (ErrorCode::BinaryFrame, "binary_frame"),
        (ErrorCode::HelloRequired, "hello_required"),
        (ErrorCode::HelloRepeated, "hello_repeated"),
        (ErrorCode::HelloRefused, "hello_refused"),
        (ErrorCode::UnknownUser, "unknown_user"),
        (ErrorCode::BodyEmpty, "body_empty"),
        (ErrorCode::BodyTooLong, "body_too_long"),
        (ErrorCode::RateLimited, "rate_limited"),
        (ErrorCode::Unavailable, "unavailable"),
    ];
    for (code, name) in all {
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{name}\""));
    }
}

#[test]
fn unknown_fields_are_ignored() {
    let msg: ClientMsg = serde_json::from_str(r#"{"type":"ping","extra":1}"#).unwrap();
    assert_eq!(msg, ClientMsg::Ping);
}

#[test]
fn invalid_ids_are_refused() {
    let bad = r#"{"type":"send","client_id":"c 1","to":{"kind":"room"},"body":"x"}"#;
    assert!(serde_json::from_str::<ClientMsg>(bad).is_err());
}

#[test]
fn conversation_seen_from_each_side() {
    let m = chat_message(); // 7 → 5
    assert_eq!(m.conversation_for(&uid("5")), dm("7"));
    assert_eq!(m.conversation_for(&uid("7")), dm("5"));
    let room = ChatMessage { to: Conversation::Room, ..m };
    assert_eq!(room.conversation_for(&uid("5")), Conversation::Room);
}
