//! Scenario 1: room fan-out. `clients` connections in one room, `senders`
//! of them sending at a fixed rate; the rate steps up until p99 latency
//! passes 50 ms or a message is lost. Run against the chat server and the
//! reference broadcast server alike.

use super::{Latency, Recorder, SETTLE};
use crate::conn::{self, cid, classify, latency_us, stamp, Quick, Ws};
use crate::process::Proc;
use crate::sys::{CpuMeter, CpuUse, Memory, RssWatch};
use anyhow::Result;
use futures_util::stream::{SplitSink, StreamExt, TryStreamExt};
use futures_util::SinkExt;
use protocol::{ClientMsg, Conversation};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A step passes when p99 stays at or under this.
pub const P99_TARGET_MS: f64 = 50.0;
/// How long after the last send the bench waits for deliveries.
const STRAGGLERS: Duration = Duration::from_secs(3);

type Sink = SplitSink<Ws, Message>;

pub struct FanoutConfig {
    pub clients: usize,
    pub senders: usize,
    /// Messages per second per sender, one step each.
    pub rates: Vec<u32>,
    pub step: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Chat,
    /// The reference sends frames of `frame_len` bytes, the length of the
    /// chat server's `message` frames, so the load client reads as much.
    Reference {
        frame_len: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Step {
    pub rate_per_sender: u32,
    /// Deliveries per second the senders' rate asks for.
    pub offered: f64,
    pub expected: u64,
    pub delivered: u64,
    pub per_sec: f64,
    pub latency: Latency,
    pub rss_kib: u64,
    pub cpu: CpuUse,
    /// The second try of a rate whose first try missed only on p99.
    pub retry: bool,
    /// A sender or receiver was cut off, or an error frame came.
    pub failure: Option<String>,
}

impl Step {
    pub fn sustained(&self) -> bool {
        self.failure.is_none() && self.delivered == self.expected && self.latency.p99_ms <= P99_TARGET_MS
    }
}

pub struct FanoutResult {
    pub steps: Vec<Step>,
    pub memory: Memory,
    /// Mean length of a delivered frame, in bytes.
    pub frame_len: usize,
    pub connect_secs: f64,
}

impl FanoutResult {
    /// The sustained step with the most deliveries per second.
    pub fn best(&self) -> Option<&Step> {
        self.steps.iter().filter(|s| s.sustained()).max_by(|a, b| a.per_sec.total_cmp(&b.per_sec))
    }
}

/// Counters shared by the receiver tasks.
#[derive(Default)]
struct Shared {
    recorder: Recorder,
    /// Receivers whose connection ended.
    closed: AtomicU64,
    frames: AtomicU64,
    bytes: AtomicU64,
    /// The last close frame a receiver got from the server.
    close_reason: std::sync::Mutex<Option<String>>,
}

pub async fn run(server: &mut Proc, target: Target, cfg: &FanoutConfig) -> Result<FanoutResult> {
    let url = server.url();
    let before = server.rss_kib();
    let started = std::time::Instant::now();
    let conns: Vec<Ws> = futures_util::stream::iter(0..cfg.clients)
        .map(|i| {
            let url = url.clone();
            async move {
                match target {
                    Target::Chat => conn::guest(&url, &format!("f{i}"), "fanout").await.map(|(ws, _)| ws),
                    Target::Reference { .. } => conn::connect(&url).await,
                }
            }
        })
        .buffered(32)
        .try_collect()
        .await?;
    let connect_secs = started.elapsed().as_secs_f64();

    let shared = Arc::new(Shared::default());
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for ws in conns {
        let (write, mut read) = ws.split();
        writers.push(write);
        let shared = shared.clone();
        // Ends when the connection does (or is aborted below).
        readers.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = read.next().await {
                let t = match frame {
                    Message::Text(t) => t,
                    Message::Close(Some(f)) => {
                        if let Ok(mut reason) = shared.close_reason.lock() {
                            *reason = Some(format!("closed by the server with {} {}", u16::from(f.code), f.reason));
                        }
                        continue;
                    }
                    _ => continue,
                };
                let body = match target {
                    Target::Reference { .. } => Some(t.as_str()),
                    Target::Chat => match classify(&t) {
                        Quick::Message(body) => Some(body),
                        Quick::Error => {
                            shared.recorder.errors.fetch_add(1, Ordering::Relaxed);
                            None
                        }
                        Quick::Ack(_) | Quick::Other => None,
                    },
                };
                if let Some(us) = body.and_then(latency_us) {
                    shared.frames.fetch_add(1, Ordering::Relaxed);
                    shared.bytes.fetch_add(t.len() as u64, Ordering::Relaxed);
                    shared.recorder.record(us);
                }
            }
            shared.closed.fetch_add(1, Ordering::Relaxed);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // presence settles
    shared.recorder.take();

    let watch = RssWatch::start(server.pid(), before);
    let mut senders: Vec<Sink> = writers.drain(..cfg.senders.min(cfg.clients)).collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut seq = 0u64;
    'ladder: for &rate in &cfg.rates {
        for retry in [false, true] {
            let (step, back) = step(server, target, cfg, rate, senders, &mut seq, &shared).await;
            senders = back;
            let (sustained, only_p99) = (step.sustained(), step.failure.is_none() && step.delivered == step.expected);
            steps.push(Step { retry, ..step });
            server.check_alive()?;
            if sustained {
                break;
            }
            // Other processes share these cores: a p99 miss gets a second
            // try; a lost message or a cut-off ends the ladder at once.
            if retry || !only_p99 {
                break 'ladder;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let errors = shared.recorder.errors.load(Ordering::Relaxed);
    anyhow::ensure!(errors == 0, "{errors} error frames during fan-out");

    drop(senders);
    drop(writers);
    for r in &readers {
        r.abort();
    }
    tokio::time::sleep(SETTLE).await;
    let memory = watch.finish(server.rss_kib());
    let frames = shared.frames.load(Ordering::Relaxed).max(1);
    let frame_len = (shared.bytes.load(Ordering::Relaxed) / frames) as usize;
    Ok(FanoutResult { steps, memory, frame_len, connect_secs })
}

/// One step of the ladder; gives back the senders that are still usable.
async fn step(
    server: &Proc,
    target: Target,
    cfg: &FanoutConfig,
    rate: u32,
    senders: Vec<Sink>,
    seq: &mut u64,
    shared: &Arc<Shared>,
) -> (Step, Vec<Sink>) {
    let per_sender = (rate as f64 * cfg.step.as_secs_f64()).round().max(1.0) as u64;
    let n_senders = senders.len();
    let recipients = cfg.clients as u64 - 1;
    let expected = per_sender * n_senders as u64 * recipients;
    let closed_before = shared.closed.load(Ordering::Relaxed);
    let cpu = CpuMeter::start(server.pid());
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = tokio::time::Instant::now();
    let start_stamp = stamp();
    let mut tasks = Vec::new();
    for (s, mut write) in senders.into_iter().enumerate() {
        let base = *seq;
        // Senders are spread over the period, as independent users would be.
        let offset = period.mul_f64(s as f64 / n_senders as f64);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(start + offset, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for n in 0..per_sender {
                tick.tick().await;
                let body = stamp().to_string();
                let frame = match target {
                    Target::Reference { frame_len } => {
                        let pad = frame_len.saturating_sub(body.len() + 1);
                        format!("{body} {}", "x".repeat(pad))
                    }
                    Target::Chat => serde_json::to_string(&ClientMsg::Send {
                        client_id: cid(format!("s{s}-{}", base + n)),
                        to: Conversation::Room,
                        body,
                    })?,
                };
                write.send(Message::text(frame)).await?;
            }
            anyhow::Ok(write)
        }));
    }
    *seq += per_sender;

    let mut back = Vec::new();
    let mut failure = None;
    let limit = start + cfg.step + Duration::from_secs(10);
    for mut t in tasks {
        match tokio::time::timeout_at(limit, &mut t).await {
            Ok(Ok(Ok(write))) => back.push(write),
            Ok(Ok(Err(e))) => failure = Some(format!("a sender was cut off: {e}")),
            Ok(Err(e)) => failure = Some(format!("a sender task failed: {e}")),
            Err(_) => {
                t.abort();
                failure = Some("a sender could not send its messages in time".into());
            }
        }
    }
    let deadline = tokio::time::Instant::now() + STRAGGLERS;
    while shared.recorder.count() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let taken = shared.recorder.take();
    let cpu = cpu.read();
    let closed = shared.closed.load(Ordering::Relaxed) - closed_before;
    let reason = shared.close_reason.lock().ok().and_then(|mut r| r.take());
    if let Some(reason) = &reason {
        failure = Some(format!("{}{reason}", failure.map_or(String::new(), |f| format!("{f}; "))));
    }
    if closed > 0 && failure.is_none() {
        failure = Some(format!("{closed} receivers were disconnected"));
    }
    let errors = shared.recorder.errors.load(Ordering::Relaxed);
    if errors > 0 && failure.is_none() {
        failure = Some(format!("{errors} error frames"));
    }
    // Deliveries over the time they took: the scheduled sending time, or
    // until the last delivery if that came later.
    let scheduled = per_sender as f64 / f64::from(rate);
    let took = (taken.last_stamp.saturating_sub(start_stamp) as f64 / 1e9).max(scheduled);
    let step = Step {
        rate_per_sender: rate,
        offered: f64::from(rate) * n_senders as f64 * recipients as f64,
        expected,
        delivered: taken.count,
        per_sec: taken.count as f64 / took,
        latency: taken.latency,
        rss_kib: server.rss_kib(),
        cpu,
        retry: false,
        failure,
    };
    (step, back)
}
