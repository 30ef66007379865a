//! The bounded queue between the rest of the server and one connection's
//! socket writer, with its overflow policy.
//!
//! Ephemeral events (typing, presence) are only queued while the queue is
//! less than half full, so they are dropped first and leave room for chat
//! messages. A dropped presence event is remembered: the connection gets the
//! whole online list once it has caught up (`Conn::resync_presence`), so
//! its view of who is online does not stay wrong. A chat message that does not fit closes the connection with
//! [`CloseCode::SlowConsumer`]: it is never dropped silently, and the client
//! gets it on resume. Memory per connection is therefore bounded by the
//! capacity.

use protocol::{CloseCode, MessageId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A connection, unique for the process's lifetime.
pub(crate) type ConnId = u64;

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

/// One serialized frame, shared by all its recipients (cloning is a refcount bump).
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub(crate) frame: Utf8Bytes,
    /// Set for chat messages and updates (log entries), so a resuming
    /// connection can skip what its replay already sent.
    pub(crate) msg_id: Option<MessageId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// Chat messages, acks, answers to requests: never dropped.
    Reliable,
    /// Typing: dropped under pressure.
    Ephemeral,
    /// Presence: dropped under pressure like typing, but the drop is
    /// remembered ([`OutboxReceiver::take_presence_lost`]).
    Presence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// An ephemeral frame was dropped because the queue is filling up.
    Dropped,
    /// A reliable frame did not fit: the connection is being closed.
    Overflowed,
    /// The connection is already gone (its messages are in the store).
    Closed,
}

/// Tells a connection to close with a code; the first code wins.
#[derive(Debug, Default)]
pub(crate) struct KillSwitch {
    code: OnceLock<CloseCode>,
    notify: Notify,
}

impl KillSwitch {
    pub(crate) fn trigger(&self, code: CloseCode) {
        if self.code.set(code).is_ok() {
            // notify_one keeps a permit if the writer is not waiting yet.
            self.notify.notify_one();
        }
    }

    pub(crate) fn code(&self) -> Option<CloseCode> {
        self.code.get().copied()
    }

    /// Resolves once [`trigger`](Self::trigger) was called.
    pub(crate) async fn triggered(&self) -> CloseCode {
        loop {
            if let Some(code) = self.code() {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

/// The sending side, held by the hub and the sequencer.
#[derive(Debug, Clone)]
pub(crate) struct OutboxSender {
    pub(crate) id: ConnId,
    tx: mpsc::Sender<Outbound>,
    capacity: usize,
    kill: Arc<KillSwitch>,
    presence_lost: Arc<AtomicBool>,
}

impl OutboxSender {
    /// Asks the connection to close with `code` (the first code wins).
    pub(crate) fn close(&self, code: CloseCode) {
        self.kill.trigger(code);
    }

    pub(crate) fn push(&self, out: Outbound, priority: Priority) -> Pushed {
        let pushed = self.try_push(out, priority);
        if pushed == Pushed::Dropped && priority == Priority::Presence {
            self.presence_lost.store(true, Ordering::Release);
        }
        pushed
    }

    fn try_push(&self, out: Outbound, priority: Priority) -> Pushed {
        // Once a reliable frame was refused, nothing more may be queued: the
        // writer would deliver messages past the one that was dropped, and
        // the client's cursor would jump over it (resume could not repair
        // that). The connection is closing; its messages are in the store.
        if self.kill.code().is_some() {
            return Pushed::Closed;
        }
        let droppable = priority != Priority::Reliable;
        if droppable && self.tx.capacity() * 2 <= self.capacity {
            return Pushed::Dropped;
        }
        match self.tx.try_send(out) {
            Ok(()) => Pushed::Queued,
            Err(_) if droppable => Pushed::Dropped,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kill.trigger(CloseCode::SlowConsumer);
                Pushed::Overflowed
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Pushed::Closed,
        }
    }
}

/// The receiving side, owned by the connection's writer.
pub(crate) struct OutboxReceiver {
    pub(crate) rx: mpsc::Receiver<Outbound>,
    pub(crate) kill: Arc<KillSwitch>,
    presence_lost: Arc<AtomicBool>,
}

impl OutboxReceiver {
    /// Whether a presence event was dropped since the last call.
    pub(crate) fn take_presence_lost(&self) -> bool {
        self.presence_lost.swap(false, Ordering::AcqRel)
    }
}

pub(crate) fn outbox(capacity: usize) -> (OutboxSender, OutboxReceiver) {
    let capacity = capacity.max(2);
    let (tx, rx) = mpsc::channel(capacity);
    let kill = Arc::new(KillSwitch::default());
    let presence_lost = Arc::new(AtomicBool::new(false));
    let id = NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed);
    (
        OutboxSender { id, tx, capacity, kill: kill.clone(), presence_lost: presence_lost.clone() },
        OutboxReceiver { rx, kill, presence_lost },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(s: &'static str) -> Outbound {
        Outbound { frame: Utf8Bytes::from_static(s), msg_id: None }
    }

    #[test]
    fn ephemeral_dropped_at_half_reliable_overflow_kills() {
        let (tx, rx) = outbox(4);
        assert_eq!(tx.push(frame("a"), Priority::Ephemeral), Pushed::Queued);
        assert_eq!(tx.push(frame("b"), Priority::Reliable), Pushed::Queued);
        // Half full: ephemeral events no longer fit, reliable ones still do.
        assert_eq!(tx.push(frame("c"), Priority::Ephemeral), Pushed::Dropped);
        assert_eq!(tx.push(frame("d"), Priority::Reliable), Pushed::Queued);
        assert_eq!(tx.push(frame("e"), Priority::Reliable), Pushed::Queued);
        assert_eq!(rx.kill.code(), None);
        assert_eq!(tx.push(frame("f"), Priority::Reliable), Pushed::Overflowed);
        assert_eq!(rx.kill.code(), Some(CloseCode::SlowConsumer));
    }

    #[test]
    fn nothing_is_queued_after_a_reliable_frame_was_refused() {
        let (tx, mut rx) = outbox(2);
        assert_eq!(tx.push(frame("1"), Priority::Reliable), Pushed::Queued);
        assert_eq!(tx.push(frame("2"), Priority::Reliable), Pushed::Queued);
        assert_eq!(tx.push(frame("3"), Priority::Reliable), Pushed::Overflowed);
        // The writer frees a slot; message 4 must still not follow 2, or
        // the client's cursor would pass the lost 3.
        assert_eq!(rx.rx.try_recv().map(|o| o.frame.to_string()).ok().as_deref(), Some("1"));
        assert_eq!(tx.push(frame("4"), Priority::Reliable), Pushed::Closed);
        assert_eq!(rx.rx.try_recv().map(|o| o.frame.to_string()).ok().as_deref(), Some("2"));
        assert!(rx.rx.try_recv().is_err(), "nothing after 2");
    }

    #[test]
    fn a_dropped_presence_event_is_remembered_and_a_dropped_typing_event_is_not() {
        let (tx, rx) = outbox(4);
        assert_eq!(tx.push(frame("a"), Priority::Reliable), Pushed::Queued);
        assert_eq!(tx.push(frame("b"), Priority::Reliable), Pushed::Queued);
        assert_eq!(tx.push(frame("typing"), Priority::Ephemeral), Pushed::Dropped);
        assert!(!rx.take_presence_lost());
        assert_eq!(tx.push(frame("presence"), Priority::Presence), Pushed::Dropped);
        assert!(rx.take_presence_lost());
        assert!(!rx.take_presence_lost(), "taken once");
    }

    #[test]
    fn a_push_to_a_connection_that_is_gone_is_not_an_overflow() {
        let (tx, rx) = outbox(4);
        drop(rx);
        assert_eq!(tx.push(frame("a"), Priority::Reliable), Pushed::Closed);
        assert_eq!(tx.push(frame("b"), Priority::Ephemeral), Pushed::Dropped, "ephemeral frames just drop");
    }

    #[test]
    fn first_kill_code_wins() {
        let (_tx, rx) = outbox(4);
        rx.kill.trigger(CloseCode::ServerRestart);
        rx.kill.trigger(CloseCode::SlowConsumer);
        assert_eq!(rx.kill.code(), Some(CloseCode::ServerRestart));
    }

    #[tokio::test]
    async fn triggered_resolves_even_if_triggered_before_waiting() {
        let (_tx, rx) = outbox(4);
        rx.kill.trigger(CloseCode::IdleTimeout);
        assert_eq!(rx.kill.triggered().await, CloseCode::IdleTimeout);
    }
}
