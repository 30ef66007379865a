//! The link's lifecycle: connecting, the welcome, the close (reconnect or
//! give up), pings and the connect timeout.

use super::ClientCore;
use crate::pacing::TokenBucket;
use crate::{backoff_ms, Effect, Event, Moment};
use protocol::close::should_reconnect;
use protocol::{Auth, ClientMsg, CloseCode, ServerMsg};

/// Application pings (browsers cannot send WebSocket pings). A ping still
/// unanswered, with no other frame either, when the next one is due means
/// the link is dead: detected within two intervals.
pub const PING_EVERY_MS: f64 = 20_000.0;
/// A socket that has not brought a welcome by then (an unanswered SYN, a
/// server that accepts and says nothing) is given up.
pub const CONNECT_TIMEOUT_MS: f64 = 10_000.0;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Link {
    /// Waiting to reconnect at `retry_at`.
    Down {
        retry_at: f64,
    },
    /// Connect asked for at `since`; the hello goes when it opens.
    Opening {
        since: f64,
        resumed: bool,
    },
    Up(Live),
    Stopped,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Live {
    /// Between a resumed welcome and `synced`.
    pub(super) replaying: bool,
    pub(super) last_heard: f64,
    pub(super) ping_sent: Option<f64>,
    pub(super) next_ping: f64,
    /// A restored outbox is awaited: nothing is sent before it is merged.
    pub(super) restoring: bool,
    /// Leading outbox entries sent on this link, awaiting their ack.
    pub(super) in_flight: usize,
    pub(super) paused_until: f64,
}

impl ClientCore {
    pub(super) fn connect(&mut self, now: f64) {
        let resumed = self.session.cursor().is_some();
        self.link = Link::Opening { since: now, resumed };
        self.ui(Event::Connecting);
        self.out.push(Effect::Connect);
    }

    /// The link is gone (closed, dropped, timed out): wait, then reconnect.
    pub(super) fn lost(&mut self, at: Moment) {
        self.control.clear();
        self.changes.link_lost();
        let delay = backoff_ms(self.attempt, at.random);
        self.attempt += 1;
        let retry_at = at.now_ms + delay;
        self.link = Link::Down { retry_at };
        self.ui(Event::Reconnecting { at_ms: retry_at });
    }

    pub(super) fn welcome(&mut self, msg: ServerMsg, resumed: bool, now: f64) {
        self.session.receive(&msg);
        let ServerMsg::Welcome(w) = msg else { return };
        self.attempt = 0;
        self.refusal = None;
        self.auth = Auth::Token { token: w.session_token.clone(), project: Some(w.project.clone()) };
        self.limits = w.limits;
        self.bucket = TokenBucket::new(&w.limits, now);
        let owner = (w.project.as_str().to_owned(), w.me.id.as_str().to_owned());
        self.me = Some(w.me.id.clone());
        let first = self.owner.is_none();
        self.link = Link::Up(Live {
            replaying: resumed,
            last_heard: now,
            ping_sent: None,
            next_ping: now + PING_EVERY_MS,
            restoring: first,
            in_flight: 0,
            paused_until: now,
        });
        self.out.push(Effect::SaveSession {
            token: w.session_token.clone(),
            expires: w.session_expires,
            project: owner.0.clone(),
        });
        self.ui(Event::Welcome { welcome: w, resumed });
        self.owner = Some(owner.clone());
        if first {
            // What an earlier run could not send goes before the resends.
            self.out.push(Effect::LoadOutbox { project: owner.0, me: owner.1 });
        } else {
            self.save_outbox(Vec::new());
        }
        self.ui(Event::Online);
    }

    pub(super) fn closed(&mut self, code: u16, reason: &str, at: Moment) {
        if matches!(self.link, Link::Down { .. }) {
            return; // a socket we already gave up on
        }
        if should_reconnect(code) {
            self.refusal = None;
            return self.lost(at);
        }
        let refusal = self.refusal.take();
        let reason = if CloseCode::from_code(code) == Some(CloseCode::NotOpenToGuests) {
            "This project is not open to guests: sign in through its own application".to_owned()
        } else {
            refusal
                .or_else(|| (!reason.is_empty()).then(|| reason.to_owned()))
                .or_else(|| CloseCode::from_code(code).map(|c| c.reason().to_owned()))
                .unwrap_or_else(|| "refused by the server".into())
        };
        if matches!(
            CloseCode::from_code(code),
            Some(
                CloseCode::AuthFailed
                    | CloseCode::TokenExpired
                    | CloseCode::WrongProject
                    | CloseCode::SignedOut
                    | CloseCode::NotOpenToGuests,
            )
        ) {
            self.out.push(Effect::ForgetSession);
        }
        self.link = Link::Stopped;
        self.ui(Event::SignedOut { reason, code });
        self.out.push(Effect::Stop);
    }

    pub(super) fn tick(&mut self, at: Moment) {
        let now = at.now_ms;
        match &mut self.link {
            Link::Down { retry_at } if now >= *retry_at => self.connect(now),
            Link::Opening { since, .. } if now - *since >= CONNECT_TIMEOUT_MS => {
                self.out.push(Effect::CloseSocket);
                self.lost(at);
            }
            Link::Up(live) if now >= live.next_ping => {
                if live.ping_sent.is_some_and(|sent| live.last_heard < sent) {
                    // Not even a pong since the last ping.
                    self.out.push(Effect::CloseSocket);
                    return self.lost(at);
                }
                live.ping_sent = Some(now);
                live.next_ping = now + PING_EVERY_MS;
                self.control.push_front(ClientMsg::Ping);
            }
            _ => {}
        }
    }
}
