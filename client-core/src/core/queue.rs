//! The ordered, paced send queue.
//!
//! Every unacknowledged send is in the session's outbox, in the
//! order the user typed them. On a live link the first `in_flight` of them
//! have been sent and await their ack; the next goes out only when the
//! token bucket has a token and fewer than [`MAX_IN_FLIGHT`] are in flight,
//! so nothing newer is sent ahead of an older one. A `rate_limited` or
//! `unavailable` refusal moves the send point back to the refused message
//! and pauses the queue for [`RESEND_AFTER_MS`]; refusals of later messages
//! that were already in flight then change nothing, so each is resent once.
//! Other frames (typing, read, history, search, ping) wait in a small queue
//! of their own that goes first, then edits, deletions and reactions: they
//! all share the server's rate budget.

use super::changes::refusal_notice;
use super::link::CONNECT_TIMEOUT_MS;
use super::{ClientCore, Link};
use crate::{Effect, Event};
use protocol::{ClientMsg, ClientMsgId, ErrorCode, MessageId};

/// Pause of the send queue after the server refused a send for rate or
/// could not store it.
pub const RESEND_AFTER_MS: f64 = 1_500.0;
/// Sends sent and not yet acknowledged at most: bounds what a refusal makes
/// us resend.
pub const MAX_IN_FLIGHT: usize = 16;

/// A send the server refused for good, kept for Retry.
#[derive(Debug, Clone)]
pub(super) struct Failed {
    pub(super) client_id: ClientMsgId,
    /// The `send` as it was (reply and mentions included).
    pub(super) frame: ClientMsg,
}

impl ClientCore {
    /// Where `client_id` stands in the outbox.
    pub(super) fn position(&self, client_id: &ClientMsgId) -> Option<usize> {
        self.session.pending().position(|m| matches!(&m, ClientMsg::Send { client_id: c, .. } if c == client_id))
    }

    /// Before an ack or a final refusal removes `client_id` from the outbox:
    /// one fewer in flight if it was.
    pub(super) fn settle_in_flight(&mut self, client_id: &ClientMsgId) {
        let pos = self.position(client_id);
        if let (Some(pos), Some(live)) = (pos, self.live()) {
            if pos < live.in_flight {
                live.in_flight -= 1;
            }
        }
    }

    pub(super) fn error(
        &mut self,
        code: ErrorCode,
        message: String,
        client_id: Option<ClientMsgId>,
        target: Option<MessageId>,
        now: f64,
    ) {
        let retryable = matches!(code, ErrorCode::RateLimited | ErrorCode::Unavailable);
        if retryable {
            if code == ErrorCode::RateLimited {
                self.bucket.drain(now);
            }
            if let Some(target) = target {
                self.changes.retry(target);
            }
            let pos = client_id.as_ref().and_then(|c| self.position(c));
            if let Some(live) = self.live() {
                if let Some(pos) = pos.filter(|p| *p < live.in_flight) {
                    // Resend from the refused one; later refusals of the
                    // ones after it are then already accounted for.
                    live.in_flight = pos;
                }
                live.paused_until = live.paused_until.max(now + RESEND_AFTER_MS);
            }
            // A refused typing or read frame is not worth telling anyone.
            return;
        }
        match (client_id, target) {
            (Some(client_id), _) if self.position(&client_id).is_some() => self.fail(client_id, message),
            (Some(_), _) => {} // not ours any more (acked, discarded)
            (None, Some(target)) => {
                let notice = match self.changes.refused(target) {
                    Some(frame) => {
                        let notice = refusal_notice(&frame, code, &message);
                        self.save_changes(vec![frame]);
                        notice
                    }
                    None => Some(message),
                };
                if let Some(notice) = notice {
                    self.ui(Event::Notice(notice));
                }
            }
            (None, None) => self.ui(Event::Notice(message)),
        }
    }

    /// A send that cannot go as it is: out of the queue, kept for Retry.
    pub(super) fn fail(&mut self, client_id: ClientMsgId, reason: String) {
        let Some(frame) =
            self.session.pending().find(|m| matches!(m, ClientMsg::Send { client_id: c, .. } if *c == client_id))
        else {
            return;
        };
        self.settle_in_flight(&client_id);
        self.session.forget(&client_id);
        self.failed.push(Failed { client_id: client_id.clone(), frame });
        self.save_outbox(vec![client_id.clone()]);
        self.ui(Event::SendFailed { client_id, reason });
    }

    /// Typing, history, read and search mean something only on a live link.
    pub(super) fn control_frame(&mut self, msg: ClientMsg) {
        if self.is_online() {
            self.control.push_back(msg);
        }
    }

    /// Sends what the pace allows, in order: other frames first, then the
    /// next sends of the outbox.
    pub(super) fn pump(&mut self, now: f64) {
        loop {
            let Link::Up(live) = &self.link else { return };
            if live.restoring || live.paused_until > now {
                return;
            }
            if !self.control.is_empty() {
                if !self.bucket.take(now) {
                    return;
                }
                let frame = self.control.pop_front().unwrap_or(ClientMsg::Ping);
                self.out.push(Effect::Send(frame));
                continue;
            }
            // Changes wait for the replay, which may show them done.
            if !live.replaying && self.changes.has_unsent() {
                if !self.bucket.take(now) {
                    return;
                }
                if let Some(frame) = self.changes.take_unsent() {
                    self.out.push(Effect::Send(frame));
                }
                continue;
            }
            let in_flight = live.in_flight;
            if in_flight >= MAX_IN_FLIGHT {
                return;
            }
            let Some(frame) = self.session.pending().nth(in_flight) else { return };
            if let (Some(reason), ClientMsg::Send { client_id, .. }) = (self.unsendable(&frame), &frame) {
                self.fail(client_id.clone(), reason);
                continue;
            }
            if !self.bucket.take(now) {
                return;
            }
            if let Some(live) = self.live() {
                live.in_flight += 1;
            }
            self.out.push(Effect::Send(frame));
        }
    }

    /// A send the server would refuse as it is: a body over the limit, or a
    /// frame too big (escaping can make a body within the character limit
    /// too big, and the limits may have shrunk since a saved send was
    /// queued); the server would close the socket (1009) on every resend.
    pub(super) fn unsendable(&self, frame: &ClientMsg) -> Option<String> {
        let ClientMsg::Send { body, .. } = frame else { return None };
        let json_len = serde_json::to_string(frame).map_or(usize::MAX, |j| j.len());
        (body.chars().count() > self.limits.max_body_chars || json_len > self.limits.max_frame_bytes)
            .then(|| "too long to send".to_owned())
    }

    pub(super) fn next_wake(&self, now: f64) -> Option<f64> {
        match &self.link {
            Link::Down { retry_at } => retry_at.is_finite().then_some(*retry_at),
            Link::Opening { since, .. } => Some(since + CONNECT_TIMEOUT_MS),
            Link::Stopped => None,
            Link::Up(live) => {
                let waiting = !self.control.is_empty()
                    || (!live.replaying && self.changes.has_unsent())
                    || (live.in_flight < MAX_IN_FLIGHT && live.in_flight < self.session.pending_len());
                let send_at = (waiting && !live.restoring)
                    .then(|| self.bucket.next_token_at(now.max(live.paused_until)).max(live.paused_until));
                Some(send_at.map_or(live.next_ping, |s| s.min(live.next_ping)))
            }
        }
    }

    /// Saves the sends and changes still waiting; `settled` sends are
    /// dropped from what other tabs saved too.
    pub(super) fn save_outbox(&mut self, settled: Vec<ClientMsgId>) {
        self.save(settled, Vec::new());
    }

    /// As [`save_outbox`](Self::save_outbox), after `done` changes were
    /// answered or refused.
    pub(super) fn save_changes(&mut self, done: Vec<ClientMsg>) {
        self.save(Vec::new(), done);
    }

    fn save(&mut self, settled: Vec<ClientMsgId>, settled_changes: Vec<ClientMsg>) {
        if let Some((project, me)) = &self.owner {
            self.out.push(Effect::SaveOutbox {
                project: project.clone(),
                me: me.clone(),
                pending: self.session.pending().chain(self.changes.frames().cloned()).collect(),
                settled,
                settled_changes,
            });
        }
    }
}
