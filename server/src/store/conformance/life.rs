//! The suite's half about a message's life: changes in the log, current
//! state in history, who may change what, search, mentions, retention.

use super::*;
use protocol::{Change, Reaction};

pub fn change(project: &str, by: &str, target: MessageId, kind: ChangeKind) -> NewChange {
    NewChange { project: pid(project), by: uid(by), target, ts: 2_000, kind, authority: Authority::Member }
}

/// Stores changes only; their outcomes.
pub async fn apply_changes(store: &dyn Store, batch: Vec<NewChange>) -> Vec<Result<Update, Refused>> {
    let written = store.append(batch.into_iter().map(Write::from).collect()).await.unwrap();
    written
        .into_iter()
        .map(|w| match w {
            Written::Change(outcome) => outcome,
            Written::Message(m) => panic!("a change stored as a message: {m:?}"),
        })
        .collect()
}

fn edit(body: &str) -> ChangeKind {
    ChangeKind::Edit { body: body.into(), window: None }
}

fn react(emoji: &str, on: bool) -> ChangeKind {
    ChangeKind::React { emoji: emoji.into(), on }
}

pub(super) async fn changes_share_the_id_sequence_and_replay_in_order(store: &dyn Store) {
    let p = "life";
    let sent =
        append_messages(store, vec![new_message(p, "a", Conversation::Room, "l1"), new_message(p, "a", dm("b"), "l2")])
            .await;
    let (room, direct) = (sent[0].message.id, sent[1].message.id);
    // A message and changes in one batch: one id sequence, in batch order.
    let mixed = store
        .append(vec![
            change(p, "a", room, edit("l1 fixed")).into(),
            new_message(p, "b", Conversation::Room, "l3").into(),
            change(p, "b", room, react("👍", true)).into(),
            change(p, "a", direct, ChangeKind::Delete).into(),
        ])
        .await
        .unwrap();
    let ids: Vec<MessageId> = mixed
        .iter()
        .map(|w| match w {
            Written::Message(m) => m.message.id,
            Written::Change(c) => c.as_ref().unwrap().id,
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "increasing in batch order: {ids:?}");
    assert!(ids[0] > direct);
    let Written::Change(Ok(edited)) = &mixed[0] else { panic!() };
    assert_eq!(edited.change, Change::Edited { body: "l1 fixed".into(), edited_at: 2_000 });
    assert_eq!((edited.target, edited.author.clone(), edited.to.clone()), (room, uid("a"), Conversation::Room));
    let Written::Change(Ok(reacted)) = &mixed[2] else { panic!() };
    assert_eq!(
        reacted.change,
        Change::Reactions { reactions: vec![Reaction { emoji: "👍".into(), users: vec![uid("b")] }] }
    );
    let next = append_messages(store, vec![new_message(p, "a", Conversation::Room, "l4")]).await;
    assert!(next[0].message.id > ids[3], "messages continue after the changes' ids");

    // b replays everything after l2: the room changes and the DM deletion,
    // in id order, each carrying the current state.
    let replay = store.messages_after(&pid(p), &uid("b"), direct, 100).await.unwrap();
    assert_eq!(replay.iter().map(LogEntry::id).collect::<Vec<_>>(), [ids.clone(), vec![next[0].message.id]].concat());
    let LogEntry::Update(u) = &replay[3] else { panic!("{:?}", replay[3]) };
    assert_eq!((u.change.clone(), u.to.clone()), (Change::Deleted, dm("b")));
    // c is in neither a's DM nor... the room only.
    let for_c = store.messages_after(&pid(p), &uid("c"), direct, 100).await.unwrap();
    assert_eq!(for_c.len(), 4, "the edit, l3, the reaction and l4; not the deletion in a-b");
    let other = store.messages_after(&pid("life-other"), &uid("b"), MessageId(0), 100).await.unwrap();
    assert!(other.is_empty(), "nothing of another project");
    // A page boundary can fall between a message and an update.
    let first = store.messages_after(&pid(p), &uid("b"), direct, 2).await.unwrap();
    let rest = store.messages_after(&pid(p), &uid("b"), first[1].id(), 100).await.unwrap();
    assert_eq!([first, rest].concat(), replay);

    // An edit of a message deleted since replays as its deletion.
    let later = apply_changes(store, vec![change(p, "a", room, ChangeKind::Delete)]).await;
    let replay = store.messages_after(&pid(p), &uid("b"), direct, 100).await.unwrap();
    let LogEntry::Update(u) = &replay[0] else { panic!() };
    assert_eq!((u.id, u.change.clone()), (ids[0], Change::Deleted));
    assert_eq!(replay.last().map(LogEntry::id), Some(later[0].clone().unwrap().id));
}

pub(super) async fn history_shows_current_state(store: &dyn Store) {
    let p = "state";
    let sent = append_messages(
        store,
        vec![new_message(p, "a", Conversation::Room, "s1"), new_message(p, "b", Conversation::Room, "s2")],
    )
    .await;
    let (s1, s2) = (sent[0].message.id, sent[1].message.id);
    let reply = NewMessage {
        reply_to: Some(s1),
        mentions: vec![uid("a"), uid("b"), uid("a")],
        ..new_message(p, "b", Conversation::Room, "s3")
    };
    let stray = NewMessage { reply_to: Some(s1), ..new_message(p, "b", dm("c"), "s4") };
    let out = append_messages(store, vec![reply, stray]).await;
    let quote = out[0].message.reply_to.clone().expect("a quote of s1");
    assert_eq!((quote.id, quote.body.as_str(), quote.from.id.clone()), (s1, "s1 from a", uid("a")));
    assert_eq!(out[0].message.mentions, [uid("a")], "the sender and repeats are dropped");
    assert_eq!(out[1].message.reply_to, None, "a reply into another conversation quotes nothing");
    let outcomes = apply_changes(
        store,
        vec![
            change(p, "a", s1, edit("s1 edited")),
            change(p, "a", s2, react("👍", true)),
            change(p, "c", s2, react("👍", true)),
            change(p, "c", s2, react("👍", true)), // once per user per emoji
            change(p, "a", s2, react("🎉", true)),
            change(p, "c", s2, react("👍", false)),
            change(p, "b", s2, ChangeKind::Delete),
        ],
    )
    .await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let page = store.history(&pid(p), &uid("c"), &Conversation::Room, None, 10).await.unwrap();
    let [m1, m2, m3] = &page.messages[..] else { panic!("{:?}", page.messages) };
    assert_eq!((m1.body.as_str(), m1.edited_at, m1.deleted), ("s1 edited", Some(2_000), false));
    assert!(m2.deleted && m2.body.is_empty() && m2.reactions.is_empty(), "a tombstone: {m2:?}");
    assert_eq!(m3.reply_to.as_ref().map(|q| q.body.as_str()), Some("s1 edited"), "the quote as it is now");
    assert_eq!(m3.mentions, [uid("a")]);
    // Reactions, before the deletion, seen through a fresh message.
    let s5 = append_messages(store, vec![new_message(p, "a", Conversation::Room, "s5")]).await[0].message.id;
    apply_changes(
        store,
        vec![
            change(p, "b", s5, react("🎉", true)),
            change(p, "c", s5, react("👍", true)),
            change(p, "a", s5, react("🎉", true)),
        ],
    )
    .await;
    let page = store.history(&pid(p), &uid("c"), &Conversation::Room, None, 1).await.unwrap();
    let expected = vec![
        Reaction { emoji: "🎉".into(), users: vec![uid("b"), uid("a")] },
        Reaction { emoji: "👍".into(), users: vec![uid("c")] },
    ];
    assert_eq!(page.messages[0].reactions, expected, "emoji by first use, users oldest first");
    // A reply to a deleted message quotes its tombstone.
    let s6 = NewMessage { reply_to: Some(s2), ..new_message(p, "a", Conversation::Room, "s6") };
    let quoted = append_messages(store, vec![s6]).await[0].message.reply_to.clone().unwrap();
    assert!(quoted.deleted && quoted.body.is_empty());
}

pub(super) async fn only_who_may_change_a_message_changes_it(store: &dyn Store) {
    let p = "who";
    let sent =
        append_messages(store, vec![new_message(p, "a", Conversation::Room, "w1"), new_message(p, "a", dm("b"), "w2")])
            .await;
    // Ids of different projects are unrelated (PostgreSQL counts each from
    // 1), so another project's message is named by an id this one has not
    // used (yet): the other project is ahead.
    let other = (0..10).map(|i| new_message("who-other", "x", Conversation::Room, &format!("w3-{i}"))).collect();
    let elsewhere = append_messages(store, other).await[9].message.id;
    let (room, direct) = (sent[0].message.id, sent[1].message.id);
    let outcomes = apply_changes(
        store,
        vec![
            change(p, "b", room, edit("not mine")),
            change(p, "b", room, ChangeKind::Delete),
            change(p, "c", direct, react("👍", true)),
            change(p, "c", direct, ChangeKind::Delete),
            change(p, "a", elsewhere, ChangeKind::Delete),
            change(p, "a", MessageId(u64::MAX), edit("nothing")),
            change(p, "b", direct, react("👍", true)),
            NewChange {
                ts: 1_000 + 61_000,
                ..change(p, "a", room, ChangeKind::Edit { body: "late".into(), window: Some(60_000) })
            },
            NewChange {
                ts: 1_000 + 59_000,
                ..change(p, "a", room, ChangeKind::Edit { body: "in time".into(), window: Some(60_000) })
            },
        ],
    )
    .await;
    let refused: Vec<Option<Refused>> = outcomes.iter().map(|o| o.as_ref().err().copied()).collect();
    assert_eq!(
        refused,
        [
            Some(Refused::NotAuthor),
            Some(Refused::NotAuthor),
            Some(Refused::UnknownMessage), // c is not in a-b
            Some(Refused::UnknownMessage),
            Some(Refused::UnknownMessage), // another project's message
            Some(Refused::UnknownMessage),
            None,
            Some(Refused::EditWindowClosed),
            None,
        ]
    );
    let moderator = NewChange { authority: Authority::Moderator, ..change(p, "host", direct, ChangeKind::Delete) };
    let deleted = apply_changes(store, vec![moderator.clone(), change(p, "a", direct, edit("after")), moderator]).await;
    assert!(deleted[0].is_ok(), "a moderator deletes anyone's message: {:?}", deleted[0]);
    assert_eq!(deleted[1], Err(Refused::Deleted));
    assert_eq!(deleted[2], Err(Refused::Deleted));
}

pub(super) async fn search_finds_current_text_in_visible_conversations(store: &dyn Store) {
    let p = "find";
    let body = |m: NewMessage, body: &str| NewMessage { body: body.into(), ..m };
    let sent = append_messages(
        store,
        vec![
            body(new_message(p, "a", Conversation::Room, "f1"), "lunch at noon"),
            body(new_message(p, "b", dm("a"), "f2"), "secret lunch plans"),
            body(new_message(p, "b", dm("c"), "f3"), "lunch without a"),
            body(new_message("find-other", "x", Conversation::Room, "f4"), "lunch elsewhere"),
            body(new_message(p, "c", Conversation::Room, "f5"), "Lunchbox for sale"),
            body(new_message(p, "c", Conversation::Room, "f6"), "typo in lnch"),
        ],
    )
    .await;
    let ids = |page: &Page| page.messages.iter().map(|m| m.client_id.clone().unwrap().to_string()).collect::<Vec<_>>();
    let found = store.search(&pid(p), &uid("a"), "lunch", None, 10).await.unwrap();
    assert_eq!(ids(&found), ["f2", "f1"], "newest first, whole words, any case; not c's DM, not another project");
    let one = store.search(&pid(p), &uid("a"), "LUNCH", None, 1).await.unwrap();
    assert_eq!((ids(&one), one.has_more), (vec!["f2".to_owned()], true));
    let rest = store.search(&pid(p), &uid("a"), "lunch", one.messages.last().map(|m| m.id), 2).await.unwrap();
    assert_eq!((ids(&rest), rest.has_more), (vec!["f1".to_owned()], false));
    assert_eq!(ids(&store.search(&pid(p), &uid("a"), "lunchbox", None, 10).await.unwrap()), ["f5"]);
    assert_eq!(ids(&store.search(&pid(p), &uid("a"), "lunch noon", None, 10).await.unwrap()), ["f1"], "every word");
    assert_eq!(ids(&store.search(&pid(p), &uid("c"), "lunch", None, 10).await.unwrap()), ["f3", "f1"]);
    for odd in ["\"", "lunch OR", "NEAR(", "*", "a:b", ")"] {
        store.search(&pid(p), &uid("a"), odd, None, 10).await.unwrap_or_else(|e| panic!("{odd:?}: {e}"));
    }
    // Edited text is found by its new words only; deleted text not at all.
    apply_changes(
        store,
        vec![
            change(p, "c", sent[5].message.id, edit("typo in lunch fixed")),
            change(p, "a", sent[0].message.id, edit("dinner at eight")),
            change(p, "c", sent[4].message.id, ChangeKind::Delete),
        ],
    )
    .await;
    assert_eq!(ids(&store.search(&pid(p), &uid("a"), "lunch", None, 10).await.unwrap()), ["f6", "f2"]);
    assert!(store.search(&pid(p), &uid("a"), "noon", None, 10).await.unwrap().messages.is_empty());
    assert!(store.search(&pid(p), &uid("a"), "lunchbox", None, 10).await.unwrap().messages.is_empty());
    assert_eq!(ids(&store.search(&pid(p), &uid("a"), "dinner", None, 10).await.unwrap()), ["f1"]);
}

pub(super) async fn mentions_are_counted_apart_in_unread(store: &dyn Store) {
    let p = pid("ment");
    store.upsert_user(&p, &profile("a")).await.unwrap();
    store.upsert_user(&p, &profile("b")).await.unwrap();
    let mention =
        |cid: &str| NewMessage { mentions: vec![uid("a")], ..new_message("ment", "b", Conversation::Room, cid) };
    let out =
        append_messages(store, vec![mention("n1"), new_message("ment", "b", Conversation::Room, "n2"), mention("n3")])
            .await;
    let unread = store.unread(&p, &uid("a")).await.unwrap();
    assert_eq!((unread[0].count, unread[0].mentions), (3, 2));
    let marked = store.mark_read(&p, &uid("a"), &Conversation::Room, out[0].message.id).await.unwrap();
    assert_eq!((marked.count, marked.mentions), (2, 1));
    apply_changes(store, vec![change("ment", "b", out[2].message.id, ChangeKind::Delete)]).await;
    let unread = store.unread(&p, &uid("a")).await.unwrap();
    assert_eq!(unread[0].mentions, 0, "a deleted message mentions no one");
}

pub(super) async fn retention_takes_a_message_s_changes_with_it(store: &dyn Store) {
    let p = "prune-life";
    let mut old = new_message(p, "a", Conversation::Room, "old");
    old.ts = 5;
    let sent = append_messages(store, vec![old]).await;
    apply_changes(store, vec![change(p, "b", sent[0].message.id, react("👍", true))]).await;
    store.prune(Retention { older_than: Some(6), max_per_conversation: None }).await.unwrap();
    let replay = store.messages_after(&pid(p), &uid("a"), MessageId(0), 10).await.unwrap();
    assert!(replay.is_empty(), "the pruned message's events went with it: {replay:?}");
}
