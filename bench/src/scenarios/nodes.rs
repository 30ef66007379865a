//! Scenario 7: room fan-out on several nodes. The fan-out ladder of
//! scenario 1 (its load client, its checks) runs against one node on
//! PostgreSQL, then against three nodes on that PostgreSQL and one Redis
//! with the clients spread over them in turn. Then both run once more,
//! for longer, at a tenth of the single node's sustained rate: the cost of
//! crossing nodes at a load both carry easily.

use super::fanout::{self, FanoutConfig, FanoutResult, Step, Target};
use crate::cluster::{start_nodes, Postgres, Redis};
use crate::process::ServerOptions;
use anyhow::{Context, Result};
use std::time::Duration;

/// Nodes of the cluster.
pub const NODES: usize = 3;

pub struct NodesResult {
    /// One node on PostgreSQL, no Redis.
    pub single: FanoutResult,
    /// Three nodes on one PostgreSQL and one Redis.
    pub cluster: FanoutResult,
    /// Both at a tenth of the single node's best sustained rate.
    pub tenth_single: Step,
    pub tenth_cluster: Step,
    /// How long the tenth-rate steps sent for.
    pub tenth_secs: f64,
    pub database: &'static str,
}

pub async fn run(opts: &ServerOptions, pg: &Postgres, cfg: &FanoutConfig, tenth_step: Duration) -> Result<NodesResult> {
    let single = on_nodes(opts, pg, "7-single", 1, cfg).await.context("one node on PostgreSQL")?;
    let cluster = on_nodes(opts, pg, "7-cluster", NODES, cfg).await.context("three nodes")?;
    // The best sustained step's rate, a tenth of it (at least 1 message/s).
    let best = single.best().map_or(cfg.rates[0], |s| s.rate_per_sender);
    let tenth = FanoutConfig { rates: vec![(best / 10).max(1)], step: tenth_step, ..cfg.clone() };
    let only = |r: FanoutResult| r.steps.into_iter().next().context("no step ran");
    let tenth_single = only(on_nodes(opts, pg, "7-tenth-single", 1, &tenth).await?)?;
    let tenth_cluster = only(on_nodes(opts, pg, "7-tenth-cluster", NODES, &tenth).await?)?;
    Ok(NodesResult {
        single,
        cluster,
        tenth_single,
        tenth_cluster,
        tenth_secs: tenth_step.as_secs_f64(),
        database: pg.describe(),
    })
}

/// The ladder on `nodes` fresh nodes and a fresh database (and, for more
/// than one node, a fresh Redis).
async fn on_nodes(
    opts: &ServerOptions,
    pg: &Postgres,
    label: &str,
    nodes: usize,
    cfg: &FanoutConfig,
) -> Result<FanoutResult> {
    let database = pg.fresh_database().await?;
    let redis = if nodes > 1 { Some(Redis::start().await?) } else { None };
    let mut servers = start_nodes(opts, label, &database, redis.as_ref(), nodes).await?;
    let helpers = pg.pid().into_iter().chain(redis.as_ref().map(Redis::pid)).collect();
    fanout::run(&mut servers, Target::Chat, &FanoutConfig { helpers, ..cfg.clone() }).await
}
