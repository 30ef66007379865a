//! The connection's state machine and its ordered, paced send queue.
//!
//! The queue: every unacknowledged send is in the session's outbox, in the
//! order the user typed them. On a live link the first `in_flight` of them
//! have been sent and await their ack; the next goes out only when the
//! token bucket has a token and fewer than [`MAX_IN_FLIGHT`] are in flight,
//! so nothing newer is sent ahead of an older one. A `rate_limited` or
//! `unavailable` refusal moves the send point back to the refused message
//! and pauses the queue for [`RESEND_AFTER_MS`]; refusals of later messages
//! that were already in flight then change nothing, so each is resent once.
//! Other frames (typing, read, history, ping) wait in a small queue of
//! their own that goes first: they share the server's rate budget.

use crate::pacing::TokenBucket;
use crate::{backoff_ms, Command, Effect, Event, Input, Moment};
use protocol::close::should_reconnect;
use protocol::session::{ClientSession, Received};
use protocol::{Auth, ClientMsg, ClientMsgId, CloseCode, Conversation, ErrorCode, Limits, ServerMsg};
use std::collections::VecDeque;

/// Application pings (browsers cannot send WebSocket pings). A ping still
/// unanswered, with no other frame either, when the next one is due means
/// the link is dead: detected within two intervals.
pub const PING_EVERY_MS: f64 = 20_000.0;
/// Pause of the send queue after the server refused a send for rate or
/// could not store it.
pub const RESEND_AFTER_MS: f64 = 1_500.0;
/// A socket that has not brought a welcome by then (an unanswered SYN, a
/// server that accepts and says nothing) is given up.
pub const CONNECT_TIMEOUT_MS: f64 = 10_000.0;
/// Sends sent and not yet acknowledged at most: bounds what a refusal makes
/// us resend.
pub const MAX_IN_FLIGHT: usize = 16;

#[derive(Debug, Clone, PartialEq)]
enum Link {
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
struct Live {
    /// Between a resumed welcome and `synced`.
    replaying: bool,
    last_heard: f64,
    ping_sent: Option<f64>,
    next_ping: f64,
    /// A restored outbox is awaited: nothing is sent before it is merged.
    restoring: bool,
    /// Leading outbox entries sent on this link, awaiting their ack.
    in_flight: usize,
    paused_until: f64,
}

/// A send the server refused for good, kept for Retry.
#[derive(Debug, Clone)]
struct Failed {
    client_id: ClientMsgId,
    to: Conversation,
    body: String,
}

pub struct ClientCore {
    session: ClientSession,
    auth: Auth,
    limits: Limits,
    link: Link,
    attempt: u32,
    /// The server's explanation of a refused hello, shown with the close.
    refusal: Option<String>,
    /// Project and user id from the first welcome: whose outbox is saved.
    owner: Option<(String, String)>,
    bucket: TokenBucket,
    control: VecDeque<ClientMsg>,
    failed: Vec<Failed>,
    /// The wake-up last asked for: asked again only when it moves, so a
    /// burst of frames does not reset the driver's timer for each.
    wake_at: Option<f64>,
    out: Vec<Effect>,
}

impl ClientCore {
    /// `id_prefix` makes this run's client ids unique (random or a timestamp).
    pub fn new(auth: Auth, id_prefix: impl Into<String>) -> Self {
        let limits = Limits::default();
        Self {
            session: ClientSession::new(id_prefix),
            auth,
            limits,
            link: Link::Down { retry_at: f64::INFINITY },
            attempt: 0,
            refusal: None,
            owner: None,
            bucket: TokenBucket::new(&limits, 0.0),
            control: VecDeque::new(),
            failed: Vec::new(),
            wake_at: None,
            out: Vec::new(),
        }
    }

    pub fn session(&self) -> &ClientSession {
        &self.session
    }

    /// Sends not yet acknowledged (queued or in flight).
    pub fn unacked(&self) -> usize {
        self.session.pending_len()
    }

    pub fn is_online(&self) -> bool {
        matches!(self.link, Link::Up(_))
    }

    pub fn is_stopped(&self) -> bool {
        self.link == Link::Stopped
    }

    /// Applies one input; returns what the driver must do, in order.
    pub fn handle(&mut self, input: Input, at: Moment) -> Vec<Effect> {
        let now = at.now_ms;
        if self.link == Link::Stopped {
            return Vec::new();
        }
        if input == Input::Tick {
            self.wake_at = None;
        }
        match input {
            Input::Start => self.connect(now),
            Input::Opened => {
                if matches!(self.link, Link::Opening { .. }) {
                    self.out.push(Effect::Send(self.session.hello(self.auth.clone())));
                }
            }
            Input::Frame(msg) => self.frame(msg, now),
            Input::Closed { code, reason } => self.closed(code, &reason, at),
            Input::OutboxLoaded(saved) => self.restore(saved),
            Input::Tick => self.tick(at),
            Input::Command(command) => self.command(command, at),
        }
        self.pump(now);
        let wake_at = self.next_wake(now);
        if let Some(at_ms) = wake_at.filter(|at| self.wake_at != Some(*at)) {
            self.out.push(Effect::WakeAfter((at_ms - now).max(0.0)));
        }
        self.wake_at = wake_at;
        std::mem::take(&mut self.out)
    }

    fn ui(&mut self, event: Event) {
        self.out.push(Effect::Ui(event));
    }

    fn connect(&mut self, now: f64) {
        let resumed = self.session.cursor().is_some();
        self.link = Link::Opening { since: now, resumed };
        self.ui(Event::Connecting);
        self.out.push(Effect::Connect);
    }

    /// The link is gone (closed, dropped, timed out): wait, then reconnect.
    fn lost(&mut self, at: Moment) {
        self.control.clear();
        let delay = backoff_ms(self.attempt, at.random);
        self.attempt += 1;
        let retry_at = at.now_ms + delay;
        self.link = Link::Down { retry_at };
        self.ui(Event::Reconnecting { at_ms: retry_at });
    }

    fn live(&mut self) -> Option<&mut Live> {
        match &mut self.link {
            Link::Up(live) => Some(live),
            _ => None,
        }
    }

    fn frame(&mut self, msg: ServerMsg, now: f64) {
        let resumed = match (&self.link, &msg) {
            (Link::Opening { resumed, .. }, ServerMsg::Welcome(_)) => Some(*resumed),
            (Link::Opening { .. }, ServerMsg::Error { code: ErrorCode::HelloRefused, message, .. }) => {
                // The close frame that follows says whether to retry.
                self.refusal = Some(message.clone());
                return;
            }
            (Link::Up(_), _) => None,
            _ => return, // nothing else is meaningful before the welcome
        };
        if let Some(resumed) = resumed {
            return self.welcome(msg, resumed, now);
        }
        if let Some(live) = self.live() {
            live.last_heard = now;
        }
        if let ServerMsg::Ack { client_id, .. } = &msg {
            // While it is still in the outbox, to know whether it was in flight.
            self.settle_in_flight(client_id);
        }
        let received = self.session.receive(&msg);
        match msg {
            ServerMsg::Welcome(_) | ServerMsg::Pong => {} // a second welcome is ignored
            ServerMsg::Message(message) => {
                if received != Received::Duplicate {
                    let replayed = self.live().is_some_and(|l| l.replaying);
                    self.ui(Event::Message { message, replayed });
                }
            }
            ServerMsg::Ack { client_id, id, ts, .. } => {
                self.save_outbox(vec![client_id.clone()]);
                self.ui(Event::Acked { client_id, id, ts });
            }
            ServerMsg::Synced { .. } => {
                if let Some(live) = self.live() {
                    live.replaying = false;
                }
                self.ui(Event::Synced);
            }
            ServerMsg::Error { code, message, client_id } => self.error(code, message, client_id, now),
            other => self.ui(Event::Server(other)),
        }
    }

    fn welcome(&mut self, msg: ServerMsg, resumed: bool, now: f64) {
        self.session.receive(&msg);
        let ServerMsg::Welcome(w) = msg else { return };
        self.attempt = 0;
        self.refusal = None;
        self.auth = Auth::Token { token: w.session_token.clone(), project: Some(w.project.clone()) };
        self.limits = w.limits;
        self.bucket = TokenBucket::new(&w.limits, now);
        let owner = (w.project.as_str().to_owned(), w.me.id.as_str().to_owned());
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

    fn restore(&mut self, saved: Vec<ClientMsg>) {
        let Some(live) = self.live().filter(|l| l.restoring) else { return };
        live.restoring = false;
        for (client_id, to, body) in self.session.restore(saved) {
            self.ui(Event::Queued { client_id, to, body });
        }
        self.save_outbox(Vec::new());
    }

    /// Where `client_id` stands in the outbox.
    fn position(&self, client_id: &ClientMsgId) -> Option<usize> {
        self.session.pending().position(|m| matches!(&m, ClientMsg::Send { client_id: c, .. } if c == client_id))
    }

    /// Before an ack or a final refusal removes `client_id` from the outbox:
    /// one fewer in flight if it was.
    fn settle_in_flight(&mut self, client_id: &ClientMsgId) {
        let pos = self.position(client_id);
        if let (Some(pos), Some(live)) = (pos, self.live()) {
            if pos < live.in_flight {
                live.in_flight -= 1;
            }
        }
    }

    fn error(&mut self, code: ErrorCode, message: String, client_id: Option<ClientMsgId>, now: f64) {
        let retryable = matches!(code, ErrorCode::RateLimited | ErrorCode::Unavailable);
        if retryable {
            if code == ErrorCode::RateLimited {
                self.bucket.drain(now);
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
        match client_id {
            Some(client_id) if self.position(&client_id).is_some() => self.fail(client_id, message),
            Some(_) => {} // not ours any more (acked, discarded)
            None => self.ui(Event::Notice(message)),
        }
    }

    /// A send that cannot go as it is: out of the queue, kept for Retry.
    fn fail(&mut self, client_id: ClientMsgId, reason: String) {
        let Some(ClientMsg::Send { to, body, .. }) =
            self.session.pending().find(|m| matches!(m, ClientMsg::Send { client_id: c, .. } if *c == client_id))
        else {
            return;
        };
        self.settle_in_flight(&client_id);
        self.session.forget(&client_id);
        self.failed.push(Failed { client_id: client_id.clone(), to, body });
        self.save_outbox(vec![client_id.clone()]);
        self.ui(Event::SendFailed { client_id, reason });
    }

    fn closed(&mut self, code: u16, reason: &str, at: Moment) {
        if matches!(self.link, Link::Down { .. }) {
            return; // a socket we already gave up on
        }
        if should_reconnect(code) {
            self.refusal = None;
            return self.lost(at);
        }
        let reason = self
            .refusal
            .take()
            .or_else(|| (!reason.is_empty()).then(|| reason.to_owned()))
            .or_else(|| CloseCode::from_code(code).map(|c| c.reason().to_owned()))
            .unwrap_or_else(|| "refused by the server".into());
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

    fn command(&mut self, command: Command, at: Moment) {
        match command {
            Command::Send { to, body } => {
                let ClientMsg::Send { client_id, to, body } = self.session.send(to, body) else { return };
                self.ui(Event::Queued { client_id, to, body });
                self.save_outbox(Vec::new());
            }
            Command::Typing { to, active } => {
                // Only the newest typing state per conversation matters.
                self.control.retain(|m| !matches!(m, ClientMsg::Typing { to: t, .. } if *t == to));
                self.control_frame(ClientMsg::Typing { to, active });
            }
            Command::History { conversation, before, limit } => {
                self.control_frame(ClientMsg::History { conversation, before, limit })
            }
            Command::Read { conversation, up_to } => self.control_frame(ClientMsg::Read { conversation, up_to }),
            Command::Retry(client_id) => {
                let Some(pos) = self.failed.iter().position(|f| f.client_id == client_id) else { return };
                let f = self.failed.remove(pos);
                self.session.restore([ClientMsg::Send { client_id: f.client_id, to: f.to, body: f.body }]);
                self.save_outbox(Vec::new());
                self.ui(Event::Retrying { client_id });
            }
            Command::Discard(client_id) => {
                let Some(pos) = self.failed.iter().position(|f| f.client_id == client_id) else { return };
                self.failed.remove(pos);
                self.save_outbox(vec![client_id.clone()]);
                self.ui(Event::Discarded { client_id });
            }
            Command::RetryNow => {
                if matches!(self.link, Link::Down { .. }) {
                    self.connect(at.now_ms);
                }
            }
            Command::NetworkLost => {
                if matches!(self.link, Link::Up(_) | Link::Opening { .. }) {
                    self.out.push(Effect::CloseSocket);
                    self.lost(at);
                }
            }
            Command::SignOut => {
                if matches!(self.link, Link::Up(_) | Link::Opening { .. }) {
                    self.out.push(Effect::CloseSocket);
                }
                self.link = Link::Stopped;
                self.out.push(Effect::Stop);
            }
        }
    }

    /// Typing, history and read mean something only on a live link.
    fn control_frame(&mut self, msg: ClientMsg) {
        if self.is_online() {
            self.control.push_back(msg);
        }
    }

    fn tick(&mut self, at: Moment) {
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

    /// Sends what the pace allows, in order: other frames first, then the
    /// next sends of the outbox.
    fn pump(&mut self, now: f64) {
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
    fn unsendable(&self, frame: &ClientMsg) -> Option<String> {
        let ClientMsg::Send { body, .. } = frame else { return None };
        let json_len = serde_json::to_string(frame).map_or(usize::MAX, |j| j.len());
        (body.chars().count() > self.limits.max_body_chars || json_len > self.limits.max_frame_bytes)
            .then(|| "too long to send".to_owned())
    }

    fn next_wake(&self, now: f64) -> Option<f64> {
        match &self.link {
            Link::Down { retry_at } => retry_at.is_finite().then_some(*retry_at),
            Link::Opening { since, .. } => Some(since + CONNECT_TIMEOUT_MS),
            Link::Stopped => None,
            Link::Up(live) => {
                let waiting = !self.control.is_empty()
                    || (live.in_flight < MAX_IN_FLIGHT && live.in_flight < self.session.pending_len());
                let send_at = (waiting && !live.restoring)
                    .then(|| self.bucket.next_token_at(now.max(live.paused_until)).max(live.paused_until));
                Some(send_at.map_or(live.next_ping, |s| s.min(live.next_ping)))
            }
        }
    }

    fn save_outbox(&mut self, settled: Vec<ClientMsgId>) {
        if let Some((project, me)) = &self.owner {
            self.out.push(Effect::SaveOutbox {
                project: project.clone(),
                me: me.clone(),
                pending: self.session.pending().collect(),
                settled,
            });
        }
    }
}
