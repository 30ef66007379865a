//! The PostgreSQL store: the conformance suite, and the cursor rule with
//! several writers (each `PostgresStore` here stands for one node).

mod support;

use protocol::{ChatMessage, Conversation, MessageId};
use server::store::conformance::{self, new_message, pid, uid, MessageStore};
use server::store::{PostgresOptions, PostgresStore, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use support::postgres::{fresh_database, Cleanup, PgServer};

async fn connect(url: &str) -> PostgresStore {
    PostgresStore::connect(url, PostgresOptions::default()).await.unwrap()
}

#[tokio::test]
async fn postgres_passes_the_store_conformance_suite() {
    let store = connect(&fresh_database().await).await;
    conformance::run_all(&store).await;
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
    let mut seen: Vec<ChatMessage> = Vec::new();
    let mut cursor = MessageId(0);
    let mut all_written = false;
    loop {
        let page = reader.messages_only_after(&pid("busy"), &uid("a"), cursor, 50).await.unwrap();
        if let Some(last) = page.last() {
            cursor = last.id;
        }
        let caught_up = page.is_empty();
        seen.extend(page);
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
