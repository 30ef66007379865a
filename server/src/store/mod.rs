//! Durable storage: the only place messages are kept.
//!
//! Architecture invariant: the rest of the server sees only the [`Store`]
//! trait. It is narrow on purpose, so that a shared database for several
//! nodes can implement it; [`conformance`] is its test suite, run against
//! every implementation.

use async_trait::async_trait;
use protocol::{ChatMessage, ClientMsgId, Conversation, MessageId, Millis, Profile, ProjectId, UnreadCount, UserId};

#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
mod log;
mod postgres;
mod sqlite;
mod webhook_events;

pub use log::{Authority, ChangeKind, LogEntry, NewChange, Refused, Write, Written};
pub use postgres::{PostgresOptions, PostgresStore};
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
    /// PostgreSQL refused or failed an operation, or the connection broke.
    #[error("postgres error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had in time (database down or
    /// unreachable, or every pooled connection busy).
    #[error("no database connection: {0}")]
    Pool(String),
    /// The database URL or pool settings are invalid.
    #[error("database settings: {0}")]
    Config(String),
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
    /// Webhook events this message causes, stored in its transaction.
    pub webhooks: MessageEvents,
}

/// The webhook events a stored message causes (none by default). They are
/// written in the same transaction as the message: a message is never
/// stored without its events, nor an event without its message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageEvents {
    /// `message.created`.
    pub created: bool,
    /// `message.missed` for the addressee of a direct message that none of
    /// their connections received.
    pub missed: bool,
    /// `message.missed` (reason `unread`) due at this time, unless the
    /// addressee has read the message by then.
    pub unread_check_at: Option<Millis>,
}

/// A webhook event not caused by a message (presence), as it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// `user.online` or `user.offline`.
    pub kind: &'static str,
    pub project: ProjectId,
    pub user: Profile,
    pub at: Millis,
}

/// One webhook delivery waiting for its endpoint: the event's JSON body,
/// fixed when the event became due (so every attempt sends the same bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub event_id: String,
    pub kind: String,
    pub body: String,
    pub attempts: u32,
    /// When the event was created (ms): retries stop some time after it.
    pub created_at: Millis,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// The endpoint accepted it: forget it.
    Delivered,
    /// Try again at this time (ms).
    Retry { at: Millis },
    /// Give up on it.
    Drop,
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

/// What the store knows about a user signing in (see [`Store::sign_in_state`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInState {
    /// The stored profile, and when the HTTP API last set it (`None` when
    /// only tokens ever did).
    pub profile: Option<(Profile, Option<Millis>)>,
    /// Tokens issued before this (ms) are refused.
    pub not_before: Option<Millis>,
}

/// What [`Store::erase_user`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Erased {
    /// Messages the user had sent.
    pub messages: u64,
    /// Whether the project had seen the user at all.
    pub existed: bool,
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
    /// all or nothing, durable when this returns. Within a project, messages
    /// and stored changes take ids from one sequence, strictly increasing in
    /// batch order and across calls, never reused; and once an entry with
    /// id N of a project can be read, so can every stored entry of that
    /// project with a smaller id (the resume cursor relies on it, also when
    /// several nodes write). Ids of different projects are unrelated. A
    /// refused change writes nothing and takes no id; the rest of the batch
    /// is stored. A change's [`Update`] carries the target's state after it
    /// (the whole reaction set, the new body).
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

    /// Up to `limit` log entries of `project` with id > `after`, of every
    /// conversation, in id order (current state, as [`Store::messages_after`]):
    /// what a node that missed some of the project's entries on the bus
    /// reads to fill the gap.
    async fn project_messages_after(
        &self,
        project: &ProjectId,
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
    /// back), clamped to the conversation's newest message (0 when it has
    /// none), and returns the resulting unread count.
    async fn mark_read(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        up_to: MessageId,
    ) -> Result<UnreadCount, StoreError>;

    /// Unread counts of `user`'s conversations that have any.
    async fn unread(&self, project: &ProjectId, user: &UserId) -> Result<Vec<UnreadCount>, StoreError>;

    /// Up to `limit` messages containing every word of `query` (whole
    /// words, any case), newest first, with ids below `before`, from the
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

    /// The profile and sign-out state of `user`, read when they sign in.
    async fn sign_in_state(&self, project: &ProjectId, user: &UserId) -> Result<SignInState, StoreError>;

    /// Creates or updates `profile` as set by the host application at `at`
    /// (ms): it wins over the profile of any token issued before `at`.
    async fn set_profile(&self, project: &ProjectId, profile: &Profile, at: Millis) -> Result<(), StoreError>;

    /// Refuses every token of `user` issued before `not_before` (ms), from
    /// now on and after restarts. Never moves back.
    async fn sign_out(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<(), StoreError>;

    /// Signs `user` out (as [`Store::sign_out`]) and deletes every message
    /// they sent, their profile, read markers and conversation memberships,
    /// in one transaction; records the erasure for
    /// [`Store::erasures_since`]. Messages others sent them stay (they are
    /// the senders' words, in the senders' history).
    async fn erase_user(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<Erased, StoreError>;

    /// Users erased while the newest message id was `cursor` or more: a
    /// client resuming from `cursor` may still show their messages.
    async fn erasures_since(&self, project: &ProjectId, cursor: MessageId) -> Result<Vec<UserId>, StoreError>;

    /// Records presence events for webhooks.
    async fn add_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError>;

    /// Turns every event due at `now` into one delivery per endpoint, with
    /// its JSON body (event id, type, project, time, payload), in one
    /// transaction; an unread check whose message was read (or deleted)
    /// meanwhile is dropped instead. Returns how many deliveries it made.
    async fn expand_due_events(&self, now: Millis, endpoints: &[String]) -> Result<u64, StoreError>;

    /// Up to `limit` deliveries for `endpoint` due at `now`, oldest first.
    async fn due_deliveries(&self, endpoint: &str, now: Millis, limit: u32) -> Result<Vec<Delivery>, StoreError>;

    /// Records the outcomes of attempts at deliveries (by id), in one
    /// transaction: the worker settles a batch at once, so its writes do
    /// not queue one fsync per delivery in front of the chat's commits.
    async fn settle_deliveries(&self, outcomes: Vec<(i64, Settle)>) -> Result<(), StoreError>;

    /// Deliveries and events waiting, for `/metrics`.
    async fn webhook_backlog(&self) -> Result<u64, StoreError>;

    /// Drops deliveries for endpoints no longer configured (at start);
    /// returns how many.
    async fn drop_deliveries_except(&self, endpoints: &[String]) -> Result<u64, StoreError>;

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
