//! Reading messages in their current state: the row, the quote of the
//! message it answers (one join), and its reactions and mentions (one range
//! read each per page, not one per message).

use crate::store::StoreError;
use protocol::limits::QUOTE_CHARS;
use protocol::{ChatMessage, ClientMsgId, Conversation, MessageId, Profile, Quote, Reaction, UserId};
use rusqlite::{params, Connection, Row};
use std::collections::{HashMap, HashSet};

/// A message id as SQLite stores it. Ids come from SQLite (at most
/// `i64::MAX`), but clients can name any `u64`: a larger one means "after
/// every message", not a negative number.
pub(super) fn sql_id(id: MessageId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    let detail: Box<dyn std::error::Error + Send + Sync> = format!("{what}: {e}").into();
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, detail)
}

/// The columns [`message_from_row`] reads, from [`FROM`].
pub(super) const COLUMNS: &str = "m.id, m.ts, m.sender, m.sender_name, m.sender_color, m.recipient, m.conv, m.body,
    m.client_id, m.edited_at, m.deleted_at, m.reply_to,
    q.sender, q.sender_name, q.sender_color, q.body, q.deleted_at";

/// Joins to a message `m` the message it answers, `q`.
pub(super) const QUOTE_JOIN: &str = "LEFT JOIN messages q ON q.id = m.reply_to AND q.conv = m.conv";
/// A message `m` with the message it answers, `q`.
pub(super) const FROM: &str = "messages m LEFT JOIN messages q ON q.id = m.reply_to AND q.conv = m.conv";

/// Reads a row selected with [`COLUMNS`] (without reactions and mentions:
/// [`decorate`] adds them to a page).
pub(super) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let user = |i: usize, what: &str| -> rusqlite::Result<UserId> {
        UserId::new(row.get::<_, String>(i)?).map_err(|e| corrupt(what, e))
    };
    let recipient: Option<String> = row.get(5)?;
    let to = match recipient {
        None => Conversation::Room,
        Some(r) => Conversation::Direct { user: UserId::new(r).map_err(|e| corrupt("recipient", e))? },
    };
    let client_id: String = row.get(8)?;
    let reply_to: Option<i64> = row.get(11)?;
    let quoted: Option<String> = row.get(12)?;
    let reply_to = match (reply_to, quoted) {
        (Some(id), Some(_)) => {
            let body: String = row.get(15)?;
            Some(Quote {
                id: MessageId(id as u64),
                from: Profile { id: user(12, "quoted sender")?, name: row.get(13)?, color: row.get(14)? },
                body: body.chars().take(QUOTE_CHARS).collect(),
                deleted: row.get::<_, Option<i64>>(16)?.is_some(),
            })
        }
        // The quoted message was pruned.
        _ => None,
    };
    Ok(ChatMessage {
        id: MessageId(row.get::<_, i64>(0)? as u64),
        ts: row.get(1)?,
        from: Profile { id: user(2, "sender")?, name: row.get(3)?, color: row.get(4)? },
        to,
        body: row.get(7)?,
        client_id: Some(ClientMsgId::new(client_id).map_err(|e| corrupt("client_id", e))?),
        edited_at: row.get(9)?,
        deleted: row.get::<_, Option<i64>>(10)?.is_some(),
        reply_to,
        reactions: Vec::new(),
        mentions: Vec::new(),
    })
}

/// The reactions of every message in `ids`, oldest emoji first, each
/// emoji's users oldest first. One range read over the ids' span.
pub(super) fn reactions_of(
    conn: &Connection,
    ids: &[MessageId],
) -> Result<HashMap<MessageId, Vec<Reaction>>, StoreError> {
    let mut out: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
    let (Some(low), Some(high)) = (ids.iter().min(), ids.iter().max()) else { return Ok(out) };
    let wanted: HashSet<&MessageId> = ids.iter().collect();
    let mut stmt = conn.prepare_cached(
        "SELECT target, emoji, user, seq FROM reactions WHERE target BETWEEN ?1 AND ?2 ORDER BY target, seq",
    )?;
    let rows = stmt.query_map(params![sql_id(*low), sql_id(*high)], |r| {
        Ok((MessageId(r.get::<_, i64>(0)? as u64), r.get::<_, String>(1)?, r.get::<_, String>(2)?))
    })?;
    for row in rows {
        let (target, emoji, user) = row?;
        if !wanted.contains(&target) {
            continue;
        }
        let user = UserId::new(user).map_err(|e| StoreError::Corrupt(format!("reaction user: {e}")))?;
        let reactions = out.entry(target).or_default();
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => reaction.users.push(user),
            None => reactions.push(Reaction { emoji, users: vec![user] }),
        }
    }
    Ok(out)
}

/// Adds reactions and mentions to a page of messages.
pub(super) fn decorate(conn: &Connection, messages: &mut [ChatMessage]) -> Result<(), StoreError> {
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    let (Some(low), Some(high)) = (ids.iter().min(), ids.iter().max()) else { return Ok(()) };
    let mut reactions = reactions_of(conn, &ids)?;
    let mut mentions: HashMap<MessageId, Vec<UserId>> = HashMap::new();
    let mut stmt = conn.prepare_cached("SELECT id, user FROM mentions WHERE id BETWEEN ?1 AND ?2 ORDER BY id, user")?;
    let rows = stmt.query_map(params![sql_id(*low), sql_id(*high)], |r| {
        Ok((MessageId(r.get::<_, i64>(0)? as u64), r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (id, user) = row?;
        let user = UserId::new(user).map_err(|e| StoreError::Corrupt(format!("mentioned user: {e}")))?;
        mentions.entry(id).or_default().push(user);
    }
    for m in messages {
        m.reactions = reactions.remove(&m.id).unwrap_or_default();
        m.mentions = mentions.remove(&m.id).unwrap_or_default();
    }
    Ok(())
}

/// Reads the messages a query selects (with [`COLUMNS`] from
/// [`FROM`]) and decorates them.
pub(super) fn read_messages(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<ChatMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut messages = stmt.query_map(params, message_from_row)?.collect::<Result<Vec<_>, _>>()?;
    decorate(conn, &mut messages)?;
    Ok(messages)
}

/// One message by id, in its current state, if it is in `project`.
pub(super) fn message_by_id(
    conn: &Connection,
    project: &str,
    id: MessageId,
) -> Result<Option<ChatMessage>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE m.id = ?1 AND m.project = ?2");
    Ok(read_messages(conn, &sql, params![sql_id(id), project])?.pop())
}
