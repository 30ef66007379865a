//! The five scenarios. Each runs against a fresh server process, checks that
//! every message it sent arrived (an error otherwise, so `--smoke` fails),
//! and returns its figures.

pub mod direct;
pub mod durable;
pub mod fanout;
pub mod idle;
pub mod resume;

use crate::conn::{self, cid, classify, stamp, Quick, Ws, FRAME_TIMEOUT};
use anyhow::{anyhow, bail, Result};
use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use protocol::{ClientMsg, Conversation, MessageId, UserId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Concurrent connection attempts while opening many.
pub const CONNECT_CONCURRENCY: usize = 128;
/// Pause after clients close before the "after" RSS is read: longer than
/// the server's memory-trim period (2 s, `server/src/trim.rs`).
pub const SETTLE: Duration = Duration::from_secs(3);

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Self { p50_ms: ms(h.value_at_quantile(0.5)), p99_ms: ms(h.value_at_quantile(0.99)), max_ms: ms(h.max()) }
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", self.p50_ms, self.p99_ms, self.max_ms)
    }
}

/// Deliveries and their latencies, shared by receiver tasks.
#[derive(Default)]
pub struct Recorder {
    count: AtomicU64,
    /// [`stamp`] of the latest delivery.
    last: AtomicU64,
    /// `error` frames received: a scenario with any fails.
    pub errors: AtomicU64,
    latencies: Mutex<Option<Histogram<u64>>>,
}

/// What a [`Recorder`] saw since the last [`Recorder::take`].
pub struct Taken {
    pub count: u64,
    pub last_stamp: u64,
    pub latency: Latency,
}

impl Recorder {
    pub fn record(&self, us: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.last.fetch_max(stamp(), Ordering::Relaxed);
        if let Ok(mut h) = self.latencies.lock() {
            let _ = h.get_or_insert_with(histogram).record(us.max(1));
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn take(&self) -> Taken {
        let h = self.latencies.lock().ok().and_then(|mut h| h.take()).unwrap_or_else(histogram);
        Taken {
            count: self.count.swap(0, Ordering::Relaxed),
            last_stamp: self.last.swap(0, Ordering::Relaxed),
            latency: Latency::of(&h),
        }
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
