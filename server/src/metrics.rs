//! Process counters, exposed at `GET /metrics` in the Prometheus text format.
//! Plain atomics: incrementing one is a single relaxed add on the hot path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! metrics {
    ($($(#[doc = $help:literal])* $name:ident: $kind:literal,)*) => {
        #[derive(Debug, Default)]
        pub(crate) struct Metrics {
            $($(#[doc = $help])* pub $name: AtomicU64,)*
        }

        impl Metrics {
            /// The Prometheus text exposition of every counter.
            pub(crate) fn render(&self) -> String {
                let mut out = String::new();
                $(
                    let help = concat!($($help),*).trim();
                    let _ = writeln!(out, "# HELP chat_{} {}", stringify!($name), help);
                    let _ = writeln!(out, "# TYPE chat_{} {}", stringify!($name), $kind);
                    let _ = writeln!(out, "chat_{} {}", stringify!($name), self.$name.load(Ordering::Relaxed));
                )*
                out
            }
        }
    };
}

metrics! {
    /// WebSocket connections currently open.
    connections_open: "gauge",
    /// WebSocket connections accepted since start.
    connections_total: "counter",
    /// Upgrades refused because max_connections was reached.
    connections_refused: "counter",
    /// Chat messages stored and routed.
    messages_routed: "counter",
    /// Frames queued to connections.
    frames_queued: "counter",
    /// Ephemeral frames (typing, presence) dropped because a queue was filling up.
    ephemeral_dropped: "counter",
    /// Reliable frames that did not fit a queue (the connection was closed).
    outbox_overflows: "counter",
    /// Client frames refused with an error frame.
    client_errors: "counter",
    /// Client frames dropped for exceeding the rate limit.
    rate_limited: "counter",
    /// Resumes whose replay is running (each holds a page of the replay budget).
    replays_running: "gauge",
    /// Resumes that had to wait for the replay budget before their replay began.
    replays_queued: "counter",
    /// Messages written to the store.
    messages_stored: "counter",
    /// Edits, deletions and reaction changes stored.
    messages_changed: "counter",
    /// Searches answered.
    searches: "counter",
    /// Group commits made.
    store_commits: "counter",
    /// Events for other nodes dropped because the Redis queue was full.
    bus_dropped: "counter",
    /// Gaps in a project's ids filled from the store (Redis bus).
    bus_gap_fills: "counter",
    /// Webhook events and deliveries waiting in the store's outbox.
    webhook_queued: "gauge",
    /// Webhook deliveries an endpoint accepted.
    webhook_delivered: "counter",
    /// Webhook attempts that failed and were scheduled again.
    webhook_retried: "counter",
    /// Webhook deliveries given up on (retry period over, or endpoint removed).
    webhook_dropped: "counter",
    /// Presence webhook events lost because their queue to the store was full.
    webhook_presence_lost: "counter",
}

impl Metrics {
    pub(crate) fn inc(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn dec(&self, counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.inc(&m.connections_total);
        m.add(&m.messages_stored, 5);
        let text = m.render();
        assert!(text.contains("# TYPE chat_connections_total counter\nchat_connections_total 1\n"));
        assert!(text.contains("chat_messages_stored 5\n"));
        assert!(text.contains("# HELP chat_connections_open WebSocket connections currently open."));
    }
}
