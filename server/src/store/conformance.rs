//! The [`Store`] test suite. Every implementation runs [`run_all`] against a
//! fresh, empty instance of itself.

use super::*;
use protocol::{Change, Reaction};

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

async fn changes_share_the_id_sequence_and_replay_in_order(store: &dyn Store) {
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

async fn history_shows_current_state(store: &dyn Store) {
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

async fn only_who_may_change_a_message_changes_it(store: &dyn Store) {
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

async fn search_finds_current_text_in_visible_conversations(store: &dyn Store) {
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

async fn mentions_are_counted_apart_in_unread(store: &dyn Store) {
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

async fn retention_takes_a_message_s_changes_with_it(store: &dyn Store) {
    let p = "prune-life";
    let mut old = new_message(p, "a", Conversation::Room, "old");
    old.ts = 5;
    let sent = append_messages(store, vec![old]).await;
    apply_changes(store, vec![change(p, "b", sent[0].message.id, react("👍", true))]).await;
    store.prune(Retention { older_than: Some(6), max_per_conversation: None }).await.unwrap();
    let replay = store.messages_after(&pid(p), &uid("a"), MessageId(0), 10).await.unwrap();
    assert!(replay.is_empty(), "the pruned message's events went with it: {replay:?}");
}
