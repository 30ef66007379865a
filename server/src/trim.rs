//! Gives memory back to the system after many connections have closed.
//!
//! glibc's malloc keeps freed memory in its arenas: after 15,000 idle
//! connections closed, RSS stayed at its peak (181–190 MiB) although
//! nearly all of it was free, and only a second wave of connections reused
//! it (BENCHMARKS.md, scenario 3). `malloc_trim` hands the free pages back.
//! A background task calls it, on a blocking thread, when at least
//! [`TRIM_AFTER_CLOSED`] connections have closed since the last trim; at most
//! once per [`CHECK_EVERY`], so steady churn costs one trim per period.
//! (mimalloc was tried instead of glibc: it kept more memory, not less.)

use crate::app::App;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the task looks at the connection counters.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Closed connections that make a trim worth its cost (a few ms).
pub(crate) const TRIM_AFTER_CLOSED: u64 = 1000;
/// A trim taking this long or more is logged at info level.
const SLOW_TRIM_MS: u64 = 10;

/// Decides when to trim, from the running count of closed connections.
#[derive(Debug, Default)]
pub(crate) struct TrimPolicy {
    closed_at_last_trim: u64,
}

impl TrimPolicy {
    /// True when enough connections closed since the last trim; the caller
    /// then trims.
    pub(crate) fn should_trim(&mut self, closed_total: u64) -> bool {
        if closed_total.saturating_sub(self.closed_at_last_trim) < TRIM_AFTER_CLOSED {
            return false;
        }
        self.closed_at_last_trim = closed_total;
        true
    }
}

/// Runs until shutdown.
pub(crate) async fn run(app: Arc<App>) {
    let mut policy = TrimPolicy::default();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = app.shutdown.cancelled() => return,
        }
        let m = &app.metrics;
        let closed =
            m.connections_total.load(Ordering::Relaxed).saturating_sub(m.connections_open.load(Ordering::Relaxed));
        if policy.should_trim(closed) {
            let started = std::time::Instant::now();
            if tokio::task::spawn_blocking(release_free_memory).await.is_ok() {
                let took_ms = started.elapsed().as_millis() as u64;
                // It holds each arena's lock while it walks it: a slow trim
                // stalls allocations, so say so where operators look.
                if took_ms >= SLOW_TRIM_MS {
                    tracing::info!(closed, took_ms, "returned free memory (slow)");
                } else {
                    tracing::debug!(closed, took_ms, "returned free memory");
                }
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks;
    // it takes no pointers from us and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_per_thousand_closed_connections() {
        let mut policy = TrimPolicy::default();
        assert!(!policy.should_trim(0));
        assert!(!policy.should_trim(TRIM_AFTER_CLOSED - 1));
        assert!(policy.should_trim(TRIM_AFTER_CLOSED));
        assert!(!policy.should_trim(TRIM_AFTER_CLOSED + 10), "counted from the last trim");
        assert!(!policy.should_trim(2 * TRIM_AFTER_CLOSED - 1));
        assert!(policy.should_trim(5 * TRIM_AFTER_CLOSED));
    }
}
