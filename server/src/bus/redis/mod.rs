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

mod presence;

use super::order::{ProjectOrder, Ready};
use super::{Bus, Event};
use crate::hub::{frame, Hub};
use crate::metrics::Metrics;
use crate::outbox::Outbound;
use crate::store::Store;
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use protocol::{CloseCode, Conversation, MessageId, Profile, ProjectId, ServerMsg, UserId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

/// Messages read from the store per gap-filling query.
const FILL_PAGE: u32 = 500;
/// Envelopes sent to Redis in one pipeline.
const PUBLISH_BATCH: usize = 64;
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

/// One envelope for the channel, and the presence entry it changes.
struct Outgoing {
    envelope: String,
    /// `(field, Some(profile))` to set, `(field, None)` to delete.
    presence: Option<(String, Option<String>)>,
}

/// What travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: u64,
    project: ProjectId,
    #[serde(flatten)]
    event: WireEvent,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireEvent {
    /// The `message` frame as the publishing node serialized it.
    Message {
        frame: String,
    },
    Typing {
        from: UserId,
        to: Conversation,
        active: bool,
    },
    ToUser {
        user: UserId,
        frame: String,
    },
    /// The host application changed a user's profile (`frame`: `user_updated`).
    ProfileChanged {
        profile: Profile,
        frame: String,
    },
    /// A frame for every connection of the project.
    ToProject {
        frame: String,
    },
    /// Close every connection of the user with this close code.
    CloseUser {
        user: UserId,
        code: u16,
    },
    /// The user's first connection on the node opened, or their last closed.
    Presence {
        user: Profile,
        online: bool,
    },
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
            Event::Message { project, message, frame, origin } => {
                let text = frame.frame.to_string();
                self.shared.offer(&project, Ready { message, frame, origin });
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

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProjectId, ProjectOrder>> {
        self.projects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a message to the project's order; delivers what it releases
    /// (under the lock, so deliveries from several tasks keep id order) and
    /// starts a gap fill if one opened.
    fn offer(self: &Arc<Self>, project: &ProjectId, ready: Ready) {
        let fill_after = {
            let mut projects = self.lock();
            let order = projects.entry(project.clone()).or_insert_with(|| ProjectOrder::starting_at(ready.message.id));
            let outcome = order.offer(ready);
            self.deliver(project, outcome.deliver);
            outcome.fill_after
        };
        if let Some(after) = fill_after {
            tokio::spawn(self.clone().fill(project.clone(), after));
        }
    }

    fn deliver(&self, project: &ProjectId, ready: Vec<Ready>) {
        for r in ready {
            self.hub.deliver(project, &r.message, &r.frame, r.origin);
        }
    }

    /// Reads the store after `after` until the project's gap is closed.
    async fn fill(self: Arc<Self>, project: ProjectId, mut after: MessageId) {
        self.metrics.inc(&self.metrics.bus_gap_fills);
        let mut pause = RETRY_MIN;
        loop {
            match self.store.project_messages_after(&project, after, FILL_PAGE).await {
                Ok(rows) => {
                    pause = RETRY_MIN;
                    let complete = rows.len() < FILL_PAGE as usize;
                    let ready = rows.into_iter().map(stored).collect();
                    let mut projects = self.lock();
                    let Some(order) = projects.get_mut(&project) else { return };
                    let (deliver, again) = order.filled(ready, complete);
                    self.deliver(&project, deliver);
                    if !again {
                        return;
                    }
                    after = order.last();
                }
                Err(e) => {
                    warn!(error = %e, %project, "reading missed messages failed; retrying");
                    if let Some(order) = self.lock().get_mut(&project) {
                        order.fill_failed();
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RETRY_MAX);
                    match self.lock().get_mut(&project).and_then(|o| o.retry(false)) {
                        Some(from) => after = from,
                        None => return,
                    }
                }
            }
        }
    }

    /// Delivers from the store what precedes `first` in `project` and has
    /// not been delivered here yet (see [`Bus::catch_up`]).
    async fn catch_up(self: Arc<Self>, project: ProjectId, first: MessageId) {
        loop {
            let last = match self.lock().get(&project) {
                Some(order) if order.last().0 + 1 < first.0 => order.last(),
                // Caught up, or a project this node has not seen: its
                // sequence starts with this batch.
                _ => return,
            };
            let wanted = (first.0 - 1 - last.0).min(u64::from(FILL_PAGE)) as u32;
            let Ok(rows) = self.store.project_messages_after(&project, last, wanted).await else {
                // The store failed: publishing `first` opens a gap, which
                // is filled once the store answers again.
                return;
            };
            let complete = rows.len() < wanted as usize;
            for row in rows.into_iter().filter(|m| m.id < first) {
                self.offer(&project, stored(row));
            }
            if complete {
                // Everything below `first` is committed (the cursor rule),
                // so what the read did not return does not exist (pruned).
                let mut projects = self.lock();
                if let Some(order) = projects.get_mut(&project) {
                    let released = order.give_up_before(first);
                    self.deliver(&project, released);
                }
                return;
            }
        }
    }

    fn receive(self: &Arc<Self>, payload: &str) {
        let envelope: Envelope = match serde_json::from_str(payload) {
            Ok(e) => e,
            Err(e) => return warn!(error = %e, "unreadable bus envelope ignored"),
        };
        if envelope.node == self.node {
            return;
        }
        let project = envelope.project;
        match envelope.event {
            WireEvent::Message { frame: text } => match serde_json::from_str::<ServerMsg>(&text) {
                Ok(ServerMsg::Message(message)) => {
                    let frame = Outbound { frame: text.into(), msg_id: Some(message.id) };
                    self.offer(&project, Ready { message, frame, origin: None });
                }
                _ => warn!("a bus message envelope without a message frame ignored"),
            },
            WireEvent::Typing { from, to, active } => self.hub.typing(&project, &from, &to, active),
            WireEvent::ToUser { user, frame: text } => {
                self.hub.to_user(&project, &user, &Outbound { frame: text.into(), msg_id: None })
            }
            WireEvent::ProfileChanged { profile, frame: text } => {
                self.hub.update_profile(&project, &profile, &Outbound { frame: text.into(), msg_id: None })
            }
            WireEvent::ToProject { frame: text } => {
                self.hub.to_project(&project, &Outbound { frame: text.into(), msg_id: None })
            }
            WireEvent::CloseUser { user, code } => match CloseCode::from_code(code) {
                Some(code) => {
                    self.hub.close_user(&project, &user, code);
                }
                None => warn!(code, "a bus close event with an unknown code ignored"),
            },
            WireEvent::Presence { user, online: true } => self.hub.remote_online(&project, &user, envelope.node),
            WireEvent::Presence { user, online: false } => self.hub.remote_offline(&project, &user.id, envelope.node),
        }
    }

    /// After (re)subscribing: read every known project from where this node
    /// stopped, for what was published while it could not hear.
    fn resync(self: &Arc<Self>) {
        let reads: Vec<(ProjectId, MessageId)> = self
            .lock()
            .iter_mut()
            .filter_map(|(project, order)| order.retry(true).map(|after| (project.clone(), after)))
            .collect();
        for (project, after) in reads {
            tokio::spawn(self.clone().fill(project, after));
        }
    }
}

/// A message read from the store, ready for the hub.
fn stored(message: protocol::ChatMessage) -> Ready {
    Ready { frame: frame(&ServerMsg::Message(message.clone())), message, origin: None }
}

fn connection_config() -> redis::AsyncConnectionConfig {
    redis::AsyncConnectionConfig::new().set_connection_timeout(REDIS_TIMEOUT).set_response_timeout(REDIS_TIMEOUT)
}

/// Waits `pause` unless stopped first; returns whether to go on.
async fn pause_unless_stopped(pause: Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => true,
        () = stop.cancelled() => false,
    }
}

async fn publish_loop(
    client: redis::Client,
    channel: String,
    keys: presence::Keys,
    mut rx: mpsc::Receiver<Outgoing>,
    stop: CancellationToken,
) {
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut pause = RETRY_MIN;
    loop {
        if batch.is_empty() {
            tokio::select! {
                n = rx.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { return },
                () = stop.cancelled() => return,
            }
        }
        let link = match &mut conn {
            Some(link) => link,
            None => match client.get_multiplexed_async_connection_with_config(&connection_config()).await {
                Ok(link) => conn.insert(link),
                Err(e) => {
                    warn!(error = %e, "cannot reach redis to publish; retrying");
                    if !pause_unless_stopped(pause, &stop).await {
                        return;
                    }
                    pause = (pause * 2).min(RETRY_MAX);
                    continue;
                }
            },
        };
        let mut pipe = redis::pipe();
        for out in &batch {
            match &out.presence {
                Some((field, Some(profile))) => pipe.hset(&keys.presence, field, profile).ignore(),
                Some((field, None)) => pipe.hdel(&keys.presence, field).ignore(),
                None => &mut pipe,
            };
            pipe.cmd("PUBLISH").arg(&channel).arg(&out.envelope).ignore();
        }
        match pipe.query_async::<()>(link).await {
            Ok(()) => {
                batch.clear();
                pause = RETRY_MIN;
            }
            Err(e) => {
                // The batch is kept and sent again on the next link.
                warn!(error = %e, "publishing to redis failed; reconnecting");
                conn = None;
                if !pause_unless_stopped(pause, &stop).await {
                    return;
                }
                pause = (pause * 2).min(RETRY_MAX);
            }
        }
    }
}

async fn subscribe_loop(
    client: redis::Client,
    channel: String,
    keys: presence::Keys,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let mut pause = RETRY_MIN;
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    info!("subscribed to the redis bus");
                    pause = RETRY_MIN;
                    shared.resync();
                    presence::load(&client, &keys, &shared).await;
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            next = messages.next() => match next {
                                Some(msg) => match msg.get_payload::<String>() {
                                    Ok(payload) => shared.receive(&payload),
                                    Err(e) => warn!(error = %e, "unreadable bus payload ignored"),
                                },
                                None => break,
                            },
                            () = stop.cancelled() => return,
                        }
                    }
                    warn!("lost the redis subscription; reconnecting");
                }
                Err(e) => warn!(error = %e, "cannot subscribe to the redis bus; retrying"),
            },
            Err(e) => warn!(error = %e, "cannot reach redis to subscribe; retrying"),
        }
        if !pause_unless_stopped(pause, &stop).await {
            return;
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::conformance::{run_all, Node};
    use crate::store::SqliteStore;
    use crate::testing::RedisServer;

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
            let message = protocol::ChatMessage {
                id: MessageId(id),
                ts: 0,
                from: from.clone(),
                to: Conversation::Room,
                body: format!("m{id}"),
                client_id: None,
            };
            let frame = frame(&ServerMsg::Message(message.clone()));
            bus.publish(Event::Message { project: p.clone(), message, frame, origin: None });
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
