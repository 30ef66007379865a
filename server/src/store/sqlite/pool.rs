//! Connections to the database file: one writer (SQLite has one writer
//! anyway), a small pool of readers beside it (WAL lets them run while it
//! writes), the background thread that copies the WAL into the file, and
//! the one that indexes new messages for search while the writer is idle.
//! Every call runs on tokio's blocking pool.

use super::schema::migrate;
use crate::store::StoreError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Reads running at once, each on its own connection. Without a bound, a
/// burst of resumes or history requests opened a connection (and a blocking
/// thread, and a page cache) per request: measured, 1,000 tabs resuming at
/// once raised RSS by about 130 MB before any replay page was held.
const READ_POOL: usize = 4;
/// WAL size past which it is checkpointed completely and truncated.
const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// How often the background thread copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How often the background indexer looks for messages to index.
const INDEX_EVERY: Duration = Duration::from_millis(250);
/// The writer counts as idle (free for indexing) after this long without a
/// commit of messages.
const INDEX_WHEN_IDLE_FOR: Duration = Duration::from_millis(500);
/// Most messages indexed at once while commits keep coming, at most once
/// per [`INDEX_BUSY_EVERY`]: a bounded share of the writer (a few ms a
/// second), which keeps up with any ordinary traffic, so a busy server's
/// index does not wait for an idle moment that never comes. Few large
/// transactions rather than many small ones: each holds the writer between
/// two group commits, and each leaves FTS5 a segment to merge later.
const INDEX_BUSY_CHUNK: u32 = 8_000;
const INDEX_BUSY_EVERY: Duration = Duration::from_secs(1);
/// Ids the search index may fall behind under sustained heavy writes
/// before the indexer takes full chunks anyway, so that a search never has
/// more than about this much to index first (about a second's work).
const INDEX_LAG_MAX: u64 = 500_000;

pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[cfg(test)]
impl SqliteStore {
    pub(super) fn path(&self) -> &Path {
        &self.inner.path
    }
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per reader: a read waits (asynchronously) for one.
    read_permits: tokio::sync::Semaphore,
    /// The WAL file, and the size past which the writer truncates it.
    wal: PathBuf,
    wal_limit: u64,
    /// Held by whoever checkpoints. SQLite runs one checkpoint at a time and
    /// answers a second one with SQLITE_BUSY at once, without waiting: the
    /// writer's truncation, failing beside a background PASSIVE checkpoint
    /// (likelier the busier the machine), left the WAL a batch over its limit.
    checkpoint: Mutex<()>,
    /// When messages were last committed, in ms since `started`.
    last_commit_ms: AtomicU64,
    started: Instant,
}

impl Inner {
    fn idle_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_commit_ms.load(Ordering::Relaxed)))
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // FULL: a commit is on disk before `append` returns, so an ack survives
    // power loss too; group commit amortizes the fsync.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // A deleted message's body must leave the file, not only the view:
    // freed bytes are overwritten with zeros.
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with_wal_limit(path, WAL_LIMIT_BYTES)
    }

    /// As [`open`](Self::open), with the size past which the WAL is
    /// checkpointed completely and truncated.
    pub fn open_with_wal_limit(path: impl AsRef<Path>, wal_limit: u64) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut writer = open(&path)?;
        migrate(&mut writer)?;
        // Checkpoints run on their own thread (below), not inside whichever
        // commit crosses the WAL size threshold: that commit, and every
        // delivery waiting behind it, would stall while the database file is
        // written and synced.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", wal_limit as i64)?;
        let path_for_wal = path.clone();
        let inner = Arc::new(Inner {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            read_permits: tokio::sync::Semaphore::new(READ_POOL),
            wal: wal_path(&path_for_wal),
            wal_limit,
            checkpoint: Mutex::new(()),
            last_commit_ms: AtomicU64::new(0),
            started: Instant::now(),
        });
        spawn_checkpointer(Arc::downgrade(&inner))?;
        spawn_indexer(Arc::downgrade(&inner))?;
        Ok(Self { inner })
    }

    /// Records that messages were committed just now (the indexer waits
    /// for the writer to be idle).
    pub(super) fn note_commit(&self) {
        self.inner.last_commit_ms.store(self.inner.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    pub(super) async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            let result = f(&mut conn);
            if std::fs::metadata(&inner.wal).is_ok_and(|m| m.len() > inner.wal_limit) {
                // PASSIVE checkpoints never finish while commits keep coming;
                // done here, between our own transactions, nothing can
                // starve it. Most frames are already copied, so it is short.
                let _only_checkpoint = inner.checkpoint.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL truncation failed");
                }
            }
            result
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let _permit = self.inner.read_permits.acquire().await.map_err(|e| StoreError::Task(e.to_string()))?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open(&inner.path)?,
            };
            let result = f(&conn);
            let mut pool = inner.readers.lock().unwrap_or_else(|e| e.into_inner());
            if pool.len() < READ_POOL {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] with a
/// PASSIVE checkpoint (never blocks the writer or readers), until the store
/// is dropped. The writer truncates a WAL over its limit (see `write`).
fn spawn_checkpointer(inner: std::sync::Weak<Inner>) -> Result<(), StoreError> {
    let path = inner.upgrade().map(|i| i.path.clone()).ok_or_else(|| StoreError::Task("store dropped".into()))?;
    let conn = open(&path)?;
    std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(inner) = inner.upgrade() else { return };
        let _only_checkpoint = inner.checkpoint.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    })?;
    Ok(())
}

/// Indexes new messages for search (`search::index_pending`, a chunk per
/// transaction on the writer connection): everything once the writer has
/// been idle for [`INDEX_WHEN_IDLE_FOR`] (or is [`INDEX_LAG_MAX`] behind),
/// otherwise [`INDEX_BUSY_CHUNK`] every [`INDEX_BUSY_EVERY`]; until the
/// store is dropped.
fn spawn_indexer(inner: std::sync::Weak<Inner>) -> Result<(), StoreError> {
    use super::search::{index_pending, lag, INDEX_CHUNK};
    std::thread::Builder::new().name("sqlite-index".into()).spawn(move || {
        let mut busy_indexed_at = Instant::now();
        loop {
            std::thread::sleep(INDEX_EVERY);
            let Some(inner) = inner.upgrade() else { return };
            loop {
                let idle = inner.idle_for() >= INDEX_WHEN_IDLE_FOR;
                let mut conn = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
                let chunk = if idle || lag(&conn).is_ok_and(|lag| lag >= INDEX_LAG_MAX) {
                    INDEX_CHUNK
                } else if busy_indexed_at.elapsed() >= INDEX_BUSY_EVERY {
                    busy_indexed_at = Instant::now();
                    INDEX_BUSY_CHUNK
                } else {
                    break;
                };
                match index_pending(&mut conn, chunk) {
                    // A full chunk of a busy writer's: the rest at the next look.
                    Ok(n) if n == INDEX_CHUNK => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "indexing messages for search failed");
                        break;
                    }
                }
            }
        }
    })?;
    Ok(())
}
