//! What every connection shares.

use crate::auth::Authenticator;
use crate::bus::Bus;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::replay_budget::ReplayBudget;
use crate::sequencer::SendQueue;
use crate::store::Store;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) struct App {
    pub(crate) config: Config,
    /// Local presence: who is connected to this node.
    pub(crate) hub: Arc<Hub>,
    /// Where events for connections go (every node's hub).
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) auth: Authenticator,
    pub(crate) metrics: Arc<Metrics>,
    /// Into the sequencer (store, then fan-out).
    pub(crate) sends: SendQueue,
    /// Cancelled when the server begins shutting down.
    pub(crate) shutdown: CancellationToken,
    /// One permit per open WebSocket connection.
    pub(crate) connections: Arc<Semaphore>,
    /// Replay pages in flight, across connections (`--max-replay-bytes`).
    pub(crate) replay_budget: ReplayBudget,
    /// Every connection task, so shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
}
