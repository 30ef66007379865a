//! A stored message's life after it is sent: the quote a reply carries,
//! reactions, and the `update` a change to a message becomes.

use super::{conversation_seen_by, Conversation, Millis, Profile};
use crate::ids::{MessageId, UserId};
use serde::{Deserialize, Serialize};

/// A short quote of the message a reply answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub id: MessageId,
    pub from: Profile,
    /// The start of its current body ([`crate::limits::QUOTE_CHARS`]
    /// characters at most); empty when it was deleted.
    pub body: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    /// Who reacted with it (its count is their number), oldest first.
    pub users: Vec<UserId>,
}

/// A change to a stored message. Its `id` comes from the same sequence as
/// message ids, so a client's highest id stays a complete resume cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub id: MessageId,
    pub ts: Millis,
    /// The message changed.
    pub target: MessageId,
    /// The target's author and conversation (as a message's `from.id` and
    /// `to`), so the update can be filed like the message
    /// ([`Update::conversation_for`]).
    pub author: UserId,
    pub to: Conversation,
    /// Who made the change.
    pub by: UserId,
    pub change: Change,
}

impl Update {
    /// The conversation of the changed message, seen from `me`.
    pub fn conversation_for(&self, me: &UserId) -> Conversation {
        conversation_seen_by(me, &self.author, &self.to)
    }
}

/// What changed. Each carries the message's resulting state, not a delta,
/// so applying the same update twice changes nothing.
// Read through `ChangeRepr`, as `Conversation` is (see there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "ChangeRepr")]
pub enum Change {
    /// The body is now `body`.
    Edited { body: String, edited_at: Millis },
    /// The message was deleted (show a tombstone; its body is gone).
    Deleted,
    /// The message's reactions are now `reactions` (empty: none left).
    Reactions { reactions: Vec<Reaction> },
}

/// How a [`Change`] is read: its tag and every field any kind has.
#[derive(Deserialize)]
struct ChangeRepr {
    kind: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    edited_at: Option<Millis>,
    #[serde(default)]
    reactions: Option<Vec<Reaction>>,
}

impl TryFrom<ChangeRepr> for Change {
    type Error = String;

    fn try_from(repr: ChangeRepr) -> Result<Self, String> {
        let missing = |field: &str| format!("missing field `{field}`");
        match repr.kind.as_str() {
            "edited" => Ok(Change::Edited {
                body: repr.body.ok_or_else(|| missing("body"))?,
                edited_at: repr.edited_at.ok_or_else(|| missing("edited_at"))?,
            }),
            "deleted" => Ok(Change::Deleted),
            "reactions" => Ok(Change::Reactions { reactions: repr.reactions.ok_or_else(|| missing("reactions"))? }),
            other => Err(format!("unknown change kind `{other}`")),
        }
    }
}
