//! What is saved, and under which key: every key carries the format
//! version ([`VERSION`]), and the saved outbox is our own type, not the
//! wire's, so a change of either is seen on load instead of a saved value
//! failing to parse and being taken for "nothing saved".

use protocol::{ClientMsg, ClientMsgId, Conversation, MessageId, UserId};
use serde::{Deserialize, Serialize};

/// The format of every key written now. Keys of older formats are
/// migrated once on load (see `migrate`), then deleted.
pub const VERSION: u32 = 2;

pub fn token_key() -> String {
    format!("chat.v{VERSION}.session_token")
}

pub fn expires_key() -> String {
    format!("chat.v{VERSION}.session_expires")
}

pub fn project_key() -> String {
    format!("chat.v{VERSION}.project")
}

pub fn contacts_key(project: &str, me: &str) -> String {
    format!("chat.v{VERSION}.contacts.{project}.{me}")
}

pub fn outbox_key(project: &str, me: &str) -> String {
    format!("chat.v{VERSION}.outbox.{project}.{me}")
}

/// Keys of the unversioned format (v1), each with its v2 successor.
pub fn v1_keys(project: &str, me: &str) -> [(String, String); 2] {
    [
        (format!("chat.outbox.{project}.{me}"), outbox_key(project, me)),
        (format!("chat.contacts.{project}.{me}"), contacts_key(project, me)),
    ]
}

/// The v1 session keys, each with its v2 successor.
pub fn v1_session_keys() -> [(&'static str, String); 3] {
    [("chat.session_token", token_key()), ("chat.session_expires", expires_key()), ("chat.project", project_key())]
}

/// One unsent message as saved. The reply and mentions were added within
/// version 2: optional, so what an app without them saved still reads (and
/// an app without them reads ours, dropping them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedSend {
    client_id: ClientMsgId,
    to: Conversation,
    body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply_to: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mentions: Vec<UserId>,
}

/// One unanswered edit, deletion or reaction as saved (added within
/// version 2: an app without them ignores the field and reads the sends).
/// A plain struct rather than a tagged enum: serde's tagged enums buffer
/// their input, which costs the wasm kilobytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedChange {
    /// `edit`, `delete` or `react`, as on the wire.
    kind: String,
    id: MessageId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emoji: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
}

impl SavedChange {
    fn of(frame: &ClientMsg) -> Option<Self> {
        let plain =
            |kind: &str, id: &MessageId| SavedChange { kind: kind.into(), id: *id, body: None, emoji: None, on: None };
        Some(match frame {
            ClientMsg::Edit { id, body } => SavedChange { body: Some(body.clone()), ..plain("edit", id) },
            ClientMsg::Delete { id } => plain("delete", id),
            ClientMsg::React { id, emoji, on } => {
                SavedChange { emoji: Some(emoji.clone()), on: Some(*on), ..plain("react", id) }
            }
            _ => return None,
        })
    }

    /// The frame again; `None` for what this version does not know.
    fn frame(self) -> Option<ClientMsg> {
        let id = self.id;
        Some(match self.kind.as_str() {
            "edit" => ClientMsg::Edit { id, body: self.body? },
            "delete" => ClientMsg::Delete { id },
            "react" => ClientMsg::React { id, emoji: self.emoji?, on: self.on? },
            _ => return None,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedOutbox {
    version: u32,
    sends: Vec<SavedSend>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    changes: Vec<SavedChange>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Written by another version of the app: left untouched.
    #[error("saved by format version {0}, this app reads {VERSION}")]
    OtherVersion(u32),
    /// Not a saved outbox at all.
    #[error("unreadable saved outbox: {0}")]
    Unreadable(String),
}

pub fn encode_outbox(pending: &[ClientMsg]) -> String {
    let changes = pending.iter().filter_map(SavedChange::of).collect();
    let sends = pending
        .iter()
        .filter_map(|m| match m {
            ClientMsg::Send { client_id, to, body, reply_to, mentions } => Some(SavedSend {
                client_id: client_id.clone(),
                to: to.clone(),
                body: body.clone(),
                reply_to: *reply_to,
                mentions: mentions.clone(),
            }),
            _ => None,
        })
        .collect();
    // Our own plain types always serialize.
    serde_json::to_string(&SavedOutbox { version: VERSION, sends, changes }).unwrap_or_default()
}

pub fn decode_outbox(json: &str) -> Result<Vec<ClientMsg>, FormatError> {
    #[derive(Deserialize)]
    struct Version {
        version: u32,
    }
    let version = serde_json::from_str::<Version>(json).map_err(|e| FormatError::Unreadable(e.to_string()))?;
    if version.version != VERSION {
        return Err(FormatError::OtherVersion(version.version));
    }
    let saved: SavedOutbox = serde_json::from_str(json).map_err(|e| FormatError::Unreadable(e.to_string()))?;
    let sends = saved.sends.into_iter().map(|s| ClientMsg::Send {
        client_id: s.client_id,
        to: s.to,
        body: s.body,
        reply_to: s.reply_to,
        mentions: s.mentions,
    });
    Ok(sends.chain(saved.changes.into_iter().filter_map(SavedChange::frame)).collect())
}

/// The v1 outbox (the wire's `send` frames as a JSON list), in today's
/// format. Read as our own saved sends (their `type` is ignored), not as
/// the wire's `ClientMsg`: the app never reads a client frame otherwise,
/// and that deserializer is about 10 KB of the gzipped wasm.
pub fn migrate_v1_outbox(json: &str) -> Result<String, FormatError> {
    let sends: Vec<SavedSend> = serde_json::from_str(json).map_err(|e| FormatError::Unreadable(e.to_string()))?;
    // Our own plain types always serialize.
    Ok(serde_json::to_string(&SavedOutbox { version: VERSION, sends, changes: Vec::new() }).unwrap_or_default())
}

/// The saved outbox after one tab's change: what the user's other tabs
/// saved stays, except the sends this tab has settled (acknowledged or
/// refused for good) and the changes it has (answered or refused); this
/// tab's pending sends and changes are added, each once. A change has no
/// id: it is the same change when its frame is the same.
pub fn merge_outbox(
    saved: Vec<ClientMsg>,
    pending: &[ClientMsg],
    settled: &[ClientMsgId],
    settled_changes: &[ClientMsg],
) -> Vec<ClientMsg> {
    let id = |msg: &ClientMsg| match msg {
        ClientMsg::Send { client_id, .. } => Some(client_id.clone()),
        _ => None,
    };
    let mine: Vec<ClientMsgId> = pending.iter().filter_map(id).collect();
    // Compared as saved: `ClientMsg`'s derived equality costs the wasm more.
    let changes = |frames: &[ClientMsg]| frames.iter().filter_map(SavedChange::of).collect::<Vec<_>>();
    let (done, waiting) = (changes(settled_changes), changes(pending));
    let keep = |msg: &ClientMsg| match (id(msg), SavedChange::of(msg)) {
        (Some(c), _) => !settled.contains(&c) && !mine.contains(&c),
        (None, Some(change)) => !done.contains(&change) && !waiting.contains(&change),
        (None, None) => false,
    };
    let mut merged: Vec<ClientMsg> = saved.into_iter().filter(keep).collect();
    merged.extend(pending.iter().cloned());
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(id: &str) -> ClientMsg {
        ClientMsg::Send {
            client_id: ClientMsgId::new(id).unwrap(),
            to: Conversation::Room,
            body: id.into(),
            reply_to: None,
            mentions: vec![],
        }
    }
    fn id(s: &str) -> ClientMsgId {
        ClientMsgId::new(s).unwrap()
    }

    #[test]
    fn every_key_names_its_format_version() {
        assert_eq!(outbox_key("p", "u"), "chat.v2.outbox.p.u");
        assert_eq!(contacts_key("p", "u"), "chat.v2.contacts.p.u");
        for key in [token_key(), expires_key(), project_key()] {
            assert!(key.starts_with("chat.v2."), "{key}");
        }
        for (old, new) in v1_keys("p", "u") {
            assert!(!old.contains(".v2.") && new.contains(".v2."));
        }
        for (old, new) in v1_session_keys() {
            assert_ne!(old, new);
        }
    }

    #[test]
    fn an_outbox_round_trips_in_the_versioned_format() {
        let sends = vec![send("a"), send("b")];
        let json = encode_outbox(&sends);
        assert!(json.starts_with(r#"{"version":2,"#), "{json}");
        assert_eq!(decode_outbox(&json), Ok(sends));
    }

    #[test]
    fn a_reply_with_mentions_is_saved_with_both_and_an_older_save_still_reads() {
        let reply = ClientMsg::Send {
            client_id: id("r"),
            to: Conversation::Room,
            body: "@ann yes".into(),
            reply_to: Some(MessageId(4)),
            mentions: vec![UserId::new("ann").unwrap()],
        };
        assert_eq!(decode_outbox(&encode_outbox(std::slice::from_ref(&reply))), Ok(vec![reply]));
        let before_replies = r#"{"version":2,"sends":[{"client_id":"a","to":{"kind":"room"},"body":"a"}]}"#;
        assert_eq!(decode_outbox(before_replies), Ok(vec![send("a")]));
    }

    #[test]
    fn another_version_or_junk_is_an_error_not_an_empty_outbox() {
        let newer = r#"{"version":3,"sends":[{"whatever":1}]}"#;
        assert_eq!(decode_outbox(newer), Err(FormatError::OtherVersion(3)));
        assert!(matches!(decode_outbox("[1,2]"), Err(FormatError::Unreadable(_))));
        assert!(matches!(decode_outbox(r#"{"version":2,"sends":"x"}"#), Err(FormatError::Unreadable(_))));
    }

    #[test]
    fn a_v1_outbox_is_migrated_with_its_client_ids() {
        let v1 = serde_json::to_string(&vec![send("a"), send("b")]).unwrap();
        let v2 = migrate_v1_outbox(&v1).unwrap();
        assert_eq!(decode_outbox(&v2), Ok(vec![send("a"), send("b")]));
        assert!(migrate_v1_outbox("{").is_err());
    }

    /// Found in review: each tab wrote its own list over the shared key, so
    /// tab B saving erased tab A's unsent message.
    #[test]
    fn a_tab_saving_keeps_the_other_tabs_unsent_messages() {
        let saved_by_a = merge_outbox(vec![], &[send("a1")], &[], &[]);
        let saved_by_b = merge_outbox(saved_by_a, &[send("b1")], &[], &[]);
        assert_eq!(saved_by_b, vec![send("a1"), send("b1")]);
        assert_eq!(merge_outbox(saved_by_b.clone(), &[], &[id("b1")], &[]), vec![send("a1")]);
        assert_eq!(merge_outbox(saved_by_b, &[], &[id("a1")], &[]), vec![send("b1")]);
    }

    #[test]
    fn a_send_pending_in_two_tabs_is_saved_once_and_settled_by_either() {
        let saved = merge_outbox(vec![send("x")], &[send("x"), send("y")], &[], &[]);
        assert_eq!(saved, vec![send("x"), send("y")]);
        assert!(merge_outbox(saved, &[], &[id("x"), id("y")], &[]).is_empty());
    }

    fn edit(id: u64, body: &str) -> ClientMsg {
        ClientMsg::Edit { id: MessageId(id), body: body.into() }
    }

    #[test]
    fn changes_are_saved_with_the_sends_and_an_older_save_still_reads() {
        let pending = vec![
            send("a"),
            edit(4, "fixed"),
            ClientMsg::Delete { id: MessageId(5) },
            ClientMsg::React { id: MessageId(6), emoji: "🎉".into(), on: false },
        ];
        let json = encode_outbox(&pending);
        assert!(json.contains(r#""changes":[{"kind":"edit","id":4,"body":"fixed"}"#), "{json}");
        assert_eq!(decode_outbox(&json), Ok(pending));
        // Saved before changes were: no `changes` field.
        assert_eq!(
            encode_outbox(&[send("a")]),
            r#"{"version":2,"sends":[{"client_id":"a","to":{"kind":"room"},"body":"a"}]}"#
        );
        // A kind a later version might add is skipped, not an unreadable outbox.
        let later = r#"{"version":2,"sends":[],"changes":[{"kind":"pin","id":3},{"kind":"delete","id":5}]}"#;
        assert_eq!(decode_outbox(later), Ok(vec![ClientMsg::Delete { id: MessageId(5) }]));
    }

    #[test]
    fn a_tab_saving_keeps_the_other_tabs_changes_and_drops_those_settled() {
        let saved_by_a = merge_outbox(vec![], &[edit(1, "a")], &[], &[]);
        let saved_by_b = merge_outbox(saved_by_a, &[edit(2, "b"), edit(1, "a")], &[], &[]);
        assert_eq!(saved_by_b, vec![edit(2, "b"), edit(1, "a")], "each once");
        assert_eq!(merge_outbox(saved_by_b.clone(), &[], &[], &[edit(1, "a")]), vec![edit(2, "b")]);
        assert_eq!(merge_outbox(saved_by_b, &[edit(2, "b")], &[], &[]), vec![edit(1, "a"), edit(2, "b")]);
    }
}
