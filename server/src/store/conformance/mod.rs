//! The [`Store`] test suite. Every implementation runs [`run_all`] against a
//! fresh, empty instance of itself.

use super::*;
use protocol::Update;

mod life;
use life::*;
pub use life::{apply_changes, change};

pub fn uid(s: &str) -> UserId {
    UserId::new(s).unwrap()
}
pub fn pid(s: &str) -> ProjectId {
    ProjectId::new(s).unwrap()
}
pub fn profile(id: &str) -> Profile {
    Profile { id: uid(id), name: format!("name of {id}"), color: "#123456".into() }
}
pub fn dm(to: &str) -> Conversation {
    Conversation::Direct { user: uid(to) }
}
pub fn new_message(project: &str, from: &str, to: Conversation, client_id: &str) -> NewMessage {
    NewMessage {
        project: pid(project),
        from: profile(from),
        to,
        body: format!("{client_id} from {from}"),
        client_id: ClientMsgId::new(client_id).unwrap(),
        ts: 1_000,
        reply_to: None,
        mentions: Vec::new(),
        webhooks: MessageEvents::default(),
    }
}

/// Stores messages only; their outcomes.
pub async fn append_messages(store: &dyn Store, batch: Vec<NewMessage>) -> Vec<Appended> {
    let written = store.append(batch.into_iter().map(Write::from).collect()).await.unwrap();
    written
        .into_iter()
        .map(|w| match w {
            Written::Message(appended) => appended,
            Written::Change(c) => panic!("a message stored as a change: {c:?}"),
        })
        .collect()
}

/// The message-only view of a store that tests of other things use: sends
/// in, messages out (changes are this suite's business).
#[async_trait]
pub trait MessageStore {
    /// As [`Store::append`], for messages only.
    async fn append_messages(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError>;
    /// As [`Store::messages_after`], keeping only the messages.
    async fn messages_only_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError>;
}

#[async_trait]
impl<S: Store + ?Sized> MessageStore for S {
    async fn append_messages(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError> {
        let written = self.append(batch.into_iter().map(Write::from).collect()).await?;
        Ok(written
            .into_iter()
            .filter_map(|w| match w {
                Written::Message(appended) => Some(appended),
                Written::Change(_) => None,
            })
            .collect())
    }

    async fn messages_only_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        Ok(messages_of(self.messages_after(project, user, after, limit).await?))
    }
}

/// The messages among log entries.
pub fn messages_of(entries: Vec<LogEntry>) -> Vec<ChatMessage> {
    entries
        .into_iter()
        .filter_map(|e| match e {
            LogEntry::Message(m) => Some(m),
            LogEntry::Update(_) => None,
        })
        .collect()
}

pub async fn run_all(store: &dyn Store) {
    append_assigns_increasing_ids_and_dedupes(store).await;
    messages_after_sees_only_what_concerns_the_user(store).await;
    history_pages_back_through_a_conversation(store).await;
    read_markers_and_unread_counts(store).await;
    read_markers_clamp_to_the_newest_message_of_the_conversation(store).await;
    users_are_known_once_seen(store).await;
    the_directory_pages_through_users_by_name(store).await;
    retention_prunes_by_count_and_age(store).await;
    changes_share_the_id_sequence_and_replay_in_order(store).await;
    history_shows_current_state(store).await;
    only_who_may_change_a_message_changes_it(store).await;
    search_finds_current_text_in_visible_conversations(store).await;
    mentions_are_counted_apart_in_unread(store).await;
    retention_takes_a_message_s_changes_with_it(store).await;
    profiles_set_by_the_host_and_sign_outs_are_kept(store).await;
    erasure_deletes_what_the_user_sent_and_is_recorded(store).await;
    webhook_events_are_stored_with_their_message_and_delivered_per_endpoint(store).await;
}

async fn webhook_events_are_stored_with_their_message_and_delivered_per_endpoint(store: &dyn Store) {
    let endpoints = ["http://a/hook".to_owned(), "http://b/hook".to_owned()];
    let (p, r) = (pid("hooks"), uid("r"));
    store.upsert_user(&p, &profile("r")).await.unwrap();
    let mut missed = new_message("hooks", "s", dm("r"), "h1");
    missed.webhooks = MessageEvents { created: true, missed: true, unread_check_at: None };
    let mut read = new_message("hooks", "s", dm("r"), "h2");
    read.webhooks = MessageEvents { created: false, missed: false, unread_check_at: Some(5_000) };
    let mut unread = new_message("hooks", "s", dm("r"), "h3");
    unread.webhooks = MessageEvents { created: false, missed: false, unread_check_at: Some(5_000) };
    let plain = new_message("hooks", "s", Conversation::Room, "h4");
    let stored = append_messages(store, vec![missed.clone(), read, unread, plain]).await;
    // A resend creates no second event.
    assert!(append_messages(store, vec![missed]).await[0].duplicate);
    let online = NewEvent { kind: "user.online", project: p.clone(), user: profile("r"), at: 1_500 };
    store.add_events(vec![online]).await.unwrap();
    store.mark_read(&p, &r, &dm("s"), stored[1].message.id).await.unwrap();

    // At 2 s: created, missed and online are due, once per endpoint.
    assert_eq!(store.expand_due_events(2_000, &endpoints).await.unwrap(), 6);
    assert_eq!(store.expand_due_events(2_000, &endpoints).await.unwrap(), 0, "each event once");
    let a = store.due_deliveries(&endpoints[0], 2_000, 10).await.unwrap();
    let kinds: Vec<_> = a.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["message.created", "message.missed", "user.online"]);
    let body: serde_json::Value = serde_json::from_str(&a[1].body).unwrap();
    assert_eq!(body["type"], "message.missed");
    assert_eq!(body["project"], "hooks");
    assert_eq!(body["id"], a[1].event_id.as_str());
    assert_eq!(body["payload"]["recipient"], "r");
    assert_eq!(body["payload"]["reason"], "offline");
    assert_eq!(body["payload"]["message"]["id"], stored[0].message.id.0);
    // At 5 s the unread checks run: h2 was read (dropped), h3 is not (missed).
    assert_eq!(store.expand_due_events(5_000, &endpoints).await.unwrap(), 2);
    let b = store.due_deliveries(&endpoints[1], 5_000, 10).await.unwrap();
    assert_eq!(b.len(), 4);
    let last: serde_json::Value = serde_json::from_str(&b[3].body).unwrap();
    assert_eq!(
        (last["payload"]["reason"].as_str(), last["payload"]["message"]["id"].as_u64()),
        (Some("unread"), Some(stored[2].message.id.0))
    );

    // Endpoint a accepts everything; b fails its first and retries later.
    store.settle_deliveries(a.iter().map(|d| (d.id, Settle::Delivered)).collect()).await.unwrap();
    store.settle_deliveries(vec![(b[0].id, Settle::Retry { at: 9_000 }), (b[1].id, Settle::Drop)]).await.unwrap();
    let later = store.due_deliveries(&endpoints[1], 8_999, 10).await.unwrap();
    assert_eq!(later.len(), 2, "the retry is not due yet; the dropped one is gone");
    let retried = store.due_deliveries(&endpoints[1], 9_000, 10).await.unwrap();
    assert_eq!(retried.iter().find(|d| d.id == b[0].id).map(|d| d.attempts), Some(1));
    assert!(store.due_deliveries(&endpoints[0], 9_000, 10).await.unwrap().len() == 1, "a's unread miss only");
    assert_eq!(store.webhook_backlog().await.unwrap(), 4);
    assert_eq!(store.drop_deliveries_except(&endpoints[..1]).await.unwrap(), 3, "b is no longer configured");
    assert_eq!(store.webhook_backlog().await.unwrap(), 1);
}

async fn profiles_set_by_the_host_and_sign_outs_are_kept(store: &dyn Store) {
    let p = pid("host-profiles");
    assert_eq!(store.sign_in_state(&p, &uid("h")).await.unwrap(), SignInState::default());
    store.upsert_user(&p, &profile("h")).await.unwrap();
    assert_eq!(store.sign_in_state(&p, &uid("h")).await.unwrap().profile, Some((profile("h"), None)));
    let renamed = Profile { id: uid("h"), name: "Renamed".into(), color: "#abcdef".into() };
    store.set_profile(&p, &renamed, 5_000).await.unwrap();
    assert_eq!(store.sign_in_state(&p, &uid("h")).await.unwrap().profile, Some((renamed.clone(), Some(5_000))));
    store.set_profile(&p, &profile("new"), 6_000).await.unwrap();
    assert!(store.user_exists(&p, &uid("new")).await.unwrap(), "set_profile creates the user");
    store.sign_out(&p, &uid("h"), 7_000).await.unwrap();
    store.sign_out(&p, &uid("h"), 6_500).await.unwrap();
    assert_eq!(store.sign_in_state(&p, &uid("h")).await.unwrap().not_before, Some(7_000), "never moves back");
    assert_eq!(store.sign_in_state(&pid("host-other"), &uid("h")).await.unwrap(), SignInState::default());
}

async fn erasure_deletes_what_the_user_sent_and_is_recorded(store: &dyn Store) {
    let p = pid("erase");
    store.upsert_user(&p, &profile("e")).await.unwrap();
    store.upsert_user(&p, &profile("k")).await.unwrap();
    let sent = append_messages(
        store,
        vec![
            new_message("erase", "e", Conversation::Room, "e1"),
            new_message("erase", "e", dm("k"), "e2"),
            new_message("erase", "k", dm("e"), "k1"),
            new_message("erase", "k", Conversation::Room, "k2"),
            new_message("erase-other", "e", Conversation::Room, "o1"),
        ],
    )
    .await;
    let before = sent[0].message.id;
    let erased = store.erase_user(&p, &uid("e"), 9_000).await.unwrap();
    assert_eq!(erased, Erased { messages: 2, existed: true });
    assert!(!store.user_exists(&p, &uid("e")).await.unwrap());
    assert_eq!(store.sign_in_state(&p, &uid("e")).await.unwrap().not_before, Some(9_000));
    let room = store.history(&p, &uid("k"), &Conversation::Room, None, 10).await.unwrap();
    assert_eq!(room.messages.iter().map(|m| m.from.id.as_str()).collect::<Vec<_>>(), ["k"]);
    let direct = store.history(&p, &uid("k"), &dm("e"), None, 10).await.unwrap();
    assert_eq!(direct.messages.len(), 1, "what k sent e stays in k's history");
    assert_eq!(direct.messages[0].from.id, uid("k"));
    let replay = store.messages_after(&p, &uid("k"), MessageId(0), 10).await.unwrap();
    let senders: Vec<UserId> = replay
        .iter()
        .map(|e| match e {
            LogEntry::Message(m) => m.from.id.clone(),
            LogEntry::Update(u) => u.by.clone(),
        })
        .collect();
    assert!(senders.iter().all(|id| *id != uid("e")), "nor in any replay");
    let other = store.history(&pid("erase-other"), &uid("e"), &Conversation::Room, None, 10).await.unwrap();
    assert_eq!(other.messages.len(), 1, "another project's user of the same id is untouched");
    let last = sent[4].message.id;
    assert_eq!(store.erasures_since(&p, before).await.unwrap(), [uid("e")]);
    assert_eq!(store.erasures_since(&p, last).await.unwrap(), [uid("e")], "a client that had everything");
    let after = append_messages(store, vec![new_message("erase", "k", Conversation::Room, "k3")]).await;
    assert!(store.erasures_since(&p, after[0].message.id).await.unwrap().is_empty(), "got the news live");
    assert!(store.erasures_since(&pid("erase-other"), MessageId(0)).await.unwrap().is_empty());
    assert_eq!(store.erase_user(&p, &uid("never"), 9_000).await.unwrap(), Erased::default());
}

async fn append_assigns_increasing_ids_and_dedupes(store: &dyn Store) {
    let batch = vec![
        new_message("ids", "a", Conversation::Room, "x1"),
        new_message("ids", "a", dm("b"), "x2"),
        new_message("ids", "a", Conversation::Room, "x1"), // same client id in one batch
        new_message("ids", "b", Conversation::Room, "x1"), // same client id, other sender
    ];
    let out = append_messages(store, batch).await;
    assert_eq!(out.len(), 4);
    assert!(out[0].message.id < out[1].message.id);
    assert!(!out[0].duplicate && !out[1].duplicate && !out[3].duplicate);
    assert!(out[2].duplicate);
    assert_eq!(out[2].message, out[0].message);
    assert!(out[1].message.id < out[3].message.id);
    assert_eq!(out[1].message.to, dm("b"));
    assert_eq!(out[1].message.from, profile("a"));
    let again = append_messages(store, vec![new_message("ids", "a", dm("b"), "x2")]).await;
    assert!(again[0].duplicate);
    assert_eq!(again[0].message, out[1].message, "a resend returns the original");
    let later = append_messages(store, vec![new_message("ids", "a", Conversation::Room, "x3")]).await;
    assert!(later[0].message.id > out[3].message.id);

    // A resend of a stored message amid new messages and a change (a
    // reconnecting client's outbox): it is answered with the original, and
    // what is new is stored in order. (PostgreSQL also promises no gap:
    // postgres_store.rs.)
    let edit = ChangeKind::Edit { body: "x3 edited".into(), window: None };
    let mixed = store
        .append(vec![
            new_message("ids", "c", Conversation::Room, "y1").into(),
            new_message("ids", "a", dm("b"), "x2").into(),
            change("ids", "a", later[0].message.id, edit).into(),
            new_message("ids", "c", Conversation::Room, "y2").into(),
        ])
        .await
        .unwrap();
    let id_of = |w: &Written| match w {
        Written::Message(m) => (m.message.id.0, m.duplicate),
        Written::Change(c) => (c.as_ref().expect("the author's edit").id.0, false),
    };
    let (y1, resent, edited, y2) = (id_of(&mixed[0]), id_of(&mixed[1]), id_of(&mixed[2]), id_of(&mixed[3]));
    assert_eq!(resent, (out[1].message.id.0, true), "the original answers the resend");
    assert!(later[0].message.id.0 < y1.0 && y1.0 < edited.0 && edited.0 < y2.0 && !y1.1 && !y2.1);
    let log = store.project_messages_after(&pid("ids"), later[0].message.id, 10).await.unwrap();
    let logged: Vec<u64> = log.iter().map(|e| e.id().0).collect();
    assert_eq!(logged, [y1.0, edited.0, y2.0], "stored once each, in batch order");
}

async fn messages_after_sees_only_what_concerns_the_user(store: &dyn Store) {
    let out = append_messages(
        store,
        vec![
            new_message("after", "a", Conversation::Room, "r1"),
            new_message("after", "a", dm("b"), "d1"),
            new_message("after", "b", dm("a"), "d2"),
            new_message("after", "b", dm("c"), "d3"),
            new_message("after-other", "x", Conversation::Room, "o1"),
            new_message("after", "c", Conversation::Room, "r2"),
        ],
    )
    .await;
    let ids = |entries: Vec<LogEntry>| {
        entries
            .into_iter()
            .map(|e| match e {
                LogEntry::Message(m) => m.client_id.unwrap().to_string(),
                LogEntry::Update(u) => panic!("no changes were made: {u:?}"),
            })
            .collect::<Vec<_>>()
    };
    let for_a = store.messages_after(&pid("after"), &uid("a"), MessageId(0), 100).await.unwrap();
    assert_eq!(ids(for_a), ["r1", "d1", "d2", "r2"]);
    let for_c = store.messages_after(&pid("after"), &uid("c"), out[1].message.id, 100).await.unwrap();
    assert_eq!(ids(for_c), ["d3", "r2"]);
    let limited = store.messages_after(&pid("after"), &uid("a"), MessageId(0), 2).await.unwrap();
    assert_eq!(ids(limited), ["r1", "d1"]);
    let whole = store.project_messages_after(&pid("after"), MessageId(0), 100).await.unwrap();
    assert_eq!(ids(whole), ["r1", "d1", "d2", "d3", "r2"], "every conversation of the project, nothing else");
    let rest = store.project_messages_after(&pid("after"), out[2].message.id, 1).await.unwrap();
    assert_eq!(ids(rest), ["d3"]);
}

async fn history_pages_back_through_a_conversation(store: &dyn Store) {
    let batch = (0..25)
        .map(|i| {
            let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
            new_message("hist", from, dm(to), &format!("h{i}"))
        })
        .chain([new_message("hist", "a", dm("c"), "elsewhere")])
        .collect();
    append_messages(store, batch).await;
    let mut seen = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let page = store.history(&pid("hist"), &uid("b"), &dm("a"), before, 10).await.unwrap();
        pages += 1;
        assert!(page.messages.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
        before = page.messages.first().map(|m| m.id);
        let mut bodies: Vec<String> = page.messages.iter().map(|m| m.client_id.clone().unwrap().to_string()).collect();
        bodies.extend(seen);
        seen = bodies;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("h{i}")).collect();
    assert_eq!(seen, expected, "both directions of a-b, nothing of a-c, no gap or repeat");
    let same = store.history(&pid("hist"), &uid("a"), &dm("b"), None, 5).await.unwrap();
    assert_eq!(same.messages.len(), 5);
    assert!(same.has_more);
}

async fn read_markers_and_unread_counts(store: &dyn Store) {
    let p = pid("read");
    store.upsert_user(&p, &profile("a")).await.unwrap();
    store.upsert_user(&p, &profile("b")).await.unwrap();
    let out = append_messages(
        store,
        vec![
            new_message("read", "b", dm("a"), "u1"),
            new_message("read", "b", dm("a"), "u2"),
            new_message("read", "b", Conversation::Room, "u3"),
            new_message("read", "a", Conversation::Room, "u4"), // own messages are never unread
        ],
    )
    .await;
    let mut unread = store.unread(&p, &uid("a")).await.unwrap();
    unread.sort_by(|x, y| x.conversation.cmp(&y.conversation));
    assert_eq!(unread.len(), 2);
    assert_eq!((unread[0].conversation.clone(), unread[0].count), (Conversation::Room, 1));
    assert_eq!((unread[1].conversation.clone(), unread[1].count), (dm("b"), 2));
    let marked = store.mark_read(&p, &uid("a"), &dm("b"), out[0].message.id).await.unwrap();
    assert_eq!((marked.count, marked.read_up_to), (1, Some(out[0].message.id)));
    let back = store.mark_read(&p, &uid("a"), &dm("b"), MessageId(0)).await.unwrap();
    assert_eq!(back.read_up_to, Some(out[0].message.id), "a marker never moves back");
    store.mark_read(&p, &uid("a"), &dm("b"), out[1].message.id).await.unwrap();
    let unread = store.unread(&p, &uid("a")).await.unwrap();
    assert_eq!(unread.iter().map(|u| u.conversation.clone()).collect::<Vec<_>>(), [Conversation::Room]);
    let for_b = store.unread(&p, &uid("b")).await.unwrap();
    assert_eq!(for_b.len(), 1, "b wrote u1-u3; only a's room message is unread for b");
    assert_eq!((for_b[0].conversation.clone(), for_b[0].count), (Conversation::Room, 1));
}

async fn read_markers_clamp_to_the_newest_message_of_the_conversation(store: &dyn Store) {
    let p = pid("clamp");
    let out = append_messages(
        store,
        vec![
            new_message("clamp", "b", Conversation::Room, "c1"),
            new_message("clamp", "b", dm("a"), "c2"),
            new_message("clamp", "b", Conversation::Room, "c3"),
        ],
    )
    .await;
    let (room_newest, dm_newest) = (out[2].message.id, out[1].message.id);
    let future = MessageId(1_764_000_000_000); // a timestamp sent as an id
    let room = store.mark_read(&p, &uid("a"), &Conversation::Room, future).await.unwrap();
    assert_eq!(room.read_up_to, Some(room_newest), "clamped to the room's newest");
    let direct = store.mark_read(&p, &uid("a"), &dm("b"), future).await.unwrap();
    assert_eq!(direct.read_up_to, Some(dm_newest), "clamped to the conversation's newest, not the room's");
    let empty = store.mark_read(&p, &uid("a"), &dm("nobody-wrote"), future).await.unwrap();
    assert_eq!(empty.read_up_to, Some(MessageId(0)), "an empty conversation clamps to 0");
    let later = append_messages(store, vec![new_message("clamp", "b", Conversation::Room, "c4")]).await;
    let unread = store.unread(&p, &uid("a")).await.unwrap();
    let room = unread.iter().find(|u| u.conversation == Conversation::Room).expect("the new message is unread");
    assert_eq!((room.count, room.read_up_to), (1, Some(room_newest)));
    let caught_up = store.mark_read(&p, &uid("a"), &Conversation::Room, later[0].message.id).await.unwrap();
    assert_eq!((caught_up.count, caught_up.read_up_to), (0, Some(later[0].message.id)));
}

async fn users_are_known_once_seen(store: &dyn Store) {
    let p = pid("users");
    append_messages(store, vec![new_message("users", "a", Conversation::Room, "before")]).await;
    assert!(!store.user_exists(&p, &uid("n")).await.unwrap());
    store.upsert_user(&p, &profile("n")).await.unwrap();
    assert!(store.user_exists(&p, &uid("n")).await.unwrap());
    assert!(!store.user_exists(&pid("users-2"), &uid("n")).await.unwrap());
    assert!(store.unread(&p, &uid("n")).await.unwrap().is_empty(), "room history before joining is not unread");
    append_messages(store, vec![new_message("users", "a", Conversation::Room, "after")]).await;
    assert_eq!(store.unread(&p, &uid("n")).await.unwrap()[0].count, 1);
    let renamed = Profile { name: "new name".into(), ..profile("n") };
    store.upsert_user(&p, &renamed).await.unwrap();
    assert_eq!(store.unread(&p, &uid("n")).await.unwrap()[0].count, 1, "a second sight keeps the marker");
}

async fn retention_prunes_by_count_and_age(store: &dyn Store) {
    let mut batch: Vec<NewMessage> =
        (0..6).map(|i| new_message("ret", "a", Conversation::Room, &format!("k{i}"))).collect();
    batch[0].ts = 10; // old
    append_messages(store, batch).await;
    let deleted = store.prune(Retention { older_than: Some(500), max_per_conversation: None }).await.unwrap();
    assert!(deleted >= 1);
    let left = store.history(&pid("ret"), &uid("a"), &Conversation::Room, None, 100).await.unwrap();
    assert_eq!(left.messages.len(), 5);
    store.prune(Retention { older_than: None, max_per_conversation: Some(3) }).await.unwrap();
    let left = store.history(&pid("ret"), &uid("a"), &Conversation::Room, None, 100).await.unwrap();
    let ids: Vec<String> = left.messages.iter().map(|m| m.client_id.clone().unwrap().to_string()).collect();
    assert_eq!(ids, ["k3", "k4", "k5"], "the newest are kept");
    let next = append_messages(store, vec![new_message("ret", "a", Conversation::Room, "k6")]).await;
    assert!(next[0].message.id > left.messages[2].id, "ids are never reused after pruning");
}

async fn the_directory_pages_through_users_by_name(store: &dyn Store) {
    let p = pid("directory");
    for (id, name) in [("u3", "bob"), ("u1", "Alice"), ("u2", "alice"), ("u4", "dave"), ("x9", "carol")] {
        store.upsert_user(&p, &Profile { id: uid(id), name: name.into(), color: "#000000".into() }).await.unwrap();
    }
    store.upsert_user(&pid("directory-other"), &profile("o1")).await.unwrap();
    let ids = |page: &UserPage| page.users.iter().map(|u| u.id.to_string()).collect::<Vec<_>>();
    let first = store.users(&p, None, None, 2).await.unwrap();
    assert_eq!(ids(&first), ["u1", "u2"], "by name case-insensitively, then id");
    assert!(first.has_more);
    let second = store.users(&p, None, Some(&uid("u2")), 2).await.unwrap();
    assert_eq!(ids(&second), ["u3", "x9"]);
    let last = store.users(&p, None, Some(&uid("x9")), 2).await.unwrap();
    assert_eq!(ids(&last), ["u4"]);
    assert!(!last.has_more);
    let found = store.users(&p, Some("ALI"), None, 10).await.unwrap();
    assert_eq!(ids(&found), ["u1", "u2"], "a name contains the query, in any case");
    assert_eq!(ids(&store.users(&p, Some("x"), None, 10).await.unwrap()), ["x9"], "or an id starts with it");
    assert_eq!(ids(&store.users(&p, Some("%"), None, 10).await.unwrap()), Vec::<String>::new(), "no wildcards");
    let renamed = Profile { id: uid("u3"), name: "Zed".into(), color: "#000000".into() };
    store.upsert_user(&p, &renamed).await.unwrap();
    let all = store.users(&p, None, None, 10).await.unwrap();
    assert_eq!(ids(&all), ["u1", "u2", "x9", "u4", "u3"], "the current name orders");
    assert_eq!(all.users[4].name, "Zed");
}
