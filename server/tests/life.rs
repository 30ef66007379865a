//! A message's life through real sockets: edits, deletions and reactions
//! reach everyone and replay on resume; only the author changes a message;
//! nothing crosses a project or reaches a conversation one is not in;
//! replies quote, mentions count, search finds only what one may see.

mod support;

use protocol::{
    Change, ChatMessage, ClientMsg, Conversation, ErrorCode, MessageId, Reaction, ServerMsg, Update, UserId,
};
use std::time::Duration;
use support::*;

const QUIET: Duration = Duration::from_millis(300);

async fn ack_id(c: &mut Client) -> MessageId {
    match c.recv_chat().await {
        ServerMsg::Ack { id, .. } => id,
        other => panic!("expected ack, got {other:?}"),
    }
}

async fn message(c: &mut Client) -> ChatMessage {
    match c.recv_chat().await {
        ServerMsg::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn update(c: &mut Client) -> Update {
    match c.recv_chat().await {
        ServerMsg::Update(u) => u,
        other => panic!("expected an update, got {other:?}"),
    }
}

/// The error frame about a change of message `target`.
async fn refused(c: &mut Client, target: MessageId) -> ErrorCode {
    match c.recv_chat().await {
        ServerMsg::Error { code, target: Some(t), .. } if t == target => code,
        other => panic!("expected an error about {target}, got {other:?}"),
    }
}

fn edit(id: MessageId, body: &str) -> ClientMsg {
    ClientMsg::Edit { id, body: body.into() }
}

fn react(id: MessageId, emoji: &str, on: bool) -> ClientMsg {
    ClientMsg::React { id, emoji: emoji.into(), on }
}

async fn history(c: &mut Client, conversation: Conversation) -> Vec<ChatMessage> {
    c.send(&ClientMsg::History { conversation, before: None, limit: None }).await;
    match c.recv_chat().await {
        ServerMsg::History { messages, .. } => messages,
        other => panic!("expected history, got {other:?}"),
    }
}

async fn search(c: &mut Client, query: &str) -> Vec<String> {
    c.send(&ClientMsg::Search { query: query.into(), before: None, limit: None }).await;
    match c.recv_chat().await {
        ServerMsg::Search { results, .. } => results.into_iter().map(|m| m.body).collect(),
        other => panic!("expected search results, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_offline_during_an_edit_a_delete_and_a_reaction_gets_all_three_on_resume() {
    let server = TestServer::start().await;
    let (mut a, wa) = server.guest("alice", "life").await;
    let (mut b, wb) = server.guest("bob", "life").await;
    let mut ids = Vec::new();
    for (i, body) in ["first", "second", "third"].into_iter().enumerate() {
        a.say(&format!("l-{i}"), Conversation::Room, body).await;
        ids.push(ack_id(&mut a).await);
        assert_eq!(message(&mut b).await.id, ids[i]);
    }
    drop(b);
    a.send(&edit(ids[0], "first, fixed")).await;
    let edited = update(&mut a).await; // the update is the author's ack
    a.send(&react(ids[1], "👍", true)).await;
    let reacted = update(&mut a).await;
    a.send(&ClientMsg::Delete { id: ids[2] }).await;
    let deleted = update(&mut a).await;
    assert!(ids[2] < edited.id && edited.id < reacted.id && reacted.id < deleted.id);
    assert_eq!(edited.change, Change::Edited { body: "first, fixed".into(), edited_at: edited.ts });
    let alice = wa.me.id.clone();
    let thumbs = vec![Reaction { emoji: "👍".into(), users: vec![alice.clone()] }];
    assert_eq!(reacted.change, Change::Reactions { reactions: thumbs.clone() });
    assert_eq!((deleted.change.clone(), deleted.by.clone()), (Change::Deleted, alice));

    let mut b = server.connect().await;
    b.hello(token(&wb.session_token), Some(ids[2])).await;
    assert_eq!(update(&mut b).await, edited);
    assert_eq!(update(&mut b).await, reacted);
    assert_eq!(update(&mut b).await, deleted);
    assert_eq!(b.recv_chat().await, ServerMsg::Synced { cursor: Some(deleted.id) });
    b.quiet(QUIET).await; // exactly once: nothing replayed twice, nothing live again

    // The same client resuming from the last update gets nothing more.
    let mut again = server.connect().await;
    again.hello(token(&wb.session_token), Some(deleted.id)).await;
    assert_eq!(again.recv_chat().await, ServerMsg::Synced { cursor: Some(deleted.id) });

    // History shows the current state, with no replay needed.
    let page = history(&mut b, Conversation::Room).await;
    let [first, second, third] = &page[..] else { panic!("{page:?}") };
    assert_eq!((first.body.as_str(), first.edited_at), ("first, fixed", Some(edited.ts)));
    assert_eq!(second.reactions, thumbs);
    assert!(third.deleted && third.body.is_empty(), "a tombstone without its body: {third:?}");
}

/// A client that asks for `replay_batches` gets the backlog's messages in
/// `replay` frames, in their current state, and each change as its own
/// `update` frame in id order between them.
#[tokio::test]
async fn a_batched_replay_interleaves_update_frames_in_id_order() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "batched").await;
    let (_b, wb) = server.guest("bob", "batched").await;
    let mut ids = Vec::new();
    for (i, body) in ["one", "two"].into_iter().enumerate() {
        a.say(&format!("b-{i}"), Conversation::Room, body).await;
        ids.push(ack_id(&mut a).await);
    }
    a.send(&edit(ids[0], "one, fixed")).await;
    let edited = update(&mut a).await;
    a.say("b-2", Conversation::Room, "three").await;
    ids.push(ack_id(&mut a).await);
    a.send(&ClientMsg::Delete { id: ids[1] }).await;
    let deleted = update(&mut a).await;

    let mut b = server.connect().await;
    let hello = protocol::Hello {
        protocol: 1,
        auth: token(&wb.session_token),
        cursor: Some(MessageId(0)),
        replay_batches: true,
    };
    b.send(&ClientMsg::Hello(hello)).await;
    let mut got: Vec<String> = Vec::new();
    loop {
        match b.recv_chat().await {
            ServerMsg::Welcome(_) => {}
            ServerMsg::Replay { messages } => {
                got.push(format!("replay {:?}", messages.iter().map(|m| m.id.0).collect::<Vec<_>>()));
                if let Some(first) = messages.iter().find(|m| m.id == ids[0]) {
                    assert_eq!(first.body, "one, fixed", "a replayed message is in its current state");
                }
                if let Some(second) = messages.iter().find(|m| m.id == ids[1]) {
                    assert!(second.deleted && second.body.is_empty(), "{second:?}");
                }
            }
            ServerMsg::Update(u) => got.push(format!("update {}", u.id.0)),
            ServerMsg::Synced { cursor } => {
                assert_eq!(cursor, Some(deleted.id));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let expected = [
        format!("replay {:?}", [ids[0].0, ids[1].0]),
        format!("update {}", edited.id.0),
        format!("replay {:?}", [ids[2].0]),
        format!("update {}", deleted.id.0),
    ];
    assert_eq!(got, expected);
}

#[tokio::test]
async fn live_changes_reach_everyone_in_the_conversation_and_no_one_else() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "reach").await;
    let (mut b, wb) = server.guest("bob", "reach").await;
    let (mut c, _) = server.guest("carol", "reach").await;
    a.say("d-1", dm(&wb.me.id), "just us").await;
    let id = ack_id(&mut a).await;
    message(&mut b).await;
    b.send(&react(id, "🎉", true)).await;
    let seen_by_b = update(&mut b).await;
    assert_eq!(update(&mut a).await, seen_by_b);
    assert_eq!(seen_by_b.conversation_for(&wb.me.id), dm(&seen_by_b.author));
    c.quiet(QUIET).await;
}

#[tokio::test]
async fn only_the_author_edits_or_deletes_a_message() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "own").await;
    let (mut b, _) = server.guest("bob", "own").await;
    a.say("o-1", Conversation::Room, "mine").await;
    let id = ack_id(&mut a).await;
    message(&mut b).await;
    b.send(&edit(id, "now it says what bob wants")).await;
    assert_eq!(refused(&mut b, id).await, ErrorCode::NotAuthor);
    b.send(&ClientMsg::Delete { id }).await;
    assert_eq!(refused(&mut b, id).await, ErrorCode::NotAuthor);
    // A user id in the frame is not part of the protocol: it changes nothing.
    b.send_text(&format!(r#"{{"type":"delete","id":{},"by":"{}"}}"#, id.0, "alice")).await;
    assert_eq!(refused(&mut b, id).await, ErrorCode::NotAuthor);
    b.send(&edit(MessageId(id.0 + 1000), "x")).await;
    assert_eq!(refused(&mut b, MessageId(id.0 + 1000)).await, ErrorCode::UnknownMessage);
    b.send(&edit(id, "   ")).await;
    assert_eq!(refused(&mut b, id).await, ErrorCode::BodyEmpty);
    a.quiet(QUIET).await;
    assert_eq!(history(&mut a, Conversation::Room).await[0].body, "mine");

    a.send(&ClientMsg::Delete { id }).await;
    assert_eq!(update(&mut a).await.change, Change::Deleted);
    assert_eq!(update(&mut b).await.change, Change::Deleted);
    a.send(&edit(id, "back")).await;
    assert_eq!(refused(&mut a, id).await, ErrorCode::MessageDeleted);
}

#[tokio::test]
async fn an_edit_window_closes_edits_but_not_deletion() {
    let server = TestServer::start_with(|c| c.edit_window = 1).await;
    let (mut a, wa) = server.guest("alice", "window").await;
    assert_eq!(wa.limits.edit_window_secs, Some(1));
    a.say("w-1", Conversation::Room, "soon too old").await;
    let id = ack_id(&mut a).await;
    // The window is measured from the stored timestamp: wait until the
    // message is surely older than it (the test does not depend on speed:
    // it only waits long enough, then expects the refusal).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    a.send(&edit(id, "late")).await;
    assert_eq!(refused(&mut a, id).await, ErrorCode::EditWindowClosed);
    a.send(&ClientMsg::Delete { id }).await;
    assert_eq!(update(&mut a).await.change, Change::Deleted);
}

#[tokio::test]
async fn a_rate_limited_change_names_its_message_so_the_client_resends_it() {
    // A burst of 3 and then one frame a second: of 10 edits sent at once at
    // least 6 are refused, however fast or slow the machine.
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 1;
        c.rate_burst = 3;
        c.rate_kick_after = 1_000;
    })
    .await;
    let (mut a, _) = server.guest("alice", "limited").await;
    a.say("l-1", Conversation::Room, "typo").await;
    let id = ack_id(&mut a).await;
    for i in 0..10 {
        a.send(&edit(id, &format!("fixed {i}"))).await;
    }
    let (mut edited, mut limited) = (0, 0);
    while edited + limited < 10 {
        match a.recv_chat().await {
            ServerMsg::Update(u) if u.target == id => edited += 1,
            ServerMsg::Error { code: ErrorCode::RateLimited, target, client_id, .. } => {
                assert_eq!((target, client_id), (Some(id), None), "the refused edit is named by its target");
                limited += 1;
            }
            other => panic!("expected an update or rate_limited, got {other:?}"),
        }
    }
    assert!(limited >= 6, "{edited} edited, {limited} rate_limited");
}

#[tokio::test]
async fn reactions_reach_only_messages_one_can_see() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "seen").await;
    let (mut b, wb) = server.guest("bob", "seen").await;
    let (mut c, _) = server.guest("carol", "seen").await;
    let (mut x, _) = server.guest("xavier", "elsewhere").await;
    a.say("s-1", Conversation::Room, "room").await;
    let room = ack_id(&mut a).await;
    a.say("s-2", dm(&wb.me.id), "private").await;
    let direct = ack_id(&mut a).await;
    x.send(&react(room, "👍", true)).await;
    assert_eq!(refused(&mut x, room).await, ErrorCode::UnknownMessage, "another project's message");
    message(&mut c).await; // the room message
    c.send(&react(direct, "👍", true)).await;
    assert_eq!(refused(&mut c, direct).await, ErrorCode::UnknownMessage, "a DM carol is not in");
    c.send(&react(room, "🦄", true)).await;
    assert_eq!(refused(&mut c, room).await, ErrorCode::UnknownReaction);
    message(&mut b).await;
    message(&mut b).await;
    b.quiet(QUIET).await;
    for _ in 0..2 {
        c.send(&react(room, "👍", true)).await; // once per user per emoji
    }
    let u = update(&mut c).await;
    assert_eq!(update(&mut c).await.change, u.change);
    c.send(&react(room, "👍", false)).await;
    assert_eq!(update(&mut c).await.change, Change::Reactions { reactions: vec![] });
}

#[tokio::test]
async fn a_reply_quotes_its_message_and_a_mention_counts_apart() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "reply").await;
    let (b, wb) = server.guest("bob", "reply").await;
    drop(b);
    a.say("r-1", Conversation::Room, "lunch?").await;
    let asked = ack_id(&mut a).await;
    let mention = |client_id: &str, mentions: Vec<UserId>| ClientMsg::Send {
        client_id: cid(client_id),
        to: Conversation::Room,
        body: "@bob yes".into(),
        reply_to: Some(asked),
        mentions,
    };
    a.send(&mention("r-2", vec![wb.me.id.clone()])).await;
    ack_id(&mut a).await;
    a.send(&mention("r-3", vec![UserId::new("nobody").unwrap()])).await;
    assert!(matches!(a.recv_chat().await, ServerMsg::Error { code: ErrorCode::UnknownUser, .. }));
    let many = (0..21).map(|i| UserId::new(format!("u{i}")).unwrap()).collect();
    a.send(&mention("r-4", many)).await;
    assert!(matches!(a.recv_chat().await, ServerMsg::Error { code: ErrorCode::TooManyMentions, .. }));

    let (mut b, wb) = server.tab(&wb).await;
    let room = wb.unread.iter().find(|u| u.conversation == Conversation::Room).expect("room unread");
    assert_eq!((room.count, room.mentions), (2, 1));
    let page = history(&mut b, Conversation::Room).await;
    let quote = page[1].reply_to.clone().expect("a quote");
    assert_eq!((quote.id, quote.body.as_str()), (asked, "lunch?"));
    assert_eq!(page[1].mentions, std::slice::from_ref(&wb.me.id));
}

#[tokio::test]
async fn search_never_returns_another_user_s_dms_or_another_project_s_messages() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "find").await;
    let (mut b, wb) = server.guest("bob", "find").await;
    let (_c, wc) = server.guest("carol", "find").await;
    let (mut x, _) = server.guest("xavier", "find-other").await;
    a.say("f-1", Conversation::Room, "banana bread").await;
    ack_id(&mut a).await;
    a.say("f-2", dm(&wb.me.id), "banana secret").await;
    ack_id(&mut a).await;
    message(&mut b).await;
    message(&mut b).await;
    b.say("f-3", dm(&wc.me.id), "banana split").await;
    ack_id(&mut b).await;
    x.say("f-4", Conversation::Room, "banana elsewhere").await;
    ack_id(&mut x).await;
    assert_eq!(search(&mut a, "banana").await, ["banana secret", "banana bread"]);
    assert_eq!(search(&mut x, "banana").await, ["banana elsewhere"]);
    assert_eq!(search(&mut b, "BANANA split").await, ["banana split"]);
    a.send(&ClientMsg::Search { query: " ".into(), before: None, limit: None }).await;
    assert!(matches!(a.recv_chat().await, ServerMsg::Error { code: ErrorCode::InvalidMessage, .. }));
    a.send(&ClientMsg::Search { query: "b".repeat(201), before: None, limit: None }).await;
    assert!(matches!(a.recv_chat().await, ServerMsg::Error { code: ErrorCode::InvalidMessage, .. }));
}
