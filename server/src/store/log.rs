//! What a group commit writes and what the log holds: messages and the
//! changes made to them (edits, deletions, reactions), in one id order.

use super::{Appended, NewMessage};
use protocol::{ChatMessage, MessageId, Millis, ProjectId, ServerMsg, Update, UserId};

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
