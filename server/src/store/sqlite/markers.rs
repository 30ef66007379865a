//! Read markers and unread counts.

use super::rows::sql_id;
use super::SqliteStore;
use crate::store::*;
use rusqlite::{params, Connection, OptionalExtension};

/// Unread messages, how many of them mention `user`, and the marker.
fn unread_in(
    conn: &Connection,
    project: &str,
    user: &str,
    conv: &str,
) -> Result<(u32, u32, Option<MessageId>), StoreError> {
    let up_to: Option<i64> = conn
        .prepare_cached("SELECT up_to FROM read_markers WHERE project = ?1 AND user = ?2 AND conv = ?3")?
        .query_row(params![project, user, conv], |r| r.get(0))
        .optional()?;
    let count: u32 = conn
        .prepare_cached("SELECT COUNT(*) FROM messages WHERE project = ?1 AND conv = ?2 AND id > ?3 AND sender != ?4")?
        .query_row(params![project, conv, up_to.unwrap_or(0), user], |r| r.get(0))?;
    let mentions: u32 = if count == 0 {
        0
    } else {
        conn.prepare_cached("SELECT COUNT(*) FROM mentions WHERE project = ?1 AND user = ?2 AND conv = ?3 AND id > ?4")?
            .query_row(params![project, user, conv, up_to.unwrap_or(0)], |r| r.get(0))?
    };
    Ok((count, mentions, up_to.map(|u| MessageId(u as u64))))
}

/// A new user's room marker starts at the newest room message, so older
/// room history is not "unread".
pub(super) fn start_room_marker(conn: &Connection, project: &str, user: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO read_markers (project, user, conv, up_to)
         SELECT ?1, ?2, 'room', COALESCE(MAX(id), 0) FROM messages WHERE project = ?1 AND conv = 'room'",
        params![project, user],
    )?;
    Ok(())
}

pub(super) async fn mark_read(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
    conversation: &Conversation,
    up_to: MessageId,
) -> Result<UnreadCount, StoreError> {
    let conv = conversation_key(user, conversation);
    let (project, user, conversation) = (project.clone(), user.clone(), conversation.clone());
    db.write(move |conn| {
        // Clamped to the conversation's newest message: a marker beyond
        // it (a timestamp sent as an id, say) would keep every later
        // message from ever counting as unread.
        conn.prepare_cached(
            "INSERT INTO read_markers (project, user, conv, up_to)
             SELECT ?1, ?2, ?3, MIN(?4, COALESCE(MAX(id), 0)) FROM messages WHERE project = ?1 AND conv = ?3
             ON CONFLICT (project, user, conv) DO UPDATE SET up_to = MAX(up_to, excluded.up_to)",
        )?
        .execute(params![project.as_str(), user.as_str(), conv, sql_id(up_to)])?;
        let (count, mentions, read_up_to) = unread_in(conn, project.as_str(), user.as_str(), &conv)?;
        Ok(UnreadCount { conversation, count, read_up_to, mentions })
    })
    .await
}

pub(super) async fn unread(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
) -> Result<Vec<UnreadCount>, StoreError> {
    let (project, user) = (project.clone(), user.clone());
    db.read(move |conn| {
        // Every conversation the user is in: the room, and each direct one
        // with a message to or from them.
        let mut convs: Vec<String> = conn
            .prepare_cached("SELECT conv FROM conversations WHERE project = ?1 AND user = ?2")?
            .query_map(params![project.as_str(), user.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        convs.push("room".into());
        let mut out = Vec::new();
        for conv in convs {
            let (count, mentions, read_up_to) = unread_in(conn, project.as_str(), user.as_str(), &conv)?;
            if count > 0 {
                let conversation = conversation_from_key(&user, &conv)?;
                out.push(UnreadCount { conversation, count, read_up_to, mentions });
            }
        }
        Ok(out)
    })
    .await
}
