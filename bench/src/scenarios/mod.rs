//! The nine scenarios. Each runs against a fresh server process, checks that
//! every message it sent arrived (an error otherwise, so `--smoke` fails),
//! and returns its figures.

pub mod direct;
pub mod durable;
pub mod fanout;
pub mod idle;
pub mod nodes;
pub mod outage;
pub mod resume;
pub mod search;
pub mod stalled;

use crate::conn::{self, cid, classify, Quick, Ws, FRAME_TIMEOUT};
use anyhow::{anyhow, bail, Result};
use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use protocol::{ClientMsg, Conversation, MessageId, UserId};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Concurrent connection attempts while opening many.
pub const CONNECT_CONCURRENCY: usize = 128;
/// Pause after clients close before the "after" RSS is read (and while
/// idle connections are held): longer than the server's memory-trim period
/// (2 s, `server/src/trim.rs`).
pub const SETTLE: Duration = Duration::from_secs(3);
/// The same pause under `--smoke`, which judges no figure: short, so that
/// CI's functional run takes seconds. Memory "after close" read this early
/// is before the server's trim, so it reads high.
pub const SMOKE_SETTLE: Duration = Duration::from_millis(300);

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", self.p50_ms, self.p99_ms, self.max_ms)
    }
}

/// A latency histogram owned by one task. Each receiving task records into
/// its own and they are merged when a measurement ends: one shared
/// histogram behind a lock, taken for every delivery, capped the load
/// client at a few million deliveries per second.
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        // 1 µs to 10 min, 3 significant digits.
        Self(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds")))
    }
}

impl Latencies {
    pub fn record(&mut self, us: u64) {
        // Beyond 10 min counts as 10 min rather than vanishing.
        self.0.saturating_record(us.max(1));
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Both have the same bounds and `record` saturates, so every value
        // of `other` fits and this cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn summary(&self) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        let h = &self.0;
        Latency { p50_ms: ms(h.value_at_quantile(0.5)), p99_ms: ms(h.value_at_quantile(0.99)), max_ms: ms(h.max()) }
    }
}

/// Sends DMs from `ws` to `to`, keeping up to `window` unacknowledged, until
/// `count` are acknowledged, or (with a `deadline`) until the deadline has
/// passed and everything sent is acknowledged. Returns the acknowledged ids
/// in the order the acks came.
pub async fn pipeline(
    ws: &mut Ws,
    prefix: &str,
    to: &UserId,
    count: u64,
    window: u64,
    deadline: Option<tokio::time::Instant>,
) -> Result<Vec<MessageId>> {
    let mut sent = 0u64;
    let mut acked = Vec::new();
    while (acked.len() as u64) < count {
        let open = deadline.is_none_or(|d| tokio::time::Instant::now() < d);
        let mut fed = false;
        while open && sent < count && sent - (acked.len() as u64) < window {
            let msg = ClientMsg::Send {
                client_id: cid(format!("{prefix}{sent}")),
                to: Conversation::Direct { user: to.clone() },
                body: format!("stored {sent}"),
                reply_to: None,
                mentions: Vec::new(),
            };
            ws.feed(conn::text(&msg)?).await?;
            sent += 1;
            fed = true;
        }
        if fed {
            tokio::time::timeout(FRAME_TIMEOUT, ws.flush()).await.map_err(|_| anyhow!("a write stalled"))??;
        }
        if sent == acked.len() as u64 {
            break; // the deadline passed and nothing is in flight
        }
        let first = tokio::time::timeout(FRAME_TIMEOUT, ws.next())
            .await
            .map_err(|_| anyhow!("{} sends unacknowledged for {FRAME_TIMEOUT:?}", sent - acked.len() as u64))?;
        let mut frame = Some(first);
        // Take whatever else has already arrived before topping up the window.
        while let Some(f) = frame.take() {
            match f {
                Some(Ok(Message::Text(t))) => match classify(&t) {
                    // More acks than sends would make the window arithmetic
                    // meaningless: a server bug, reported as such.
                    Quick::Ack(_) if acked.len() as u64 >= sent => {
                        bail!("the server acknowledged more sends than the {sent} sent: {t}")
                    }
                    Quick::Ack(id) => acked.push(id),
                    Quick::Error => bail!("send refused: {t}"),
                    Quick::Message(_) | Quick::Other => {}
                },
                Some(Ok(Message::Close(f))) => bail!("closed by the server: {f:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => bail!("read: {e}"),
                None => bail!("closed"),
            }
            frame = ws.next().now_or_never();
        }
    }
    Ok(acked)
}
