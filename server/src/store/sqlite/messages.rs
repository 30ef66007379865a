//! Messages: appending a batch (idempotent per client id), reading them
//! back after a cursor or page by page, and pruning by retention.

use super::rows::{message_from_row, sql_id, COLUMNS};
use super::{webhooks, SqliteStore};
use crate::store::*;
use rusqlite::params;

pub(super) async fn append(db: &SqliteStore, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError> {
    db.write(move |conn| {
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO messages (project, conv, sender, sender_name, sender_color, recipient, body, ts, client_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (project, sender, client_id) DO NOTHING",
            )?;
            let mut member =
                tx.prepare_cached("INSERT OR IGNORE INTO conversations (project, user, conv) VALUES (?1, ?2, ?3)")?;
            let mut existing = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE project = ?1 AND sender = ?2 AND client_id = ?3"
            ))?;
            for m in batch {
                let recipient = match &m.to {
                    Conversation::Room => None,
                    Conversation::Direct { user } => Some(user.as_str()),
                };
                let conv = conversation_key(&m.from.id, &m.to);
                let inserted = insert.execute(params![
                    m.project.as_str(),
                    conv,
                    m.from.id.as_str(),
                    m.from.name,
                    m.from.color,
                    recipient,
                    m.body,
                    m.ts,
                    m.client_id.as_str()
                ])?;
                if inserted == 1 {
                    let id = MessageId(tx.last_insert_rowid() as u64);
                    webhooks::record_message_events(&tx, &m, id)?;
                    if let Some(recipient) = recipient {
                        member.execute(params![m.project.as_str(), m.from.id.as_str(), conv])?;
                        member.execute(params![m.project.as_str(), recipient, conv])?;
                    }
                    out.push(Appended {
                        message: ChatMessage {
                            id,
                            ts: m.ts,
                            from: m.from,
                            to: m.to,
                            body: m.body,
                            client_id: Some(m.client_id),
                        },
                        duplicate: false,
                    });
                } else {
                    let original = existing.query_row(
                        params![m.project.as_str(), m.from.id.as_str(), m.client_id.as_str()],
                        message_from_row,
                    )?;
                    out.push(Appended { message: original, duplicate: true });
                }
            }
        }
        tx.commit()?;
        Ok(out)
    })
    .await
}

pub(super) async fn messages_after(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<ChatMessage>, StoreError> {
    let (project, user) = (project.clone(), user.clone());
    db.read(move |conn| {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE project = ?2 AND id > ?1 AND conv IN (
                 SELECT 'room' UNION ALL SELECT conv FROM conversations WHERE project = ?2 AND user = ?3)
             ORDER BY id LIMIT ?4"
        ))?;
        let rows = stmt.query_map(params![sql_id(after), project.as_str(), user.as_str(), limit], message_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })
    .await
}

pub(super) async fn project_messages_after(
    db: &SqliteStore,
    project: &ProjectId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<ChatMessage>, StoreError> {
    let project = project.clone();
    db.read(move |conn| {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE project = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![project.as_str(), sql_id(after), limit], message_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })
    .await
}

pub(super) async fn history(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
    conversation: &Conversation,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Page, StoreError> {
    let conv = conversation_key(user, conversation);
    let project = project.clone();
    db.read(move |conn| {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE project = ?1 AND conv = ?2 AND id < ?3
             ORDER BY id DESC LIMIT ?4"
        ))?;
        let before = before.map_or(i64::MAX, sql_id);
        let rows = stmt.query_map(params![project.as_str(), conv, before, limit as i64 + 1], message_from_row)?;
        let mut messages = rows.collect::<Result<Vec<_>, _>>()?;
        let has_more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        messages.reverse();
        Ok(Page { messages, has_more })
    })
    .await
}

pub(super) async fn prune(db: &SqliteStore, retention: Retention) -> Result<u64, StoreError> {
    db.write(move |conn| {
        let mut deleted = 0;
        if let Some(cutoff) = retention.older_than {
            deleted += conn.execute("DELETE FROM messages WHERE ts < ?1", params![cutoff])? as u64;
        }
        if let Some(keep) = retention.max_per_conversation {
            deleted += conn.execute(
                "DELETE FROM messages WHERE id IN (
                    SELECT id FROM (
                        SELECT id, ROW_NUMBER() OVER (PARTITION BY project, conv ORDER BY id DESC) AS n
                        FROM messages)
                    WHERE n > ?1)",
                params![keep],
            )? as u64;
        }
        Ok(deleted)
    })
    .await
}
