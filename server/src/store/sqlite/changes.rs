//! Edits, deletions and reactions: checked and applied inside the group
//! commit's transaction (so the check and the write cannot be raced), each
//! recorded as an event with an id from the messages' sequence.

use super::rows::{corrupt, message_by_id, reactions_of, sql_id};
use crate::store::{Authority, ChangeKind, NewChange, Refused, StoreError};
use protocol::{Change, Conversation, MessageId, Reaction, Update, UserId};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// The next id of the sequence messages take theirs from. AUTOINCREMENT
/// gives a new row max(seq, largest rowid) + 1, so raising `seq` reserves
/// the id for us.
fn next_id(tx: &Transaction<'_>) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'messages', 0
         WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages')",
    )?
    .execute([])?;
    tx.prepare_cached(
        "UPDATE sqlite_sequence SET seq = MAX(seq, (SELECT COALESCE(MAX(id), 0) FROM messages)) + 1
         WHERE name = 'messages' RETURNING seq",
    )?
    .query_row([], |r| r.get(0))
}

/// Whether `user` is in conversation `conv` (storage key) of `project`.
fn can_see(conn: &Connection, project: &str, user: &UserId, conv: &str) -> rusqlite::Result<bool> {
    if conv == "room" {
        return Ok(true);
    }
    conn.prepare_cached("SELECT 1 FROM conversations WHERE project = ?1 AND user = ?2 AND conv = ?3")?.exists(params![
        project,
        user.as_str(),
        conv
    ])
}

/// Checks and applies one change; `Ok(Err(_))` is a refusal (nothing written).
pub(super) fn apply(tx: &Transaction<'_>, change: NewChange) -> Result<Result<Update, Refused>, StoreError> {
    let project = change.project.as_str();
    let Some(target) = message_by_id(tx, project, change.target)? else { return Ok(Err(Refused::UnknownMessage)) };
    let conv = crate::store::conversation_key(&target.from.id, &target.to);
    let member = change.authority == Authority::Member;
    if member && !can_see(tx, project, &change.by, &conv)? {
        return Ok(Err(Refused::UnknownMessage));
    }
    let refused = match &change.kind {
        _ if target.deleted => Some(Refused::Deleted),
        ChangeKind::Edit { .. } if target.from.id != change.by => Some(Refused::NotAuthor),
        ChangeKind::Edit { window: Some(w), .. } if change.ts - target.ts > *w => Some(Refused::EditWindowClosed),
        ChangeKind::Delete if member && target.from.id != change.by => Some(Refused::NotAuthor),
        _ => None,
    };
    if let Some(refused) = refused {
        return Ok(Err(refused));
    }
    let (id, seq, by) = (sql_id(target.id), next_id(tx)?, change.by.as_str());
    let (kind, new_state) = match change.kind {
        ChangeKind::Edit { body, .. } => {
            tx.prepare_cached("UPDATE messages SET body = ?2, edited_at = ?3 WHERE id = ?1")?
                .execute(params![id, body, change.ts])?;
            ("edited", Change::Edited { body, edited_at: change.ts })
        }
        ChangeKind::Delete => {
            tx.prepare_cached("UPDATE messages SET body = '', edited_at = NULL, deleted_at = ?2 WHERE id = ?1")?
                .execute(params![id, change.ts])?;
            tx.prepare_cached("DELETE FROM reactions WHERE target = ?1")?.execute(params![id])?;
            tx.prepare_cached("DELETE FROM mentions WHERE id = ?1")?.execute(params![id])?;
            ("deleted", Change::Deleted)
        }
        ChangeKind::React { emoji, on: true } => {
            tx.prepare_cached("INSERT OR IGNORE INTO reactions (target, emoji, user, seq) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![id, emoji, by, seq])?;
            ("reactions", Change::Reactions { reactions: current_reactions(tx, target.id)? })
        }
        ChangeKind::React { emoji, on: false } => {
            tx.prepare_cached("DELETE FROM reactions WHERE target = ?1 AND emoji = ?2 AND user = ?3")?
                .execute(params![id, emoji, by])?;
            ("reactions", Change::Reactions { reactions: current_reactions(tx, target.id)? })
        }
    };
    tx.prepare_cached(
        "INSERT INTO events (id, project, conv, target, by_user, kind, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![seq, project, conv, id, by, kind, change.ts])?;
    Ok(Ok(Update {
        id: MessageId(seq as u64),
        ts: change.ts,
        target: target.id,
        author: target.from.id,
        to: target.to,
        by: change.by,
        change: new_state,
    }))
}

fn current_reactions(conn: &Connection, target: MessageId) -> Result<Vec<Reaction>, StoreError> {
    Ok(reactions_of(conn, &[target])?.remove(&target).unwrap_or_default())
}

/// Up to `limit` events with id > `after` (in the conversations `user` is
/// in; with `None`, in every conversation of the project), as updates
/// carrying their target's current state.
pub(super) fn events_after(
    conn: &Connection,
    project: &str,
    user: Option<&UserId>,
    after: MessageId,
    limit: u32,
) -> Result<Vec<Update>, StoreError> {
    let seen_by = match user {
        Some(_) => {
            "AND e.conv IN (SELECT 'room' UNION ALL SELECT conv FROM conversations WHERE project = ?2 AND user = ?3)"
        }
        None => "AND ?3 IS NULL",
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT e.id, e.ts, e.target, e.by_user, e.kind, m.sender, m.recipient, m.body, m.edited_at, m.deleted_at
         FROM events e JOIN messages m ON m.id = e.target
         WHERE e.project = ?2 AND e.id > ?1 {seen_by}
         ORDER BY e.id LIMIT ?4"
    ))?;
    let user = user.map(UserId::as_str);
    let rows = stmt.query_map(params![sql_id(after), project, user, limit], |r| {
        let user = |i: usize| -> rusqlite::Result<UserId> {
            UserId::new(r.get::<_, String>(i)?).map_err(|e| corrupt("event user", e))
        };
        let recipient: Option<String> = r.get(6)?;
        let to = match recipient {
            None => Conversation::Room,
            Some(u) => Conversation::Direct { user: UserId::new(u).map_err(|e| corrupt("recipient", e))? },
        };
        let kind: String = r.get(4)?;
        let deleted = r.get::<_, Option<i64>>(9)?.is_some();
        let change = match kind.as_str() {
            _ if deleted => Change::Deleted,
            "edited" => Change::Edited { body: r.get(7)?, edited_at: r.get::<_, Option<i64>>(8)?.unwrap_or(0) },
            "reactions" => Change::Reactions { reactions: Vec::new() },
            "deleted" => Change::Deleted,
            other => return Err(corrupt("event kind", other)),
        };
        Ok(Update {
            id: MessageId(r.get::<_, i64>(0)? as u64),
            ts: r.get(1)?,
            target: MessageId(r.get::<_, i64>(2)? as u64),
            author: user(5)?,
            to,
            by: user(3)?,
            change,
        })
    })?;
    let mut updates = rows.collect::<Result<Vec<_>, _>>()?;
    let targets: Vec<MessageId> =
        updates.iter().filter(|u| matches!(u.change, Change::Reactions { .. })).map(|u| u.target).collect();
    let current = reactions_of(conn, &targets)?;
    for u in &mut updates {
        if let Change::Reactions { reactions } = &mut u.change {
            *reactions = current.get(&u.target).cloned().unwrap_or_default();
        }
    }
    Ok(updates)
}

/// Drops from `mentions` the sender, duplicates and (for a direct
/// message) anyone outside the conversation; returns who stays.
pub(super) fn mentioned(from: &UserId, to: &Conversation, mentions: &[UserId]) -> Vec<UserId> {
    let mut out: Vec<UserId> = Vec::new();
    for user in mentions {
        let in_conversation = match to {
            Conversation::Room => true,
            Conversation::Direct { user: other } => other == user,
        };
        if user != from && in_conversation && !out.contains(user) {
            out.push(user.clone());
        }
    }
    out
}

/// The id of `reply_to` if it is a message of the same conversation.
pub(super) fn reply_in(
    tx: &Transaction<'_>,
    project: &str,
    conv: &str,
    reply_to: Option<MessageId>,
) -> rusqlite::Result<Option<i64>> {
    let Some(reply_to) = reply_to else { return Ok(None) };
    tx.prepare_cached("SELECT id FROM messages WHERE id = ?1 AND project = ?2 AND conv = ?3")?
        .query_row(params![sql_id(reply_to), project, conv], |r| r.get(0))
        .optional()
}
