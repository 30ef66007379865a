//! The bus across nodes: Redis pub/sub, with PostgreSQL as the log.
//!
//! `publish` delivers to this node's hub first (the trait's contract), then
//! queues the event for the other nodes: one JSON envelope (this node's id,
//! the project, and the frame's text as it is) on one pub/sub channel. A
//! subscriber task on each node feeds what the others published to its hub
//! and ignores its own.
//!
//! Redis pub/sub is at most once, so chat messages pass through a
//! [`ProjectOrder`] per project: delivered in id order, a repeat dropped, a
//! gap filled from the store before anything newer is delivered. After the
//! subscription is (re)made, every known project is read from its last
//! delivered id on, which delivers what was published while this node could
//! not hear it.
//!
//! What a slow or absent Redis costs: nothing on the hot path (`publish`
//! never waits). Events for the other nodes wait in a queue of
//! `--redis-queue` envelopes; when it is full, new ones are dropped (and
//! counted in `bus_dropped`): chat messages are then filled from the store
//! by the other nodes once they see a later id or resubscribe, typing and
//! read-marker frames are lost. A node that cannot reach Redis keeps
//! serving its own clients.

mod envelope;
mod presence;
mod publish;
mod subscribe;

use envelope::{Envelope, WireEvent};
use publish::{publish_loop, Outgoing};
use subscribe::subscribe_loop;

use super::order::{ProjectOrder, Ready};
use super::{Bus, Event};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Store;
use futures_util::future::BoxFuture;
use protocol::{MessageId, ProjectId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::info;

/// Waits between attempts to reach Redis (or the store, for a gap).
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// A Redis command that takes longer than this counts as a broken link.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// How a [`RedisBus`] connects.
#[derive(Debug, Clone)]
pub(crate) struct RedisOptions {
    pub(crate) url: String,
    /// The pub/sub channel; nodes of one cluster must use the same.
    pub(crate) channel: String,
    /// Envelopes waiting for Redis before new ones are dropped.
    pub(crate) queue: usize,
    /// How often a node renews its heartbeat and checks the others'.
    pub(crate) heartbeat: Duration,
    /// A node whose heartbeat is this old is dead: its users go offline.
    pub(crate) node_ttl: Duration,
}

pub(crate) struct RedisBus {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<Outgoing>,
    _stop: DropGuard,
}

struct Shared {
    node: u64,
    hub: Arc<Hub>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    projects: Mutex<HashMap<ProjectId, ProjectOrder>>,
}

impl RedisBus {
    /// Starts the publisher and subscriber tasks. Fails only on a URL that
    /// does not parse; an unreachable Redis is retried in the background.
    pub(crate) fn start(
        options: RedisOptions,
        hub: Arc<Hub>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(options.url.as_str())?;
        let mut node = [0u8; 8];
        getrandom::fill(&mut node).map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        let shared = Arc::new(Shared {
            node: u64::from_le_bytes(node),
            hub,
            store,
            metrics,
            projects: Mutex::new(HashMap::new()),
        });
        let stop = CancellationToken::new();
        let (outgoing, rx) = mpsc::channel(options.queue.max(1));
        let keys = presence::Keys::new(&options.channel);
        shared.hub.set_presence_sink(presence::sink(shared.node, outgoing.clone(), shared.metrics.clone()));
        tokio::spawn(publish_loop(client.clone(), options.channel.clone(), keys.clone(), rx, stop.clone()));
        tokio::spawn(presence::heartbeat_loop(
            client.clone(),
            options.clone(),
            keys.clone(),
            shared.clone(),
            stop.clone(),
        ));
        tokio::spawn(subscribe_loop(client, options.channel, keys, shared.clone(), stop.clone()));
        info!(node = shared.node, "redis bus started");
        Ok(Self { shared, outgoing, _stop: stop.drop_guard() })
    }

    fn ship(&self, project: &ProjectId, event: WireEvent) {
        let envelope = Envelope { node: self.shared.node, project: project.clone(), event };
        let Ok(envelope) = serde_json::to_string(&envelope) else { return };
        if self.outgoing.try_send(Outgoing { envelope, presence: None }).is_err() {
            self.shared.metrics.inc(&self.shared.metrics.bus_dropped);
        }
    }
}

impl Bus for RedisBus {
    fn publish(&self, event: Event) {
        match event {
            Event::Entry { project, entry, frame, origin } => {
                let text = frame.frame.to_string();
                self.shared.offer(&project, Ready { entry, frame, origin });
                self.ship(&project, WireEvent::Message { frame: text });
            }
            Event::Typing { project, from, to, active } => {
                self.shared.hub.typing(&project, &from, &to, active);
                self.ship(&project, WireEvent::Typing { from, to, active });
            }
            Event::ToUser { project, user, frame } => {
                self.shared.hub.to_user(&project, &user, &frame);
                self.ship(&project, WireEvent::ToUser { user, frame: frame.frame.to_string() });
            }
            Event::ProfileChanged { project, profile, frame } => {
                self.shared.hub.update_profile(&project, &profile, &frame);
                self.ship(&project, WireEvent::ProfileChanged { profile, frame: frame.frame.to_string() });
            }
            Event::ToProject { project, frame } => {
                self.shared.hub.to_project(&project, &frame);
                self.ship(&project, WireEvent::ToProject { frame: frame.frame.to_string() });
            }
            Event::CloseUser { project, user, code } => {
                self.shared.hub.close_user(&project, &user, code);
                self.ship(&project, WireEvent::CloseUser { user, code: code.code() });
            }
        }
    }

    fn catch_up<'a>(&'a self, project: &'a ProjectId, first: MessageId) -> BoxFuture<'a, ()> {
        Box::pin(self.shared.clone().catch_up(project.clone(), first))
    }
}

/// Waits `pause` unless stopped first; returns whether to go on.
async fn pause_unless_stopped(pause: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => true,
        () = stop.cancelled() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::publish::PUBLISH_BATCH;
    use super::*;
    use crate::bus::conformance::{run_all, Node};
    use crate::hub::frame;
    use crate::store::{LogEntry, SqliteStore};
    use crate::testing::RedisServer;
    use protocol::{Conversation, Profile, ServerMsg, UserId};

    /// Nodes on one Redis, each with its own hub, once all are subscribed.
    async fn nodes(redis: &RedisServer, n: usize, store: Arc<dyn Store>) -> Vec<Node> {
        let nodes: Vec<Node> = (0..n)
            .map(|_| {
                let metrics = Arc::new(Metrics::default());
                let hub = Arc::new(Hub::new(metrics.clone()));
                let options = RedisOptions {
                    url: redis.url(),
                    channel: "conformance".into(),
                    queue: 10_000,
                    heartbeat: Duration::from_secs(3),
                    node_ttl: Duration::from_secs(10),
                };
                let bus: Arc<dyn Bus> =
                    Arc::new(RedisBus::start(options, hub.clone(), store.clone(), metrics).expect("bus"));
                Node { hub, bus }
            })
            .collect();
        redis.wait_for_subscribers("conformance", n).await;
        nodes
    }

    /// With Redis unreachable, `publish` still delivers locally at once,
    /// and what waits for Redis is bounded by `--redis-queue` (plus the one
    /// batch the publisher holds); the rest is dropped and counted.
    #[tokio::test]
    async fn without_redis_local_delivery_goes_on_and_the_queue_stays_bounded() {
        use crate::outbox::outbox;
        const QUEUE: usize = 10;
        const SENT: usize = 500;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("chat.db")).unwrap());
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(metrics.clone()));
        let options = RedisOptions {
            url: format!("redis://127.0.0.1:{}", crate::testing::free_port()),
            channel: "down".into(),
            queue: QUEUE,
            heartbeat: Duration::from_secs(3),
            node_ttl: Duration::from_secs(10),
        };
        let bus = RedisBus::start(options, hub.clone(), store, metrics.clone()).unwrap();
        let p = ProjectId::new("p").unwrap();
        let listener = Profile { id: UserId::new("l").unwrap(), name: "l".into(), color: "#000000".into() };
        let (tx, mut rx) = outbox(4 * SENT);
        hub.join(&p, &listener, tx);
        let from = Profile { id: UserId::new("a").unwrap(), ..listener.clone() };
        for id in 1..=SENT as u64 {
            let message =
                protocol::ChatMessage::plain(MessageId(id), 0, from.clone(), Conversation::Room, format!("m{id}"));
            let frame = frame(&ServerMsg::Message(message.clone()));
            bus.publish(Event::Entry { project: p.clone(), entry: LogEntry::Message(message), frame, origin: None });
        }
        let mut delivered = 0;
        while let Ok(out) = rx.rx.try_recv() {
            delivered += usize::from(out.msg_id.is_some());
        }
        assert_eq!(delivered, SENT, "every message reached the local connection at once");
        let dropped = metrics.bus_dropped.load(std::sync::atomic::Ordering::Relaxed) as usize;
        assert!(dropped >= SENT - QUEUE - PUBLISH_BATCH, "only {dropped} of {SENT} dropped: the queue grew");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_redis_bus_passes_the_bus_conformance_suite_on_three_nodes() {
        let redis = RedisServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("chat.db")).unwrap());
        let nodes = nodes(&redis, 3, store).await;
        tokio::task::spawn_blocking(move || run_all(&nodes, |_| {})).await.unwrap();
    }
}
