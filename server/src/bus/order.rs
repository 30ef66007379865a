//! Per-project delivery order on one node, for a bus across nodes.
//!
//! With PostgreSQL, a project's ids are contiguous and commit in id order
//! (the store's cursor rule), but they reach a node from several places:
//! its own sequencer, each other node through the bus, and the store when a
//! gap is filled. [`ProjectOrder`] turns those into one stream with no gap
//! and no repeat: id `last + 1` is delivered at once (with whatever waited
//! behind it), an older id is dropped as already delivered, and a newer one
//! waits while the missing range is read from the store.
//!
//! Pure bookkeeping, no I/O: the bus calls it under its lock and does the
//! store reads and hub deliveries.

use crate::outbox::{ConnId, Outbound};
use crate::store::LogEntry;
use protocol::MessageId;
use std::collections::BTreeMap;

/// Messages that may wait behind a gap per project; past this the oldest
/// gap is given up (its messages stay in the store, for resume).
pub(crate) const MAX_WAITING: usize = 10_000;

/// A log entry (message or update) ready for the hub.
#[derive(Debug, Clone)]
pub(crate) struct Ready {
    pub(crate) entry: LogEntry,
    pub(crate) frame: Outbound,
    pub(crate) origin: Option<ConnId>,
}

/// What the bus must do after offering a message.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Deliver these, in this order.
    pub(crate) deliver: Vec<Ready>,
    /// A gap opened: read the store after this id (none was being read).
    pub(crate) fill_after: Option<MessageId>,
}

#[derive(Debug)]
pub(crate) struct ProjectOrder {
    /// Every id up to this one was delivered (or given up).
    last: u64,
    /// Newer messages waiting for the gap before them to close.
    waiting: BTreeMap<u64, Ready>,
    /// A store read for the gap is under way.
    filling: bool,
    /// The first waiting id when the current read started: it was
    /// committed then, so the read sees every id below it that exists.
    read_bound: Option<u64>,
}

impl ProjectOrder {
    /// A project first seen with message `first`: its sequence starts there.
    pub(crate) fn starting_at(first: MessageId) -> Self {
        Self { last: first.0.saturating_sub(1), waiting: BTreeMap::new(), filling: false, read_bound: None }
    }

    pub(crate) fn last(&self) -> MessageId {
        MessageId(self.last)
    }

    /// Whether a gap is open (messages wait for older ones).
    pub(crate) fn has_gap(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// A message from the sequencer or another node.
    pub(crate) fn offer(&mut self, ready: Ready) -> Outcome {
        let id = ready.entry.id().0;
        let mut outcome = Outcome::default();
        if id <= self.last {
            return outcome;
        }
        self.waiting.insert(id, ready);
        self.release(&mut outcome.deliver);
        if self.has_gap() {
            if self.waiting.len() > MAX_WAITING {
                self.skip_to_first_waiting(&mut outcome.deliver);
            }
            if self.has_gap() && !self.filling {
                outcome.fill_after = Some(self.start_read());
            }
        }
        outcome
    }

    /// What a store read after [`last`](Self::last) returned (in id order;
    /// `complete` when it returned less than asked, i.e. everything there
    /// is). Returns what to deliver and whether to read again.
    pub(crate) fn filled(&mut self, stored: Vec<Ready>, complete: bool) -> (Vec<Ready>, bool) {
        let mut deliver = Vec::new();
        for ready in stored {
            let id = ready.entry.id().0;
            if id > self.last {
                // A copy already waiting came with its origin: keep that one.
                self.waiting.entry(id).or_insert(ready);
            }
        }
        self.release(&mut deliver);
        if let (true, Some(bound)) = (complete, self.read_bound) {
            // The read saw every id below `bound` that exists, and some are
            // not there: pruned, or never stored in this project's
            // sequence. Waiting longer would only stall the project.
            while self.waiting.keys().next().is_some_and(|&first| first <= bound) {
                self.skip_to_first_waiting(&mut deliver);
            }
        }
        self.filling = false;
        let again = self.has_gap();
        if again {
            self.start_read();
        }
        (deliver, again)
    }

    /// Marks a read as started; returns the id to read after.
    fn start_read(&mut self) -> MessageId {
        self.filling = true;
        self.read_bound = self.waiting.keys().next().copied();
        self.last()
    }

    /// A store read failed: the next offer or [`retry`](Self::retry) reads again.
    pub(crate) fn fill_failed(&mut self) {
        self.filling = false;
    }

    /// Starts a read for an open gap (after the bus reconnects), or for
    /// messages this node may have missed while it could not hear the
    /// others (`always`).
    pub(crate) fn retry(&mut self, always: bool) -> Option<MessageId> {
        if self.filling || !(always || self.has_gap()) {
            return None;
        }
        Some(self.start_read())
    }

    /// Every message below `first` exists and was read (what the store did
    /// not return is not there): stop waiting for any of them. Returns what
    /// that releases.
    pub(crate) fn give_up_before(&mut self, first: MessageId) -> Vec<Ready> {
        let mut deliver = Vec::new();
        while self.waiting.keys().next().is_some_and(|&id| id < first.0) {
            self.skip_to_first_waiting(&mut deliver);
        }
        self.last = self.last.max(first.0.saturating_sub(1));
        self.release(&mut deliver);
        deliver
    }

    fn release(&mut self, deliver: &mut Vec<Ready>) {
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() != self.last + 1 {
                break;
            }
            self.last += 1;
            deliver.push(entry.remove());
        }
    }

    fn skip_to_first_waiting(&mut self, deliver: &mut Vec<Ready>) {
        if let Some(&first) = self.waiting.keys().next() {
            tracing::warn!(from = self.last + 1, to = first - 1, "message ids missing from the store; skipped");
            self.last = first - 1;
            self.release(deliver);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::frame;
    use protocol::{ChatMessage, Conversation, Profile, ServerMsg, UserId};

    fn ready(id: u64) -> Ready {
        let from = Profile { id: UserId::new("a").unwrap(), name: "a".into(), color: "#000000".into() };
        let message = ChatMessage::plain(MessageId(id), 0, from, Conversation::Room, format!("m{id}"));
        Ready { frame: frame(&ServerMsg::Message(message.clone())), entry: LogEntry::Message(message), origin: None }
    }

    fn ids(ready: &[Ready]) -> Vec<u64> {
        ready.iter().map(|r| r.entry.id().0).collect()
    }

    #[test]
    fn the_next_id_is_delivered_at_once_and_an_old_one_dropped() {
        let mut order = ProjectOrder::starting_at(MessageId(5));
        let out = order.offer(ready(5));
        assert_eq!((ids(&out.deliver), out.fill_after), (vec![5], None));
        assert_eq!(ids(&order.offer(ready(6)).deliver), [6]);
        assert!(order.offer(ready(6)).deliver.is_empty(), "a repeat is dropped");
        assert!(order.offer(ready(3)).deliver.is_empty(), "so is anything older");
    }

    #[test]
    fn a_gap_holds_newer_messages_until_the_store_fills_it() {
        let mut order = ProjectOrder::starting_at(MessageId(1));
        order.offer(ready(1));
        let out = order.offer(ready(4));
        assert!(out.deliver.is_empty(), "4 waits for 2 and 3");
        assert_eq!(out.fill_after, Some(MessageId(1)));
        let out = order.offer(ready(5));
        assert_eq!((out.deliver.len(), out.fill_after), (0, None), "one read at a time");
        let (deliver, again) = order.filled(vec![ready(2), ready(3), ready(4), ready(5)], true);
        assert_eq!(ids(&deliver), [2, 3, 4, 5]);
        assert!(!again);
        assert_eq!(order.last(), MessageId(5));
    }

    #[test]
    fn a_late_copy_from_another_node_closes_the_gap_too() {
        let mut order = ProjectOrder::starting_at(MessageId(1));
        order.offer(ready(1));
        assert!(order.offer(ready(3)).fill_after.is_some());
        assert_eq!(ids(&order.offer(ready(2)).deliver), [2, 3]);
        let (deliver, again) = order.filled(vec![ready(2), ready(3)], true);
        assert!(deliver.is_empty() && !again, "the read finds them delivered already");
    }

    #[test]
    fn a_partial_read_asks_for_more_and_a_hole_the_store_lacks_is_skipped() {
        let mut order = ProjectOrder::starting_at(MessageId(1));
        order.offer(ready(1));
        order.offer(ready(10));
        let (deliver, again) = order.filled(vec![ready(2), ready(3)], false);
        assert_eq!((ids(&deliver), again), (vec![2, 3], true), "a full page: read on");
        let (deliver, again) = order.filled(vec![ready(5)], true);
        assert_eq!(ids(&deliver), [5, 10], "4 and 6-9 are not in the store: skipped, not waited for");
        assert!(!again);
    }

    #[test]
    fn a_failed_read_is_retried_and_a_reconnect_reads_even_without_a_gap() {
        let mut order = ProjectOrder::starting_at(MessageId(1));
        order.offer(ready(1));
        assert!(order.offer(ready(3)).fill_after.is_some());
        order.fill_failed();
        assert_eq!(order.retry(false), Some(MessageId(1)));
        assert_eq!(order.retry(false), None, "already reading");
        order.filled(vec![ready(2)], true);
        assert_eq!(order.retry(false), None, "no gap left");
        assert_eq!(order.retry(true), Some(MessageId(3)), "after a reconnect: whatever came after 3");
    }

    #[test]
    fn a_gap_that_opened_during_a_read_is_read_again_not_skipped() {
        let mut order = ProjectOrder::starting_at(MessageId(1));
        order.offer(ready(1));
        assert!(order.offer(ready(3)).fill_after.is_some(), "a read for 2 starts");
        assert!(order.offer(ready(10)).fill_after.is_none(), "10 (and 4-9) committed after it started");
        let (deliver, again) = order.filled(vec![ready(2)], true);
        assert_eq!(ids(&deliver), [2, 3]);
        assert!(again, "4-9 may exist: read again rather than skip them");
        let (deliver, again) = order.filled((4..=9).map(ready).collect(), true);
        assert_eq!(ids(&deliver), [4, 5, 6, 7, 8, 9, 10]);
        assert!(!again);
    }

    #[test]
    fn giving_up_before_an_id_delivers_what_waited_and_lets_that_id_through() {
        let mut order = ProjectOrder::starting_at(MessageId(1));
        order.offer(ready(1));
        order.offer(ready(3));
        order.offer(ready(8));
        assert_eq!(ids(&order.give_up_before(MessageId(7))), [3], "2 and 4-6 are not coming");
        assert_eq!(ids(&order.offer(ready(7)).deliver), [7, 8]);
    }

    #[test]
    fn waiting_is_bounded() {
        let mut order = ProjectOrder::starting_at(MessageId(1));
        order.offer(ready(1));
        for id in 3..(3 + MAX_WAITING as u64) {
            assert!(order.offer(ready(id)).deliver.is_empty());
        }
        let out = order.offer(ready(3 + MAX_WAITING as u64));
        assert_eq!(out.deliver.len(), MAX_WAITING + 1, "past the bound the gap is given up");
        assert!(!order.has_gap());
    }
}
