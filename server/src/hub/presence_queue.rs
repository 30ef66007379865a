//! The queue through which the hub reports first joins and last leaves
//! (for `user.online` / `user.offline` webhooks). It lives with the hub, its
//! producer; the webhook worker consumes it, so the hub knows nothing of
//! webhooks.

use crate::metrics::Metrics;
use protocol::{Profile, ProjectId};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A presence change for `user.online` / `user.offline`.
#[derive(Debug)]
pub(crate) struct PresenceChange {
    pub(crate) project: ProjectId,
    pub(crate) user: Profile,
    pub(crate) online: bool,
}

/// The hub's side of the presence queue: never blocks.
#[derive(Clone)]
pub(crate) struct PresenceQueue {
    tx: mpsc::Sender<PresenceChange>,
    metrics: Arc<Metrics>,
}

impl PresenceQueue {
    pub(crate) fn new(tx: mpsc::Sender<PresenceChange>, metrics: Arc<Metrics>) -> Self {
        Self { tx, metrics }
    }

    pub(crate) fn push(&self, change: PresenceChange) {
        if self.tx.try_send(change).is_err() {
            self.metrics.inc(&self.metrics.webhook_presence_lost);
        }
    }
}
