//! Scenario 5: resume. A client that has message N goes away; `missed` DMs
//! are sent to it while as many go between two other users of the same
//! project (which its replay must skip). It reconnects with its session
//! token and `cursor: N`; the time is from the connect until `synced`, with
//! every missed message received and checked (ids, in order). Done `runs`
//! times with the same cursor on the running server (its caches warm:
//! the messages were just written), then `runs` times each right after a
//! server restart with the store's files evicted from the OS page cache
//! (what every client meets when the server is redeployed).

use super::pipeline;
use crate::conn::{self, FRAME_TIMEOUT};
use crate::process::Proc;
use crate::sys::{Memory, RssWatch};
use anyhow::{bail, ensure, Result};
use protocol::{MessageId, ServerMsg};
use std::time::{Duration, Instant};

/// Unacknowledged sends while filling the store.
const WINDOW: u64 = 256;

pub struct ResumeResult {
    pub missed: u64,
    /// Each run's time until `synced`, in ms, on the running server.
    pub runs_ms: Vec<f64>,
    /// The same, each right after a restart with a cold page cache.
    pub cold_runs_ms: Vec<f64>,
    /// The running server's memory, before the restarts.
    pub memory: Memory,
}

pub fn median(runs: &[f64]) -> f64 {
    let mut v = runs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `settle`: the pause after the clients close before the "after" RSS.
pub async fn run(server: &mut Proc, missed: u64, runs: usize, settle: Duration) -> Result<ResumeResult> {
    let url = server.url();
    let before = server.rss_kib();
    let (mut away, me) = conn::guest(&url, "away", "resume").await?;
    let (mut talker, _) = conn::guest(&url, "talker", "resume").await?;
    let (mut x, _) = conn::guest(&url, "x", "resume").await?;
    let (y_ws, y) = conn::guest(&url, "y", "resume").await?;
    drop(y_ws);

    // The message the client has when it goes away: its cursor.
    let first = pipeline(&mut talker, "t", &me.me.id, 1, 1, None).await?;
    let cursor = loop {
        if let ServerMsg::Message(m) = conn::next(&mut away, FRAME_TIMEOUT).await? {
            break m.id;
        }
    };
    ensure!(first == [cursor], "the first DM arrived as {cursor}, acked as {first:?}");
    drop(away);

    let watch = RssWatch::start(&[server.pid()], before);
    let (ids, others) = tokio::try_join!(
        pipeline(&mut talker, "r", &me.me.id, missed, WINDOW, None),
        pipeline(&mut x, "o", &y.me.id, missed, WINDOW, None),
    )?;
    ensure!(ids.len() as u64 == missed && others.len() as u64 == missed, "not every message was acknowledged");
    drop((talker, x));

    let mut runs_ms = Vec::new();
    for run in 0..runs {
        runs_ms.push(resume_once(&url, &me.session_token, cursor, &ids, run).await?);
    }
    server.check_alive()?;
    tokio::time::sleep(settle).await;
    let memory = watch.finish(server.rss_kib());

    let mut cold_runs_ms = Vec::new();
    for run in 0..runs {
        server.restart_cold().await?;
        cold_runs_ms.push(resume_once(&url, &me.session_token, cursor, &ids, run).await?);
    }
    server.check_alive()?;
    Ok(ResumeResult { missed: ids.len() as u64, runs_ms, cold_runs_ms, memory })
}

/// One reconnect from `cursor`: the time in ms until `synced`, after
/// checking that exactly the `missed` messages came, in order.
async fn resume_once(url: &str, token: &str, cursor: MessageId, missed: &[MessageId], run: usize) -> Result<f64> {
    let started = Instant::now();
    let (mut ws, _) = conn::hello(url, conn::token(token), Some(cursor)).await?;
    let mut got: Vec<MessageId> = Vec::with_capacity(missed.len());
    loop {
        match conn::next(&mut ws, FRAME_TIMEOUT).await? {
            ServerMsg::Message(m) => {
                got.push(m.id);
                if got.len() > missed.len() {
                    bail!("resume {run}: more than the {} missed messages replayed", missed.len());
                }
            }
            ServerMsg::Synced { .. } => break,
            _ => {}
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    ensure!(
        got == missed,
        "resume {run}: received {} messages, not the {} missed ones in order",
        got.len(),
        missed.len()
    );
    Ok(ms)
}
