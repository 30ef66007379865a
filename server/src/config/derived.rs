//! What the settings mean together: the values in force, derived from
//! one or more flags.

use super::Config;
use protocol::limits;
#[cfg(any(test, feature = "test-support"))]
use std::path::PathBuf;

/// Whether a project list (`*` for all) names `project`.
fn listed(list: &[String], project: &protocol::ProjectId) -> bool {
    list.iter().any(|p| p.trim() == "*" || p.trim() == project.as_str())
}

impl Config {
    /// The most frames one burst may push into an outbox: a client that
    /// keeps up must be able to take it on top of what it has queued.
    fn half_outbox(&self) -> usize {
        (self.outbox_capacity / 2).max(1)
    }

    /// Sends a connection may have waiting for their ack.
    pub(crate) fn in_flight_sends(&self) -> usize {
        self.max_in_flight_sends.clamp(1, self.half_outbox())
    }

    /// Messages stored in one group commit, and so delivered in one burst to
    /// every member of a room: at most half an outbox, which leaves a client
    /// that keeps up room for a whole batch on top of what it has queued.
    pub(crate) fn messages_per_commit(&self) -> usize {
        self.commit_batch.clamp(1, self.half_outbox())
    }

    /// Commit lanes in force: `--commit-lanes` on PostgreSQL (no more than
    /// its pool has connections), one on SQLite (a single writer: more
    /// lanes would only queue for it).
    pub(crate) fn commit_lanes(&self) -> usize {
        match self.database_url {
            Some(_) => self.commit_lanes.clamp(1, self.database_pool),
            None => 1,
        }
    }

    /// The frame limit in force: `--max-frame-bytes`, raised where needed so
    /// that a body of `--max-body-chars` with `--max-mentions` fits in a
    /// frame however a conforming JSON encoder escapes it
    /// ([`limits::frame_bytes_for_send`]).
    pub fn frame_bytes(&self) -> usize {
        self.max_frame_bytes.max(limits::frame_bytes_for_send(self.max_body_chars, self.max_mentions))
    }

    /// How long after sending a message can be edited, if limited.
    pub(crate) fn edit_window_millis(&self) -> Option<i64> {
        (self.edit_window > 0).then(|| i64::try_from(self.edit_window.saturating_mul(1000)).unwrap_or(i64::MAX))
    }

    /// The protocol-level limits announced to clients in `welcome`.
    pub(crate) fn limits(&self) -> protocol::Limits {
        protocol::Limits {
            max_frame_bytes: self.frame_bytes(),
            max_body_chars: self.max_body_chars,
            rate_per_sec: self.rate_per_sec,
            rate_burst: self.rate_burst,
            history_page_max: self.history_page_max,
            max_mentions: self.max_mentions,
            edit_window_secs: self.edit_window_millis().map(|_| self.edit_window),
        }
    }

    /// Whether guests may join `project` (`--guest-projects`).
    pub(crate) fn open_to_guests(&self, project: &protocol::ProjectId) -> bool {
        listed(&self.guest_projects, project)
    }

    /// Whether guests of `project` may read its history from before they
    /// joined (`--guest-history`).
    pub(crate) fn guest_history(&self, project: &protocol::ProjectId) -> bool {
        listed(&self.guest_history, project)
    }

    /// The `Content-Security-Policy` the web app is served with.
    pub(crate) fn content_security_policy(&self) -> String {
        let mut policy = String::from("frame-ancestors 'self'");
        for origin in &self.frame_ancestors {
            policy.push(' ');
            policy.push_str(origin);
        }
        policy
    }

    /// The webhook settings; `Err` when endpoints are given without a secret.
    pub(crate) fn webhooks(&self) -> Result<Option<crate::webhooks::Settings>, String> {
        if self.webhook_urls.is_empty() {
            return Ok(None);
        }
        let Some(secret) = self.webhook_secret.as_ref().filter(|s| !s.is_empty()) else {
            return Err("--webhook-url needs --webhook-secret (CHAT_WEBHOOK_SECRET) to sign deliveries".into());
        };
        Ok(Some(crate::webhooks::Settings {
            endpoints: self.webhook_urls.clone(),
            secret: secret.as_bytes().to_vec(),
            events: self.webhook_events.clone(),
            unread_delay: (!self.webhook_unread_delay.is_zero()).then_some(self.webhook_unread_delay),
            retry_for: self.webhook_retry_for,
            base_delay: self.webhook_base_delay,
            max_delay: self.webhook_max_delay.max(self.webhook_base_delay),
            timeout: self.webhook_timeout,
            poll: self.webhook_poll,
        }))
    }

    /// A configuration with every default, for tests.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests(data_dir: PathBuf) -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let mut config = <Wrapper as clap::Parser>::parse_from(["server"]).config;
        config.data_dir = data_dir;
        config.token_secret = Some("test-secret".into());
        // The suites use many projects, guests in each, and read their
        // history; the guest rules have tests of their own.
        config.guest_projects = vec!["*".into()];
        config.guest_history = vec!["*".into()];
        config
    }
}
