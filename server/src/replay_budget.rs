//! The server-wide cap on replay bytes in flight (`--max-replay-bytes`).
//!
//! A resuming connection writes its backlog a page at a time, and a page
//! stays in memory until the socket has taken it: a client that asks for
//! its backlog and never reads holds its page for as long as the write
//! timeout lets it. One such client costs a page; a thousand would cost a
//! thousand pages. So every replay first reserves one page's worth of this
//! budget and holds it until `synced`; pages are trimmed to that size. When
//! the budget is spent, further replays queue (their `welcome` is sent, the
//! backlog waits) until a running one ends, which a non-reader does at the
//! latest when its write timeout closes it. The replays running at once
//! are therefore at most `max_replay_bytes / REPLAY_PAGE_BYTES`.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A replay page stops growing at about this many bytes of JSON (it always
/// holds at least one message), and this is what a replay reserves.
pub(crate) const REPLAY_PAGE_BYTES: usize = 256 * 1024;

/// Shared by every connection of the process.
#[derive(Debug)]
pub(crate) struct ReplayBudget {
    permits: Arc<Semaphore>,
    /// What one replay reserves: a page, or the whole budget if smaller.
    page_bytes: usize,
}

impl ReplayBudget {
    pub(crate) fn new(total_bytes: usize) -> Self {
        // At least one byte, so a replay can always start.
        let total = total_bytes.clamp(1, Semaphore::MAX_PERMITS);
        Self { permits: Arc::new(Semaphore::new(total)), page_bytes: REPLAY_PAGE_BYTES.min(total) }
    }

    /// The most bytes of JSON a replay page holds (beyond its first message).
    pub(crate) fn page_bytes(&self) -> usize {
        self.page_bytes
    }

    /// A reservation without waiting, if the budget has room.
    pub(crate) fn try_reserve(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_many_owned(self.permits_per_replay()).ok()
    }

    /// A reservation, waiting for one if the budget is spent.
    pub(crate) async fn reserve(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_many_owned(self.permits_per_replay())
            .await
            .expect("the replay budget's semaphore is never closed")
    }

    fn permits_per_replay(&self) -> u32 {
        u32::try_from(self.page_bytes).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_of_two_pages_runs_two_replays_and_queues_the_third() {
        let budget = ReplayBudget::new(2 * REPLAY_PAGE_BYTES);
        let first = budget.try_reserve().expect("room for one");
        let _second = budget.try_reserve().expect("room for two");
        assert!(budget.try_reserve().is_none(), "the third waits");
        drop(first);
        assert!(budget.try_reserve().is_some(), "and starts when one ends");
    }

    #[test]
    fn a_budget_smaller_than_a_page_still_runs_one_replay_with_smaller_pages() {
        let budget = ReplayBudget::new(1000);
        assert_eq!(budget.page_bytes(), 1000);
        let one = budget.try_reserve().expect("one replay");
        assert!(budget.try_reserve().is_none());
        drop(one);
        assert_eq!(ReplayBudget::new(0).page_bytes(), 1, "zero is raised to one byte");
    }
}
