//! Scenario 8: Redis stopped under load. Three nodes on one PostgreSQL and
//! one Redis carry scenario 1's room fan-out at one fixed rate for one long
//! step; a while into it Redis is stopped (SIGSTOP: it hangs, its sockets
//! stay open) or killed, and resumed or restarted empty after the outage,
//! while the senders keep sending. Each node's RSS is read before, during
//! and after; the step's own checks say whether every message still
//! reached every receiver exactly once (the gap fill from PostgreSQL).

use super::fanout::{self, FanoutConfig, Step, Target};
use crate::cluster::{start_nodes, Postgres, Redis};
use crate::process::ServerOptions;
use crate::sys::rss_kib;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;

/// How often each node's RSS is read during the outage.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutageKind {
    /// SIGSTOP, then SIGCONT: Redis hangs (the nodes' commands time out).
    Stop,
    /// SIGKILL, then a new empty Redis on the same port: refused at once.
    Kill,
}

impl OutageKind {
    pub fn describe(self) -> &'static str {
        match self {
            OutageKind::Stop => "stopped (SIGSTOP) and resumed (SIGCONT)",
            OutageKind::Kill => "killed (SIGKILL) and restarted empty",
        }
    }
}

pub struct OutageConfig {
    /// Clients, senders, settle; the rate and step are set from the rest.
    pub fanout: FanoutConfig,
    /// Messages per second per sender, throughout.
    pub rate: u32,
    pub before: Duration,
    pub outage: Duration,
    pub after: Duration,
    pub kind: OutageKind,
}

/// One node's RSS (KiB) and bus counters.
#[derive(Debug, Clone, Default)]
pub struct NodeMemory {
    /// Just before Redis went away, under the load.
    pub before_kib: u64,
    /// The highest during the outage.
    pub peak_kib: u64,
    /// At the end of the outage.
    pub end_kib: u64,
    /// When the step's sending ended, `after` past the outage.
    pub after_kib: u64,
    /// `chat_bus_dropped`: events for the other nodes that did not fit the
    /// Redis queue.
    pub dropped: Option<u64>,
    /// `chat_bus_gap_fills`: gaps read from PostgreSQL.
    pub gap_fills: Option<u64>,
    /// `chat_ephemeral_dropped`, for completeness.
    pub ephemeral_dropped: Option<u64>,
}

pub struct OutageResult {
    pub step: Step,
    pub nodes: Vec<NodeMemory>,
    pub kind: OutageKind,
    pub rate: u32,
    pub before_secs: f64,
    pub outage_secs: f64,
    pub after_secs: f64,
    pub clients: usize,
    pub senders: usize,
    pub database: &'static str,
}

pub async fn run(opts: &ServerOptions, pg: &Postgres, cfg: &OutageConfig) -> Result<OutageResult> {
    let database = pg.fresh_database().await?;
    let mut redis = Redis::start().await?;
    let mut servers = start_nodes(opts, "8-outage", &database, Some(&redis), super::nodes::NODES).await?;
    let pids: Vec<u32> = servers.iter().map(|s| s.pid()).collect();
    let started = Arc::new(tokio::sync::Notify::new());
    let fanout_cfg = FanoutConfig {
        rates: vec![cfg.rate],
        step: cfg.before + cfg.outage + cfg.after,
        retry: false,
        helpers: pg.pid().into_iter().chain([redis.pid()]).collect(),
        step_started: Some(started.clone()),
        ..cfg.fanout.clone()
    };
    let load = fanout::run(&mut servers, Target::Chat, &fanout_cfg);
    let outage = async {
        started.notified().await;
        tokio::time::sleep(cfg.before).await;
        let mut nodes: Vec<NodeMemory> =
            pids.iter().map(|&p| NodeMemory { before_kib: rss_kib(p), ..Default::default() }).collect();
        match cfg.kind {
            OutageKind::Stop => redis.pause()?,
            OutageKind::Kill => redis.kill()?,
        }
        let until = tokio::time::Instant::now() + cfg.outage;
        while tokio::time::Instant::now() < until {
            for (node, &pid) in nodes.iter_mut().zip(&pids) {
                node.end_kib = rss_kib(pid);
                node.peak_kib = node.peak_kib.max(node.end_kib);
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
        let back = tokio::time::Instant::now();
        match cfg.kind {
            OutageKind::Stop => redis.resume()?,
            OutageKind::Kill => redis.restart().await?,
        }
        tokio::time::sleep_until(back + cfg.after).await;
        for (node, &pid) in nodes.iter_mut().zip(&pids) {
            node.after_kib = rss_kib(pid);
        }
        anyhow::Ok(nodes)
    };
    // The outage starts when the load's step does; a load that fails
    // before (or during) it ends the scenario rather than leave the outage
    // waiting for a step that never comes.
    let (load, outage) = {
        let (mut load, mut outage) = (std::pin::pin!(load), std::pin::pin!(outage));
        tokio::select! {
            outage = &mut outage => (load.await, outage),
            load = &mut load => (Ok(load?), outage.await),
        }
    };
    let mut result = load?;
    let mut nodes = outage.context("stopping and resuming Redis")?;
    for (node, server) in nodes.iter_mut().zip(&servers) {
        node.dropped = server.metric("chat_bus_dropped").await;
        node.gap_fills = server.metric("chat_bus_gap_fills").await;
        node.ephemeral_dropped = server.metric("chat_ephemeral_dropped").await;
    }
    Ok(OutageResult {
        step: result.steps.pop().context("the step did not run")?,
        nodes,
        kind: cfg.kind,
        rate: cfg.rate,
        before_secs: cfg.before.as_secs_f64(),
        outage_secs: cfg.outage.as_secs_f64(),
        after_secs: cfg.after.as_secs_f64(),
        clients: cfg.fanout.clients,
        senders: cfg.fanout.senders,
        database: pg.describe(),
    })
}
