//! The one path every chat message and every change to one (edit,
//! deletion, reaction) takes: group commit, then fan-out (published on the
//! [`Bus`], which on one node is the local hub), then the ack.
//!
//! Sessions submit sends to a lane's task. It drains whatever is waiting (up
//! to `commit_batch`), stores it in one transaction, and only then delivers
//! each message and acks its sender, in id order. One task doing both for a
//! project is what makes every recipient see its ids in increasing order,
//! which the resume cursor relies on: a client that has id N has everything
//! before N that concerns it.
//!
//! Commit lanes (`--commit-lanes`, PostgreSQL only): several such
//! pipelines, each project always routed to the same one ([`lane_of`]).
//! Every order a client can see is within one project (ids, a
//! connection's acks, deliveries: a connection, and so its outbox, belongs
//! to one project), so each is still made by one lane, while different
//! projects commit in parallel. PostgreSQL serializes commits only within a
//! project (its counter row); SQLite has one writer, so it gets one lane.

use crate::bus::{Bus, Event};
use crate::hub::frame;
use crate::metrics::Metrics;
use crate::outbox::{Outbound, OutboxSender, Priority};
use crate::store::{Appended, LogEntry, Refused, Store, StoreError, Write, Written};
use crate::webhooks::MessagePolicy;
use protocol::{ChatMessage, ClientMsgId, ErrorCode, MessageId, ProjectId, ServerMsg, Update};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

/// A send or a change waiting to be stored.
pub(crate) struct SendRequest {
    pub(crate) write: Write,
    /// Who gets the ack (or the error).
    pub(crate) origin: Origin,
}

/// Where a request came from, and so where its outcome goes.
pub(crate) enum Origin {
    /// A WebSocket connection: the ack (or error) goes into its outbox; a
    /// message goes to everyone concerned but it, an update to everyone
    /// concerned (for its requester, it is the ack).
    Connection {
        outbox: OutboxSender,
        /// One of the connection's in-flight permits, returned once the ack
        /// (or error) is queued: this bounds the acks a single commit can
        /// push into one outbox.
        permit: OwnedSemaphorePermit,
    },
    /// The HTTP API: the outcome goes back to the waiting request (after
    /// the message was published, so the response is the ack); the
    /// message goes to every connection concerned.
    Api(oneshot::Sender<Result<Appended, StoreFailed>>),
    /// A change without a socket (the host API, moderation): the outcome
    /// goes back once the update was published.
    Change(oneshot::Sender<Result<Result<Update, Refused>, StoreFailed>>),
}

/// The batch holding the request could not be stored.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("storing failed")]
pub(crate) struct StoreFailed;

/// Where sends are queued: one channel per commit lane.
#[derive(Clone)]
pub(crate) struct SendQueue {
    lanes: Arc<[mpsc::Sender<SendRequest>]>,
}

impl SendQueue {
    /// The queue of the lane that stores `project`'s messages. Every send
    /// of a project must go through it: that keeps the project's ids, acks
    /// and deliveries in the order its sends arrived.
    pub(crate) fn lane(&self, project: &ProjectId) -> &mpsc::Sender<SendRequest> {
        &self.lanes[lane_of(project, self.lanes.len())]
    }
}

/// The lane of `project` among `lanes`: a hash of its id, the same for the
/// life of the process (`DefaultHasher::new` has fixed keys), so a project
/// never moves between lanes.
pub(crate) fn lane_of(project: &ProjectId, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let mut hasher = DefaultHasher::new();
    project.as_str().hash(&mut hasher);
    (hasher.finish() % lanes as u64) as usize
}

/// Committed batches waiting for fan-out. Two is enough to overlap one
/// commit with one delivery; more would only add latency.
const COMMITTED_QUEUE: usize = 2;

/// What every lane works with.
#[derive(Clone)]
pub(crate) struct Pipeline {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) metrics: Arc<Metrics>,
    /// Most sends stored in one commit.
    pub(crate) batch_max: usize,
    pub(crate) webhooks: Option<MessagePolicy>,
    pub(crate) wake_webhooks: Arc<Notify>,
}

/// Starts the sequencer with `lanes` commit lanes (at least one); it ends
/// when `stop` is cancelled (or every [`SendQueue`] is dropped) and what
/// was queued is stored and delivered.
pub(crate) fn spawn(
    pipeline: Pipeline,
    lanes: usize,
    stop: CancellationToken,
) -> (SendQueue, tokio::task::JoinHandle<()>) {
    let (senders, tasks): (Vec<_>, Vec<_>) = (0..lanes.max(1)).map(|_| lane(pipeline.clone(), stop.clone())).unzip();
    let task = tokio::spawn(async move {
        for task in tasks {
            let _ = task.await;
        }
    });
    (SendQueue { lanes: senders.into() }, task)
}

/// One lane: two stages joined by a FIFO channel. The committer stores
/// batch N+1 while the deliverer fans out batch N. A lane's commits are
/// serial and the channel keeps their order, so its deliveries stay in id
/// order.
fn lane(pipeline: Pipeline, stop: CancellationToken) -> (mpsc::Sender<SendRequest>, tokio::task::JoinHandle<()>) {
    let Pipeline { store, bus, metrics, batch_max, webhooks, wake_webhooks } = pipeline;
    let batch_max = batch_max.max(1);
    let (tx, mut rx) = mpsc::channel::<SendRequest>(batch_max * 4);
    let (committed_tx, mut committed_rx) = mpsc::channel::<Committed>(COMMITTED_QUEUE);
    let deliverer = tokio::spawn(async move {
        while let Some(batch) = committed_rx.recv().await {
            catch_up(&*bus, &batch).await;
            deliver(&*bus, &metrics, batch);
        }
    });
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(batch_max);
        let mut closed = false;
        loop {
            let received = tokio::select! {
                n = rx.recv_many(&mut batch, batch_max) => n,
                // Refuse new sends but store what is already queued.
                _ = stop.cancelled(), if !closed => {
                    rx.close();
                    closed = true;
                    continue;
                }
            };
            if received == 0 {
                break;
            }
            let committed = commit(&*store, std::mem::take(&mut batch), webhooks.as_ref()).await;
            if webhooks.is_some() && committed.outcome.is_ok() {
                wake_webhooks.notify_one();
            }
            if committed_tx.send(committed).await.is_err() {
                break;
            }
        }
        drop(committed_tx);
        let _ = deliverer.await;
    });
    (tx, task)
}

/// A stored batch (or the failure to store it), with where each result goes.
struct Committed {
    origins: Vec<Origin>,
    /// What each request was about: its project, and what an error names.
    asked: Vec<(ProjectId, Asked)>,
    outcome: Result<Vec<Written>, StoreError>,
}

/// What a request named, so that an error can name it too.
enum Asked {
    Send(ClientMsgId),
    Change(MessageId),
}

async fn commit(store: &dyn Store, batch: Vec<SendRequest>, webhooks: Option<&MessagePolicy>) -> Committed {
    let (mut writes, origins): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.write, r.origin)).unzip();
    if let Some(policy) = webhooks {
        for write in &mut writes {
            if let Write::Message(m) = write {
                policy.mark(m);
            }
        }
    }
    let asked = writes
        .iter()
        .map(|w| match w {
            Write::Message(m) => (m.project.clone(), Asked::Send(m.client_id.clone())),
            Write::Change(c) => (c.project.clone(), Asked::Change(c.target)),
        })
        .collect();
    let outcome = store.append(writes).await;
    if let Err(e) = &outcome {
        tracing::error!(error = %e, "storing a batch failed");
    }
    Committed { origins, asked, outcome }
}

/// The id a written entry took, if it took one (not a duplicate send, not a
/// refused change).
fn new_id(written: &Written) -> Option<MessageId> {
    match written {
        Written::Message(a) if !a.duplicate => Some(a.message.id),
        Written::Change(Ok(update)) => Some(update.id),
        _ => None,
    }
}

/// Lets the bus deliver what other nodes stored before this batch (in each
/// project it touches) before the batch is published and acked.
async fn catch_up(bus: &dyn Bus, batch: &Committed) {
    let Ok(written) = &batch.outcome else { return };
    let mut first: Vec<(&ProjectId, MessageId)> = Vec::new();
    for (result, (project, _)) in written.iter().zip(&batch.asked) {
        if let Some(id) = new_id(result) {
            if !first.iter().any(|(p, _)| *p == project) {
                first.push((project, id));
            }
        }
    }
    for (project, id) in first {
        bus.catch_up(project, id).await;
    }
}

fn deliver(bus: &dyn Bus, metrics: &Metrics, batch: Committed) {
    let written = match batch.outcome {
        Ok(written) => written,
        Err(_) => return refuse_all(batch.origins, batch.asked),
    };
    metrics.inc(&metrics.store_commits);
    for ((result, origin), (project, asked)) in written.into_iter().zip(batch.origins).zip(batch.asked) {
        match result {
            Written::Message(appended) => {
                // What the sender is answered with, taken before the message
                // moves on to the bus (a copy only for the API, which wants
                // it whole).
                let ack = appended.message.client_id.clone().map(|client_id| ServerMsg::Ack {
                    client_id,
                    id: appended.message.id,
                    ts: appended.message.ts,
                    duplicate: appended.duplicate,
                });
                let api_answer = matches!(origin, Origin::Api(_)).then(|| appended.clone());
                if !appended.duplicate {
                    metrics.inc(&metrics.messages_stored);
                    let (frame, message) = message_frame(appended.message);
                    let from = match &origin {
                        Origin::Connection { outbox, .. } => Some(outbox.id),
                        Origin::Api(_) | Origin::Change(_) => None,
                    };
                    bus.publish(Event::Entry { project, entry: LogEntry::Message(message), frame, origin: from });
                }
                match (origin, ack, api_answer) {
                    (Origin::Connection { outbox, permit: _held_until_the_ack_is_queued }, Some(ack), _) => {
                        outbox.push(frame(&ack), Priority::Reliable);
                    }
                    // The request may have given up waiting; the message is stored either way.
                    (Origin::Api(reply), _, Some(answer)) => drop(reply.send(Ok(answer))),
                    _ => {}
                }
            }
            Written::Change(outcome) => {
                // The update itself, delivered to every connection concerned
                // (the one that asked included), is the ack.
                if let Ok(update) = &outcome {
                    metrics.inc(&metrics.messages_changed);
                    let frame = frame(&ServerMsg::Update(update.clone()));
                    bus.publish(Event::Entry { project, entry: LogEntry::Update(update.clone()), frame, origin: None });
                }
                match origin {
                    Origin::Connection { outbox, permit: _held_until_the_answer_is_queued } => {
                        if let (Err(refused), Asked::Change(target)) = (&outcome, asked) {
                            outbox.push(frame(&refusal(*refused, target)), Priority::Reliable);
                        }
                    }
                    Origin::Change(reply) => drop(reply.send(Ok(outcome))),
                    Origin::Api(_) => {}
                }
            }
        }
    }
}

/// The `message` frame of a stored message, and the message back: framed
/// without a copy of it.
fn message_frame(message: ChatMessage) -> (Outbound, ChatMessage) {
    let msg = ServerMsg::Message(message);
    let frame = frame(&msg);
    match msg {
        ServerMsg::Message(message) => (frame, message),
        _ => unreachable!("built as a message just above"),
    }
}

/// The batch could not be stored: every request gets `unavailable`.
fn refuse_all(origins: Vec<Origin>, asked: Vec<(ProjectId, Asked)>) {
    for (origin, (_, asked)) in origins.into_iter().zip(asked) {
        let (client_id, target) = match asked {
            Asked::Send(client_id) => (Some(client_id), None),
            Asked::Change(target) => (None, Some(target)),
        };
        let error = ServerMsg::Error {
            code: ErrorCode::Unavailable,
            message: "this could not be stored; send it again (a send with the same client_id)".into(),
            client_id,
            target,
        };
        match origin {
            Origin::Connection { outbox, permit: _held_until_the_error_is_queued } => {
                outbox.push(frame(&error), Priority::Reliable);
            }
            Origin::Api(reply) => drop(reply.send(Err(StoreFailed))),
            Origin::Change(reply) => drop(reply.send(Err(StoreFailed))),
        }
    }
}

/// The error frame for a refused change of message `target`.
pub(crate) fn refusal(refused: Refused, target: MessageId) -> ServerMsg {
    let (code, message) = match refused {
        Refused::UnknownMessage => (ErrorCode::UnknownMessage, format!("no message {target} you can see")),
        Refused::NotAuthor => (ErrorCode::NotAuthor, format!("only its author can change message {target}")),
        Refused::EditWindowClosed => (ErrorCode::EditWindowClosed, format!("message {target} is too old to be edited")),
        Refused::Deleted => (ErrorCode::MessageDeleted, format!("message {target} was deleted")),
    };
    ServerMsg::Error { code, message, client_id: None, target: Some(target) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MessageEvents, NewMessage, SqliteStore};
    use protocol::{Conversation, Profile, UserId};
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;

    /// Records what the sequencer publishes, in the order it does.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(ProjectId, MessageId, ClientMsgId)>>);

    impl Bus for Recorder {
        fn publish(&self, event: Event) {
            if let Event::Entry { project, entry: LogEntry::Message(message), .. } = event {
                let client_id = message.client_id.expect("a send's message has its client_id");
                self.0.lock().unwrap().push((project, message.id, client_id));
            }
        }
    }

    fn send(project: &ProjectId, n: usize) -> (SendRequest, oneshot::Receiver<Result<Appended, StoreFailed>>) {
        let (reply, answer) = oneshot::channel();
        let message = NewMessage {
            project: project.clone(),
            from: Profile { id: UserId::new("sender").unwrap(), name: "sender".into(), color: "#000000".into() },
            to: Conversation::Room,
            body: format!("{n}"),
            client_id: ClientMsgId::new(format!("c-{n}")).unwrap(),
            ts: 0,
            reply_to: None,
            mentions: Vec::new(),
            webhooks: MessageEvents::default(),
        };
        (SendRequest { write: Write::Message(message), origin: Origin::Api(reply) }, answer)
    }

    #[test]
    fn a_project_always_takes_the_same_lane_and_projects_spread_over_all() {
        let projects: Vec<_> = (0..100).map(|i| ProjectId::new(format!("p{i}")).unwrap()).collect();
        for p in &projects {
            assert_eq!(lane_of(p, 1), 0);
            assert!(lane_of(p, 4) < 4);
            assert_eq!(lane_of(p, 4), lane_of(&ProjectId::new(p.as_str()).unwrap(), 4), "by the id alone");
        }
        let used: HashSet<_> = projects.iter().map(|p| lane_of(p, 4)).collect();
        assert_eq!(used.len(), 4, "100 projects use every lane");
    }

    /// With several lanes, each project's sends are stored with ids in the
    /// order they were queued and published in that order: what per-project
    /// ids, per-connection acks and delivery order rely on. Seven projects
    /// (not a multiple of the lanes) and small batches: were sends spread
    /// over lanes any other way than by project, a project's messages would
    /// commit in two lanes at once and this fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_several_lanes_each_project_keeps_its_order() {
        const LANES: usize = 4;
        const PER_PROJECT: usize = 60;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("chat.db")).unwrap());
        let recorder = Arc::new(Recorder::default());
        let pipeline = Pipeline {
            store,
            bus: recorder.clone(),
            metrics: Arc::new(Metrics::default()),
            batch_max: 8,
            webhooks: None,
            wake_webhooks: Arc::new(Notify::new()),
        };
        let stop = CancellationToken::new();
        let (queue, task) = spawn(pipeline, LANES, stop.clone());
        let projects: Vec<_> = (0..7).map(|i| ProjectId::new(format!("project-{i}")).unwrap()).collect();
        let lanes: HashSet<_> = projects.iter().map(|p| lane_of(p, LANES)).collect();
        assert!(lanes.len() > 1, "the projects commit in more than one lane");
        let mut answers: HashMap<ProjectId, Vec<_>> = HashMap::new();
        for n in 0..PER_PROJECT {
            for project in &projects {
                let (request, answer) = send(project, n);
                assert!(queue.lane(project).send(request).await.is_ok());
                answers.entry(project.clone()).or_default().push(answer);
            }
        }
        for (project, answers) in answers {
            let mut last = MessageId(0);
            for (n, answer) in answers.into_iter().enumerate() {
                let appended = answer.await.unwrap().expect("stored");
                assert_eq!(appended.message.body, n.to_string());
                assert!(
                    appended.message.id > last,
                    "{project}: send {n} got id {:?} after {last:?}",
                    appended.message.id
                );
                last = appended.message.id;
            }
        }
        stop.cancel();
        drop(queue);
        task.await.unwrap();
        let published = recorder.0.lock().unwrap();
        assert_eq!(published.len(), projects.len() * PER_PROJECT);
        for project in &projects {
            let sent: Vec<_> =
                published.iter().filter(|(p, ..)| p == project).map(|(_, id, c)| (*id, c.clone())).collect();
            let client_ids: Vec<_> = sent.iter().map(|(_, c)| c.clone()).collect();
            let expected: Vec<_> = (0..PER_PROJECT).map(|n| ClientMsgId::new(format!("c-{n}")).unwrap()).collect();
            assert_eq!(client_ids, expected, "{project}: published in the order sent");
            assert!(sent.windows(2).all(|w| w[0].0 < w[1].0), "{project}: published in id order");
        }
    }
}
