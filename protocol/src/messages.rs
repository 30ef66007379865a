//! Every message on the wire. Each is one JSON text frame, internally tagged
//! by `"type"` in snake_case. Receivers ignore fields they do not know, so
//! fields can be added without a version bump.

use crate::ids::{ClientMsgId, MessageId, ProjectId, UserId};
use crate::limits::Limits;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// A conversation, seen from the user who names it: the project room, or the
/// direct conversation with one other user.
// Read through `ConversationRepr`: a derived internally tagged enum is
// read by buffering it into a generic tree first, which costs the web app's
// wasm a second copy of the code (see `frame.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "ConversationRepr")]
pub enum Conversation {
    /// The room everyone in the project is in.
    Room,
    /// The direct conversation with `user`.
    Direct { user: UserId },
}

/// How a [`Conversation`] is read: its tag and every field any kind has.
#[derive(Deserialize)]
struct ConversationRepr {
    kind: String,
    #[serde(default)]
    user: Option<UserId>,
}

impl TryFrom<ConversationRepr> for Conversation {
    type Error = String;

    fn try_from(repr: ConversationRepr) -> Result<Self, String> {
        match (repr.kind.as_str(), repr.user) {
            ("room", _) => Ok(Conversation::Room),
            ("direct", Some(user)) => Ok(Conversation::Direct { user }),
            ("direct", None) => Err("missing field `user`".into()),
            (other, _) => Err(format!("unknown conversation kind `{other}`")),
        }
    }
}

/// Who a user is, as the server authenticated them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub id: UserId,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
}

// ---------------------------------------------------------------- client → server

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Must be the first frame.
    Hello(Hello),
    /// A chat message to a conversation.
    Send {
        client_id: ClientMsgId,
        to: Conversation,
        body: String,
        /// The message (of the same conversation) this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
        /// Users the body names (`@name`), by id: names can change.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
    },
    /// Replaces the body of one of the user's own messages.
    Edit { id: MessageId, body: String },
    /// Deletes one of the user's own messages: its body is erased.
    Delete { id: MessageId },
    /// Adds (`on: true`) or removes the user's `emoji` reaction to message `id`.
    React { id: MessageId, emoji: String, on: bool },
    /// Full-text search in the conversations the user can see, newest first.
    Search {
        query: String,
        /// Only messages older than this id (the last id of the previous page).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<MessageId>,
        /// At most this many (capped by the server's search page size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Ephemeral: the user started (`active: true`) or stopped typing.
    Typing { to: Conversation, active: bool },
    /// A page of older messages of one conversation, newest last.
    History {
        conversation: Conversation,
        /// Only messages older than this id; `None` for the newest page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<MessageId>,
        /// At most this many (capped by `limits.history_page_max`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// The user has read `conversation` up to and including `up_to`.
    Read { conversation: Conversation, up_to: MessageId },
    /// A page of the project's people directory: every user the project has
    /// seen, online or not, ordered by name (case-insensitive), then id.
    Users {
        /// Only users whose name contains this (case-insensitive), or whose
        /// id starts with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// Only users after this one in the order (the last id of the
        /// previous page); `None` for the first page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<UserId>,
        /// At most this many (capped by the server's users page size).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Application-level liveness check (browsers cannot send WebSocket
    /// pings); answered with `pong`.
    Ping,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal [`crate::PROTOCOL_VERSION`].
    pub protocol: u32,
    pub auth: Auth,
    /// The id of the newest message this client already has. When given, the
    /// server replays everything newer for this user before live traffic,
    /// then sends `synced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<MessageId>,
    /// Asks for the replay in [`ServerMsg::Replay`] frames of many messages
    /// each, rather than one `message` frame per message: a browser pays
    /// per frame, and a long backlog is thousands of them. A server that
    /// predates it ignores the field and replays one message per frame.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay_batches: bool,
}

/// How a client proves who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Auth {
    /// A token signed by the host application, or the session token a
    /// previous `welcome` returned.
    Token {
        token: String,
        /// If given, the token must be for this project.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        project: Option<ProjectId>,
    },
    /// Guest sign-in (when the server allows it): the server assigns the id.
    Guest { name: String, color: String, project: ProjectId },
}

// ---------------------------------------------------------------- server → client

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to a good hello.
    Welcome(Welcome),
    /// A chat message, live or replayed.
    Message(ChatMessage),
    /// Replayed messages, oldest first, for a hello that asked for
    /// `replay_batches`: the same as a `message` frame for each, in order.
    Replay { messages: Vec<ChatMessage> },
    /// A change to a stored message (edit, deletion, reactions), live or
    /// replayed; its own `id` is in the same sequence as messages.
    Update(Update),
    /// The sender's own `send` was accepted (and stored) as message `id`.
    Ack {
        client_id: ClientMsgId,
        id: MessageId,
        ts: Millis,
        /// True when this `client_id` had been accepted before: `id` is the
        /// original message and nothing new was created.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        duplicate: bool,
    },
    /// A user's first connection opened (`online: true`) or last closed.
    Presence { user: Profile, online: bool },
    /// Everyone online in the project now (you included), replacing what
    /// `welcome.online` and `presence` events said: sent after presence
    /// events for this connection had to be dropped (its queue was filling
    /// up), once it has caught up.
    Online { users: Vec<Profile> },
    /// Ephemeral: `from` is typing (or stopped) in `to`.
    Typing { from: UserId, to: Conversation, active: bool },
    /// The answer to a `history` request.
    History {
        conversation: Conversation,
        /// Oldest first.
        messages: Vec<ChatMessage>,
        /// Whether older messages exist.
        has_more: bool,
    },
    /// The answer to a `users` request: one page of the directory.
    Users {
        /// The request's `query` and `after`, so an answer can be matched to
        /// the request it answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<UserId>,
        users: Vec<Member>,
        /// Whether more users follow (ask again with `after` = the last id).
        has_more: bool,
    },
    /// The answer to a `search` request: matching messages, newest first.
    Search {
        query: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<MessageId>,
        results: Vec<ChatMessage>,
        /// Whether older matches exist (ask again with `before` = the last id).
        has_more: bool,
    },
    /// The user's read marker for a conversation moved (on any of their connections).
    Read {
        conversation: Conversation,
        up_to: MessageId,
        unread: u32,
        /// How many of the unread messages mention the user.
        #[serde(default, skip_serializing_if = "is_zero")]
        mentions: u32,
    },
    /// The replay after `hello.cursor` is complete; live traffic follows.
    Synced {
        /// The newest message id delivered so far, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<MessageId>,
    },
    /// Something the client sent was refused; the connection stays open
    /// unless a close frame follows.
    Error {
        code: ErrorCode,
        message: String,
        /// Set when the error refers to a `send`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientMsgId>,
        /// Set when the error refers to an `edit`, `delete` or `react` of
        /// this message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<MessageId>,
    },
    /// The answer to `ping`.
    Pong,
    /// A user's profile changed (the host application set it through the
    /// HTTP API): show `user.name` and `user.color` from now on, in the
    /// online list, the directory and on their messages. When `user.id` is
    /// you, it is your new `me`.
    UserUpdated { user: Profile },
    /// A user was erased: forget every message they sent (in every
    /// conversation) and drop them from the online list. Sent live, and
    /// again in the replay after a `hello.cursor` older than the erasure.
    UserErased { user: UserId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub me: Profile,
    pub project: ProjectId,
    /// Present this token (`auth.kind = "token"`) to reconnect as the same user.
    pub session_token: String,
    /// When `session_token` expires.
    pub session_expires: Millis,
    /// Users of the project with at least one open connection, including `me`.
    pub online: Vec<Profile>,
    /// Unread counts of conversations that have any.
    #[serde(default)]
    pub unread: Vec<UnreadCount>,
    pub limits: Limits,
    /// The emoji a message can be reacted with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<String>,
}

/// One entry of the people directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: Profile,
    /// Whether the user has an open connection now.
    pub online: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadCount {
    pub conversation: Conversation,
    pub count: u32,
    /// The user's read marker in it, if they ever set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_up_to: Option<MessageId>,
    /// How many of the unread messages mention the user.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mentions: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The reserved prefix of system senders' user ids (bots the host
/// application posts as through the HTTP API). No token, guest or session
/// can carry such an id, so a message from `bot:…` always comes from the
/// host application.
pub const BOT_ID_PREFIX: &str = "bot:";

impl UserId {
    /// Whether this id is a system sender's ([`BOT_ID_PREFIX`]).
    pub fn is_bot(&self) -> bool {
        self.as_str().starts_with(BOT_ID_PREFIX)
    }
}

/// A stored chat message as delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub ts: Millis,
    /// Stamped by the server from the sender's authenticated session.
    pub from: Profile,
    /// `room`, or `direct` with the addressee's id.
    pub to: Conversation,
    /// Empty when `deleted`.
    pub body: String,
    /// The sender's id for this message, so their other tabs can match it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<ClientMsgId>,
    /// When the body was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Millis>,
    /// The message was deleted: a tombstone, its body erased.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The message this one answers, as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Quote>,
    /// Reactions, in the server's emoji order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Users the body mentions, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<UserId>,
}

pub(crate) fn conversation_seen_by(me: &UserId, from: &UserId, to: &Conversation) -> Conversation {
    match to {
        Conversation::Room => Conversation::Room,
        Conversation::Direct { user } if user == me => Conversation::Direct { user: from.clone() },
        Conversation::Direct { user } => Conversation::Direct { user: user.clone() },
    }
}

impl ChatMessage {
    /// The conversation this message belongs to, seen from `me`: the room, or
    /// the direct conversation with the other party.
    pub fn conversation_for(&self, me: &UserId) -> Conversation {
        conversation_seen_by(me, &self.from.id, &self.to)
    }

    /// A message with only the fields every message has (tests, tools).
    pub fn plain(id: MessageId, ts: Millis, from: Profile, to: Conversation, body: String) -> Self {
        ChatMessage {
            id,
            ts,
            from,
            to,
            body,
            client_id: None,
            edited_at: None,
            deleted: false,
            reply_to: None,
            reactions: Vec::new(),
            mentions: Vec::new(),
        }
    }
}

/// Why a client frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON.
    Malformed,
    /// The JSON had no `type`, or one this server does not know.
    UnknownType,
    /// A known `type` with missing or invalid fields.
    InvalidMessage,
    /// Binary frames are not part of the protocol.
    BinaryFrame,
    /// A frame other than `hello` came before the hello.
    HelloRequired,
    /// A second `hello` on the same connection.
    HelloRepeated,
    /// The hello was refused; a close frame with the specific code follows.
    HelloRefused,
    /// The addressee is not a known user of this project.
    UnknownUser,
    /// The body was empty or blank.
    BodyEmpty,
    /// The body exceeded `limits.max_body_chars`.
    BodyTooLong,
    /// Over `limits.rate_per_sec`; the frame was dropped.
    RateLimited,
    /// The server could not store the message; resend it later with the same `client_id`.
    Unavailable,
    /// The message named (`edit`, `delete`, `react`, `send.reply_to`) does
    /// not exist, or not in a conversation the user can see.
    UnknownMessage,
    /// Only a message's author may edit or delete it.
    NotAuthor,
    /// The message is older than the server's edit window.
    EditWindowClosed,
    /// The message was deleted: it cannot be edited or reacted to.
    MessageDeleted,
    /// The emoji is not one of the server's reactions (`welcome.reactions`).
    UnknownReaction,
    /// More mentions than `limits.max_mentions`.
    TooManyMentions,
}

mod life;
pub use life::{Change, Quote, Reaction, Update};

#[cfg(test)]
mod tests;
