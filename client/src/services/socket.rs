//! The chat connection's driver: owns the socket (gloo-net), the one timer
//! and the browser's online/offline events, feeds what happens to the pure
//! [`ClientCore`] and performs what it decides, turning its UI events into
//! [`Action`]s. Every decision (when to send, resend, reconnect or give up)
//! is the core's, tested natively in `client-core`.

use crate::services::storage;
use crate::state::{Action, Status};
use client_core::{ClientCore, Command as CoreCommand, Effect, Event, Input, Moment};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, State as SocketState, WebSocketError};
use protocol::{Auth, ClientMsg, ClientMsgId, Conversation, MessageId, ServerMsg, UserId};
use std::collections::VecDeque;
use yew::Callback;

pub enum Command {
    /// A new chat message from the composer.
    Send {
        to: Conversation,
        body: String,
        reply_to: Option<MessageId>,
        mentions: Vec<UserId>,
    },
    /// Any other request: typing, history, read, users and search (dropped
    /// while offline); edit, delete and react (kept until answered).
    Frame(ClientMsg),
    /// Skip the backoff wait.
    RetryNow,
    /// The browser says the network is gone: drop the link now rather than
    /// wait for pings to go unanswered.
    NetworkLost,
    /// Kept for callers: the core resends what is unacknowledged by itself.
    ResendPending,
    /// Queue a failed send again (same client id).
    Retry(ClientMsgId),
    /// Give up a failed send.
    Discard(ClientMsgId),
    SignOut,
}

/// The app's handle on the connection.
#[derive(Clone)]
pub struct ChatHandle {
    tx: UnboundedSender<Command>,
}

impl PartialEq for ChatHandle {
    fn eq(&self, other: &Self) -> bool {
        self.tx.same_receiver(&other.tx)
    }
}

impl ChatHandle {
    pub fn command(&self, command: Command) {
        let _ = self.tx.unbounded_send(command);
    }
}

/// Starts the connection in the background.
pub fn start(auth: Auth, dispatch: Callback<Action>) -> ChatHandle {
    let (tx, rx) = unbounded();
    let handle = ChatHandle { tx: tx.clone() };
    wasm_bindgen_futures::spawn_local(run(auth, dispatch, tx, rx));
    handle
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn moment() -> Moment {
    Moment { now_ms: now(), random: js_sys::Math::random() }
}

/// The socket is on the page's own origin: `ws://host/ws`, or `wss://` when
/// the page came over https.
pub fn ws_url(protocol: &str, host: &str) -> String {
    let scheme = if protocol == "https:" { "wss:" } else { "ws:" };
    format!("{scheme}//{host}/ws")
}

fn page_ws_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let protocol = location.as_ref().and_then(|l| l.protocol().ok()).unwrap_or_default();
    let host = location.and_then(|l| l.host().ok()).unwrap_or_else(|| "127.0.0.1:8080".into());
    crate::services::config::socket_url_for(crate::services::config::chat_server().as_deref(), &protocol, &host)
}

fn browser_online() -> bool {
    web_sys::window().is_none_or(|w| w.navigator().on_line())
}

/// Forwards the browser's `online` / `offline` events as commands for as
/// long as it is alive.
fn network_listeners(tx: &UnboundedSender<Command>) -> Option<[gloo_events::EventListener; 2]> {
    let window = web_sys::window()?;
    let on = {
        let tx = tx.clone();
        gloo_events::EventListener::new(&window, "online", move |_| {
            let _ = tx.unbounded_send(Command::RetryNow);
        })
    };
    let off = {
        let tx = tx.clone();
        gloo_events::EventListener::new(&window, "offline", move |_| {
            let _ = tx.unbounded_send(Command::NetworkLost);
        })
    };
    Some([on, off])
}

/// What the socket task and the timer report, tagged with the socket's
/// generation so a socket the core gave up on is not heard from again.
type Report = (u64, Input);

/// The timer's reports carry no socket.
const TIMER: u64 = 0;

struct Driver {
    core: ClientCore,
    dispatch: Callback<Action>,
    reports: UnboundedSender<Report>,
    /// Frames for the current socket's task; dropping it closes the socket.
    socket: Option<UnboundedSender<ClientMsg>>,
    generation: u64,
    timer: Option<gloo_timers::callback::Timeout>,
    stopped: bool,
}

async fn run(auth: Auth, dispatch: Callback<Action>, tx: UnboundedSender<Command>, mut rx: UnboundedReceiver<Command>) {
    let _network = network_listeners(&tx);
    let prefix = format!("{:x}{:x}", now() as u64, (js_sys::Math::random() * 1e9) as u64);
    let (reports, mut reported) = unbounded::<Report>();
    let mut driver = Driver {
        core: ClientCore::new(auth, prefix),
        dispatch,
        reports,
        socket: None,
        generation: TIMER,
        timer: None,
        stopped: false,
    };
    driver.feed(Input::Start);
    while !driver.stopped {
        futures::select! {
            command = rx.next() => match command {
                Some(command) => {
                    if let Some(command) = core_command(command) {
                        driver.feed(Input::Command(command));
                    }
                }
                None => driver.feed(Input::Command(CoreCommand::SignOut)),
            },
            report = reported.next() => {
                if let Some((generation, input)) = report {
                    if generation == TIMER || generation == driver.generation {
                        driver.feed(input);
                    }
                }
            }
        }
    }
}

fn core_command(command: Command) -> Option<CoreCommand> {
    Some(match command {
        Command::Send { to, body, reply_to, mentions } => CoreCommand::Send { to, body, reply_to, mentions },
        Command::Frame(ClientMsg::Typing { to, active }) => CoreCommand::Typing { to, active },
        Command::Frame(ClientMsg::History { conversation, before, limit }) => {
            CoreCommand::History { conversation, before, limit }
        }
        Command::Frame(ClientMsg::Read { conversation, up_to }) => CoreCommand::Read { conversation, up_to },
        Command::Frame(ClientMsg::Users { query, after, limit }) => CoreCommand::Users { query, after, limit },
        Command::Frame(ClientMsg::Edit { id, body }) => CoreCommand::Edit { id, body },
        Command::Frame(ClientMsg::Delete { id }) => CoreCommand::Delete { id },
        Command::Frame(ClientMsg::React { id, emoji, on }) => CoreCommand::React { id, emoji, on },
        Command::Frame(ClientMsg::Search { query, before, limit }) => CoreCommand::Search { query, before, limit },
        Command::Frame(_) | Command::ResendPending => return None,
        Command::RetryNow => CoreCommand::RetryNow,
        Command::NetworkLost => CoreCommand::NetworkLost,
        Command::Retry(client_id) => CoreCommand::Retry(client_id),
        Command::Discard(client_id) => CoreCommand::Discard(client_id),
        Command::SignOut => CoreCommand::SignOut,
    })
}

impl Driver {
    /// Gives the core one input and performs its effects, feeding back the
    /// answers they produce at once (a loaded outbox).
    fn feed(&mut self, input: Input) {
        let mut inputs = VecDeque::from([input]);
        while let Some(input) = inputs.pop_front() {
            for effect in self.core.handle(input, moment()) {
                if let Some(answer) = self.perform(effect) {
                    inputs.push_back(answer);
                }
            }
        }
    }

    fn perform(&mut self, effect: Effect) -> Option<Input> {
        match effect {
            Effect::Connect => {
                self.generation += 1;
                let (frames, outgoing) = unbounded();
                self.socket = Some(frames);
                wasm_bindgen_futures::spawn_local(socket_task(self.generation, self.reports.clone(), outgoing));
            }
            Effect::Send(msg) => {
                if let Some(socket) = &self.socket {
                    let _ = socket.unbounded_send(msg);
                }
            }
            Effect::CloseSocket => self.socket = None,
            Effect::WakeAfter(ms) => {
                let reports = self.reports.clone();
                // Replacing the timer cancels the earlier one.
                self.timer = Some(gloo_timers::callback::Timeout::new(ms.ceil() as u32, move || {
                    let _ = reports.unbounded_send((TIMER, Input::Tick));
                }));
            }
            Effect::SaveSession { token, expires, project } => storage::save_session(&token, expires, &project),
            Effect::ForgetSession => storage::clear_session(),
            Effect::LoadOutbox { project, me } => {
                return Some(Input::OutboxLoaded(storage::load_outbox(&project, &me)))
            }
            Effect::SaveOutbox { project, me, pending, settled, settled_changes } => {
                storage::save_outbox(&project, &me, &pending, &settled, &settled_changes)
            }
            Effect::Ui(event) => self.show(event),
            Effect::Stop => {
                self.socket = None;
                self.timer = None;
                self.stopped = true;
            }
        }
        None
    }

    fn show(&self, event: Event) {
        let dispatch = |action| self.dispatch.emit(action);
        match event {
            Event::Connecting => dispatch(Action::Status(Status::Connecting)),
            Event::Welcome { welcome, resumed } => dispatch(Action::Welcome { welcome, resumed }),
            Event::Online => dispatch(Action::Status(Status::Online)),
            Event::Reconnecting { at_ms } => dispatch(Action::Status(if browser_online() {
                Status::Reconnecting { at_ms }
            } else {
                // The `online` event will end the wait early.
                Status::Offline { reason: "no network connection".into() }
            })),
            Event::Message { message, replayed: true } => dispatch(Action::Replayed(message)),
            Event::Message { message, replayed: false } => dispatch(Action::Message(message)),
            Event::Synced => {}
            Event::Queued { client_id, to, body, reply_to, mentions } => {
                dispatch(Action::Queued { client_id, to, body, reply_to, mentions, now: now() })
            }
            Event::Update { update, .. } => dispatch(Action::Update(update)),
            Event::Acked { client_id, id, ts } => dispatch(Action::Ack { client_id, id, ts }),
            Event::SendFailed { client_id, reason } => dispatch(Action::SendFailed { client_id, reason }),
            Event::Retrying { client_id } => dispatch(Action::Resending { client_id }),
            Event::Discarded { client_id } => dispatch(Action::Discarded { client_id }),
            Event::Server(msg) => {
                if let Some(action) = server_action(msg) {
                    dispatch(action);
                }
            }
            Event::Notice(text) => dispatch(Action::Notice(text)),
            Event::SignedOut { reason, code } => {
                dispatch(Action::SignOut);
                dispatch(Action::Status(Status::SignedOut { reason: Some(format!("{reason} ({code})")) }));
            }
        }
    }
}

/// The server frames the core passes on as they came.
fn server_action(msg: ServerMsg) -> Option<Action> {
    Some(match msg {
        ServerMsg::Presence { user, online } => Action::Presence { user, online },
        ServerMsg::Online { users } => Action::Online(users),
        ServerMsg::Typing { from, to, active } => Action::Typing { from, to, active, now: now() },
        ServerMsg::History { conversation, messages, has_more } => Action::History { conversation, messages, has_more },
        ServerMsg::Read { conversation, up_to, unread, mentions } => {
            Action::Read { conversation, up_to, unread, mentions }
        }
        ServerMsg::Search { query, before, results, has_more } => {
            Action::SearchResults { query, before, results, has_more }
        }
        ServerMsg::UserUpdated { user } => Action::UserUpdated(user),
        ServerMsg::UserErased { user } => Action::UserErased(user),
        ServerMsg::Users { users, has_more, .. } => Action::Directory { members: users, has_more },
        _ => return None,
    })
}

/// One socket: reports its opening, its frames and its end; writes what
/// the driver sends it; closes when the driver drops its sender.
async fn socket_task(generation: u64, reports: UnboundedSender<Report>, mut outgoing: UnboundedReceiver<ClientMsg>) {
    let report = |input| {
        let _ = reports.unbounded_send((generation, input));
    };
    let dropped = || Input::Closed { code: 1006, reason: String::new() };
    let Ok(mut ws) = WebSocket::open(&page_ws_url()) else { return report(dropped()) };
    // Ready to write once open (or failed: the error wakes it too).
    let opened = futures::future::poll_fn(|cx| ws.poll_ready_unpin(cx)).await;
    if opened.is_err() || !matches!(ws.state(), SocketState::Open) {
        return report(dropped());
    }
    report(Input::Opened);
    loop {
        futures::select! {
            frame = ws.next().fuse() => match frame {
                Some(Ok(Message::Text(t))) => {
                    // A newer server's message type is ignored.
                    if let Some(msg) = ServerMsg::from_frame(&t) {
                        report(Input::Frame(msg));
                    }
                }
                Some(Ok(Message::Bytes(_))) => {}
                Some(Err(WebSocketError::ConnectionClose(close))) => {
                    return report(Input::Closed { code: close.code, reason: close.reason });
                }
                Some(Err(_)) | None => return report(dropped()),
            },
            msg = outgoing.next() => match msg {
                Some(msg) => {
                    if ws.send(Message::Text(to_json(&msg))).await.is_err() {
                        return report(dropped());
                    }
                }
                None => {
                    let _ = ws.close(Some(1000), None);
                    return;
                }
            },
        }
    }
}

fn to_json(msg: &ClientMsg) -> String {
    // Our own types always serialize.
    serde_json::to_string(msg).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{core_command, ws_url, Command};
    use client_core::Command as CoreCommand;
    use protocol::{ClientMsg, Conversation, MessageId, UserId};

    #[test]
    fn every_request_the_app_makes_reaches_the_core() {
        // A frame the driver does not map is dropped: the people directory
        // was never asked for while `users` fell through here.
        let requests = [
            ClientMsg::Typing { to: Conversation::Room, active: true },
            ClientMsg::History { conversation: Conversation::Room, before: None, limit: Some(50) },
            ClientMsg::Read { conversation: Conversation::Room, up_to: MessageId(3) },
            ClientMsg::Users { query: None, after: Some(UserId::new("u1").unwrap()), limit: Some(200) },
            ClientMsg::Edit { id: MessageId(3), body: "fixed".into() },
            ClientMsg::Delete { id: MessageId(3) },
            ClientMsg::React { id: MessageId(3), emoji: "👍".into(), on: true },
            ClientMsg::Search { query: "lunch".into(), before: Some(MessageId(9)), limit: Some(20) },
        ];
        for request in requests {
            assert!(core_command(Command::Frame(request.clone())).is_some(), "{request:?} is dropped");
        }
        assert_eq!(
            core_command(Command::Frame(ClientMsg::Users { query: Some("al".into()), after: None, limit: None })),
            Some(CoreCommand::Users { query: Some("al".into()), after: None, limit: None })
        );
        assert_eq!(
            core_command(Command::Frame(ClientMsg::React { id: MessageId(3), emoji: "🎉".into(), on: false })),
            Some(CoreCommand::React { id: MessageId(3), emoji: "🎉".into(), on: false })
        );
        // A reply with mentions keeps both on its way to the core.
        let ann = UserId::new("ann").unwrap();
        let send = Command::Send {
            to: Conversation::Room,
            body: "@ann".into(),
            reply_to: Some(MessageId(2)),
            mentions: vec![ann.clone()],
        };
        assert_eq!(
            core_command(send),
            Some(CoreCommand::Send {
                to: Conversation::Room,
                body: "@ann".into(),
                reply_to: Some(MessageId(2)),
                mentions: vec![ann]
            })
        );
    }

    /// The frames the app's requests answer reach the reducer.
    #[test]
    fn search_answers_and_mention_counts_reach_the_reducer() {
        use crate::state::Action;
        use protocol::ServerMsg;
        let answer = ServerMsg::Search { query: "x".into(), before: None, results: vec![], has_more: true };
        assert!(matches!(super::server_action(answer), Some(Action::SearchResults { has_more: true, .. })));
        let read = ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(4), unread: 3, mentions: 1 };
        assert!(matches!(super::server_action(read), Some(Action::Read { mentions: 1, .. })));
    }

    #[test]
    fn socket_url_follows_the_page() {
        assert_eq!(ws_url("http:", "127.0.0.1:8080"), "ws://127.0.0.1:8080/ws");
        assert_eq!(ws_url("https:", "chat.example.org"), "wss://chat.example.org/ws");
    }
}
