//! Filling the search index (`message_words`, see schema.rs) after the
//! commit: a project's messages above its high-water mark
//! (`search_indexed.up_to`) are indexed in chunks, each chunk one
//! transaction that moves the mark, under the project's search lock.
//!
//! Why the mark is sound: a project's ids are contiguous and commit in id
//! order (append.rs), so a chunk that indexes every message with an id up
//! to a `last_id` it read has left nothing below that id behind. Ids of
//! changes are in the range too; they index nothing.
//!
//! Who indexes: a search, for its own project, before it queries (waiting
//! for the locks: a concurrent indexer's chunk is then committed and seen),
//! and the background task (`indexer.rs`) for every project behind
//! (trying them: a project someone else is indexing is theirs). So two
//! nodes never index a message twice. Who waits for a chunk: a search or
//! an edit or deletion in its project, and a statement deleting messages
//! (retention, erasure) just before it commits (the locks are described in
//! schema.rs). Once it holds its locks a chunk waits for nothing: it only
//! reads `messages` and writes rows no one else inserts.

use super::StoreError;
use deadpool_postgres::{Object, Transaction};

/// Most ids one chunk covers. An edit or deletion in the chunk's project
/// waits for it while holding its batch's counter locks, so it is kept
/// short: measured with twelve-word bodies, 0.1 to 0.2 s, and up to 0.9 s
/// for the chunk that moves GIN's pending list into the posting trees
/// (which every insert paid for in turn when the index was on `messages`).
pub(super) const CHUNK: i64 = 5_000;

/// Indexes `project` up to `target` (an id it has committed: every
/// message at or below it is visible now). `wait`: wait for the project's
/// lock (a search); otherwise give up at once if someone else holds it.
/// Returns the ids covered.
pub(super) async fn catch_up(client: &mut Object, project: &str, target: i64, wait: bool) -> Result<u64, StoreError> {
    let mut covered = 0;
    loop {
        // Returning before the commit drops `tx`: a rollback, which
        // releases the locks.
        let tx = client.transaction().await?;
        if wait {
            let lock = tx.prepare_cached("SELECT search_lock($1)").await?;
            tx.execute(&lock, &[&project]).await?;
        } else {
            let try_lock = tx.prepare_cached("SELECT search_try_lock($1)").await?;
            if !tx.query_one(&try_lock, &[&project]).await?.try_get::<_, bool>(0)? {
                return Ok(covered);
            }
        }
        // A new statement, so a new snapshot: it sees the chunk of whoever
        // held the lock before us.
        let mark = tx.prepare_cached("SELECT up_to FROM search_indexed WHERE project = $1").await?;
        let up_to: i64 = tx.query_opt(&mark, &[&project]).await?.map(|r| r.try_get(0)).transpose()?.unwrap_or(0);
        if up_to >= target {
            return Ok(covered);
        }
        let to = target.min(up_to + CHUNK);
        index_chunk(&tx, project, up_to, to).await?;
        tx.commit().await?;
        covered += (to - up_to) as u64;
        if to == target {
            return Ok(covered);
        }
    }
}

/// Indexes the messages of `project` in `(from, to]` that are not deleted
/// and moves the mark to `to`, in `tx` (which holds the project's lock).
async fn index_chunk(tx: &Transaction<'_>, project: &str, from: i64, to: i64) -> Result<(), StoreError> {
    let words = tx
        .prepare_cached(
            "INSERT INTO message_words (project, id, conv, words)
             SELECT project, id, conv, message_words(body) FROM messages
             WHERE project = $1 AND id > $2 AND id <= $3 AND deleted_at IS NULL",
        )
        .await?;
    let mark = tx
        .prepare_cached(
            "INSERT INTO search_indexed (project, up_to) VALUES ($1, $2)
             ON CONFLICT (project) DO UPDATE SET up_to = EXCLUDED.up_to",
        )
        .await?;
    futures_util::future::try_join(tx.execute(&words, &[&project, &from, &to]), tx.execute(&mark, &[&project, &to]))
        .await?;
    Ok(())
}

/// The newest id of `project` and its mark, read together (one snapshot).
pub(super) async fn lag(client: &Object, project: &str) -> Result<(i64, i64), StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT COALESCE((SELECT last_id FROM project_counters WHERE project = $1), 0),
                    COALESCE((SELECT up_to FROM search_indexed WHERE project = $1), 0)",
        )
        .await?;
    let row = client.query_one(&stmt, &[&project]).await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Indexes every project at least `min_lag` ids behind, up to its newest
/// id when the sweep began (so a sweep ends even while sends keep coming),
/// skipping the projects another indexer holds. Finding them reads one row
/// per project, never `messages`: the counter every commit moves against
/// the mark. Returns the ids covered.
pub(super) async fn sweep(client: &mut Object, min_lag: i64) -> Result<u64, StoreError> {
    let behind = client
        .prepare_cached(
            "SELECT c.project, c.last_id FROM project_counters c LEFT JOIN search_indexed s USING (project)
             WHERE c.last_id - COALESCE(s.up_to, 0) >= GREATEST($1::bigint, 1) ORDER BY c.project",
        )
        .await?;
    let mut covered = 0;
    for row in client.query(&behind, &[&min_lag]).await? {
        let (project, newest): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        covered += catch_up(client, &project, newest, false).await?;
    }
    Ok(covered)
}

/// The ids the marks cover, all projects together: how far indexing has
/// come (ids of changes and of deleted messages count too).
pub(super) async fn covered(client: &Object) -> Result<i64, StoreError> {
    let row = client.query_one("SELECT COALESCE(sum(up_to), 0)::bigint FROM search_indexed", &[]).await?;
    Ok(row.try_get(0)?)
}

/// The rows `message_words` had when it was last analyzed (0 if never).
pub(super) async fn rows_analyzed(client: &Object) -> Result<i64, StoreError> {
    let sql = "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = 'message_words'::regclass";
    Ok(client.query_one(sql, &[]).await?.try_get(0)?)
}

/// Housekeeping autovacuum would do later, done at once by an idle node,
/// because a search's plan depends on both. `analyze`: refresh the
/// statistics of `message_words` first. Indexing lands in bulk, and until
/// the statistics know that a word is in every message the planner may
/// fetch all its matches and sort them (4 s over 1,000,000 messages)
/// rather than walk the newest first (0.3 ms). Then move the words queued
/// in GIN's pending list (fastupdate) into its posting trees: every search
/// scans that list whole (a rare word: 14 ms with 81,000 entries queued,
/// 0.4 ms after this, which took 93 ms). In that order: an empty list
/// makes the GIN index look cheap, which only good statistics can weigh.
pub(super) async fn tidy(client: &Object, analyze: bool) -> Result<(), StoreError> {
    if analyze {
        client.batch_execute("ANALYZE message_words").await?;
    }
    client.execute("SELECT gin_clean_pending_list('message_words_gin'::regclass)", &[]).await?;
    Ok(())
}

/// Takes `project`'s search lock shared, for a change to text that may be
/// indexed (an edit or a deletion): once it returns no chunk of the
/// project is being indexed, and none begins before `tx` ends. Statements
/// after it see whether the message is indexed; one that is not will be
/// indexed in the state `tx` leaves it.
pub(super) async fn lock_for_change(tx: &Transaction<'_>, project: &str) -> Result<(), tokio_postgres::Error> {
    let stmt = tx.prepare_cached("SELECT search_lock_shared($1)").await?;
    tx.execute(&stmt, &[&project]).await.map(drop)
}
