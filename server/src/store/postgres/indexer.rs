//! The background indexer: a task on the tokio runtime that sweeps the
//! search index up to date (`index::sweep`) once this node's writes have
//! been idle for [`INDEX_WHEN_IDLE_FOR`], as SQLite's indexer thread does,
//! and then tidies the index for searches (`index::tidy`); while they are
//! not, it indexes only the projects more than [`PROJECT_LAG_MAX`]
//! behind. It takes a pooled connection only for a sweep or that check and
//! gives it back after: the pool's size is the user's, and requests must
//! not find a slot gone for good.
//!
//! The bound is per project because a search indexes its own project's
//! backlog first, and that is what it bounds. A bound on the node's whole
//! backlog (100,000 ids, as on SQLite) had a busy node sweep every project
//! every two seconds in the durable bench (100 projects, ~45,000 sends/s),
//! on the cores sends need, while each was a thousand ids behind.
//!
//! Idle is this node's own view ([`Activity`], updated by `append`):
//! looking at the database for it would cost a query per tick on the busy
//! path too. Other nodes sweep their own messages; a sweep every
//! [`SWEEP_ANYWAY_EVERY`] picks up what a node that went away left behind
//! (and a search indexes its project's backlog itself, whoever wrote it).

use super::{index, Inner, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
use std::time::{Duration, Instant};

/// How often the task looks at [`Activity`].
const INDEX_EVERY: Duration = Duration::from_millis(250);
/// This node counts as idle after this long without a commit.
const INDEX_WHEN_IDLE_FOR: Duration = Duration::from_millis(500);
/// Ids a project may fall behind while this node is busy; about what a
/// search may have to index first (measured: 0.15 s of work with
/// three-word bodies, 1.2 s with twelve-word ones).
const PROJECT_LAG_MAX: i64 = 20_000;
/// While busy, how often the projects are checked against
/// [`PROJECT_LAG_MAX`], once this node has committed that many ids since
/// its last idle sweep (until then its own sends cannot have put one that
/// far behind; other nodes check for theirs).
const CHECK_BUSY_EVERY: Duration = Duration::from_secs(1);
/// A sweep even with nothing committed here: other nodes' leftovers.
const SWEEP_ANYWAY_EVERY: Duration = Duration::from_secs(30);
/// `message_words` is analyzed again once indexing has covered this many
/// more ids since (or a tenth more, if that is more: autovacuum's rule).
const ANALYZE_AFTER: i64 = 10_000;

/// What this node has committed lately.
pub(super) struct Activity {
    started: Instant,
    /// When `append` last committed, in ms since `started`.
    last_commit_ms: AtomicU64,
    /// Ids committed since the last idle sweep began (an upper bound: a
    /// batch's duplicates and refused changes are counted too).
    pending: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self { started: Instant::now(), last_commit_ms: AtomicU64::new(0), pending: AtomicU64::new(0) }
    }

    /// Records a commit of up to `ids` new ids, just now.
    pub(super) fn note_commit(&self, ids: u64) {
        self.last_commit_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.pending.fetch_add(ids, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_commit_ms.load(Ordering::Relaxed)))
    }
}

/// Starts the task; it ends at its first tick after the store is dropped.
pub(super) fn spawn(store: Weak<Inner>) {
    tokio::spawn(async move {
        let (mut last_sweep, mut last_check) = (Instant::now(), Instant::now());
        // What `index::covered` was when this node last analyzed.
        let mut analyzed_at: Option<i64> = None;
        loop {
            tokio::time::sleep(INDEX_EVERY).await;
            let Some(inner) = store.upgrade() else { return };
            let activity = &inner.activity;
            let pending = activity.pending.load(Ordering::Relaxed);
            let everything = if pending == 0 {
                last_sweep.elapsed() >= SWEEP_ANYWAY_EVERY
            } else {
                activity.idle_for() >= INDEX_WHEN_IDLE_FOR
            };
            let min_lag = if everything {
                // Commits during the sweep count towards the next one.
                activity.pending.fetch_sub(pending, Ordering::Relaxed);
                last_sweep = Instant::now();
                1
            } else if pending >= PROJECT_LAG_MAX as u64 && last_check.elapsed() >= CHECK_BUSY_EVERY {
                last_check = Instant::now();
                PROJECT_LAG_MAX
            } else {
                continue;
            };
            let started = Instant::now();
            let swept = async {
                let mut client = inner.client().await?;
                let ids = index::sweep(&mut client, min_lag).await?;
                // After commits here, even if a search has indexed them.
                if everything && pending > 0 {
                    let covered = index::covered(&client).await?;
                    let since = match analyzed_at {
                        Some(at) => at,
                        None => index::rows_analyzed(&client).await?,
                    };
                    let analyze = covered - since >= (since / 10).max(ANALYZE_AFTER);
                    index::tidy(&client, analyze).await?;
                    if analyze || analyzed_at.is_none() {
                        analyzed_at = Some(if analyze { covered } else { since });
                    }
                }
                Ok::<_, StoreError>(ids)
            };
            match swept.await {
                Ok(0) => {}
                Ok(ids) => tracing::debug!(ids, ms = started.elapsed().as_millis() as u64, "indexed for search"),
                Err(e) => {
                    tracing::warn!(error = %e, "indexing messages for search failed");
                    if everything {
                        activity.pending.fetch_add(pending, Ordering::Relaxed);
                    }
                }
            }
        }
    });
}
