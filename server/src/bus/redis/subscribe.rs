//! The subscriber side: the task that receives the other nodes' envelopes
//! and feeds them to the hub, chat messages in order through each
//! project's [`ProjectOrder`], gaps filled from the store.

use super::envelope::{Envelope, WireEvent};
use super::{pause_unless_stopped, presence, Shared, RETRY_MAX, RETRY_MIN};
use crate::bus::order::{ProjectOrder, Ready};
use crate::hub::frame;
use crate::outbox::Outbound;
use crate::store::LogEntry;
use futures_util::StreamExt;
use protocol::{CloseCode, MessageId, ProjectId, ServerMsg};
use std::collections::HashMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Messages read from the store per gap-filling query.
const FILL_PAGE: u32 = 500;

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProjectId, ProjectOrder>> {
        self.projects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a message to the project's order; delivers what it releases
    /// (under the lock, so deliveries from several tasks keep id order) and
    /// starts a gap fill if one opened.
    pub(super) fn offer(self: &Arc<Self>, project: &ProjectId, ready: Ready) {
        let fill_after = {
            let mut projects = self.lock();
            let order = projects.entry(project.clone()).or_insert_with(|| ProjectOrder::starting_at(ready.entry.id()));
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
            self.hub.deliver(project, &r.entry, &r.frame, r.origin);
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
    pub(super) async fn catch_up(self: Arc<Self>, project: ProjectId, first: MessageId) {
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
            for row in rows.into_iter().filter(|e| e.id() < first) {
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
                    self.offer(&project, Ready { entry: LogEntry::Message(message), frame, origin: None });
                }
                Ok(ServerMsg::Update(update)) => {
                    let frame = Outbound { frame: text.into(), msg_id: Some(update.id) };
                    self.offer(&project, Ready { entry: LogEntry::Update(update), frame, origin: None });
                }
                _ => warn!("a bus message envelope without a message or update frame ignored"),
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

/// A log entry read from the store, ready for the hub.
fn stored(entry: LogEntry) -> Ready {
    Ready { frame: frame(&entry.clone().into_server_msg()), entry, origin: None }
}

/// Feeds what the other nodes publish to this node's hub; after each
/// (re)subscription, resyncs every known project and reloads presence.
pub(super) async fn subscribe_loop(
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
