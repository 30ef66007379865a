//! The chat client's decisions, with no I/O: what to send when, what a
//! server frame means, when to reconnect and when to give up. A driver (the
//! web app's `services/socket.rs`, `chat-cli`) owns the socket, the timer
//! and the storage; it feeds [`Input`]s to [`ClientCore::handle`] and
//! performs the [`Effect`]s it returns, in order.
//!
//! Architecture invariant: this crate knows nothing about tokio, web-sys or
//! yew, reads no clock and draws no random number: time and randomness come
//! in with every input ([`Moment`]), so every rule is tested natively.

mod backoff;
pub mod compose;
mod core;
pub mod life;
mod pacing;

pub use crate::core::{ClientCore, CONNECT_TIMEOUT_MS, MAX_IN_FLIGHT, PING_EVERY_MS, RESEND_AFTER_MS};
pub use backoff::{backoff_ms, BASE_BACKOFF_MS, MAX_BACKOFF_MS};
pub use pacing::{TokenBucket, SAFETY_MARGIN};

use protocol::{
    ChatMessage, ClientMsg, ClientMsgId, Conversation, MessageId, Millis, ServerMsg, Update, UserId, Welcome,
};

/// When an input happens: the wall clock in ms, and a random number in
/// 0..=1 for the backoff's jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Moment {
    pub now_ms: f64,
    pub random: f64,
}

/// Something that happened to the client.
// Inputs and effects live for one call of `handle`, one at a time, and are
// never stored in bulk: a box per frame would cost more than the size.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Begin: connect for the first time.
    Start,
    /// The socket the core asked for ([`Effect::Connect`]) is open.
    Opened,
    /// A frame from the server.
    Frame(ServerMsg),
    /// The socket closed: the server's close code and reason, or 1006 with
    /// no reason when it failed or dropped.
    Closed {
        code: u16,
        reason: String,
    },
    /// The answer to [`Effect::LoadOutbox`]: what an earlier run saved.
    OutboxLoaded(Vec<ClientMsg>),
    /// The wake-up asked for with [`Effect::WakeAfter`] (an early one is
    /// harmless).
    Tick,
    Command(Command),
}

/// What the user (or the UI on their behalf) asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A new chat message: queued at once, sent in order when the pace allows.
    Send {
        to: Conversation,
        body: String,
        /// The message (of the same conversation) it answers.
        reply_to: Option<MessageId>,
        /// Who the body names, by id.
        mentions: Vec<UserId>,
    },
    /// Changes to stored messages (answered by the `update` every client
    /// concerned gets): queued like sends, online or not, and sent again
    /// after a reconnect until their update or a refusal comes.
    Edit {
        id: MessageId,
        body: String,
    },
    Delete {
        id: MessageId,
    },
    React {
        id: MessageId,
        emoji: String,
        on: bool,
    },
    /// A page of search results (newest first; `before` pages on).
    Search {
        query: String,
        before: Option<MessageId>,
        limit: Option<u32>,
    },
    Typing {
        to: Conversation,
        active: bool,
    },
    History {
        conversation: Conversation,
        before: Option<MessageId>,
        limit: Option<u32>,
    },
    Read {
        conversation: Conversation,
        up_to: MessageId,
    },
    /// A page of the project's people directory.
    Users {
        query: Option<String>,
        after: Option<UserId>,
        limit: Option<u32>,
    },
    /// Queue a send that failed ([`Event::SendFailed`]) again, same client id.
    Retry(ClientMsgId),
    /// Give up a failed send for good.
    Discard(ClientMsgId),
    /// Skip the backoff wait.
    RetryNow,
    /// The network is gone (the browser said so): drop the link now rather
    /// than wait for pings to go unanswered.
    NetworkLost,
    SignOut,
}

/// What the driver must do.
#[allow(clippy::large_enum_variant)] // as for `Input`
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Open a socket to the server; report [`Input::Opened`] or
    /// [`Input::Closed`].
    Connect,
    /// Send this frame now.
    Send(ClientMsg),
    /// Close the current socket (the core already counts it as closed; no
    /// [`Input::Closed`] is expected for it).
    CloseSocket,
    /// Call back with [`Input::Tick`] after this many ms (replaces any
    /// earlier wake-up; asked again only when the time to wake moves).
    WakeAfter(f64),
    /// Keep the identity for the next run.
    SaveSession { token: String, expires: Millis, project: String },
    /// This identity is no good any more: do not try it again.
    ForgetSession,
    /// Load what an earlier run saved for this user; answer with
    /// [`Input::OutboxLoaded`].
    LoadOutbox { project: String, me: String },
    /// Save these unacknowledged sends and unanswered edits, deletions and
    /// reactions, and drop from the saved outbox the sends `settled`
    /// (acknowledged or given up) and the changes `settled_changes`
    /// (answered or refused), also where another tab saved them.
    SaveOutbox {
        project: String,
        me: String,
        pending: Vec<ClientMsg>,
        settled: Vec<ClientMsgId>,
        settled_changes: Vec<ClientMsg>,
    },
    /// Tell the user.
    Ui(Event),
    /// The core is done (signed out or refused for good); nothing more will
    /// come from it.
    Stop,
}

/// What the user should see.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Connecting,
    /// `resumed`: the hello carried a cursor, so the server replays what
    /// was missed; otherwise every conversation must be fetched again.
    Welcome {
        welcome: Welcome,
        resumed: bool,
    },
    Online,
    /// Waiting before the next attempt, until `at_ms`.
    Reconnecting {
        at_ms: f64,
    },
    /// A new message; `replayed` ones (before `synced`) are already counted
    /// in the welcome's unread counts.
    Message {
        message: ChatMessage,
        replayed: bool,
    },
    /// The replay after a resumed welcome is complete.
    Synced,
    /// Our own send, shown as pending until it is acked or fails.
    Queued {
        client_id: ClientMsgId,
        to: Conversation,
        body: String,
        reply_to: Option<MessageId>,
        mentions: Vec<UserId>,
    },
    /// A stored message changed (not seen before); `replayed` ones came
    /// before `synced`.
    Update {
        update: Update,
        replayed: bool,
    },
    Acked {
        client_id: ClientMsgId,
        id: MessageId,
        ts: Millis,
    },
    /// A send that cannot be delivered as it is: offer Retry and Discard.
    SendFailed {
        client_id: ClientMsgId,
        reason: String,
    },
    /// A failed send is queued again.
    Retrying {
        client_id: ClientMsgId,
    },
    /// A failed send was given up.
    Discarded {
        client_id: ClientMsgId,
    },
    /// Presence, online list, typing, history and read: nothing for the
    /// core to decide, passed on as they came.
    Server(ServerMsg),
    /// An error the server reported that is not about a send.
    Notice(String),
    /// Refused for good: `reason` is written for people, with the close code.
    SignedOut {
        reason: String,
        code: u16,
    },
}

impl Command {
    /// A plain message: no reply, no mention.
    pub fn send(to: Conversation, body: String) -> Self {
        Command::Send { to, body, reply_to: None, mentions: Vec::new() }
    }
}

#[cfg(test)]
mod tests;
