//! Scenario 4: durable throughput. `clients` connections pipeline DMs (up
//! to [`WINDOW`] unacknowledged each) to a user who is offline, for
//! `duration`; an ack means the message is committed to the embedded
//! store (SQLite, WAL, synchronous=FULL). Reported: acks per second.

use super::pipeline;
use crate::conn;
use crate::process::Proc;
use crate::sys::{CpuMeter, CpuUse, Memory, RssWatch};
use anyhow::{ensure, Result};
use std::time::Duration;

/// Unacknowledged sends per client: the server's default
/// `--max-in-flight-sends`.
pub const WINDOW: u64 = 256;

pub struct DurableResult {
    pub clients: usize,
    /// Projects the clients are spread over (each has its own offline addressee).
    pub projects: usize,
    pub acked: u64,
    pub secs: f64,
    pub per_sec: f64,
    /// Group commits and messages stored in the window, from `/metrics`.
    pub commits: Option<u64>,
    pub memory: Memory,
    pub cpu: CpuUse,
}

/// `settle`: the pause after the clients close before the "after" RSS.
/// With `projects` > 1 there are at least as many clients as projects,
/// client `c` writing in project `c % projects`.
pub async fn run(
    server: &mut Proc,
    clients: usize,
    projects: usize,
    duration: Duration,
    settle: Duration,
) -> Result<DurableResult> {
    let url = server.url();
    let projects = projects.max(1);
    let clients = clients.max(projects);
    let project = |p: usize| if projects == 1 { "durable".to_string() } else { format!("durable-{p}") };
    let mut sinks = Vec::new();
    for p in 0..projects {
        let (ws, sink) = conn::guest(&url, "sink", &project(p)).await?;
        drop(ws);
        sinks.push(sink.me.id);
    }
    let mut writers = Vec::new();
    for c in 0..clients {
        writers
            .push((conn::guest(&url, &format!("w{c}"), &project(c % projects)).await?.0, sinks[c % projects].clone()));
    }
    let before = server.rss_kib();
    let commits_before = server.metric("chat_store_commits").await;
    let watch = RssWatch::start(&[server.pid()], before);
    let cpu = CpuMeter::start(&[server.pid()]);
    let start = tokio::time::Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|(mut ws, to)| {
            tokio::spawn(async move {
                let ids = pipeline(&mut ws, "d", &to, u64::MAX, WINDOW, Some(deadline)).await?;
                anyhow::Ok((ids.len() as u64, start.elapsed()))
            })
        })
        .collect();
    let (mut acked, mut took) = (0, Duration::ZERO);
    for t in tasks {
        let (n, done) = t.await??;
        acked += n;
        took = took.max(done);
    }
    let cpu = cpu.read();
    let commits = match (commits_before, server.metric("chat_store_commits").await) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    server.check_alive()?;
    ensure!(acked > 0, "nothing was acknowledged");
    tokio::time::sleep(settle).await;
    let memory = watch.finish(server.rss_kib());
    let secs = took.as_secs_f64();
    Ok(DurableResult { clients, projects, acked, secs, per_sec: acked as f64 / secs, commits, memory, cpu })
}
