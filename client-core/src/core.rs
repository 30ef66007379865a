//! The connection's state machine: [`ClientCore`] and how it applies each
//! input. The link's lifecycle (connect, welcome, close, ping, timeout) is
//! in `link.rs`; the ordered, paced send queue in `queue.rs`; edits,
//! deletions and reactions awaiting their update in `changes.rs`.

mod changes;
mod link;
mod queue;

pub use link::{CONNECT_TIMEOUT_MS, PING_EVERY_MS};
pub use queue::{MAX_IN_FLIGHT, RESEND_AFTER_MS};

use crate::pacing::TokenBucket;
use crate::{Command, Effect, Event, Input, Moment};
use changes::Changes;
use link::{Link, Live};
use protocol::session::{ClientSession, Received};
use protocol::{Auth, ClientMsg, ClientMsgId, ErrorCode, Limits, ServerMsg, UserId};
use queue::Failed;
use std::collections::VecDeque;

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
    /// Who the server says we are (the last welcome's `me`).
    me: Option<UserId>,
    bucket: TokenBucket,
    control: VecDeque<ClientMsg>,
    changes: Changes,
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
            me: None,
            bucket: TokenBucket::new(&limits, 0.0),
            control: VecDeque::new(),
            changes: Changes::default(),
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

    /// Edits, deletions and reactions not answered yet.
    pub fn unanswered_changes(&self) -> usize {
        self.changes.frames().count()
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
        if let ServerMsg::Replay { messages } = msg {
            // The hello asked for the replay in batches: each is a message.
            for message in messages {
                self.frame(ServerMsg::Message(message), now);
            }
            return;
        }
        if let ServerMsg::Ack { client_id, .. } = &msg {
            // While it is still in the outbox, to know whether it was in flight.
            self.settle_in_flight(client_id);
        }
        let received = self.session.receive(&msg);
        let replayed = self.live().is_some_and(|l| l.replaying);
        match msg {
            ServerMsg::Welcome(_) | ServerMsg::Pong => {} // a second welcome is ignored
            ServerMsg::Message(message) => {
                if received != Received::Duplicate {
                    self.ui(Event::Message { message, replayed });
                }
            }
            ServerMsg::Update(update) => {
                if self.me.as_ref() == Some(&update.by) {
                    if let Some(done) = self.changes.settle(&update) {
                        self.save_changes(vec![done]);
                    }
                }
                if received != Received::Duplicate {
                    self.ui(Event::Update { update, replayed });
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
            ServerMsg::Error { code, message, client_id, target } => self.error(code, message, client_id, target, now),
            other => self.ui(Event::Server(other)),
        }
    }

    fn restore(&mut self, saved: Vec<ClientMsg>) {
        let Some(live) = self.live().filter(|l| l.restoring) else { return };
        live.restoring = false;
        let (sends, changes): (Vec<ClientMsg>, Vec<ClientMsg>) =
            saved.into_iter().partition(|m| matches!(m, ClientMsg::Send { .. }));
        self.changes.restore(changes);
        for (client_id, _, _) in self.session.restore(sends) {
            self.queued(&client_id);
        }
        self.save_outbox(Vec::new());
    }

    /// Queues an edit, deletion or reaction, and saves it with the outbox.
    fn change(&mut self, frame: ClientMsg) {
        self.changes.push(frame);
        self.save_outbox(Vec::new());
    }

    /// Shows our send `client_id` (in the outbox) as pending.
    fn queued(&mut self, client_id: &ClientMsgId) {
        let frame =
            self.session.pending().find(|m| matches!(m, ClientMsg::Send { client_id: c, .. } if c == client_id));
        if let Some(ClientMsg::Send { client_id, to, body, reply_to, mentions }) = frame {
            self.ui(Event::Queued { client_id, to, body, reply_to, mentions });
        }
    }

    fn command(&mut self, command: Command, at: Moment) {
        match command {
            Command::Send { to, body, reply_to, mentions } => {
                let ClientMsg::Send { client_id, .. } = self.session.send_with(to, body, reply_to, mentions) else {
                    return;
                };
                self.queued(&client_id);
                self.save_outbox(Vec::new());
            }
            Command::Edit { id, body } => self.change(ClientMsg::Edit { id, body }),
            Command::Delete { id } => self.change(ClientMsg::Delete { id }),
            Command::React { id, emoji, on } => self.change(ClientMsg::React { id, emoji, on }),
            Command::Search { query, before, limit } => self.control_frame(ClientMsg::Search { query, before, limit }),
            Command::Typing { to, active } => {
                // Only the newest typing state per conversation matters.
                self.control.retain(|m| !matches!(m, ClientMsg::Typing { to: t, .. } if *t == to));
                self.control_frame(ClientMsg::Typing { to, active });
            }
            Command::History { conversation, before, limit } => {
                self.control_frame(ClientMsg::History { conversation, before, limit })
            }
            Command::Read { conversation, up_to } => self.control_frame(ClientMsg::Read { conversation, up_to }),
            Command::Users { query, after, limit } => self.control_frame(ClientMsg::Users { query, after, limit }),
            Command::Retry(client_id) => {
                let Some(pos) = self.failed.iter().position(|f| f.client_id == client_id) else { return };
                let f = self.failed.remove(pos);
                self.session.restore([f.frame]);
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
}
