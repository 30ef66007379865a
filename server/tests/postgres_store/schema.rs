//! The schema's choices that the conformance suite cannot see: identifiers
//! compared as bytes, the age index, an older database migrated with its
//! messages, and a resend found by the insert itself (append.rs).

use super::{connect, database};
use crate::support::postgres::fresh_database;
use protocol::{Conversation, MessageId};
use server::store::conformance::{change, dm, new_message, pid, uid, MessageStore};
use server::store::{conversation_key, ChangeKind, LogEntry, PostgresStore, Retention, Store, Written};

/// The indexed text columns of the schema with their collations, as
/// `table.column collation`, and the access method of `messages_ts`.
async fn indexed_text_columns(url: &str) -> (Vec<String>, String) {
    let db = database(url).await;
    let rows = db
        .query(
            "SELECT DISTINCT t.relname || '.' || a.attname || ' ' || c.collname
             FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid AND t.relnamespace = 'public'::regnamespace
             CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indcollation::oid[]) AS k(attnum, coll)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             JOIN pg_collation c ON c.oid = k.coll
             WHERE a.atttypid = 'text'::regtype ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let method = db
        .query_one(
            "SELECT am.amname::text FROM pg_class c JOIN pg_am am ON am.oid = c.relam WHERE c.relname = 'messages_ts'",
            &[],
        )
        .await
        .unwrap();
    (rows.iter().map(|r| r.get(0)).collect(), method.get(0))
}

/// Every text column an index compares is collated "C" (bytes, as SQLite's
/// BINARY), whatever the database's default; a table added later without
/// it fails here.
#[tokio::test]
async fn every_indexed_identifier_compares_as_bytes_and_age_has_a_brin_index() {
    let url = fresh_database().await;
    let _store = connect(&url).await;
    let (columns, method) = indexed_text_columns(&url).await;
    assert!(columns.len() >= 20, "the query sees the schema's indexes: {columns:?}");
    assert!(columns.contains(&"messages.client_id C".to_owned()), "{columns:?}");
    let not_bytes: Vec<&String> = columns.iter().filter(|c| !c.ends_with(" C")).collect();
    assert!(not_bytes.is_empty(), "indexed by a locale's order: {not_bytes:?}");
    assert_eq!(method, "brin");
}

/// A database as the previous schema (version 2) left it, with messages,
/// is migrated in place: its messages read back, a resend of one is still
/// found, ids continue without a gap, and retention by age still deletes.
#[tokio::test]
async fn a_database_of_the_previous_schema_is_migrated_with_its_messages() {
    let url = fresh_database().await;
    assert_eq!(PostgresStore::migrate_only_to(&url, 2).await.unwrap(), 2);
    let db = database(&url).await;
    let dm_key = conversation_key(&uid("a"), &dm("b"));
    db.batch_execute(&format!(
        "INSERT INTO project_counters VALUES ('p', 2);
         INSERT INTO messages (project, id, conv, sender, sender_name, sender_color, recipient, body, ts, client_id)
         VALUES ('p', 1, 'room', 'a', 'a', '#123456', NULL, 'old room', 500, 'c1'),
                ('p', 2, '{dm_key}', 'a', 'a', '#123456', 'b', 'old dm', 2000, 'c2');
         INSERT INTO conversations VALUES ('p', 'a', '{dm_key}'), ('p', 'b', '{dm_key}');"
    ))
    .await
    .unwrap();
    let (before, method) = indexed_text_columns(&url).await;
    assert!(before.iter().any(|c| !c.ends_with(" C")) && method == "btree", "the old schema: {before:?}");

    let store = connect(&url).await;
    let (after, method) = indexed_text_columns(&url).await;
    assert!(after.iter().all(|c| c.ends_with(" C")) && method == "brin", "migrated: {after:?}");
    let seen = store.messages_only_after(&pid("p"), &uid("b"), MessageId(0), 10).await.unwrap();
    assert_eq!(seen.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["old room", "old dm"]);
    let out = store
        .append_messages(vec![new_message("p", "a", dm("b"), "c2"), new_message("p", "a", Conversation::Room, "c3")])
        .await
        .unwrap();
    assert!(out[0].duplicate && out[0].message.body == "old dm", "a resend of an old message: {:?}", out[0]);
    assert_eq!(out[1].message.id, MessageId(3), "ids continue with no gap");
    let pruned = store.prune(Retention { older_than: Some(1_000), max_per_conversation: None }).await.unwrap();
    assert_eq!(pruned, 1, "the message older than the cutoff, found through the age index");
    let left = store.messages_only_after(&pid("p"), &uid("a"), MessageId(0), 10).await.unwrap();
    assert_eq!(left.iter().map(|m| m.id.0).collect::<Vec<_>>(), [2, 3]);
}

/// A batch is stored without looking for resends first; one that holds a
/// resend fails on the dedupe index, rolls back and is stored again,
/// looking. Either way the result is the same: the resend is answered with
/// its original and takes no id, and what is new takes contiguous ids.
#[tokio::test]
async fn a_resend_amid_new_writes_takes_no_id_and_leaves_no_gap() {
    let store = connect(&fresh_database().await).await;
    let first = store
        .append_messages(vec![new_message("p", "a", dm("b"), "x1"), new_message("p", "a", Conversation::Room, "x2")])
        .await
        .unwrap();
    assert_eq!((first[0].message.id, first[1].message.id), (MessageId(1), MessageId(2)));
    let edit = ChangeKind::Edit { body: "x2 edited".into(), window: None };
    let out = store
        .append(vec![
            new_message("p", "c", Conversation::Room, "y1").into(),
            new_message("p", "a", dm("b"), "x1").into(), // stored above
            change("p", "a", MessageId(2), edit).into(),
            new_message("p", "c", Conversation::Room, "y1").into(), // earlier in this batch
            new_message("p", "c", Conversation::Room, "y2").into(),
            new_message("q", "a", dm("b"), "x1").into(), // the same ids in another project
        ])
        .await
        .unwrap();
    let ids: Vec<(u64, bool)> = out
        .iter()
        .map(|w| match w {
            Written::Message(m) => (m.message.id.0, m.duplicate),
            Written::Change(c) => (c.as_ref().expect("the author's edit").id.0, false),
        })
        .collect();
    assert_eq!(ids, [(3, false), (1, true), (4, false), (3, true), (5, false), (1, false)]);
    let Written::Message(resent) = &out[1] else { panic!() };
    assert_eq!(resent.message, first[0].message, "the original answers the resend");
    let next = store.append_messages(vec![new_message("p", "c", Conversation::Room, "y3")]).await.unwrap();
    assert_eq!(next[0].message.id, MessageId(6));
    let log = store.project_messages_after(&pid("p"), MessageId(0), 100).await.unwrap();
    assert_eq!(log.iter().map(LogEntry::id).map(|id| id.0).collect::<Vec<_>>(), (1..=6).collect::<Vec<_>>());
}
