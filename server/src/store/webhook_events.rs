//! The webhook outbox's rules, shared by every store: which events a stored
//! message causes, and what a due event becomes (its type and JSON body, or
//! nothing). The stores only read and write the rows.

use super::{conversation_key, NewMessage};
use protocol::{ChatMessage, Conversation, Millis, Profile, UserId};
use serde_json::json;

pub(crate) const MESSAGE_CREATED: &str = "message.created";
pub(crate) const MESSAGE_MISSED: &str = "message.missed";
/// Becomes `message.missed` (reason `unread`) when due, unless read by then.
pub(crate) const UNREAD_CHECK: &str = "message.unread";

/// One event a message causes: its kind, who missed it (DMs), when it is due.
pub(crate) struct Caused<'a> {
    pub(crate) kind: &'static str,
    pub(crate) recipient: Option<&'a str>,
    pub(crate) due_at: Millis,
}

/// The events `m` causes once stored.
pub(crate) fn caused_by(m: &NewMessage) -> Vec<Caused<'_>> {
    let recipient = match &m.to {
        Conversation::Direct { user } if *user != m.from.id => Some(user.as_str()),
        _ => None,
    };
    let mut out = Vec::new();
    if m.webhooks.created {
        out.push(Caused { kind: MESSAGE_CREATED, recipient, due_at: m.ts });
    }
    if recipient.is_some() {
        if m.webhooks.missed {
            out.push(Caused { kind: MESSAGE_MISSED, recipient, due_at: m.ts });
        } else if let Some(at) = m.webhooks.unread_check_at {
            out.push(Caused { kind: UNREAD_CHECK, recipient, due_at: at });
        }
    }
    out
}

/// A due `webhook_events` row, with its message if it has one and it still exists.
pub(crate) struct DueEvent {
    pub(crate) seq: i64,
    pub(crate) kind: String,
    pub(crate) project: String,
    pub(crate) message: Option<ChatMessage>,
    pub(crate) recipient: Option<String>,
    pub(crate) payload: Option<String>,
    pub(crate) created_at: Millis,
}

impl DueEvent {
    /// For an unread check: whose read marker in which conversation (storage
    /// key) decides it. The store reads it and passes it to [`body`](Self::body).
    pub(crate) fn marker(&self) -> Option<(UserId, String)> {
        let m = self.message.as_ref().filter(|_| self.kind == UNREAD_CHECK)?;
        let reader = UserId::new(self.recipient.as_deref()?).ok()?;
        let conv = conversation_key(&reader, &m.conversation_for(&reader));
        Some((reader, conv))
    }

    /// The event's id, type and JSON body; `None` when there is nothing to
    /// say (read meanwhile, or its message deleted by erasure or retention).
    pub(crate) fn body(self, read_up_to: Option<i64>) -> Option<(String, &'static str, String)> {
        let (kind, payload) = match (self.kind.as_str(), self.message, self.payload) {
            (MESSAGE_CREATED, Some(m), _) => (MESSAGE_CREATED, json!({ "message": m })),
            (MESSAGE_MISSED, Some(m), _) => {
                (MESSAGE_MISSED, json!({ "message": m, "recipient": self.recipient, "reason": "offline" }))
            }
            (UNREAD_CHECK, Some(m), _) => {
                UserId::new(self.recipient.as_deref()?).ok()?;
                if read_up_to.is_some_and(|up_to| up_to >= m.id.0 as i64) {
                    return None;
                }
                (MESSAGE_MISSED, json!({ "message": m, "recipient": self.recipient, "reason": "unread" }))
            }
            // A presence event carries its user.
            (kind @ ("user.online" | "user.offline"), None, Some(user)) => {
                let user = serde_json::from_str::<Profile>(&user).ok()?;
                (if kind == "user.online" { "user.online" } else { "user.offline" }, json!({ "user": user }))
            }
            _ => return None,
        };
        let event_id = format!("evt_{}", self.seq);
        let body = json!({
            "id": event_id,
            "type": kind,
            "project": self.project,
            "time": self.created_at,
            "payload": payload,
        })
        .to_string();
        Some((event_id, kind, body))
    }
}
