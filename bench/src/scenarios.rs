//! The five scenarios. Each runs against a fresh server process and returns
//! figures; `smoke` sizes make each a seconds-long functional check.

use crate::conn::{self, latency_us, now_nanos, Ws};
use crate::process::Proc;
use anyhow::{bail, ensure, Result};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use protocol::{ClientMsg, ClientMsgId, Conversation, MessageId, ServerMsg, UserId};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Concurrent connection attempts while opening many.
const CONNECT_CONCURRENCY: usize = 128;
/// Padding that makes a reference frame as long as the chat server's
/// `message` frame for the same body (about 165 bytes).
const REFERENCE_PADDING: usize = 145;
/// A fan-out step passes when p99 stays at or under this.
pub const P99_TARGET_US: u64 = 50_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).unwrap_or_else(|_| unreachable!("valid bounds"))
}

fn cid(s: String) -> ClientMsgId {
    ClientMsgId::new(s).unwrap_or_else(|_| unreachable!("bench ids are valid"))
}

/// Latencies and a count, shared by receiver tasks.
#[derive(Default)]
struct Recorder {
    count: AtomicU64,
    latencies: Mutex<Option<Histogram<u64>>>,
}

impl Recorder {
    fn record(&self, us: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut h) = self.latencies.lock() {
            let _ = h.get_or_insert_with(histogram).record(us.max(1));
        }
    }

    fn take(&self) -> (u64, Histogram<u64>) {
        let count = self.count.swap(0, Ordering::Relaxed);
        let h = self.latencies.lock().ok().and_then(|mut h| h.take()).unwrap_or_else(histogram);
        (count, h)
    }
}

/// The body of a `message` frame, found without parsing the whole JSON
/// (bench bodies are digits, so no escapes can occur).
fn message_body(frame: &str) -> Option<&str> {
    if !frame.starts_with(r#"{"type":"message""#) {
        return None;
    }
    let start = frame.find(r#""body":""#)? + 8;
    let len = frame[start..].find('"')?;
    Some(&frame[start..start + len])
}

#[derive(Debug, Clone)]
pub struct Step {
    pub rate_per_sender: u32,
    pub expected: u64,
    pub delivered: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub rss_mib: f64,
    /// Why a sender stopped early, if one did.
    pub cut_off: Option<String>,
}

impl Step {
    pub fn sustained(&self) -> bool {
        self.cut_off.is_none()
            && self.delivered as f64 >= self.expected as f64 * 0.99 && self.p99_ms * 1000.0 <= P99_TARGET_US as f64
    }
}

pub struct FanoutConfig {
    pub clients: usize,
    pub senders: usize,
    pub rates: Vec<u32>,
    pub step: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Chat,
    Reference,
}

/// Scenario 1: room fan-out, stepping the send rate up until p99 or
/// delivery fails.
pub async fn fanout(server: &Proc, target: Target, cfg: &FanoutConfig) -> Result<Vec<Step>> {
    let url = server.url();
    let recorder = Arc::new(Recorder::default());
    let mut writers = Vec::new();
    for i in 0..cfg.clients {
        let ws = match target {
            Target::Chat => conn::guest(&url, &format!("f{i}"), "fanout").await?.0,
            Target::Reference => conn::connect(&url).await?,
        };
        let (write, mut read) = ws.split();
        writers.push(write);
        let recorder = recorder.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = read.next().await {
                let body = match (target, frame) {
                    (Target::Reference, Message::Text(t)) => t.to_string(),
                    // Only the body is needed: skip a full JSON parse so the
                    // load client's parsing (on the same 2 cores) does not
                    // weigh on the chat server's figures more than on the
                    // reference's.
                    (Target::Chat, Message::Text(t)) => match message_body(&t) {
                        Some(body) => body.to_owned(),
                        None => continue,
                    },
                    _ => continue,
                };
                if let Some(us) = latency_us(&body) {
                    recorder.record(us);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // presence settles
    recorder.take();
    let mut senders: Vec<_> = writers.drain(..cfg.senders.min(cfg.clients)).collect();
    let mut steps = Vec::new();
    let mut seq = 0u64;
    for &rate in &cfg.rates {
        let per_sender = (rate as f64 * cfg.step.as_secs_f64()).round() as u64;
        let expected = per_sender * senders.len() as u64 * (cfg.clients as u64 - 1);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (s, mut write) in senders.drain(..).enumerate() {
            let base = seq;
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                for n in 0..per_sender {
                    tick.tick().await;
                    let body = now_nanos().to_string();
                    let frame = match target {
                        // The same bytes per delivery as the chat server's
                        // `message` frame, so the load client moves as much.
                        Target::Reference => format!("{body} {}", "x".repeat(REFERENCE_PADDING)),
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
        seq += per_sender;
        // A sender cut off by the server (4011 when its client cannot keep
        // reading) ends the ladder: that step is not sustained.
        let mut cut_off = None;
        for t in tasks {
            match t.await? {
                Ok(write) => senders.push(write),
                Err(e) => cut_off = Some(e.to_string()),
            }
        }
        let send_time = started.elapsed();
        // Wait for the stragglers (bounded).
        let deadline = Instant::now() + Duration::from_secs(3);
        while recorder.count.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (delivered, h) = recorder.take();
        let step = Step {
            rate_per_sender: rate,
            expected,
            delivered,
            per_sec: delivered as f64 / send_time.as_secs_f64(),
            p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
            p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
            max_ms: h.max() as f64 / 1000.0,
            rss_mib: server.rss_kib() as f64 / 1024.0,
            cut_off,
        };
        let ok = step.sustained() && senders.len() == cfg.senders.min(cfg.clients);
        steps.push(step);
        if !ok {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(steps)
}

pub struct DmResult {
    pub pairs: usize,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub rss_before_mib: f64,
    pub rss_after_mib: f64,
}

/// Scenario 2: pairs exchanging DMs back and forth (each reply sent on
/// receipt), for `duration`.
pub async fn dm_pairs(server: &Proc, pairs: usize, duration: Duration) -> Result<DmResult> {
    let url = server.url();
    let rss_before = server.rss_kib();
    let mut sides: Vec<(Ws, UserId)> = Vec::new();
    for i in 0..pairs * 2 {
        let (ws, w) = conn::guest(&url, &format!("d{i}"), &format!("dm{}", i / 2)).await?;
        sides.push((ws, w.me.id));
    }
    let recorder = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let ids: Vec<UserId> = sides.iter().map(|(_, id)| id.clone()).collect();
    for (i, (mut ws, _)) in sides.into_iter().enumerate() {
        let partner = ids[i ^ 1].clone();
        let (recorder, stop) = (recorder.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut next_dm = || {
                n += 1;
                let msg = ClientMsg::Send {
                    client_id: cid(format!("m{n}")),
                    to: Conversation::Direct { user: partner.clone() },
                    body: now_nanos().to_string(),
                };
                serde_json::to_string(&msg).map(Message::text)
            };
            if i % 2 == 0 {
                ws.send(next_dm()?).await?;
            }
            let mut got = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match conn::next(&mut ws, Duration::from_secs(5)).await {
                    Ok(ServerMsg::Message(m)) => {
                        if let Some(us) = latency_us(&m.body) {
                            recorder.record(us);
                        }
                        got += 1;
                        ws.send(next_dm()?).await?;
                    }
                    Ok(_) => {}
                    Err(_) if stop.load(Ordering::Relaxed) => break,
                    Err(e) => return Err(e),
                }
            }
            anyhow::Ok(got)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let (delivered, h) = recorder.take();
    let elapsed = started.elapsed();
    let mut silent = 0;
    for t in tasks {
        if t.await?? == 0 {
            silent += 1;
        }
    }
    ensure!(silent == 0, "{silent} DM clients never received a message");
    ensure!(delivered > 0, "no DM delivered");
    Ok(DmResult {
        pairs,
        per_sec: delivered as f64 / elapsed.as_secs_f64(),
        p50_ms: h.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
        rss_before_mib: rss_before as f64 / 1024.0,
        rss_after_mib: server.rss_kib() as f64 / 1024.0,
    })
}

pub struct IdleResult {
    pub connections: usize,
    pub opened_per_sec: f64,
    pub kib_per_conn: f64,
    pub rss_before_mib: f64,
    pub rss_held_mib: f64,
    pub rss_after_close_mib: f64,
}

/// Scenario 3: many authenticated, idle connections (tabs of a few users,
/// 100 per project).
pub async fn idle(server: &Proc, connections: usize) -> Result<IdleResult> {
    let url = server.url();
    let users = connections.div_ceil(100);
    let mut tokens = Vec::new();
    for u in 0..users {
        let (ws, w) = conn::guest(&url, &format!("i{u}"), &format!("idle{u}")).await?;
        drop(ws);
        tokens.push(w.session_token);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    let started = Instant::now();
    let tokens = Arc::new(tokens);
    let mut held: Vec<Ws> = Vec::with_capacity(connections);
    let mut pending = futures_util::stream::iter((0..connections).map(|i| {
        let (url, tokens) = (url.clone(), tokens.clone());
        async move { conn::hello(&url, conn::token(&tokens[i / 100]), None).await.map(|(ws, _)| ws) }
    }))
    .buffer_unordered(CONNECT_CONCURRENCY);
    while let Some(ws) = pending.next().await {
        held.push(ws?);
    }
    let opened = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held_rss = server.rss_kib();
    ensure!(held.len() == connections, "only {} of {connections} connected", held.len());
    drop(held);
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(IdleResult {
        connections,
        opened_per_sec: connections as f64 / opened.as_secs_f64(),
        kib_per_conn: held_rss.saturating_sub(before) as f64 / connections as f64,
        rss_before_mib: before as f64 / 1024.0,
        rss_held_mib: held_rss as f64 / 1024.0,
        rss_after_close_mib: server.rss_kib() as f64 / 1024.0,
    })
}

/// Sends `count` DMs to `to` from `ws`, keeping `window` unacknowledged;
/// returns the ids acknowledged.
async fn pipeline(ws: &mut Ws, prefix: &str, to: &UserId, count: u64, window: u64, deadline: Option<Instant>) -> Result<Vec<MessageId>> {
    let mut sent = 0u64;
    let mut acked = Vec::new();
    while (acked.len() as u64) < count {
        while sent < count && sent - acked.len() as u64 <= window && deadline.is_none_or(|d| Instant::now() < d) {
            let msg = ClientMsg::Send {
                client_id: cid(format!("{prefix}{sent}")),
                to: Conversation::Direct { user: to.clone() },
                body: format!("durable {sent}"),
            };
            conn::send(ws, &msg).await?;
            sent += 1;
        }
        if sent == acked.len() as u64 {
            break; // deadline reached with nothing in flight
        }
        match conn::next(ws, Duration::from_secs(30)).await? {
            ServerMsg::Ack { id, .. } => acked.push(id),
            ServerMsg::Error { message, .. } => bail!("refused: {message}"),
            _ => {}
        }
    }
    Ok(acked)
}

pub struct DurableResult {
    pub clients: usize,
    pub acked: u64,
    pub per_sec: f64,
    pub commits: u64,
}

/// Scenario 4: acknowledged (stored) DMs per second, several clients
/// pipelining to an offline user.
pub async fn durable(server: &Proc, clients: usize, duration: Duration) -> Result<DurableResult> {
    let url = server.url();
    let (ws, w) = conn::guest(&url, "sink", "durable").await?;
    drop(ws);
    let to = w.me.id;
    let commits_before = metric(server, "chat_store_commits").await.unwrap_or(0);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (url, to) = (url.clone(), to.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ws, _) = conn::guest(&url, &format!("w{c}"), "durable").await?;
            pipeline(&mut ws, "d", &to, u64::MAX, 256, Some(deadline)).await.map(|ids| ids.len() as u64)
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    let elapsed = started.elapsed();
    ensure!(acked > 0, "nothing was acknowledged");
    let commits = metric(server, "chat_store_commits").await.unwrap_or(0) - commits_before;
    Ok(DurableResult { clients, acked, per_sec: acked as f64 / elapsed.as_secs_f64(), commits })
}

pub struct ResumeResult {
    pub missed: u64,
    pub millis: f64,
}

/// Scenario 5: a client reconnecting after `missed` messages were sent to it.
pub async fn resume(server: &Proc, missed: u64) -> Result<ResumeResult> {
    let url = server.url();
    let (ws, w) = conn::guest(&url, "away", "resume").await?;
    drop(ws);
    let (mut sender, _) = conn::guest(&url, "talker", "resume").await?;
    let ids = pipeline(&mut sender, "r", &w.me.id, missed, 512, None).await?;
    ensure!(ids.len() as u64 == missed, "only {} of {missed} acked", ids.len());
    let started = Instant::now();
    let (mut ws, _) = conn::hello(&url, conn::token(&w.session_token), Some(MessageId(0))).await?;
    let mut got = 0u64;
    let mut last = MessageId(0);
    loop {
        match conn::next(&mut ws, Duration::from_secs(30)).await? {
            ServerMsg::Message(m) => {
                ensure!(m.id > last, "out of order: {} after {}", m.id, last);
                last = m.id;
                got += 1;
            }
            ServerMsg::Synced { .. } => break,
            _ => {}
        }
    }
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    ensure!(got == missed, "resume delivered {got} of {missed}");
    Ok(ResumeResult { missed, millis })
}

/// Reads one counter from the server's /metrics.
async fn metric(server: &Proc, name: &str) -> Option<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    out.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
