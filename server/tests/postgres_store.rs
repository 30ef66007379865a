//! The PostgreSQL store: the conformance suite, the cursor rule with
//! several writers (each `PostgresStore` here stands for one node), and
//! the search index filled after the commit.

#[path = "postgres_store/schema.rs"]
mod schema;
mod support;

use protocol::{Conversation, MessageId};
use server::store::conformance::{self, change, dm, messages_of, new_message, pid, uid, MessageStore};
use server::store::{
    ChangeKind, LogEntry, NewMessage, PostgresOptions, PostgresStore, Refused, Retention, Store, StoreError, Write,
    Written,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::postgres::{fresh_database, Cleanup, PgServer};
use tokio::task::JoinHandle;

async fn connect(url: &str) -> PostgresStore {
    PostgresStore::connect(url, PostgresOptions::default()).await.unwrap()
}

#[tokio::test]
async fn postgres_passes_the_store_conformance_suite() {
    let store = connect(&fresh_database().await).await;
    conformance::run_all(&store).await;
}

/// Messages and changes of two projects interleaved in one batch: within
/// each project the ids are contiguous and in batch order, a refused change
/// takes none (no gap for a cursor to wait on), and a change sees what the
/// batch stored before it (and a later reply sees the change).
#[tokio::test]
async fn a_batch_of_messages_and_changes_takes_contiguous_ids_per_project() {
    let store = connect(&fresh_database().await).await;
    let first = store
        .append_messages(vec![
            new_message("p1", "a", Conversation::Room, "a1"),
            new_message("p2", "b", Conversation::Room, "b1"),
        ])
        .await
        .unwrap();
    let (a1, b1) = (first[0].message.id, first[1].message.id);
    assert_eq!((a1, b1), (MessageId(1), MessageId(1)), "each project counts from 1");
    let edit = |body: &str| ChangeKind::Edit { body: body.into(), window: None };
    let react = ChangeKind::React { emoji: "👍".into(), on: true };
    let reply =
        NewMessage { reply_to: Some(a1), mentions: vec![uid("a")], ..new_message("p1", "c", Conversation::Room, "a3") };
    let batch: Vec<Write> = vec![
        change("p1", "a", a1, edit("a1 edited")).into(),             // p1: 2
        new_message("p2", "b", Conversation::Room, "b2").into(),     // p2: 2
        change("p2", "x", b1, edit("not x's")).into(),               // refused
        new_message("p1", "a", Conversation::Room, "a2").into(),     // p1: 3
        change("p2", "c", b1, react.clone()).into(),                 // p2: 3
        change("p1", "a", MessageId(99), ChangeKind::Delete).into(), // refused
        change("p1", "c", MessageId(3), react).into(),               // p1: 4, on a2 stored above
        new_message("p2", "b", dm("c"), "b3").into(),                // p2: 4
        reply.into(),                                                // p1: 5
    ];
    let out = store.append(batch).await.unwrap();
    let ids: Vec<Option<u64>> = out
        .iter()
        .map(|w| match w {
            Written::Message(m) => Some(m.message.id.0),
            Written::Change(c) => c.as_ref().ok().map(|u| u.id.0),
        })
        .collect();
    assert_eq!(ids, [Some(2), Some(2), None, Some(3), Some(3), None, Some(4), Some(4), Some(5)]);
    assert!(matches!(out[2], Written::Change(Err(Refused::NotAuthor))));
    assert!(matches!(out[5], Written::Change(Err(Refused::UnknownMessage))));
    let Written::Message(replied) = &out[8] else { panic!() };
    let quote = replied.message.reply_to.as_ref().expect("a quote of a1");
    assert_eq!(quote.body, "a1 edited", "the reply quotes a1 as the batch left it");
    assert_eq!(replied.message.mentions, [uid("a")]);

    // The next sends continue each sequence with no gap, and a reader of
    // the whole project sees every id once, in order.
    let next = store
        .append_messages(vec![
            new_message("p1", "a", Conversation::Room, "a4"),
            new_message("p2", "b", Conversation::Room, "b4"),
        ])
        .await
        .unwrap();
    assert_eq!((next[0].message.id, next[1].message.id), (MessageId(6), MessageId(5)));
    for (project, newest) in [("p1", 6), ("p2", 5)] {
        let log = store.project_messages_after(&pid(project), MessageId(0), 100).await.unwrap();
        assert_eq!(log.iter().map(|e| e.id().0).collect::<Vec<_>>(), (1..=newest).collect::<Vec<_>>(), "{project}");
    }
    let log = store.project_messages_after(&pid("p1"), MessageId(0), 100).await.unwrap();
    let LogEntry::Message(a1_now) = &log[0] else { panic!("{:?}", log[0]) };
    assert_eq!((a1_now.body.as_str(), a1_now.edited_at), ("a1 edited", Some(2_000)));
}

/// Search finds an address or a link by the words in it, as SQLite does:
/// PostgreSQL's text search parser alone keeps `bob@example.com` or
/// `1.5` as one token that no query of words matches.
#[tokio::test]
async fn search_finds_addresses_and_links_by_their_words() {
    let store = connect(&fresh_database().await).await;
    let said =
        |cid: &str, body: &str| NewMessage { body: body.into(), ..new_message("s", "a", Conversation::Room, cid) };
    store
        .append_messages(vec![
            said("m1", "write to Bob@Example.com"),
            said("m2", "see https://docs.example.org/v1.5/setup_guide"),
        ])
        .await
        .unwrap();
    for (query, expected) in [
        ("bob", vec!["m1"]),
        ("bob@example.com", vec!["m1"]),
        ("example", vec!["m2", "m1"]),
        ("docs.example.org", vec!["m2"]),
        ("setup guide 5", vec!["m2"]),
        ("v1", vec!["m2"]),
        ("com org", vec![]),
    ] {
        let page = store.search(&pid("s"), &uid("a"), query, None, 10).await.unwrap();
        let found: Vec<String> = page.messages.iter().map(|m| m.client_id.clone().unwrap().to_string()).collect();
        assert_eq!(found, expected, "{query:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_the_schema_once() {
    let url = fresh_database().await;
    let nodes =
        futures_util::future::join_all((0..4).map(|_| PostgresStore::connect(&url, PostgresOptions::default()))).await;
    for node in nodes {
        let node = node.expect("every node starts");
        node.append_messages(vec![new_message("p", "a", Conversation::Room, "ok")]).await.unwrap();
    }
    let again = connect(&url).await;
    let messages = again.messages_only_after(&pid("p"), &uid("a"), MessageId(0), 10).await.unwrap();
    assert_eq!(messages.len(), 1, "one message (the same client id from every node)");
}

/// Follows `project`'s log as `user` does, `id > cursor` a page at a time,
/// until it is caught up after every writer has finished (their panics are
/// the test's); returns what it read, in order.
async fn follow(
    reader: &PostgresStore,
    project: &str,
    user: &str,
    page: u32,
    writers: Vec<JoinHandle<()>>,
) -> Vec<LogEntry> {
    let mut seen: Vec<LogEntry> = Vec::new();
    let mut cursor = MessageId(0);
    let mut all_written = false;
    loop {
        let entries = reader.messages_after(&pid(project), &uid(user), cursor, page).await.unwrap();
        if let Some(last) = entries.last() {
            cursor = last.id();
        }
        let caught_up = entries.is_empty();
        seen.extend(entries);
        if caught_up && all_written {
            break;
        }
        if caught_up {
            all_written = writers.iter().all(|w| w.is_finished());
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    seen
}

/// Three nodes write batches into one busy project (and, in the same
/// batches, into others) while a reader follows `id > cursor` as a resuming
/// client does. With a plain sequence the reader skips rows that commit
/// late; with the counter rows it must see every id, in order, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_never_skips_a_message_while_several_nodes_write() {
    const NODES: usize = 3;
    const WRITERS_PER_NODE: usize = 4;
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 5;
    let url = fresh_database().await;
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(Arc::new(connect(&url).await));
    }
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..WRITERS_PER_NODE {
            let node = node.clone();
            writers.push(tokio::spawn(async move {
                for b in 0..BATCHES {
                    let mut batch: Vec<_> = (0..PER_BATCH)
                        .map(|i| new_message("busy", "a", Conversation::Room, &format!("n{n}-w{w}-b{b}-{i}")))
                        .collect();
                    // Other projects in the same transaction, in either order:
                    // counters are locked in project order, so no deadlock.
                    let other = format!("side-{}", (n + w + b) % 3);
                    let side = new_message(&other, "a", Conversation::Room, &format!("n{n}-w{w}-b{b}"));
                    if b % 2 == 0 {
                        batch.insert(0, side);
                    } else {
                        batch.push(side);
                    }
                    node.append_messages(batch).await.unwrap();
                }
            }));
        }
    }
    let total = (NODES * WRITERS_PER_NODE * BATCHES * PER_BATCH) as u64;
    let reader = nodes[0].clone();
    let seen = messages_of(follow(&reader, "busy", "a", 50, writers).await);
    let ids: Vec<u64> = seen.iter().map(|m| m.id.0).collect();
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(ids.len() as u64, total, "the reader saw {} of {total} messages", ids.len());
    assert_eq!(ids, expected, "ids are contiguous from 1 and arrive in order");
    for p in 0..3 {
        let side =
            reader.messages_only_after(&pid(&format!("side-{p}")), &uid("a"), MessageId(0), 10_000).await.unwrap();
        let side_ids: Vec<u64> = side.iter().map(|m| m.id.0).collect();
        assert_eq!(side_ids, (1..=side.len() as u64).collect::<Vec<_>>(), "each project counts on its own");
    }
}

/// As above with changes: nodes commit batches of messages and reactions
/// into one project while a reader follows the whole log (messages and
/// updates). Both are read by one statement, in one snapshot; read by two,
/// a page could hold a change committed after the messages were read and
/// skip a message committed in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_never_skips_a_message_or_a_change_while_several_nodes_write() {
    const NODES: usize = 2;
    const WRITERS_PER_NODE: usize = 3;
    const BATCHES: usize = 40;
    let url = fresh_database().await;
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        nodes.push(Arc::new(connect(&url).await));
    }
    let target =
        nodes[0].append_messages(vec![new_message("log", "a", Conversation::Room, "t")]).await.unwrap()[0].message.id;
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for w in 0..WRITERS_PER_NODE {
            let node = node.clone();
            writers.push(tokio::spawn(async move {
                for b in 0..BATCHES {
                    let on = b % 2 == 0;
                    let react = ChangeKind::React { emoji: format!("e{n}{w}"), on };
                    let batch: Vec<Write> = vec![
                        new_message("log", "a", Conversation::Room, &format!("n{n}-w{w}-b{b}-0")).into(),
                        change("log", "a", target, react).into(),
                        new_message("log", "a", Conversation::Room, &format!("n{n}-w{w}-b{b}-1")).into(),
                    ];
                    node.append(batch).await.unwrap();
                }
            }));
        }
    }
    let total = 1 + (NODES * WRITERS_PER_NODE * BATCHES * 3) as u64;
    let log = follow(&nodes[1], "log", "b", 7, writers).await;
    let ids: Vec<u64> = log.iter().map(|e| e.id().0).collect();
    assert_eq!(ids, (1..=total).collect::<Vec<_>>(), "every message and change once, in id order");
}

/// The same client ids sent through two nodes at once are stored once, both
/// nodes answer with the same id, and no duplicate leaves a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_id_through_two_nodes_is_one_message_and_no_gap() {
    const SENDS: usize = 200;
    let url = fresh_database().await;
    let (left, right) = (Arc::new(connect(&url).await), Arc::new(connect(&url).await));
    let send_all = |node: Arc<PostgresStore>| {
        tokio::spawn(async move {
            let mut ids = BTreeMap::new();
            for i in 0..SENDS {
                let out =
                    node.append_messages(vec![new_message("dup", "a", Conversation::Room, &format!("c{i}"))]).await;
                ids.insert(i, out.unwrap()[0].message.id);
            }
            ids
        })
    };
    let (a, b) = (send_all(left.clone()), send_all(right.clone()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(a, b, "both nodes acked each client id with the same id");
    let stored = left.messages_only_after(&pid("dup"), &uid("a"), MessageId(0), 10_000).await.unwrap();
    let ids: Vec<u64> = stored.iter().map(|m| m.id.0).collect();
    assert_eq!(ids, (1..=SENDS as u64).collect::<Vec<_>>(), "one row per client id, no gap");
    let distinct: BTreeSet<_> = stored.iter().map(|m| m.client_id.clone()).collect();
    assert_eq!(distinct.len(), SENDS);
}

/// PostgreSQL going away fails calls with an error (the sequencer turns it
/// into `unavailable`); once it is back the same store works again, and
/// what was committed before is all there.
#[tokio::test]
async fn the_store_recovers_when_postgres_restarts() {
    let mut server = PgServer::start(Cleanup::OnDrop);
    server.wait_ready().await;
    let options = PostgresOptions { pool_size: 4, timeout: Duration::from_secs(2) };
    let store = PostgresStore::connect(&server.url("postgres"), options).await.unwrap();
    let first = store.append_messages(vec![new_message("r", "a", Conversation::Room, "before")]).await.unwrap();

    server.stop();
    let failed = store.append_messages(vec![new_message("r", "a", Conversation::Room, "during")]).await;
    assert!(
        matches!(failed, Err(StoreError::Postgres(_) | StoreError::Pool(_))),
        "a send while the database is down fails: {failed:?}"
    );

    server.restart().await;
    let resent = store.append_messages(vec![new_message("r", "a", Conversation::Room, "during")]).await.unwrap();
    assert!(!resent[0].duplicate, "the failed send stored nothing");
    assert_eq!(resent[0].message.id.0, first[0].message.id.0 + 1, "and took no id");
    let all = store.messages_only_after(&pid("r"), &uid("a"), MessageId(0), 10).await.unwrap();
    assert_eq!(all.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["before from a", "during from a"]);
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_at_start() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = PostgresOptions { pool_size: 1, timeout: Duration::from_secs(2) };
    let error = PostgresStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/chat"), options)
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(error, StoreError::Pool(_)), "{error}");
    let bad = PostgresStore::connect("not a url", PostgresOptions::default()).await.err().expect("refused");
    assert!(matches!(bad, StoreError::Config(_)), "{bad}");
}

/// A plain connection to the database, to look at the search index.
async fn database(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

/// The client ids of every message `user` finds in `project` for `query`,
/// newest first, a page of 7 at a time.
async fn search_all(store: &PostgresStore, project: &str, user: &str, query: &str) -> Vec<String> {
    let (mut found, mut before) = (Vec::new(), None);
    loop {
        let page = store.search(&pid(project), &uid(user), query, before, 7).await.unwrap();
        before = page.messages.last().map(|m| m.id);
        found.extend(page.messages.iter().map(|m| m.client_id.clone().unwrap().to_string()));
        if !page.has_more {
            return found;
        }
    }
}

/// Rows of the index whose words or conversation are not those of the
/// message now, or that belong to a deleted or missing message.
const STALE_WORDS: &str = "SELECT count(*) FROM message_words w LEFT JOIN messages m USING (project, id)
     WHERE m.id IS NULL OR m.deleted_at IS NOT NULL OR w.words <> message_words(m.body) OR w.conv <> m.conv";

/// A send's commit indexes nothing; once the node has been idle for half a
/// second the background indexer indexes every project, with no search
/// asking for it.
#[tokio::test]
async fn the_background_indexer_catches_up_once_the_writer_is_idle() {
    let url = fresh_database().await;
    let (store, db) = (connect(&url).await, database(&url).await);
    let batch: Vec<NewMessage> = (0..300)
        .map(|i| new_message(if i % 3 == 0 { "bg1" } else { "bg2" }, "a", Conversation::Room, &format!("m{i}")))
        .collect();
    store.append_messages(batch).await.unwrap();
    let committed = Instant::now();
    let right_after = count(&db, "SELECT count(*) FROM message_words").await;
    // Nothing can index before the node has been idle for 0.5 s; on a
    // machine too busy to look this soon, there is nothing to check.
    if committed.elapsed() < Duration::from_millis(400) {
        assert_eq!(right_after, 0, "the commit indexed nothing");
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let indexed = count(&db, "SELECT count(*) FROM message_words").await;
        let marks = count(&db, "SELECT COALESCE(sum(up_to), 0)::bigint FROM search_indexed").await;
        if indexed == 300 && marks == 300 {
            break;
        }
        assert!(Instant::now() < deadline, "the indexer did not catch up: {indexed} messages, marks {marks}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&db, STALE_WORDS).await, 0);
    assert_eq!(search_all(&store, "bg1", "a", "from").await.len(), 100);
}

/// A node that never stops writing is never idle, yet a project that
/// falls 20,000 ids behind is indexed anyway, with no search asking. (On a
/// machine stalled for half a second the idle sweep indexes it instead:
/// the test then passes the other way.)
#[tokio::test]
async fn a_project_far_behind_is_indexed_while_writes_continue() {
    let url = fresh_database().await;
    let (store, db) = (connect(&url).await, database(&url).await);
    let deadline = Instant::now() + Duration::from_secs(60);
    for b in 0.. {
        let batch: Vec<NewMessage> =
            (0..500).map(|i| new_message("busy", "a", Conversation::Room, &format!("b{b}-{i}"))).collect();
        store.append_messages(batch).await.unwrap();
        if count(&db, "SELECT COALESCE(max(up_to), 0) FROM search_indexed").await >= 20_000 {
            break;
        }
        assert!(Instant::now() < deadline, "{} messages sent, none indexed", (b + 1) * 500);
    }
    assert_eq!(count(&db, STALE_WORDS).await, 0);
}

/// An edit or deletion changes the index in its own transaction when the
/// message is indexed; a message changed before it is indexed is indexed
/// in its current state, a deleted one never. Either way no search finds
/// text that was edited away or deleted; nor after erasure or pruning.
#[tokio::test]
async fn search_never_finds_text_edited_away_or_deleted_before_or_after_indexing() {
    let url = fresh_database().await;
    let (store, db) = (connect(&url).await, database(&url).await);
    let said = |from: &str, cid: &str, body: &str| NewMessage {
        body: body.into(),
        ..new_message("life", from, Conversation::Room, cid)
    };
    let edit = |body: &str| ChangeKind::Edit { body: body.into(), window: None };
    let find = |query: &'static str| search_all(&store, "life", "a", query);
    let words_of = |cid: &'static str| {
        let db = &db;
        async move {
            let sql = format!(
                "SELECT count(*) FROM message_words w JOIN messages m USING (project, id) WHERE m.client_id = '{cid}'"
            );
            count(db, &sql).await
        }
    };

    // Before: changed in the very batch that stores them, so before any
    // indexer can have seen them.
    store
        .append(vec![
            said("a", "b1", "apple banana").into(),
            said("a", "b2", "apple cherry").into(),
            change("life", "a", MessageId(1), edit("apple durian")).into(),
            change("life", "a", MessageId(2), ChangeKind::Delete).into(),
        ])
        .await
        .unwrap();
    assert_eq!(find("banana").await, Vec::<String>::new(), "edited away before indexing");
    assert_eq!(find("durian").await, ["b1"]);
    assert_eq!(find("cherry").await, Vec::<String>::new(), "deleted before indexing");
    assert_eq!(find("apple").await, ["b1"]);
    assert_eq!(words_of("b2").await, 0, "a deleted message is never indexed");

    // After: indexed (by the search), then changed.
    let sent = store.append_messages(vec![said("a", "a1", "apple elder"), said("a", "a2", "apple fig")]).await.unwrap();
    assert_eq!(find("apple").await, ["a2", "a1", "b1"]);
    let (a1, a2) = (sent[0].message.id, sent[1].message.id);
    store
        .append(vec![
            change("life", "a", a1, edit("apple grape")).into(),
            change("life", "a", a2, ChangeKind::Delete).into(),
        ])
        .await
        .unwrap();
    // The changes' own transactions changed the index: no search since.
    assert_eq!(count(&db, STALE_WORDS).await, 0, "the index changed with the message");
    assert_eq!(words_of("a2").await, 0);
    assert_eq!(find("elder").await, Vec::<String>::new(), "edited away after indexing");
    assert_eq!(find("grape").await, ["a1"]);
    assert_eq!(find("fig").await, Vec::<String>::new(), "deleted after indexing");

    // Erasure and pruning take the words with the messages.
    store.append_messages(vec![said("b", "k1", "apple kiwi")]).await.unwrap();
    assert_eq!(find("kiwi").await, ["k1"]);
    store.erase_user(&pid("life"), &uid("b"), 5_000).await.unwrap();
    assert_eq!(words_of("k1").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM message_words WHERE project = 'life'").await, 2, "b1 and a1");
    assert_eq!(find("kiwi").await, Vec::<String>::new(), "erased");
    store.prune(Retention { older_than: Some(1_500), max_per_conversation: None }).await.unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM message_words").await, 0, "pruned");
    assert_eq!(find("apple").await, Vec::<String>::new());
}

/// Two nodes write, edit and search the same projects at once, each
/// search indexing what is pending and each node's background indexer
/// running beside them, while a user's messages are erased again and
/// again: every message is indexed exactly once, in its current state, no
/// erased message keeps words in the index, and both nodes find every
/// message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_indexing_at_once_index_each_message_once_and_both_find_everything() {
    const PROJECTS: usize = 3;
    const BATCHES: usize = 25;
    const PER_BATCH: usize = 12;
    let url = fresh_database().await;
    let nodes = [Arc::new(connect(&url).await), Arc::new(connect(&url).await)];
    let project = |i: usize| format!("two-{}", i % PROJECTS);
    let mut writers = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let node = node.clone();
        writers.push(tokio::spawn(async move {
            // Each batch edits a message of this node's previous batch, so
            // edits meet chunks being indexed.
            let mut previous: Option<(String, MessageId)> = None;
            for b in 0..BATCHES {
                let mut batch: Vec<Write> = (0..PER_BATCH)
                    .map(|i| new_message(&project(b + i), "a", Conversation::Room, &format!("n{n}-b{b}-{i}")).into())
                    .collect();
                batch.push(new_message(&project(b), "z", Conversation::Room, &format!("n{n}-b{b}-z")).into());
                if let Some((p, id)) = previous.take() {
                    batch
                        .push(change(&p, "a", id, ChangeKind::Edit { body: "now edited".into(), window: None }).into());
                }
                let out = node.append(batch).await.unwrap();
                let Written::Message(first) = &out[0] else { panic!("{:?}", out[0]) };
                previous = Some((project(b), first.message.id));
            }
        }));
    }
    let eraser = {
        let node = nodes[0].clone();
        let done: Vec<_> = writers.iter().map(|w| w.abort_handle()).collect();
        tokio::spawn(async move {
            while !done.iter().all(|w| w.is_finished()) {
                for p in 0..PROJECTS {
                    node.erase_user(&pid(&format!("two-{p}")), &uid("z"), 5_000).await.unwrap();
                }
            }
        })
    };
    let searchers: Vec<JoinHandle<u32>> = nodes
        .iter()
        .map(|node| {
            let node = node.clone();
            let done: Vec<_> = writers.iter().map(|w| w.abort_handle()).collect();
            tokio::spawn(async move {
                let mut searches = 0;
                while !done.iter().all(|w| w.is_finished()) {
                    for p in 0..PROJECTS {
                        node.search(&pid(&format!("two-{p}")), &uid("a"), "from", None, 5).await.unwrap();
                        searches += 1;
                    }
                }
                searches
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    for s in searchers {
        s.await.unwrap();
    }
    eraser.await.unwrap();

    let db = database(&url).await;
    let total = count(&db, "SELECT count(*) FROM messages").await as usize;
    let kept_z = count(&db, "SELECT count(*) FROM messages WHERE sender = 'z'").await as usize;
    assert_eq!(total - kept_z, 2 * BATCHES * PER_BATCH, "only z's messages were erased");
    let edited = 2 * (BATCHES - 1);
    for node in &nodes {
        let (mut from, mut now) = (0, 0);
        for p in 0..PROJECTS {
            from += search_all(node, &format!("two-{p}"), "a", "from").await.len();
            now += search_all(node, &format!("two-{p}"), "a", "edited").await.len();
        }
        assert_eq!((from, now), (total - edited, edited), "every message, found by its current text");
    }
    assert_eq!(count(&db, "SELECT count(*) FROM message_words").await, total as i64, "each message indexed once");
    assert_eq!(count(&db, STALE_WORDS).await, 0, "no stale words, none of an erased message");
}
