//! Webhooks: events for the host application (`message.missed`,
//! `user.online`, `user.offline`, optionally `message.created`), signed and
//! POSTed to each `--webhook-url`, at least once.
//!
//! Durable: a message's events are written by `Store::append` in the
//! message's transaction (the sequencer decides which, `MessageEvents`);
//! presence events reach the store through a bounded queue from the hub
//! (`PresenceQueue`: the hub never waits; a full queue drops the event and
//! counts it). Once due, an event becomes one delivery per endpoint
//! (`Store::expand_due_events`), and each endpoint has its own task that
//! POSTs its due deliveries one at a time and settles them in one
//! transaction per batch: a dead or slow endpoint holds only its own task,
//! its own batch in memory and its own rows on disk. A failed attempt is
//! retried after `--webhook-base-delay` × 2^attempts (capped at
//! `--webhook-max-delay`, times a random factor in [0.5, 1]) until
//! `--webhook-retry-for` after the event, then dropped with a log line and
//! a counter. Nothing here is on the socket path: the sequencer only sets
//! flags on messages (one hub lookup per direct message, when webhooks are
//! on), and the workers use the store like any reader or writer.

mod client;
mod sign;

use crate::clock::now_millis;
use crate::hub::presence_queue::{PresenceChange, PresenceQueue};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::{Delivery, MessageEvents, NewEvent, NewMessage, Settle, Store};
use client::Poster;
use http::Uri;
use protocol::Conversation;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Every event type.
pub(crate) const EVENT_TYPES: [&str; 4] = ["message.missed", "message.created", "user.online", "user.offline"];

/// Deliveries one endpoint's task takes from the store at a time.
const DELIVERY_BATCH: u32 = 32;
/// Presence changes waiting to be stored; more are dropped (and counted).
const PRESENCE_QUEUE: usize = 4096;

/// The webhook settings, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) endpoints: Vec<Uri>,
    pub(crate) secret: Vec<u8>,
    pub(crate) events: Vec<String>,
    pub(crate) unread_delay: Option<Duration>,
    pub(crate) retry_for: Duration,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) timeout: Duration,
    pub(crate) poll: Duration,
}

impl Settings {
    fn wants(&self, kind: &str) -> bool {
        self.events.iter().any(|e| e == kind)
    }

    fn endpoint_names(&self) -> Vec<String> {
        self.endpoints.iter().map(Uri::to_string).collect()
    }
}

/// What the sequencer needs to know to mark a message's events.
#[derive(Clone)]
pub(crate) struct MessagePolicy {
    created: bool,
    missed: bool,
    unread_delay: Option<Duration>,
    hub: Arc<Hub>,
}

impl MessagePolicy {
    /// Sets `message.webhooks` for a message about to be stored. A direct
    /// message to a user with no connection now is `missed`; one to a user
    /// who has a connection gets an unread check after `unread_delay`
    /// (their tab may not have shown it, or they were away from it).
    pub(crate) fn mark(&self, message: &mut NewMessage) {
        let mut events = MessageEvents { created: self.created, ..Default::default() };
        if let Conversation::Direct { user } = &message.to {
            if *user != message.from.id {
                if self.missed && !self.hub.is_online(&message.project, user) {
                    events.missed = true;
                } else if let Some(delay) = self.unread_delay {
                    events.unread_check_at = Some(message.ts.saturating_add(delay.as_millis() as i64));
                }
            }
        }
        message.webhooks = events;
    }
}

/// The running webhook machinery.
pub(crate) struct Webhooks {
    pub(crate) policy: Option<MessagePolicy>,
    pub(crate) presence: Option<PresenceQueue>,
    /// Woken after commits that wrote events, so they go out without
    /// waiting for the next poll.
    pub(crate) wake: Arc<Notify>,
}

/// Starts the workers (nothing when no endpoint is configured).
pub(crate) fn start(
    settings: Option<Settings>,
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> Webhooks {
    let wake = Arc::new(Notify::new());
    let Some(settings) = settings.filter(|s| !s.endpoints.is_empty()) else {
        return Webhooks { policy: None, presence: None, wake };
    };
    let settings = Arc::new(settings);
    let wants_message = settings.wants("message.missed") || settings.wants("message.created");
    let policy = (wants_message || settings.unread_delay.is_some()).then(|| MessagePolicy {
        created: settings.wants("message.created"),
        missed: settings.wants("message.missed"),
        unread_delay: settings.unread_delay.filter(|_| settings.wants("message.missed")),
        hub,
    });
    let presence = (settings.wants("user.online") || settings.wants("user.offline")).then(|| {
        let (tx, rx) = mpsc::channel(PRESENCE_QUEUE);
        tokio::spawn(record_presence(rx, store.clone(), settings.clone(), stop.clone()));
        PresenceQueue::new(tx, metrics.clone())
    });
    let poster = Arc::new(Poster::new(settings.secret.clone(), settings.timeout));
    let ready: Vec<Arc<Notify>> = settings.endpoints.iter().map(|_| Arc::new(Notify::new())).collect();
    tokio::spawn(expand(store.clone(), settings.clone(), metrics.clone(), wake.clone(), ready.clone(), stop.clone()));
    for (endpoint, ready) in settings.endpoints.iter().zip(ready) {
        let worker = Endpoint {
            url: endpoint.clone(),
            name: endpoint.to_string(),
            store: store.clone(),
            settings: settings.clone(),
            metrics: metrics.clone(),
            poster: poster.clone(),
        };
        tokio::spawn(worker.run(ready, stop.clone()));
    }
    info!(endpoints = settings.endpoints.len(), "webhooks on");
    Webhooks { policy, presence, wake }
}

async fn record_presence(
    mut rx: mpsc::Receiver<PresenceChange>,
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(256);
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut batch, 256) => n,
            _ = stop.cancelled() => return,
        };
        if n == 0 {
            return;
        }
        let at = now_millis();
        let events: Vec<NewEvent> = batch
            .drain(..)
            .filter_map(|c| {
                let kind = if c.online { "user.online" } else { "user.offline" };
                settings.wants(kind).then_some(NewEvent { kind, project: c.project, user: c.user, at })
            })
            .collect();
        if let Err(e) = store.add_events(events).await {
            warn!(error = %e, "recording presence webhooks failed; they are lost");
        }
    }
}

/// Turns due events into deliveries and keeps the backlog gauge.
async fn expand(
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    ready: Vec<Arc<Notify>>,
    stop: CancellationToken,
) {
    let names = settings.endpoint_names();
    match store.drop_deliveries_except(&names).await {
        Ok(0) => {}
        Ok(dropped) => {
            warn!(dropped, "dropped webhook deliveries for endpoints no longer configured");
            metrics.add(&metrics.webhook_dropped, dropped);
        }
        Err(e) => warn!(error = %e, "dropping deliveries of removed webhook endpoints failed"),
    }
    loop {
        match store.expand_due_events(now_millis(), &names).await {
            Ok(made) if made > 0 => ready.iter().for_each(|r| r.notify_one()),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "expanding webhook events failed"),
        }
        match store.webhook_backlog().await {
            Ok(waiting) => metrics.webhook_queued.store(waiting, std::sync::atomic::Ordering::Relaxed),
            Err(e) => warn!(error = %e, "reading the webhook backlog failed"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(settings.poll) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// One endpoint's worker.
struct Endpoint {
    url: Uri,
    name: String,
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    poster: Arc<Poster>,
}

impl Endpoint {
    async fn run(self, ready: Arc<Notify>, stop: CancellationToken) {
        loop {
            let due = match self.store.due_deliveries(&self.name, now_millis(), DELIVERY_BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    warn!(error = %e, endpoint = %self.name, "reading webhook deliveries failed");
                    Vec::new()
                }
            };
            if due.is_empty() {
                tokio::select! {
                    _ = ready.notified() => {}
                    _ = tokio::time::sleep(self.settings.poll) => {}
                    _ = stop.cancelled() => return,
                }
                continue;
            }
            let mut outcomes = Vec::with_capacity(due.len());
            for delivery in due {
                let attempt = tokio::select! {
                    outcome = self.attempt(&delivery) => outcome,
                    // Not settled: it is sent again after the restart (at least once).
                    _ = stop.cancelled() => break,
                };
                outcomes.push((delivery.id, attempt));
            }
            if let Err(e) = self.store.settle_deliveries(outcomes).await {
                warn!(error = %e, endpoint = %self.name, "recording webhook outcomes failed; they will be sent again");
            }
            if stop.is_cancelled() {
                return;
            }
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Settle {
        let attempt = delivery.attempts + 1;
        match self.poster.post(&self.url, &delivery.event_id, &delivery.kind, attempt, &delivery.body).await {
            Ok(()) => {
                self.metrics.inc(&self.metrics.webhook_delivered);
                Settle::Delivered
            }
            Err(e) => {
                let now = now_millis();
                let retry_for = self.settings.retry_for.as_millis() as i64;
                if now.saturating_sub(delivery.created_at) >= retry_for {
                    warn!(endpoint = %self.name, event = %delivery.event_id, attempts = attempt, error = %e,
                        "webhook dropped: its endpoint failed every attempt for the whole retry period");
                    self.metrics.inc(&self.metrics.webhook_dropped);
                    return Settle::Drop;
                }
                let delay =
                    backoff(self.settings.base_delay, self.settings.max_delay, delivery.attempts, random_unit());
                info!(endpoint = %self.name, event = %delivery.event_id, attempt, error = %e, retry_in = ?delay, "webhook attempt failed");
                self.metrics.inc(&self.metrics.webhook_retried);
                Settle::Retry { at: now.saturating_add(delay.as_millis() as i64) }
            }
        }
    }
}

/// The wait before retry number `failures + 1`: `base` × 2^failures, at
/// most `max`, times a factor in [0.5, 1] (`unit` in [0, 1]) so endpoints
/// that failed together do not all come back at once.
pub(crate) fn backoff(base: Duration, max: Duration, failures: u32, unit: f64) -> Duration {
    let exponential = base.saturating_mul(1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX)).min(max);
    exponential.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

fn random_unit() -> f64 {
    let mut raw = [0u8; 4];
    if getrandom::fill(&mut raw).is_err() {
        return 1.0;
    }
    f64::from(u32::from_le_bytes(raw)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(backoff(base, max, 0, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(base, max, 3, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(base, max, 3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(base, max, 10, 1.0), max, "capped");
        assert_eq!(backoff(base, max, 200, 1.0), max, "no overflow");
        for failures in 0..8 {
            let (low, high) = (backoff(base, max, failures, 0.0), backoff(base, max, failures, 1.0));
            assert!(low * 2 == high || high == max);
            assert!(backoff(base, max, failures + 1, 0.0) >= low, "the shortest wait never shrinks");
        }
    }
}
