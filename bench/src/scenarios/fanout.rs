//! Scenario 1: room fan-out. `clients` connections in one room, `senders`
//! of them sending at a fixed rate; the rate steps up until p99 latency
//! passes 50 ms or a message is lost or duplicated. Run against the chat
//! server and the reference broadcast servers alike, and (scenario 7)
//! against several chat nodes, connection `i` on node `i % nodes`.

mod inbox;

use super::Latency;
use crate::conn::{self, cid, classify, stamp, Quick, Ws};
use crate::process::Proc;
use crate::sys::{CpuMeter, CpuUse, Memory, RssWatch};
use anyhow::{ensure, Result};
use futures_util::stream::{SplitSink, StreamExt, TryStreamExt};
use futures_util::SinkExt;
use inbox::{Inbox, Tag, Tally};
use protocol::{ClientMsg, Conversation};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A step passes when p99 stays at or under this.
pub const P99_TARGET_MS: f64 = 50.0;
/// How long after the last send the bench waits for deliveries.
const STRAGGLERS: Duration = Duration::from_secs(3);
/// The body of the one message sent before the ladder on several nodes.
const WARMUP: &str = "warmup";
/// tokio's timers count whole milliseconds and fire up to about one tick
/// after the instant asked for, never before it.
const TIMER_TICK_NS: u64 = 1_000_000;

type Sink = SplitSink<Ws, Message>;

#[derive(Clone)]
pub struct FanoutConfig {
    pub clients: usize,
    pub senders: usize,
    /// Messages per second per sender, one step each.
    pub rates: Vec<u32>,
    /// How long each step sends for.
    pub step: Duration,
    /// The pause after the clients close before the "after" RSS.
    pub settle: Duration,
    /// Try a rate again when it missed only on p99 (other processes share
    /// the cores); off where a miss is expected (the Redis outage).
    pub retry: bool,
    /// Processes whose CPU is counted apart (PostgreSQL, Redis), with
    /// their descendants.
    pub helpers: Vec<u32>,
    /// Told when each step starts sending, for what runs beside the load.
    pub step_started: Option<Arc<tokio::sync::Notify>>,
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
    /// Distinct messages received (each receiver's first copy).
    pub delivered: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Copies received beyond the first.
    pub duplicates: u64,
    /// A sender's own messages sent back to it (see `Tally::echoes`).
    pub echoes: u64,
    pub per_sec: f64,
    pub latency: Latency,
    /// Split by whether sender and receiver are on the same node (all of
    /// them with one server) or not.
    pub local: Latency,
    pub cross: Latency,
    /// Summed over the servers.
    pub rss_kib: u64,
    pub cpu: CpuUse,
    /// The second try of a rate whose first try missed only on p99.
    pub retry: bool,
    /// A sender or receiver was cut off, an error frame came, or a body
    /// that no sender wrote.
    pub failure: Option<String>,
}

impl Step {
    pub fn sustained(&self) -> bool {
        self.complete() && self.latency.p99_ms <= P99_TARGET_MS
    }

    /// Every expected message reached every receiver exactly once.
    pub fn complete(&self) -> bool {
        self.failure.is_none() && self.lost == 0 && self.duplicates == 0 && self.delivered == self.expected
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

/// State shared by the receiver tasks: only what is rare (an error, a
/// close). What every delivery updates is in each receiver's own [`Inbox`].
#[derive(Default)]
struct Shared {
    /// `error` frames received: a run with any fails.
    errors: AtomicU64,
    /// Receivers whose connection ended.
    closed: AtomicU64,
    /// Receivers that got the warm-up message.
    warmed: AtomicU64,
    /// The last close frame a receiver got from the server.
    close_reason: Mutex<Option<String>>,
}

/// What the step's end reads from the receivers.
struct Receivers {
    shared: Arc<Shared>,
    /// One per connection, by index.
    inboxes: Vec<Arc<Mutex<Inbox>>>,
}

/// An inbox's lock: held only briefly and never across an await, so a
/// panic while holding it leaves nothing half-written worth refusing.
fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the ladder against `servers`: one, or several nodes of a cluster
/// with the connections spread over them in turn.
pub async fn run(servers: &mut [Proc], target: Target, cfg: &FanoutConfig) -> Result<FanoutResult> {
    // Checked here as well as by the command line: the arithmetic below
    // needs a recipient, a sender, and positive rates and step length.
    ensure!(cfg.clients >= 2, "fan-out needs at least 2 clients, not {}", cfg.clients);
    ensure!(cfg.senders >= 1, "fan-out needs at least 1 sender");
    ensure!(!cfg.rates.is_empty() && !cfg.rates.contains(&0), "fan-out rates must be at least 1 message/s");
    ensure!(!cfg.step.is_zero(), "a fan-out step must last longer than 0 s");
    ensure!(!servers.is_empty(), "fan-out needs a server");
    let urls: Vec<String> = servers.iter().map(Proc::url).collect();
    let pids: Vec<u32> = servers.iter().map(Proc::pid).collect();
    let nodes = servers.len();
    let before = servers.iter().map(Proc::rss_kib).sum();
    let started = std::time::Instant::now();
    let conns: Vec<Ws> = futures_util::stream::iter(0..cfg.clients)
        .map(|i| {
            let url = urls[i % nodes].clone();
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

    let n_senders = cfg.senders.min(cfg.clients);
    let shared = Arc::new(Shared::default());
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    let mut inboxes = Vec::new();
    for (i, ws) in conns.into_iter().enumerate() {
        let (write, mut read) = ws.split();
        writers.push((i, write));
        let shared = shared.clone();
        let inbox = Arc::new(Mutex::new(Inbox::new(i, n_senders, nodes)));
        inboxes.push(inbox.clone());
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
                        Quick::Message(WARMUP) => {
                            shared.warmed.fetch_add(1, Ordering::Relaxed);
                            None
                        }
                        Quick::Message(body) => Some(body),
                        Quick::Error => {
                            shared.errors.fetch_add(1, Ordering::Relaxed);
                            None
                        }
                        Quick::Ack(_) | Quick::Other => None,
                    },
                };
                if let Some(body) = body {
                    lock(&inbox).receive(body, t.len(), stamp());
                }
            }
            shared.closed.fetch_add(1, Ordering::Relaxed);
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // presence settles
    if nodes > 1 && target == Target::Chat {
        warm_up(&mut writers[0].1, &shared, cfg.clients as u64 - 1).await?;
    }

    let receivers = Receivers { shared, inboxes };
    let watch = RssWatch::start(&pids, before);
    let mut senders: Vec<(usize, Sink)> = writers.drain(..n_senders).collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut seq = 0u64;
    'ladder: for &rate in &cfg.rates {
        for retry in [false, true] {
            let (step, back) = step(&pids, target, cfg, rate, senders, &mut seq, &receivers).await;
            senders = back;
            let (sustained, only_p99) = (step.sustained(), step.complete());
            steps.push(Step { retry, ..step });
            for server in servers.iter_mut() {
                server.check_alive()?;
            }
            if sustained {
                break;
            }
            // Other processes share these cores: a p99 miss gets a second
            // try; a lost or duplicated message or a cut-off ends the
            // ladder at once.
            if retry || !only_p99 || !cfg.retry {
                break 'ladder;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let errors = receivers.shared.errors.load(Ordering::Relaxed);
    ensure!(errors == 0, "{errors} error frames during fan-out");

    drop(senders);
    drop(writers);
    for r in &readers {
        r.abort();
    }
    tokio::time::sleep(cfg.settle).await;
    let memory = watch.finish(servers.iter().map(Proc::rss_kib).sum());
    let (frames, bytes) = receivers.inboxes.iter().fold((0, 0), |(f, b), i| {
        let i = lock(i);
        (f + i.frames, b + i.bytes)
    });
    let frame_len = (bytes / frames.max(1)) as usize;
    Ok(FanoutResult { steps, memory, frame_len, connect_secs })
}

/// On several nodes, one message that every receiver gets before the
/// ladder starts: a node's sequence for a project starts with the first
/// message of it the node sees, and the ladder's first messages, sent at
/// once from several nodes, can reach a node out of order (ARCHITECTURE.md,
/// "Several nodes", "Not yet"). A bounded wait: a warm-up that never
/// arrives everywhere fails the run.
async fn warm_up(write: &mut Sink, shared: &Shared, receivers: u64) -> Result<()> {
    let msg = ClientMsg::Send {
        client_id: cid(WARMUP.into()),
        to: Conversation::Room,
        body: WARMUP.into(),
        reply_to: None,
        mentions: Vec::new(),
    };
    write.send(Message::text(serde_json::to_string(&msg)?)).await?;
    let until = tokio::time::Instant::now() + conn::FRAME_TIMEOUT;
    while shared.warmed.load(Ordering::Relaxed) < receivers {
        ensure!(
            tokio::time::Instant::now() < until,
            "the warm-up message reached {} of {receivers} receivers",
            shared.warmed.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// One step of the ladder; gives back the senders that are still usable.
/// A sender is its connection index and its half of the connection.
async fn step(
    pids: &[u32],
    target: Target,
    cfg: &FanoutConfig,
    rate: u32,
    senders: Vec<(usize, Sink)>,
    seq: &mut u64,
    receivers: &Receivers,
) -> (Step, Vec<(usize, Sink)>) {
    let Receivers { shared, inboxes } = receivers;
    let per_sender = (f64::from(rate) * cfg.step.as_secs_f64()).round().max(1.0) as u64;
    let active: Vec<usize> = senders.iter().map(|(s, _)| *s).collect();
    // Spread over the period by index among all senders, as independent
    // users would be.
    let spread = cfg.senders.min(cfg.clients) as f64;
    let recipients = cfg.clients as u64 - 1;
    let expected = per_sender * active.len() as u64 * recipients;
    let closed_before = shared.closed.load(Ordering::Relaxed);
    let cpu = CpuMeter::with_helpers(pids, &cfg.helpers);
    let start_stamp = stamp();
    if let Some(started) = &cfg.step_started {
        started.notify_one();
    }
    let (base, end) = (*seq, *seq + per_sender);
    let mut tasks = Vec::new();
    for (s, mut write) in senders {
        tasks.push(tokio::spawn(async move {
            for n in 0..per_sender {
                // Latency counts from the time the message was due, not
                // the time it went out: when the sender falls behind (the
                // load client is short of CPU, or the server pushes back on
                // its writes) the wait counts as latency instead of
                // vanishing (coordinated omission). Late messages go at
                // once, in a burst. Waking a timer tick early and taking
                // the earlier of the two times keeps the timer's own
                // lateness out of the figure.
                let due = start_stamp + ((n as f64 + s as f64 / spread) * 1e9 / f64::from(rate)).round() as u64;
                tokio::time::sleep_until(conn::at(due.saturating_sub(TIMER_TICK_NS))).await;
                let since = stamp().min(due);
                let body = Tag { since, sender: s, seq: base + n }.body();
                let frame = match target {
                    Target::Reference { frame_len } => {
                        let pad = frame_len.saturating_sub(body.len() + 1);
                        format!("{body} {}", "x".repeat(pad))
                    }
                    Target::Chat => serde_json::to_string(&ClientMsg::Send {
                        client_id: cid(format!("s{s}-{}", base + n)),
                        to: Conversation::Room,
                        body,
                        reply_to: None,
                        mentions: Vec::new(),
                    })?,
                };
                write.send(Message::text(frame)).await?;
            }
            anyhow::Ok((s, write))
        }));
    }
    *seq = end;

    let mut back = Vec::new();
    let mut failure = None;
    let limit = conn::at(start_stamp) + cfg.step + Duration::from_secs(10);
    for mut t in tasks {
        match tokio::time::timeout_at(limit, &mut t).await {
            Ok(Ok(Ok(sender))) => back.push(sender),
            Ok(Ok(Err(e))) => failure = Some(format!("a sender was cut off: {e}")),
            Ok(Err(e)) => failure = Some(format!("a sender task failed: {e}")),
            Err(_) => {
                t.abort();
                failure = Some("a sender could not send its messages in time".into());
            }
        }
    }
    let deadline = tokio::time::Instant::now() + STRAGGLERS;
    while inboxes.iter().map(|i| lock(i).delivered()).sum::<u64>() < expected && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut tally = Tally::default();
    for inbox in inboxes {
        tally.add(&lock(inbox).close_step(&active, end));
    }
    let cpu = cpu.read();
    let closed = shared.closed.load(Ordering::Relaxed) - closed_before;
    let reason = shared.close_reason.lock().ok().and_then(|mut r| r.take());
    if let Some(reason) = &reason {
        failure = Some(format!("{}{reason}", failure.map_or(String::new(), |f| format!("{f}; "))));
    }
    if closed > 0 && failure.is_none() {
        failure = Some(format!("{closed} receivers were disconnected"));
    }
    let errors = shared.errors.load(Ordering::Relaxed);
    if errors > 0 && failure.is_none() {
        failure = Some(format!("{errors} error frames"));
    }
    if tally.unexpected > 0 && failure.is_none() {
        failure = Some(format!("{} bodies that no sender wrote to their receiver", tally.unexpected));
    }
    // Deliveries over the time they took: the scheduled sending time, or
    // until the last delivery if that came later.
    let scheduled = per_sender as f64 / f64::from(rate);
    let took = (tally.last_stamp.saturating_sub(start_stamp) as f64 / 1e9).max(scheduled);
    let step = Step {
        rate_per_sender: rate,
        offered: f64::from(rate) * active.len() as f64 * recipients as f64,
        expected,
        delivered: tally.delivered,
        lost: tally.lost,
        duplicates: tally.duplicates,
        echoes: tally.echoes,
        per_sec: tally.delivered as f64 / took,
        latency: tally.latencies.summary(),
        local: tally.local.summary(),
        cross: tally.cross.summary(),
        rss_kib: pids.iter().map(|&p| crate::sys::rss_kib(p)).sum(),
        cpu,
        retry: false,
        failure,
    };
    (step, back)
}
