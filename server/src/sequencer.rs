//! The one path every chat message and every change to one (edit,
//! deletion, reaction) takes: group commit, then fan-out (published on the
//! [`Bus`], which on one node is the local hub), then the ack.
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
use crate::store::{Appended, Refused, Store, StoreError, Write, Written};
use crate::webhooks::MessagePolicy;
use protocol::{ErrorCode, MessageId, ProjectId, ServerMsg, Update};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

/// A send or a change waiting to be stored.
pub(crate) struct SendRequest {
    pub(crate) write: Write,
    pub(crate) origin: Origin,
}

/// Where a request came from, and so where its outcome goes.
pub(crate) enum Origin {
    /// A WebSocket connection: the ack (or error) goes into its outbox; a
    /// message goes to everyone concerned but it, an update to everyone
    /// concerned (it is the ack).
    Connection {
        outbox: OutboxSender,
        /// One of the connection's in-flight permits, returned once the ack
        /// (or error) is queued: this bounds the acks a single commit can
        /// push into one outbox.
        permit: OwnedSemaphorePermit,
    },
    /// The HTTP API's send: the outcome goes back to the waiting request
    /// (after the message was published, so the response is the ack); the
    /// message goes to every connection concerned.
    Api(oneshot::Sender<Result<Appended, StoreFailed>>),
    /// A change without a socket (the host API, moderation,
    /// `moderation.rs`): the outcome goes back once the update was
    /// published.
    Change(oneshot::Sender<Result<Result<Update, Refused>, StoreFailed>>),
}

/// The batch holding the request could not be stored.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("storing failed")]
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

/// What a request named, so an error can name it too.
enum Asked {
    Send(protocol::ClientMsgId),
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

fn deliver(bus: &dyn Bus, metrics: &Metrics, batch: Committed) {
    let written = match batch.outcome {
        Ok(written) => written,
        Err(_) => {
            for (origin, (_, asked)) in batch.origins.into_iter().zip(batch.asked) {
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
            return;
        }
    };
    metrics.inc(&metrics.store_commits);
    for ((result, origin), (project, asked)) in written.into_iter().zip(batch.origins).zip(batch.asked) {
        match result {
            Written::Message(appended) => {
                if !appended.duplicate {
                    metrics.inc(&metrics.messages_stored);
                    let message = appended.message.clone();
                    let frame = frame(&ServerMsg::Message(message.clone()));
                    let from = match &origin {
                        Origin::Connection { outbox, .. } => Some(outbox.id),
                        Origin::Api(_) | Origin::Change(_) => None,
                    };
                    bus.publish(Event::Message { project, message, frame, origin: from });
                }
                match origin {
                    Origin::Connection { outbox, permit: _held_until_the_ack_is_queued } => {
                        let message = &appended.message;
                        if let Some(client_id) = message.client_id.clone() {
                            let ack = ServerMsg::Ack {
                                client_id,
                                id: message.id,
                                ts: message.ts,
                                duplicate: appended.duplicate,
                            };
                            outbox.push(frame(&ack), Priority::Reliable);
                        }
                    }
                    // The request may have given up waiting; the message is stored either way.
                    Origin::Api(reply) => drop(reply.send(Ok(appended))),
                    Origin::Change(_) => {}
                }
            }
            Written::Change(outcome) => {
                // The update itself, delivered to every connection concerned
                // (the one that asked included), is the ack.
                if let Ok(update) = &outcome {
                    let frame = frame(&ServerMsg::Update(update.clone()));
                    bus.publish(Event::Update { project, update: update.clone(), frame });
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
