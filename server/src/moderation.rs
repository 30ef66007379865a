//! Changes made on the host's or a moderator's authority rather than a
//! socket's: the seam the host API (and later moderation tools) call. They
//! take the same path as a user's change: the sequencer stores them in a
//! group commit, publishes the update in id order, then answers here.

use crate::clock::now_millis;
use crate::sequencer::{Origin, SendQueue, SendRequest, StoreFailed};
use crate::store::{Authority, ChangeKind, NewChange, Refused};
use protocol::{MessageId, ProjectId, Update, UserId};
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ModerationError {
    /// The store refused the change (no such message in the project, or
    /// already deleted).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// Storing failed; the change was not made.
    #[error(transparent)]
    Store(#[from] StoreFailed),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Deletes message `target` of `project` on `by`'s authority, whoever wrote
/// it; returns the update every client concerned received.
pub(crate) async fn delete_message(
    sends: &SendQueue,
    project: &ProjectId,
    target: MessageId,
    by: &UserId,
) -> Result<Update, ModerationError> {
    let change = NewChange {
        project: project.clone(),
        by: by.clone(),
        target,
        ts: now_millis(),
        kind: ChangeKind::Delete,
        authority: Authority::Moderator,
    };
    let (reply, outcome) = oneshot::channel();
    let request = SendRequest { write: change.into(), origin: Origin::Change(reply) };
    // The project's lane, like every write of the project (`sequencer::lane_of`).
    sends.lane(project).send(request).await.map_err(|_| ModerationError::ShuttingDown)?;
    Ok(outcome.await.map_err(|_| ModerationError::ShuttingDown)???)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Bus, LocalBus};
    use crate::hub::Hub;
    use crate::metrics::Metrics;
    use crate::outbox::outbox;
    use crate::store::conformance::{append_messages, new_message, profile};
    use crate::store::{SqliteStore, Store};
    use protocol::{Change, Conversation, ServerMsg};
    use std::sync::Arc;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn a_moderator_deletes_anyone_s_message_through_the_sequencer() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("chat.db")).unwrap());
        let metrics = Arc::new(Metrics::default());
        let hub = Arc::new(Hub::new(metrics.clone()));
        let bus: Arc<dyn Bus> = Arc::new(LocalBus::new(hub.clone()));
        let stop = CancellationToken::new();
        let pipeline = crate::sequencer::Pipeline {
            store: store.clone(),
            bus,
            metrics,
            batch_max: 16,
            webhooks: None,
            wake_webhooks: Arc::new(tokio::sync::Notify::new()),
        };
        let (sends, task) = crate::sequencer::spawn(pipeline, 1, stop.clone());
        let project = ProjectId::new("p").unwrap();
        let (tx, mut rx) = outbox(16);
        hub.join(&project, &profile("reader"), tx);
        let stored = append_messages(&*store, vec![new_message("p", "a", Conversation::Room, "m1")]).await;
        let target = stored[0].message.id;
        let moderator = UserId::new("host").unwrap();

        let update = delete_message(&sends, &project, target, &moderator).await.unwrap();
        assert_eq!(
            (update.target, update.by.clone(), update.change.clone()),
            (target, moderator.clone(), Change::Deleted)
        );
        assert!(update.id > target, "the change has its own id in the message sequence");
        let delivered: ServerMsg = serde_json::from_str(&rx.rx.recv().await.unwrap().frame).unwrap();
        assert_eq!(delivered, ServerMsg::Update(update), "published to the room before the call returns");
        let page = store.history(&project, &UserId::new("a").unwrap(), &Conversation::Room, None, 10).await.unwrap();
        assert!(page.messages[0].deleted && page.messages[0].body.is_empty());

        let again = delete_message(&sends, &project, target, &moderator).await;
        assert!(matches!(again, Err(ModerationError::Refused(Refused::Deleted))), "{again:?}");
        let elsewhere = delete_message(&sends, &ProjectId::new("q").unwrap(), target, &moderator).await;
        assert!(matches!(elsewhere, Err(ModerationError::Refused(Refused::UnknownMessage))), "{elsewhere:?}");
        stop.cancel();
        drop(sends);
        task.await.unwrap();
    }
}
