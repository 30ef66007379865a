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
use crate::store::{Refused, Store, StoreError, Write, Written};
use protocol::{ErrorCode, MessageId, ProjectId, ServerMsg};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

/// A send or a change waiting to be stored.
pub(crate) struct SendRequest {
    pub(crate) write: Write,
    pub(crate) origin: Origin,
}

/// Where the outcome of a request goes.
pub(crate) enum Origin {
    /// The connection it came from: gets the ack (or the error).
    Conn {
        tx: OutboxSender,
        /// One of the connection's in-flight permits, returned once the ack
        /// (or error) is queued: this bounds the acks a single commit can
        /// push into one outbox.
        permit: OwnedSemaphorePermit,
    },
    /// A caller without a socket (the host API, moderation): gets the
    /// outcome once it has been published.
    Call(oneshot::Sender<Result<Written, StoreFailed>>),
}

/// The batch a request was in could not be stored.
#[derive(Debug, Clone, thiserror::Error)]
#[error("storing failed: {0}")]
pub(crate) struct StoreFailed(String);

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
            let committed = commit(&*store, std::mem::take(&mut batch)).await;
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

async fn commit(store: &dyn Store, batch: Vec<SendRequest>) -> Committed {
    let (writes, origins): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.write, r.origin)).unzip();
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
        Err(e) => {
            for (origin, (_, asked)) in batch.origins.into_iter().zip(batch.asked) {
                let (client_id, target) = match asked {
                    Asked::Send(client_id) => (Some(client_id), None),
                    Asked::Change(target) => (None, Some(target)),
                };
                let error = ServerMsg::Error {
                    code: ErrorCode::Unavailable,
                    message: "this could not be stored; send it again".into(),
                    client_id,
                    target,
                };
                match origin {
                    Origin::Conn { tx, permit: _permit } => {
                        tx.push(frame(&error), Priority::Reliable);
                    }
                    Origin::Call(reply) => {
                        let _ = reply.send(Err(StoreFailed(e.to_string())));
                    }
                }
            }
            return;
        }
    };
    metrics.inc(&metrics.store_commits);
    for ((result, origin), (project, asked)) in written.into_iter().zip(batch.origins).zip(batch.asked) {
        let origin_conn = match &origin {
            Origin::Conn { tx, .. } => Some(tx.id),
            Origin::Call(_) => None,
        };
        let reply = match &result {
            Written::Message(appended) => {
                let message = &appended.message;
                if !appended.duplicate {
                    metrics.inc(&metrics.messages_stored);
                    let frame = frame(&ServerMsg::Message(message.clone()));
                    bus.publish(Event::Message { project, message: message.clone(), frame, origin: origin_conn });
                }
                message.client_id.clone().map(|client_id| ServerMsg::Ack {
                    client_id,
                    id: message.id,
                    ts: message.ts,
                    duplicate: appended.duplicate,
                })
            }
            // The update itself, delivered to every connection concerned
            // (the one that asked included), is the ack.
            Written::Change(Ok(update)) => {
                let frame = frame(&ServerMsg::Update(update.clone()));
                bus.publish(Event::Update { project, update: update.clone(), frame });
                None
            }
            Written::Change(Err(refused)) => match asked {
                Asked::Change(target) => Some(refusal(*refused, target)),
                // A send's outcome is always a message.
                Asked::Send(_) => None,
            },
        };
        match origin {
            Origin::Conn { tx, permit: _permit } => {
                if let Some(reply) = reply {
                    tx.push(frame(&reply), Priority::Reliable);
                }
            }
            Origin::Call(reply) => {
                let _ = reply.send(Ok(result));
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
