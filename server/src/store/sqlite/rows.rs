//! Reading rows: the message columns every query selects, and ids and
//! errors as SQLite sees them.

use crate::store::*;
use rusqlite::Row;

pub(super) const COLUMNS: &str = "id, ts, sender, sender_name, sender_color, recipient, conv, body, client_id";

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

/// Reads a row selected with [`COLUMNS`].
pub(super) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let sender: String = row.get(2)?;
    let recipient: Option<String> = row.get(5)?;
    let client_id: String = row.get(8)?;
    let to = match recipient {
        None => Conversation::Room,
        Some(r) => Conversation::Direct { user: UserId::new(r).map_err(|e| corrupt("recipient", e))? },
    };
    Ok(ChatMessage {
        id: MessageId(row.get::<_, i64>(0)? as u64),
        ts: row.get(1)?,
        from: Profile {
            id: UserId::new(sender).map_err(|e| corrupt("sender", e))?,
            name: row.get(3)?,
            color: row.get(4)?,
        },
        to,
        body: row.get(7)?,
        client_id: Some(ClientMsgId::new(client_id).map_err(|e| corrupt("client_id", e))?),
    })
}
