//! The one path every chat message takes: group commit, then fan-out.
//!
//! Sessions submit sends to a single task. It drains whatever is waiting (up
//! to `commit_batch`), stores it in one transaction, and only then delivers
//! each message and acks its sender, in id order. One task doing both is
//! what makes every recipient see ids in increasing order, which the resume
//! cursor relies on: a client that has id N has everything before N that
//! concerns it.

use crate::hub::{frame, Hub};
use crate::metrics::Metrics;
use crate::outbox::{OutboxSender, Priority};
use crate::store::{NewMessage, Store};
use protocol::{ErrorCode, ServerMsg};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A send waiting to be stored.
pub struct SendRequest {
    pub message: NewMessage,
    /// The connection it came from: gets the ack (or the error).
    pub origin: OutboxSender,
}

pub type SendQueue = mpsc::Sender<SendRequest>;

/// Starts the sequencer; it ends when `stop` is cancelled (or every
/// [`SendQueue`] is dropped) and what was queued is stored.
pub fn spawn(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    batch_max: usize,
    stop: CancellationToken,
) -> (SendQueue, tokio::task::JoinHandle<()>) {
    let batch_max = batch_max.max(1);
    let (tx, mut rx) = mpsc::channel::<SendRequest>(batch_max * 4);
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
            commit(&*store, &hub, &metrics, std::mem::take(&mut batch)).await;
        }
    });
    (tx, task)
}

async fn commit(store: &dyn Store, hub: &Hub, metrics: &Metrics, batch: Vec<SendRequest>) {
    let (messages, origins): (Vec<_>, Vec<_>) = batch.into_iter().map(|r| (r.message, r.origin)).unzip();
    let projects: Vec<_> = messages.iter().map(|m| m.project.clone()).collect();
    let client_ids: Vec<_> = messages.iter().map(|m| m.client_id.clone()).collect();
    match store.append(messages).await {
        Ok(appended) => {
            metrics.inc(&metrics.store_commits);
            for (((result, origin), project), client_id) in appended.into_iter().zip(origins).zip(projects).zip(client_ids) {
                let message = result.message;
                if !result.duplicate {
                    metrics.inc(&metrics.messages_stored);
                    hub.deliver(&project, &message, &frame(&ServerMsg::Message(message.clone())), Some(origin.id));
                }
                let ack = ServerMsg::Ack {
                    client_id,
                    id: message.id,
                    ts: message.ts,
                    duplicate: result.duplicate,
                };
                origin.push(frame(&ack), Priority::Reliable);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "storing a batch of messages failed");
            for (origin, client_id) in origins.into_iter().zip(client_ids) {
                let error = ServerMsg::Error {
                    code: ErrorCode::Unavailable,
                    message: "the message could not be stored; resend it with the same client_id".into(),
                    client_id: Some(client_id),
                };
                origin.push(frame(&error), Priority::Reliable);
            }
        }
    }
}
