//! The chat connection: connects, says hello, keeps the identity, reconnects
//! with exponential backoff and jitter, resends unacknowledged messages, and
//! turns server frames into [`Action`]s. It speaks only `protocol` types.

use crate::services::storage;
use crate::state::{Action, Status};
use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use protocol::close::should_reconnect;
use protocol::session::{ClientSession, Received};
use protocol::{Auth, ClientMsg, CloseCode, Conversation, ErrorCode, ServerMsg};
use yew::Callback;

/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF_MS`].
const BASE_BACKOFF_MS: f64 = 500.0;
const MAX_BACKOFF_MS: f64 = 30_000.0;
/// Application pings (browsers cannot send WebSocket pings).
const PING_EVERY_MS: u32 = 15_000;
/// No frame for this long means the link is dead.
const DEAD_AFTER_MS: f64 = 40_000.0;
/// Wait before resending a send the server asked us to retry.
const RESEND_AFTER_MS: u32 = 1_500;
/// First history page size.
pub const HISTORY_PAGE: u32 = 50;

pub enum Command {
    /// A new chat message from the composer.
    Send { to: Conversation, body: String },
    /// Any other frame (typing, history, read); dropped while offline.
    Frame(ClientMsg),
    /// Skip the backoff wait.
    RetryNow,
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

fn ws_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let scheme = match location.as_ref().and_then(|l| l.protocol().ok()).as_deref() {
        Some("https:") => "wss:",
        _ => "ws:",
    };
    let host = location.and_then(|l| l.host().ok()).unwrap_or_else(|| "127.0.0.1:8080".into());
    format!("{scheme}//{host}/ws")
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
    attempt: u32,
}

async fn run(auth: Auth, dispatch: Callback<Action>, tx: UnboundedSender<Command>, mut rx: UnboundedReceiver<Command>) {
    let prefix = format!("{:x}{:x}", now() as u64, (js_sys::Math::random() * 1e9) as u64);
    let mut conn = Connection { auth, dispatch, tx, session: ClientSession::new(prefix), attempt: 0 };
    loop {
        conn.dispatch.emit(Action::Status(Status::Connecting));
        if let Outcome::Stop = conn.connect_once(&mut rx).await {
            return;
        }
        let delay = backoff_ms(conn.attempt, js_sys::Math::random());
        conn.attempt += 1;
        conn.dispatch.emit(Action::Status(Status::Reconnecting { at_ms: now() + delay }));
        let mut wait = futures::FutureExt::fuse(gloo_timers::future::TimeoutFuture::new(delay as u32));
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
    /// Queues a message for sending; returns the frame.
    fn queue(&mut self, to: Conversation, body: String) -> ClientMsg {
        let frame = self.session.send(to.clone(), body.clone());
        if let ClientMsg::Send { client_id, .. } = &frame {
            self.dispatch.emit(Action::Queued { client_id: client_id.clone(), to, body, now: now() });
        }
        frame
    }

    async fn connect_once(&mut self, rx: &mut UnboundedReceiver<Command>) -> Outcome {
        let Ok(ws) = WebSocket::open(&ws_url()) else { return Outcome::Retry };
        let (mut write, read) = ws.split();
        let mut read = read.fuse();
        if write.send(text(&self.session.hello(self.auth.clone()))).await.is_err() {
            return Outcome::Retry;
        }
        let mut welcomed = false;
        let mut last_heard = now();
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
                        // Fresh page: load the room's newest messages. After a
                        // reconnect the hello's cursor replays what was missed.
                        let mut frames: Vec<ClientMsg> = Vec::new();
                        if self.session.cursor().is_none() {
                            frames.push(ClientMsg::History { conversation: Conversation::Room, before: None, limit: Some(HISTORY_PAGE) });
                            self.dispatch.emit(Action::HistoryRequested(Conversation::Room));
                        }
                        frames.extend(self.session.pending());
                        self.handle(msg);
                        for f in frames {
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
                        Some(Command::Send { to, body }) => vec![self.queue(to, body)],
                        Some(Command::Frame(f)) => vec![f],
                        Some(Command::ResendPending) => self.session.pending().collect(),
                        Some(Command::RetryNow) => vec![],
                        Some(Command::SignOut) | None => {
                            let _ = write.close().await;
                            return Outcome::Stop;
                        }
                    };
                    if welcomed {
                        for f in frames {
                            if write.send(text(&f)).await.is_err() {
                                return Outcome::Retry;
                            }
                        }
                    }
                }
                _ = ping.next() => {
                    if now() - last_heard > DEAD_AFTER_MS {
                        return Outcome::Retry;
                    }
                    if write.send(text(&ClientMsg::Ping)).await.is_err() {
                        return Outcome::Retry;
                    }
                }
            }
        }
    }

    fn handle(&mut self, msg: ServerMsg) {
        let received = self.session.receive(&msg);
        let action = match msg {
            ServerMsg::Welcome(w) => {
                storage::save_token(&w.session_token);
                storage::save_project(w.project.as_str());
                self.auth = Auth::Token { token: w.session_token.clone(), project: Some(w.project.clone()) };
                self.dispatch.emit(Action::Welcome(w));
                Action::Status(Status::Online)
            }
            ServerMsg::Message(m) => {
                if received == Received::Duplicate {
                    return;
                }
                Action::Message(m)
            }
            ServerMsg::Ack { client_id, id, .. } => Action::Ack { client_id, id },
            ServerMsg::Presence { user, online } => Action::Presence { user, online },
            ServerMsg::Typing { from, to, active } => Action::Typing { from, to, active, now: now() },
            ServerMsg::History { conversation, messages, has_more } => Action::History { conversation, messages, has_more },
            ServerMsg::Read { conversation, up_to, unread } => Action::Read { conversation, up_to, unread },
            ServerMsg::Error { code, message, client_id: Some(client_id) } => match code {
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
                    Action::SendFailed { client_id, reason: message }
                }
            },
            ServerMsg::Error { message, .. } => Action::Notice(message),
            ServerMsg::Synced { .. } | ServerMsg::Pong => return,
        };
        self.dispatch.emit(action);
    }

    /// The server closed the socket: reconnect, or stop for good.
    fn closed(&mut self, code: u16, reason: &str) -> Outcome {
        if should_reconnect(code) {
            return Outcome::Retry;
        }
        let why = if reason.is_empty() { format!("closed by the server ({code})") } else { reason.to_owned() };
        let identity_lost = matches!(
            CloseCode::from_code(code),
            Some(CloseCode::AuthFailed | CloseCode::TokenExpired | CloseCode::WrongProject | CloseCode::BadHello)
        );
        if identity_lost {
            storage::clear_token();
            self.dispatch.emit(Action::SignOut);
            self.dispatch.emit(Action::Status(Status::SignedOut { reason: Some(format!("Please sign in again: {why}")) }));
        } else {
            self.dispatch.emit(Action::Status(Status::Offline { reason: why }));
        }
        Outcome::Stop
    }
}

fn text(msg: &ClientMsg) -> Message {
    // Our own types always serialize.
    Message::Text(serde_json::to_string(msg).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff_ms(0, 0.0), 250.0);
        assert_eq!(backoff_ms(0, 1.0), 500.0);
        assert_eq!(backoff_ms(3, 1.0), 4000.0);
        assert_eq!(backoff_ms(30, 1.0), 30_000.0);
        assert_eq!(backoff_ms(30, 0.0), 15_000.0);
    }
}
