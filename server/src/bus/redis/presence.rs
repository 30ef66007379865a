//! Presence across nodes, kept in Redis beside the bus.
//!
//! - Each node renews a heartbeat key (`<channel>:node:<id>`, expiring
//!   after `--node-ttl`) every `--node-heartbeat`.
//! - A user's first connection on a node sets an entry `<node>|<project>|<user>`
//!   in the hash `<channel>:presence` and publishes a presence event; their
//!   last connection there deletes it and publishes again (both through the
//!   bus's queue, in order with everything else the node publishes).
//! - A node that (re)subscribes loads the hash, keeping entries of nodes
//!   whose heartbeat is alive. A node whose heartbeat key has expired, seen
//!   missing on two checks in a row (a Redis restart loses every key, and
//!   live nodes renew theirs within one period), is dead: whichever node
//!   notices first deletes its entries, and every node takes its users
//!   offline. Users of a killed node are therefore offline everywhere
//!   within `--node-ttl` plus two heartbeat periods.
//! - After its link to Redis comes back a node announces all its users
//!   again, in case others took it for dead meanwhile.

use super::envelope::{Envelope, WireEvent};
use super::publish::Outgoing;
use super::{RedisOptions, Shared, REDIS_TIMEOUT};
use crate::hub::{NodeId, PresenceSink};
use crate::metrics::Metrics;
use protocol::{Profile, ProjectId, UserId};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The Redis keys of one cluster.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub(super) presence: String,
    node_prefix: String,
}

impl Keys {
    pub(super) fn new(channel: &str) -> Self {
        Self { presence: format!("{channel}:presence"), node_prefix: format!("{channel}:node:") }
    }

    fn node(&self, node: NodeId) -> String {
        format!("{}{node:016x}", self.node_prefix)
    }
}

fn field(node: NodeId, project: &ProjectId, user: &UserId) -> String {
    format!("{node:016x}|{project}|{user}")
}

fn parse_field(field: &str) -> Option<(NodeId, ProjectId, UserId)> {
    let mut parts = field.splitn(3, '|');
    let node = NodeId::from_str_radix(parts.next()?, 16).ok()?;
    let project = ProjectId::new(parts.next()?).ok()?;
    let user = UserId::new(parts.next()?).ok()?;
    Some((node, project, user))
}

fn envelope(node: NodeId, project: &ProjectId, profile: &Profile, online: bool) -> Option<String> {
    let envelope =
        Envelope { node, project: project.clone(), event: WireEvent::Presence { user: profile.clone(), online } };
    serde_json::to_string(&envelope).ok()
}

/// What the hub calls on a local transition: queue the entry's change and
/// the event (dropped, and counted, when the queue is full).
pub(super) fn sink(node: NodeId, outgoing: mpsc::Sender<Outgoing>, metrics: Arc<Metrics>) -> PresenceSink {
    Box::new(move |project, profile, online| {
        let Some(text) = envelope(node, project, profile, online) else { return };
        let value = online.then(|| serde_json::to_string(profile).unwrap_or_default());
        let out = Outgoing { envelope: text, presence: Some((field(node, project, &profile.id), value)) };
        if outgoing.try_send(out).is_err() {
            metrics.inc(&metrics.bus_dropped);
        }
    })
}

async fn connect(client: &redis::Client) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let config =
        redis::AsyncConnectionConfig::new().set_connection_timeout(REDIS_TIMEOUT).set_response_timeout(REDIS_TIMEOUT);
    client.get_multiplexed_async_connection_with_config(&config).await
}

/// Loads who is online on the other live nodes (after a subscription).
pub(super) async fn load(client: &redis::Client, keys: &Keys, shared: &Arc<Shared>) {
    let loaded = async {
        let mut conn = connect(client).await?;
        let entries: HashMap<String, String> = redis::cmd("HGETALL").arg(&keys.presence).query_async(&mut conn).await?;
        let mut alive: HashMap<NodeId, bool> = HashMap::new();
        let mut count = 0;
        for (field, value) in entries {
            let Some((node, project, _)) = parse_field(&field) else { continue };
            if node == shared.node {
                continue;
            }
            let live = match alive.get(&node) {
                Some(live) => *live,
                None => {
                    let live: bool = redis::cmd("EXISTS").arg(keys.node(node)).query_async(&mut conn).await?;
                    alive.insert(node, live);
                    live
                }
            };
            if let (true, Ok(profile)) = (live, serde_json::from_str::<Profile>(&value)) {
                shared.hub.remote_online(&project, &profile, node);
                count += 1;
            }
        }
        Ok::<_, redis::RedisError>(count)
    };
    match loaded.await {
        Ok(count) => info!(users = count, "loaded presence of the other nodes"),
        Err(e) => warn!(error = %e, "loading presence from redis failed (it fills as nodes announce)"),
    }
}

/// Renews this node's heartbeat and checks the others', until stopped.
pub(super) async fn heartbeat_loop(
    client: redis::Client,
    options: RedisOptions,
    keys: Keys,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let mut conn = None;
    let mut announced = false;
    let mut suspects = HashSet::new();
    loop {
        if conn.is_none() {
            match connect(&client).await {
                Ok(c) => conn = Some(c),
                Err(e) => warn!(error = %e, "cannot reach redis for the heartbeat; retrying"),
            }
            announced = false;
        }
        if let Some(c) = &mut conn {
            if let Err(e) = beat(c, &options, &keys, &shared, &mut announced, &mut suspects).await {
                warn!(error = %e, "heartbeat failed; reconnecting");
                conn = None;
            }
        }
        if !super::pause_unless_stopped(options.heartbeat, &stop).await {
            return;
        }
    }
}

async fn beat(
    conn: &mut redis::aio::MultiplexedConnection,
    options: &RedisOptions,
    keys: &Keys,
    shared: &Shared,
    announced: &mut bool,
    suspects: &mut HashSet<NodeId>,
) -> redis::RedisResult<()> {
    let ttl_ms = u64::try_from(options.node_ttl.as_millis()).unwrap_or(u64::MAX);
    redis::cmd("SET").arg(keys.node(shared.node)).arg(1).arg("PX").arg(ttl_ms).query_async::<()>(conn).await?;
    if !*announced {
        let mut pipe = redis::pipe();
        for (project, profile) in shared.hub.local_presence() {
            let value = serde_json::to_string(&profile).unwrap_or_default();
            pipe.hset(&keys.presence, field(shared.node, &project, &profile.id), value).ignore();
            if let Some(text) = envelope(shared.node, &project, &profile, true) {
                pipe.cmd("PUBLISH").arg(&options.channel).arg(text).ignore();
            }
        }
        pipe.query_async::<()>(conn).await?;
        *announced = true;
    }
    for node in shared.hub.remote_nodes() {
        let alive: bool = redis::cmd("EXISTS").arg(keys.node(node)).query_async(conn).await?;
        if alive {
            suspects.remove(&node);
        } else if !suspects.insert(node) {
            suspects.remove(&node);
            info!(node = format!("{node:016x}"), "a node's heartbeat expired: its users go offline");
            shared.hub.remote_node_gone(node);
            let fields: Vec<String> = redis::cmd("HKEYS").arg(&keys.presence).query_async(conn).await?;
            let prefix = format!("{node:016x}|");
            let dead: Vec<&String> = fields.iter().filter(|f| f.starts_with(&prefix)).collect();
            if !dead.is_empty() {
                redis::cmd("HDEL").arg(&keys.presence).arg(dead).query_async::<()>(conn).await?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_field_names_node_project_and_user() {
        let (p, u) = (ProjectId::new("p-1").unwrap(), UserId::new("a:b@c").unwrap());
        let f = field(0xabc, &p, &u);
        assert_eq!(parse_field(&f), Some((0xabc, p, u)));
        assert_eq!(parse_field("zz|p|u"), None);
        assert_eq!(parse_field("0000000000000001|p"), None);
    }
}
