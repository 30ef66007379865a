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

/// A server frame: golden, and read the same by `ServerMsg::from_frame`
/// (the client's reader) as by the derived `Deserialize`.
fn golden_server(value: ServerMsg, json: &str) {
    assert_eq!(ServerMsg::from_frame(json).as_ref(), Some(&value), "from_frame of {json}");
    golden(value, json);
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
        ClientMsg::Send { client_id: cid("c-1"), to: dm("5"), body: "hi <b>".into(), reply_to: None, mentions: vec![] },
        r#"{"type":"send","client_id":"c-1","to":{"kind":"direct","user":"5"},"body":"hi <b>"}"#,
    );
    golden(
        ClientMsg::Send {
            client_id: cid("c-2"),
            to: Conversation::Room,
            body: "all".into(),
            reply_to: None,
            mentions: vec![],
        },
        r#"{"type":"send","client_id":"c-2","to":{"kind":"room"},"body":"all"}"#,
    );
    golden(
        ClientMsg::Send {
            client_id: cid("c-3"),
            to: Conversation::Room,
            body: "@ann yes".into(),
            reply_to: Some(MessageId(41)),
            mentions: vec![uid("5")],
        },
        r#"{"type":"send","client_id":"c-3","to":{"kind":"room"},"body":"@ann yes","reply_to":41,"mentions":["5"]}"#,
    );
    golden(ClientMsg::Edit { id: MessageId(42), body: "fixed".into() }, r#"{"type":"edit","id":42,"body":"fixed"}"#);
    golden(ClientMsg::Delete { id: MessageId(42) }, r#"{"type":"delete","id":42}"#);
    golden(
        ClientMsg::React { id: MessageId(42), emoji: "👍".into(), on: true },
        r#"{"type":"react","id":42,"emoji":"👍","on":true}"#,
    );
    golden(
        ClientMsg::Search { query: "lunch".into(), before: Some(MessageId(90)), limit: Some(20) },
        r#"{"type":"search","query":"lunch","before":90,"limit":20}"#,
    );
    golden(
        ClientMsg::Search { query: "lunch".into(), before: None, limit: None },
        r#"{"type":"search","query":"lunch"}"#,
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
        client_id: Some(cid("c-1")),
        ..ChatMessage::plain(MessageId(42), 1_764_000_000_000, profile("7", "mks"), dm("5"), "hi".into())
    }
}

/// A room reply with everything a message can carry.
fn full_message() -> ChatMessage {
    ChatMessage {
        client_id: Some(cid("c-3")),
        edited_at: Some(1_764_000_060_000),
        reply_to: Some(Quote { id: MessageId(41), from: profile("5", "ann"), body: "lunch?".into(), deleted: false }),
        reactions: vec![Reaction { emoji: "👍".into(), users: vec![uid("5"), uid("9")] }],
        mentions: vec![uid("5")],
        ..ChatMessage::plain(
            MessageId(43),
            1_764_000_000_000,
            profile("7", "mks"),
            Conversation::Room,
            "@ann yes".into(),
        )
    }
}

fn update(change: Change) -> ServerMsg {
    ServerMsg::Update(Update {
        id: MessageId(57),
        ts: 1_764_000_060_000,
        target: MessageId(42),
        author: uid("7"),
        to: dm("5"),
        by: uid("7"),
        change,
    })
}

#[test]
fn server_messages() {
    golden_server(
        ServerMsg::Welcome(Welcome {
            protocol: 1,
            me: profile("7", "mks"),
            project: ProjectId::new("2424").unwrap(),
            session_token: "eyJ...".into(),
            session_expires: 1_766_592_000_000,
            online: vec![profile("7", "mks")],
            unread: vec![UnreadCount { conversation: dm("5"), count: 3, read_up_to: Some(MessageId(40)), mentions: 0 }],
            limits: Limits::default(),
            reactions: vec![],
        }),
        r##"{"type":"welcome","protocol":1,"me":{"id":"7","name":"mks","color":"#e0245e"},"project":"2424","session_token":"eyJ...","session_expires":1766592000000,"online":[{"id":"7","name":"mks","color":"#e0245e"}],"unread":[{"conversation":{"kind":"direct","user":"5"},"count":3,"read_up_to":40}],"limits":{"max_frame_bytes":65536,"max_body_chars":4000,"rate_per_sec":20,"rate_burst":40,"history_page_max":200,"max_mentions":20}}"##,
    );
    golden_server(
        ServerMsg::Welcome(Welcome {
            protocol: 1,
            me: profile("7", "mks"),
            project: ProjectId::new("2424").unwrap(),
            session_token: "eyJ...".into(),
            session_expires: 1_766_592_000_000,
            online: vec![],
            unread: vec![UnreadCount { conversation: Conversation::Room, count: 4, read_up_to: None, mentions: 1 }],
            limits: Limits { edit_window_secs: Some(900), ..Limits::default() },
            reactions: vec!["👍".into(), "🎉".into()],
        }),
        r##"{"type":"welcome","protocol":1,"me":{"id":"7","name":"mks","color":"#e0245e"},"project":"2424","session_token":"eyJ...","session_expires":1766592000000,"online":[],"unread":[{"conversation":{"kind":"room"},"count":4,"mentions":1}],"limits":{"max_frame_bytes":65536,"max_body_chars":4000,"rate_per_sec":20,"rate_burst":40,"history_page_max":200,"max_mentions":20,"edit_window_secs":900},"reactions":["👍","🎉"]}"##,
    );
    golden_server(
        ServerMsg::Message(chat_message()),
        r##"{"type":"message","id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"hi","client_id":"c-1"}"##,
    );
    golden_server(
        ServerMsg::Replay { messages: vec![chat_message()] },
        r##"{"type":"replay","messages":[{"id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"hi","client_id":"c-1"}]}"##,
    );
    golden_server(
        ServerMsg::Message(full_message()),
        r##"{"type":"message","id":43,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"room"},"body":"@ann yes","client_id":"c-3","edited_at":1764000060000,"reply_to":{"id":41,"from":{"id":"5","name":"ann","color":"#e0245e"},"body":"lunch?"},"reactions":[{"emoji":"👍","users":["5","9"]}],"mentions":["5"]}"##,
    );
    golden_server(
        ServerMsg::Message(ChatMessage { deleted: true, body: String::new(), ..chat_message() }),
        r##"{"type":"message","id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"","client_id":"c-1","deleted":true}"##,
    );
    golden_server(
        update(Change::Edited { body: "hi there".into(), edited_at: 1_764_000_060_000 }),
        r#"{"type":"update","id":57,"ts":1764000060000,"target":42,"author":"7","to":{"kind":"direct","user":"5"},"by":"7","change":{"kind":"edited","body":"hi there","edited_at":1764000060000}}"#,
    );
    golden_server(
        update(Change::Deleted),
        r#"{"type":"update","id":57,"ts":1764000060000,"target":42,"author":"7","to":{"kind":"direct","user":"5"},"by":"7","change":{"kind":"deleted"}}"#,
    );
    golden_server(
        update(Change::Reactions { reactions: vec![Reaction { emoji: "👍".into(), users: vec![uid("5")] }] }),
        r#"{"type":"update","id":57,"ts":1764000060000,"target":42,"author":"7","to":{"kind":"direct","user":"5"},"by":"7","change":{"kind":"reactions","reactions":[{"emoji":"👍","users":["5"]}]}}"#,
    );
    golden_server(
        ServerMsg::Search {
            query: "lunch".into(),
            before: Some(MessageId(90)),
            results: vec![chat_message()],
            has_more: false,
        },
        r##"{"type":"search","query":"lunch","before":90,"results":[{"id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"hi","client_id":"c-1"}],"has_more":false}"##,
    );
    golden_server(
        ServerMsg::Ack { client_id: cid("c-1"), id: MessageId(42), ts: 1_764_000_000_000, duplicate: false },
        r#"{"type":"ack","client_id":"c-1","id":42,"ts":1764000000000}"#,
    );
    golden_server(
        ServerMsg::Ack { client_id: cid("c-1"), id: MessageId(42), ts: 1_764_000_000_000, duplicate: true },
        r#"{"type":"ack","client_id":"c-1","id":42,"ts":1764000000000,"duplicate":true}"#,
    );
    golden_server(
        ServerMsg::Presence { user: profile("5", "ann"), online: true },
        r##"{"type":"presence","user":{"id":"5","name":"ann","color":"#e0245e"},"online":true}"##,
    );
    golden_server(
        ServerMsg::Online { users: vec![profile("5", "ann")] },
        r##"{"type":"online","users":[{"id":"5","name":"ann","color":"#e0245e"}]}"##,
    );
    golden_server(
        ServerMsg::Typing { from: uid("7"), to: Conversation::Room, active: false },
        r#"{"type":"typing","from":"7","to":{"kind":"room"},"active":false}"#,
    );
    golden_server(
        ServerMsg::History { conversation: dm("7"), messages: vec![chat_message()], has_more: true },
        r##"{"type":"history","conversation":{"kind":"direct","user":"7"},"messages":[{"id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"hi","client_id":"c-1"}],"has_more":true}"##,
    );
    golden_server(
        ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(42), unread: 0, mentions: 0 },
        r#"{"type":"read","conversation":{"kind":"room"},"up_to":42,"unread":0}"#,
    );
    golden_server(
        ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(42), unread: 3, mentions: 1 },
        r#"{"type":"read","conversation":{"kind":"room"},"up_to":42,"unread":3,"mentions":1}"#,
    );
    golden_server(ServerMsg::Synced { cursor: Some(MessageId(42)) }, r#"{"type":"synced","cursor":42}"#);
    golden_server(
        ServerMsg::Error {
            code: ErrorCode::UnknownUser,
            message: "no user 9 in this project".into(),
            client_id: Some(cid("c-3")),
            target: None,
        },
        r#"{"type":"error","code":"unknown_user","message":"no user 9 in this project","client_id":"c-3"}"#,
    );
    golden_server(
        ServerMsg::Error {
            code: ErrorCode::NotAuthor,
            message: "only its author can edit message 42".into(),
            client_id: None,
            target: Some(MessageId(42)),
        },
        r#"{"type":"error","code":"not_author","message":"only its author can edit message 42","target":42}"#,
    );
    golden_server(
        ServerMsg::Users {
            query: Some("ma".into()),
            after: None,
            users: vec![Member { user: profile("7", "mks"), online: true }],
            has_more: false,
        },
        r##"{"type":"users","query":"ma","users":[{"user":{"id":"7","name":"mks","color":"#e0245e"},"online":true}],"has_more":false}"##,
    );
    golden_server(ServerMsg::Pong, r#"{"type":"pong"}"#);
    golden_server(
        ServerMsg::UserUpdated { user: profile("7", "Mark") },
        r##"{"type":"user_updated","user":{"id":"7","name":"Mark","color":"#e0245e"}}"##,
    );
    golden_server(ServerMsg::UserErased { user: uid("9") }, r#"{"type":"user_erased","user":"9"}"#);
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
        (ErrorCode::UnknownMessage, "unknown_message"),
        (ErrorCode::NotAuthor, "not_author"),
        (ErrorCode::EditWindowClosed, "edit_window_closed"),
        (ErrorCode::MessageDeleted, "message_deleted"),
        (ErrorCode::UnknownReaction, "unknown_reaction"),
        (ErrorCode::TooManyMentions, "too_many_mentions"),
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
    let ServerMsg::Update(u) = update(Change::Deleted) else { unreachable!() }; // of 7 → 5
    assert_eq!(u.conversation_for(&uid("5")), dm("7"));
    assert_eq!(u.conversation_for(&uid("7")), dm("5"));
}

#[test]
fn an_old_message_without_the_new_fields_still_parses() {
    let old = r##"{"id":1,"ts":0,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"room"},"body":"hi"}"##;
    let m: ChatMessage = serde_json::from_str(old).unwrap();
    assert!(!m.deleted && m.reactions.is_empty() && m.reply_to.is_none());
    let limits: Limits = serde_json::from_str(
        r#"{"max_frame_bytes":1,"max_body_chars":1,"rate_per_sec":1,"rate_burst":1,"history_page_max":1}"#,
    )
    .unwrap();
    assert_eq!(limits.max_mentions, crate::limits::DEFAULT_MAX_MENTIONS);
}
