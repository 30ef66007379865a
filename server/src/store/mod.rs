//! Durable storage: the only place messages are kept.
//!
//! Architecture invariant: the rest of the server sees only the [`Store`]
//! trait. It is narrow on purpose, so that a shared database for several
//! nodes can implement it; [`conformance`] is its test suite, run against
//! every implementation.

use async_trait::async_trait;
use protocol::{
    ChatMessage, ClientMsgId, Conversation, MessageId, Millis, Profile, ProjectId, ServerMsg, UnreadCount, Update,
    UserId,
};

#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
mod sqlite;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// A blocking database task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// A stored row no longer parses (written by something else?).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Creating the data directory or opening the file failed.
    #[error("cannot open store: {0}")]
    Open(#[from] std::io::Error),
}

/// A message accepted from a client, not yet stored.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub project: ProjectId,
    pub from: Profile,
    pub to: Conversation,
    pub body: String,
    pub client_id: ClientMsgId,
    pub ts: Millis,
    /// The message this one answers; ignored unless it is in the same
    /// conversation of the same project.
    pub reply_to: Option<MessageId>,
    /// Users mentioned (other than the sender), each once.
    pub mentions: Vec<UserId>,
}

/// A change to a stored message, not yet stored.
#[derive(Debug, Clone)]
pub struct NewChange {
    pub project: ProjectId,
    /// Who makes it.
    pub by: UserId,
    pub target: MessageId,
    pub ts: Millis,
    pub kind: ChangeKind,
    pub authority: Authority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Replace the body, if the message is at most `window` old.
    Edit { body: String, window: Option<Millis> },
    /// Erase the body (and its reactions and mentions); a tombstone stays.
    Delete,
    /// Add (`on`) or remove `by`'s `emoji` reaction (the caller checks
    /// the emoji against the configured set).
    React { emoji: String, on: bool },
}

/// On whose authority a change is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// A user of the project: edits and deletes only their own messages,
    /// reacts only to messages in conversations they are in.
    Member,
    /// The host application or a moderator: any message of the project
    /// (deletion; the seam in `moderation.rs`).
    Moderator,
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// No such message in a conversation `by` can see (not told apart from
    /// "does not exist", so that ids reveal nothing).
    #[error("no such message")]
    UnknownMessage,
    /// A member's edit or deletion of someone else's message.
    #[error("only its author can change this message")]
    NotAuthor,
    /// An edit after the edit window.
    #[error("the edit window for this message has closed")]
    EditWindowClosed,
    /// An edit, reaction or second deletion of a deleted message.
    #[error("the message was deleted")]
    Deleted,
}

/// One write of a group commit.
// Batches are short-lived; boxing would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Write {
    Message(NewMessage),
    Change(NewChange),
}

impl From<NewMessage> for Write {
    fn from(message: NewMessage) -> Self {
        Write::Message(message)
    }
}

impl From<NewChange> for Write {
    fn from(change: NewChange) -> Self {
        Write::Change(change)
    }
}

/// The outcome of one [`Write`].
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Message(Appended),
    Change(Result<Update, Refused>),
}

/// One entry of the log a client resumes from: a message (in its current
/// state) or a change to one, in id order.
#[allow(clippy::large_enum_variant)] // read a page at a time, written out at once
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    Message(ChatMessage),
    Update(Update),
}

impl LogEntry {
    pub fn id(&self) -> MessageId {
        match self {
            LogEntry::Message(m) => m.id,
            LogEntry::Update(u) => u.id,
        }
    }

    /// The frame a client receives for it.
    pub fn into_server_msg(self) -> ServerMsg {
        match self {
            LogEntry::Message(m) => ServerMsg::Message(m),
            LogEntry::Update(u) => ServerMsg::Update(u),
        }
    }
}

/// The outcome of storing one [`NewMessage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub message: ChatMessage,
    /// The same (project, sender, client id) was stored before: `message` is
    /// the original and nothing new was written.
    pub duplicate: bool,
}

/// One page of a conversation (oldest first), or of search results
/// (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    pub has_more: bool,
}

/// One page of a project's people directory, in directory order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPage {
    pub users: Vec<Profile>,
    pub has_more: bool,
}

/// How long messages are kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Delete messages with `ts` before this.
    pub older_than: Option<Millis>,
    /// Keep at most this many per conversation.
    pub max_per_conversation: Option<u32>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a batch of messages and changes in order, in one transaction:
    /// all or nothing, durable when this returns. Messages and stored
    /// changes get ids from one sequence, strictly increasing in batch
    /// order and across calls. A refused change writes nothing; the rest of
    /// the batch is stored. A change's [`Update`] carries the target's state
    /// after it (the whole reaction set, the new body).
    async fn append(&self, batch: Vec<Write>) -> Result<Vec<Written>, StoreError>;

    /// Records that `profile` exists in `project` (first sight starts their
    /// room read marker at the newest message, so history is not "unread").
    async fn upsert_user(&self, project: &ProjectId, profile: &Profile) -> Result<(), StoreError>;

    /// Up to `limit` users ever seen in `project`, ordered by name
    /// (case-insensitive) then id, after the user `after` in that order;
    /// with `query`, only those whose name contains it (case-insensitive)
    /// or whose id starts with it.
    async fn users(
        &self,
        project: &ProjectId,
        query: Option<&str>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError>;

    /// Whether `user` was ever seen in `project`.
    async fn user_exists(&self, project: &ProjectId, user: &UserId) -> Result<bool, StoreError>;

    /// Up to `limit` log entries (messages and changes) with id > `after`
    /// that concern `user` (the room and their direct conversations), in id
    /// order. Messages come in their current state, and a change carries
    /// its target's current state (an edit of a message deleted since
    /// replays as its deletion), so replaying converges on what `history`
    /// shows.
    async fn messages_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError>;

    /// Up to `limit` messages of `conversation` (seen from `user`) older than
    /// `before`, oldest first, in their current state (edited body,
    /// tombstones of deleted ones, reactions, quotes of replies).
    async fn history(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError>;

    /// Moves `user`'s read marker in `conversation` forward to `up_to` (never
    /// back) and returns the resulting unread count.
    async fn mark_read(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        up_to: MessageId,
    ) -> Result<UnreadCount, StoreError>;

    /// Unread counts of `user`'s conversations that have any.
    async fn unread(&self, project: &ProjectId, user: &UserId) -> Result<Vec<UnreadCount>, StoreError>;

    /// Up to `limit` messages matching every word of `query` (the last one
    /// as a prefix), newest first, with ids below `before`, from the
    /// conversations `user` can see: the project's room and their direct
    /// ones. Edited text is found by its new words only; deleted messages
    /// are not found, and their text is gone from the index.
    async fn search(
        &self,
        project: &ProjectId,
        user: &UserId,
        query: &str,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError>;

    /// Deletes what the policy no longer keeps; returns how many messages.
    async fn prune(&self, retention: Retention) -> Result<u64, StoreError>;
}

/// The storage key of a conversation: the same for both sides of a direct one.
pub fn conversation_key(me: &UserId, conversation: &Conversation) -> String {
    match conversation {
        Conversation::Room => "room".to_owned(),
        Conversation::Direct { user } => {
            let (a, b) = if me <= user { (me, user) } else { (user, me) };
            format!("d:{a}|{b}")
        }
    }
}

/// The conversation a storage key denotes, seen from `me`.
pub fn conversation_from_key(me: &UserId, key: &str) -> Result<Conversation, StoreError> {
    if key == "room" {
        return Ok(Conversation::Room);
    }
    let corrupt = || StoreError::Corrupt(format!("conversation key {key:?}"));
    let (a, b) = key.strip_prefix("d:").and_then(|k| k.split_once('|')).ok_or_else(corrupt)?;
    let other = if a == me.as_str() { b } else { a };
    Ok(Conversation::Direct { user: UserId::new(other).map_err(|_| corrupt())? })
}
