//! The one path every chat message takes: group commit, then fan-out
//! (published on the [`Bus`], which on one node is the local hub).
//!
//! Sessions submit sends to a single task. It drains whatever is waiting (up
//! to `commit_batch`), stores it in one transaction, and only then delivers
//! each message and acks its sender, in id order. One task doing both is
//! what makes every recipient see ids in increasing order, which the resume
//! cursor relies on: a client that has id N has everything before N that
//! concerns it.

use crate::bus::{Bus, Event};
use crate::hub::frame;
use crate::metrics::Metrics;
use crate::outbox::{OutboxSender, Priority};
use crate::store::{Appended, NewMessage, Store};
use crate::webhooks::MessagePolicy;
use protocol::{ClientMsgId, ErrorCode, MessageId, ProjectId, ServerMsg};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

/// A send waiting to be stored.
pub(crate) struct SendRequest {
    pub(crate) message: NewMessage,
    /// Who gets the ack (or the error).
    pub(crate) origin: Origin,
}

/// Where a send came from, and so where its outcome goes.
pub(crate) enum Origin {
    /// A WebSocket connection: the ack goes into its outbox, and the
    /// message to everyone concerned but it.
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
}

/// The batch holding the send could not be stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StoreFailed;

pub(crate) type SendQueue = mpsc::Sender<SendRequest>;

/// Committed batches waiting for fan-out. Two is enough to overlap one
/// commit with one delivery; more would only add latency.
const COMMITTED_QUEUE: usize = 2;

/// Starts the sequencer; it ends when `stop` is cancelled (or every
/// [`SendQueue`] is dropped) and what was queued is stored and delivered.
///
/// Two stages joined by a FIFO channel: the committer stores batch N+1
/// while the deliverer fans out batch N. Commits are serial and the channel
/// keeps their order, so deliveries stay in id order.
pub(crate) fn spawn(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    metrics: Arc<Metrics>,
    batch_max: usize,
    webhooks: Option<MessagePolicy>,
    wake_webhooks: Arc<Notify>,
    stop: CancellationToken,
) -> (SendQueue, tokio::task::JoinHandle<()>) {
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
    projects: Vec<ProjectId>,
    outcome: Result<Vec<Appended>, Vec<ClientMsgId>>,
}

async fn commit(store: &dyn Store, batch: Vec<SendRequest>, webhooks: Option<&MessagePolicy>) -> Committed {
    let (mut messages, origins): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.message, r.origin)).unzip();
    if let Some(policy) = webhooks {
        messages.iter_mut().for_each(|m| policy.mark(m));
    }
    let client_ids: Vec<_> = messages.iter().map(|m| m.client_id.clone()).collect();
    let projects: Vec<_> = messages.iter().map(|m| m.project.clone()).collect();
    let outcome = store.append(messages).await.map_err(|e| {
        tracing::error!(error = %e, "storing a batch of messages failed");
        client_ids
    });
    Committed { origins, projects, outcome }
}

/// Lets the bus deliver what other nodes stored before this batch (in each
/// project it touches) before the batch is published and acked.
async fn catch_up(bus: &dyn Bus, batch: &Committed) {
    let Ok(appended) = &batch.outcome else { return };
    let mut first: Vec<(&ProjectId, MessageId)> = Vec::new();
    for (result, project) in appended.iter().zip(&batch.projects) {
        if !result.duplicate && !first.iter().any(|(p, _)| *p == project) {
            first.push((project, result.message.id));
        }
    }
    for (project, id) in first {
        bus.catch_up(project, id).await;
    }
}

fn deliver(bus: &dyn Bus, metrics: &Metrics, batch: Committed) {
    match batch.outcome {
        Ok(appended) => {
            metrics.inc(&metrics.store_commits);
            for ((result, origin), project) in appended.into_iter().zip(batch.origins).zip(batch.projects) {
                if !result.duplicate {
                    metrics.inc(&metrics.messages_stored);
                    let message = result.message.clone();
                    let frame = frame(&ServerMsg::Message(message.clone()));
                    let from = match &origin {
                        Origin::Connection { outbox, .. } => Some(outbox.id),
                        Origin::Api(_) => None,
                    };
                    bus.publish(Event::Message { project, message, frame, origin: from });
                }
                match origin {
                    Origin::Connection { outbox, permit: _held_until_the_ack_is_queued } => {
                        let message = &result.message;
                        if let Some(client_id) = message.client_id.clone() {
                            let ack = ServerMsg::Ack {
                                client_id,
                                id: message.id,
                                ts: message.ts,
                                duplicate: result.duplicate,
                            };
                            outbox.push(frame(&ack), Priority::Reliable);
                        }
                    }
                    // The request may have given up waiting; the message is stored either way.
                    Origin::Api(reply) => drop(reply.send(Ok(result))),
                }
            }
        }
        Err(client_ids) => {
            for (origin, client_id) in batch.origins.into_iter().zip(client_ids) {
                match origin {
                    Origin::Connection { outbox, permit: _held_until_the_ack_is_queued } => {
                        let error = ServerMsg::Error {
                            code: ErrorCode::Unavailable,
                            message: "the message could not be stored; resend it with the same client_id".into(),
                            client_id: Some(client_id),
                        };
                        outbox.push(frame(&error), Priority::Reliable);
                    }
                    Origin::Api(reply) => drop(reply.send(Err(StoreFailed))),
                }
            }
        }
    }
}
