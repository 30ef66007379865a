//! The chat connection: connects, says hello, keeps the identity, reconnects
//! with exponential backoff and jitter, resends unacknowledged messages, and
//! turns server frames into [`Action`]s. It speaks only `protocol` types.

use crate::services::storage;
use crate::state::{Action, Status};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use protocol::close::should_reconnect;
use protocol::session::{ClientSession, Received};
use protocol::{Auth, ClientMsg, ClientMsgId, CloseCode, Conversation, ErrorCode, Limits, ServerMsg};
use yew::Callback;

/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF_MS`].
const BASE_BACKOFF_MS: f64 = 500.0;
const MAX_BACKOFF_MS: f64 = 30_000.0;
/// Application pings (browsers cannot send WebSocket pings). A ping still
/// unanswered, with no other frame either, when the next one is due means
/// the link is dead: detected within two intervals.
const PING_EVERY_MS: u32 = 20_000;
/// Wait before resending a send the server asked us to retry.
const RESEND_AFTER_MS: u32 = 1_500;
/// A socket that has not opened by then (an unanswered SYN, say) is given up.
const CONNECT_TIMEOUT_MS: u32 = 10_000;

pub enum Command {
    /// A new chat message from the composer.
    Send {
        to: Conversation,
        body: String,
    },
    /// Any other frame (typing, history, read); dropped while offline.
    Frame(ClientMsg),
    /// Skip the backoff wait.
    RetryNow,
    /// The browser says the network is gone: drop the link now rather than
    /// wait for pings to go unanswered.
    NetworkLost,
    /// Resend every unacknowledged message.
    ResendPending,
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

/// Exponential backoff with "equal jitter": half fixed, half random, so a
/// server restart is not met by every client at the same instant.
pub fn backoff_ms(attempt: u32, random: f64) -> f64 {
    let cap = (BASE_BACKOFF_MS * 2f64.powi(attempt.min(16) as i32)).min(MAX_BACKOFF_MS);
    cap / 2.0 + cap / 2.0 * random.clamp(0.0, 1.0)
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

enum Outcome {
    Retry,
    Stop,
}

struct Connection {
    auth: Auth,
    dispatch: Callback<Action>,
    tx: UnboundedSender<Command>,
    session: ClientSession,
    limits: Limits,
    attempt: u32,
    /// The server's explanation of a refused hello, shown with the close.
    refusal: Option<String>,
    /// Between a resumed welcome and `synced`: messages are the replay of
    /// what we missed, already counted in the welcome's unread counts.
    replaying: bool,
    /// Project and user id from the first welcome: whose saved outbox
    /// (`storage::save_outbox`) this connection keeps up to date.
    owner: Option<(String, String)>,
}

async fn run(auth: Auth, dispatch: Callback<Action>, tx: UnboundedSender<Command>, mut rx: UnboundedReceiver<Command>) {
    let _network = network_listeners(&tx);
    let prefix = format!("{:x}{:x}", now() as u64, (js_sys::Math::random() * 1e9) as u64);
    let mut conn = Connection {
        auth,
        dispatch,
        tx,
        session: ClientSession::new(prefix),
        limits: Limits::default(),
        attempt: 0,
        refusal: None,
        replaying: false,
        owner: None,
    };
    loop {
        conn.dispatch.emit(Action::Status(Status::Connecting));
        if let Outcome::Stop = conn.connect_once(&mut rx).await {
            return;
        }
        let delay = backoff_ms(conn.attempt, js_sys::Math::random());
        conn.attempt += 1;
        conn.dispatch.emit(Action::Status(if browser_online() {
            Status::Reconnecting { at_ms: now() + delay }
        } else {
            // The `online` event will end the wait early.
            Status::Offline { reason: "no network connection".into() }
        }));
        let mut wait = gloo_timers::future::TimeoutFuture::new(delay as u32).fuse();
        loop {
            futures::select! {
                _ = wait => break,
                command = rx.next() => match command {
                    Some(Command::RetryNow) => break,
                    Some(Command::Send { to, body }) => {
                        conn.queue(to, body);
                    }
                    Some(Command::SignOut) | None => return,
                    Some(_) => {} // typing, history, read: meaningless offline
                },
            }
        }
    }
}

impl Connection {
    /// Queues a message (shown as pending at once); returns the frame to
    /// send, or `None` if it can never be sent.
    fn queue(&mut self, to: Conversation, body: String) -> Option<ClientMsg> {
        let frame = self.session.send(to.clone(), body.clone());
        let ClientMsg::Send { client_id, .. } = &frame else { return None };
        let client_id = client_id.clone();
        self.dispatch.emit(Action::Queued { client_id: client_id.clone(), to, body, now: now() });
        if !self.fits(&frame, &client_id) {
            return None;
        }
        self.save_outbox(&[]);
        Some(frame)
    }

    /// Escaping can make a body within the character limit too big for a
    /// frame, and the limit may have shrunk since a saved send was queued;
    /// the server would close the socket (1009) on every resend. Such a
    /// send fails at once instead.
    fn fits(&mut self, frame: &ClientMsg, client_id: &ClientMsgId) -> bool {
        if to_json(frame).len() <= self.limits.max_frame_bytes {
            return true;
        }
        self.session.forget(client_id);
        self.dispatch.emit(Action::SendFailed { client_id: client_id.clone(), reason: "too long to send".into() });
        false
    }

    async fn connect_once(&mut self, rx: &mut UnboundedReceiver<Command>) -> Outcome {
        let Ok(ws) = WebSocket::open(&page_ws_url()) else { return Outcome::Retry };
        let (mut write, read) = ws.split();
        let mut read = read.fuse();
        // With a cursor the server replays what we missed; without one,
        // every conversation is fetched again as it is shown.
        let resumed = self.session.cursor().is_some();
        // Sending waits for the socket to open.
        let hello = text(&self.session.hello(self.auth.clone()));
        futures::select! {
            sent = write.send(hello).fuse() => if sent.is_err() { return Outcome::Retry },
            _ = gloo_timers::future::TimeoutFuture::new(CONNECT_TIMEOUT_MS).fuse() => return Outcome::Retry,
        }
        let mut welcomed = false;
        let mut last_heard = now();
        let mut ping_sent: Option<f64> = None;
        let mut ping = gloo_timers::future::IntervalStream::new(PING_EVERY_MS).fuse();
        loop {
            futures::select! {
                frame = read.next() => {
                    last_heard = now();
                    let msg = match frame {
                        Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMsg>(&t) {
                            Ok(msg) => msg,
                            Err(_) => continue, // a newer server's message type: ignore
                        },
                        Some(Ok(Message::Bytes(_))) => continue,
                        Some(Err(WebSocketError::ConnectionClose(close))) => return self.closed(close.code, &close.reason),
                        Some(Err(_)) | None => return Outcome::Retry,
                    };
                    if let ServerMsg::Welcome(_) = &msg {
                        welcomed = true;
                        self.attempt = 0;
                        self.welcome(msg, resumed);
                        let pending: Vec<ClientMsg> = self.session.pending().collect();
                        for f in pending {
                            if write.send(text(&f)).await.is_err() {
                                return Outcome::Retry;
                            }
                        }
                        continue;
                    }
                    self.handle(msg);
                }
                command = rx.next() => {
                    let frames = match command {
                        Some(Command::Send { to, body }) => self.queue(to, body).into_iter().collect(),
                        Some(Command::Frame(f)) => vec![f],
                        Some(Command::ResendPending) => self.session.pending().collect(),
                        Some(Command::RetryNow) => vec![],
                        Some(Command::NetworkLost) => return Outcome::Retry,
                        Some(Command::SignOut) | None => {
                            let _ = write.close().await;
                            return Outcome::Stop;
                        }
                    };
                    // Before the welcome, sends wait in the session's outbox
                    // (resent on welcome); other frames are dropped.
                    if welcomed {
                        for f in frames {
                            if write.send(text(&f)).await.is_err() {
                                return Outcome::Retry;
                            }
                        }
                    }
                }
                _ = ping.next() => {
                    if ping_sent.is_some_and(|sent| last_heard < sent) {
                        return Outcome::Retry; // not even a pong since the last ping
                    }
                    if write.send(text(&ClientMsg::Ping)).await.is_err() {
                        return Outcome::Retry;
                    }
                    ping_sent = Some(now());
                }
            }
        }
    }

    fn welcome(&mut self, msg: ServerMsg, resumed: bool) {
        self.session.receive(&msg);
        let ServerMsg::Welcome(w) = msg else { return };
        storage::save_session(&w.session_token, w.session_expires, w.project.as_str());
        self.auth = Auth::Token { token: w.session_token.clone(), project: Some(w.project.clone()) };
        self.limits = w.limits;
        self.refusal = None;
        self.replaying = resumed;
        let owner = (w.project.as_str().to_owned(), w.me.id.as_str().to_owned());
        self.dispatch.emit(Action::Welcome { welcome: w, resumed });
        // What an earlier page load could not send: shown as pending, and
        // resent with the rest right after this welcome.
        let mut refused = Vec::new();
        if self.owner.is_none() {
            let saved = storage::load_outbox(&owner.0, &owner.1);
            for (client_id, to, body) in self.session.restore(saved) {
                let frame = ClientMsg::Send {
                    client_id: client_id.clone(),
                    to: to.clone(),
                    body: body.clone(),
                    reply_to: None,
                    mentions: Vec::new(),
                };
                self.dispatch.emit(Action::Queued { client_id: client_id.clone(), to, body, now: now() });
                if !self.fits(&frame, &client_id) {
                    refused.push(client_id);
                }
            }
        }
        self.owner = Some(owner);
        self.save_outbox(&refused);
        self.dispatch.emit(Action::Status(Status::Online));
    }

    /// Saves this tab's pending sends, and drops from the saved outbox the
    /// ones it has `settled` (after every change: the page may go away at
    /// any moment).
    fn save_outbox(&self, settled: &[ClientMsgId]) {
        if let Some((project, me)) = &self.owner {
            storage::save_outbox(project, me, &self.session.pending().collect::<Vec<_>>(), settled);
        }
    }

    fn handle(&mut self, msg: ServerMsg) {
        let received = self.session.receive(&msg);
        let action = match msg {
            ServerMsg::Welcome(_) => return, // handled by `welcome`; a second one is ignored
            ServerMsg::Message(m) => match received {
                Received::Duplicate => return,
                _ if self.replaying => Action::Replayed(m),
                _ => Action::Message(m),
            },
            ServerMsg::Ack { client_id, id, ts, .. } => {
                self.save_outbox(std::slice::from_ref(&client_id));
                Action::Ack { client_id, id, ts }
            }
            ServerMsg::Presence { user, online } => Action::Presence { user, online },
            ServerMsg::Online { users } => Action::Online(users),
            ServerMsg::Typing { from, to, active } => Action::Typing { from, to, active, now: now() },
            ServerMsg::History { conversation, messages, has_more } => {
                Action::History { conversation, messages, has_more }
            }
            ServerMsg::Read { conversation, up_to, unread, .. } => Action::Read { conversation, up_to, unread },
            ServerMsg::Error { code, message, client_id: Some(client_id), .. } => match code {
                ErrorCode::RateLimited | ErrorCode::Unavailable => {
                    let tx = self.tx.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        gloo_timers::future::TimeoutFuture::new(RESEND_AFTER_MS).await;
                        let _ = tx.unbounded_send(Command::ResendPending);
                    });
                    return;
                }
                _ => {
                    self.session.forget(&client_id);
                    self.save_outbox(std::slice::from_ref(&client_id));
                    Action::SendFailed { client_id, reason: message }
                }
            },
            ServerMsg::Error { code: ErrorCode::HelloRefused, message, .. } => {
                // The close frame that follows says whether to retry.
                self.refusal = Some(message);
                return;
            }
            ServerMsg::Error { message, .. } => Action::Notice(message),
            ServerMsg::Synced { .. } => {
                self.replaying = false;
                return;
            }
            ServerMsg::Pong => return,
            // The people directory has no view yet.
            ServerMsg::Users { .. } | ServerMsg::UserUpdated { .. } | ServerMsg::UserErased { .. } => return,
            // Edits, deletions, reactions and search have no view yet.
            ServerMsg::Update(_) | ServerMsg::Search { .. } => return,
        };
        self.dispatch.emit(action);
    }

    /// The server closed the socket: reconnect, or go back to the join form.
    fn closed(&mut self, code: u16, reason: &str) -> Outcome {
        if should_reconnect(code) {
            return Outcome::Retry;
        }
        let reason = self
            .refusal
            .take()
            .or_else(|| (!reason.is_empty()).then(|| reason.to_owned()))
            .or_else(|| CloseCode::from_code(code).map(|c| c.reason().to_owned()))
            .unwrap_or_else(|| "refused by the server".into());
        if matches!(
            CloseCode::from_code(code),
            Some(CloseCode::AuthFailed | CloseCode::TokenExpired | CloseCode::WrongProject)
        ) {
            // This identity is no good any more: do not try it on reload.
            storage::clear_session();
        }
        self.dispatch.emit(Action::SignOut);
        self.dispatch.emit(Action::Status(Status::SignedOut { reason: Some(format!("{reason} ({code})")) }));
        Outcome::Stop
    }
}

fn to_json(msg: &ClientMsg) -> String {
    // Our own types always serialize.
    serde_json::to_string(msg).unwrap_or_default()
}

fn text(msg: &ClientMsg) -> Message {
    Message::Text(to_json(msg))
}

#[cfg(test)]
mod tests {
    use super::{backoff_ms, ws_url};

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff_ms(0, 0.0), 250.0);
        assert_eq!(backoff_ms(0, 1.0), 500.0);
        assert_eq!(backoff_ms(3, 1.0), 4000.0);
        assert_eq!(backoff_ms(30, 1.0), 30_000.0);
        assert_eq!(backoff_ms(30, 0.0), 15_000.0);
    }

    #[test]
    fn socket_url_follows_the_page() {
        assert_eq!(ws_url("http:", "127.0.0.1:8080"), "ws://127.0.0.1:8080/ws");
        assert_eq!(ws_url("https:", "chat.example.org"), "wss://chat.example.org/ws");
    }
}
