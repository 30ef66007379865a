//! Reading rows: the message columns every query selects, and ids as
//! PostgreSQL stores them.

use crate::store::*;
use tokio_postgres::Row;

pub(super) const COLUMNS: &str = "id, ts, sender, sender_name, sender_color, recipient, conv, body, client_id";

/// A message id as PostgreSQL stores it (`BIGINT`). Clients can name any
/// `u64`: a larger one means "after every message", not a negative number.
pub(super) fn sql_id(id: MessageId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// Reads a row selected with [`COLUMNS`] (in that order, from column 0).
pub(super) fn message_from_row(row: &Row) -> Result<ChatMessage, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
    let id: i64 = row.try_get(0)?;
    let recipient: Option<String> = row.try_get(5)?;
    let to = match recipient {
        None => Conversation::Room,
        Some(r) => Conversation::Direct { user: UserId::new(r).map_err(|e| corrupt("recipient", &e))? },
    };
    let client_id: String = row.try_get(8)?;
    Ok(ChatMessage {
        edited_at: None,
        deleted: false,
        reply_to: None,
        reactions: Vec::new(),
        mentions: Vec::new(),
        id: MessageId(u64::try_from(id).map_err(|e| corrupt("id", &e))?),
        ts: row.try_get(1)?,
        from: Profile {
            id: UserId::new(row.try_get::<_, String>(2)?).map_err(|e| corrupt("sender", &e))?,
            name: row.try_get(3)?,
            color: row.try_get(4)?,
        },
        to,
        body: row.try_get(7)?,
        client_id: Some(ClientMsgId::new(client_id).map_err(|e| corrupt("client_id", &e))?),
    })
}
