//! Scenario 2: direct messages. `pairs` pairs of users (50 pairs per
//! project) pass a DM back and forth: each side answers as soon as the
//! other's message arrives, so every pair always has one DM in flight and
//! the server sees `pairs` concurrent conversations.

use super::{Latencies, Latency};
use crate::conn::{self, cid, classify, latency_us, stamp, Quick, Ws, FRAME_TIMEOUT};
use crate::process::Proc;
use crate::sys::{CpuMeter, CpuUse, Memory, RssWatch};
use anyhow::{anyhow, bail, ensure, Result};
use futures_util::stream::{StreamExt, TryStreamExt};
use protocol::{ClientMsg, Conversation, UserId};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Users per project (an even number, so both sides of a pair share one).
const USERS_PER_PROJECT: usize = 100;

pub struct DirectResult {
    pub pairs: usize,
    pub connect_secs: f64,
    pub delivered: u64,
    pub per_sec: f64,
    pub latency: Latency,
    pub memory: Memory,
    pub cpu: CpuUse,
}

/// `settle`: the pause after the clients close before the "after" RSS.
pub async fn run(server: &mut Proc, pairs: usize, duration: Duration, settle: Duration) -> Result<DirectResult> {
    let url = server.url();
    let before = server.rss_kib();
    let started = Instant::now();
    let sides: Vec<(Ws, UserId)> = futures_util::stream::iter(0..pairs * 2)
        .map(|i| {
            let url = url.clone();
            async move {
                let (ws, welcome) =
                    conn::guest(&url, &format!("d{i}"), &format!("dm{}", i / USERS_PER_PROJECT)).await?;
                anyhow::Ok((ws, welcome.me.id))
            }
        })
        .buffered(32)
        .try_collect()
        .await?;
    let connect_secs = started.elapsed().as_secs_f64();

    let ids: Vec<UserId> = sides.iter().map(|(_, id)| id.clone()).collect();
    let watch = RssWatch::start(&[server.pid()], before);
    let cpu = CpuMeter::start(&[server.pid()]);
    let deadline = tokio::time::Instant::now() + duration;
    let tasks: Vec<_> = sides
        .into_iter()
        .enumerate()
        .map(|(i, (ws, _))| tokio::spawn(side(ws, i, ids[i ^ 1].clone(), deadline)))
        .collect();
    let (mut silent, mut delivered, mut latencies) = (0, 0, Latencies::default());
    for t in tasks {
        let (got, side_latencies) = t.await??;
        if got == 0 {
            silent += 1;
        }
        delivered += got;
        latencies.merge(&side_latencies);
    }
    let cpu = cpu.read();
    server.check_alive()?;
    tokio::time::sleep(settle).await;
    let memory = watch.finish(server.rss_kib());
    ensure!(silent == 0, "{silent} of {} DM clients never received a message", pairs * 2);
    Ok(DirectResult {
        pairs,
        connect_secs,
        delivered,
        per_sec: delivered as f64 / duration.as_secs_f64(),
        latency: latencies.summary(),
        memory,
        cpu,
    })
}

/// One side of a pair, until `deadline`; returns how many DMs it received
/// and their latencies (its own histogram: no lock shared between sides).
/// The connection closes when it returns. A DM is sent when the partner's
/// arrives, not on a schedule, so stamping it when it is sent hides no
/// waiting.
async fn side(mut ws: Ws, i: usize, partner: UserId, deadline: tokio::time::Instant) -> Result<(u64, Latencies)> {
    let mut sent = 0u64;
    let mut dm = move || {
        sent += 1;
        conn::text(&ClientMsg::Send {
            client_id: cid(format!("m{sent}")),
            to: Conversation::Direct { user: partner.clone() },
            body: stamp().to_string(),
            reply_to: None,
            mentions: Vec::new(),
        })
    };
    if i % 2 == 0 {
        conn::write(&mut ws, dm()?).await?;
    }
    let (mut got, mut latencies) = (0u64, Latencies::default());
    loop {
        let frame = tokio::select! {
            frame = tokio::time::timeout(FRAME_TIMEOUT, ws.next()) => {
                frame.map_err(|_| anyhow!("DM client {i}: nothing received for {FRAME_TIMEOUT:?}"))?
            }
            _ = tokio::time::sleep_until(deadline) => return Ok((got, latencies)),
        };
        match frame {
            Some(Ok(Message::Text(t))) => match classify(&t) {
                Quick::Message(body) => {
                    if let Some(us) = latency_us(body) {
                        latencies.record(us);
                    }
                    got += 1;
                    conn::write(&mut ws, dm()?).await?;
                }
                Quick::Error => bail!("DM client {i}: {t}"),
                Quick::Ack(_) | Quick::Other => {}
            },
            Some(Ok(Message::Close(f))) => bail!("DM client {i} closed by the server: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("DM client {i}: {e}"),
            None => bail!("DM client {i}: connection closed"),
        }
    }
}
