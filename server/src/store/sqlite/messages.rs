//! Messages: appending a batch of messages and changes (sends idempotent
//! per client id), reading the log back after a cursor or page by page (in
//! current state), and pruning by retention (triggers take a pruned
//! message's reactions, mentions, events and index entries with it).

use super::rows::{message_by_id, read_messages, sql_id, COLUMNS, FROM};
use super::{changes, webhooks, SqliteStore};
use crate::store::*;
use rusqlite::params;

/// Stores a batch of messages and changes in one transaction, in order.
pub(super) async fn append(db: &SqliteStore, batch: Vec<Write>) -> Result<Vec<Written>, StoreError> {
    db.note_commit();
    db.write(move |conn| {
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut statements = AppendStatements::prepare(&tx)?;
            for write in batch {
                out.push(match write {
                    Write::Message(m) => Written::Message(append_message(&tx, &mut statements, m)?),
                    Write::Change(c) => Written::Change(changes::apply(&tx, c)?),
                });
            }
        }
        tx.commit()?;
        Ok(out)
    })
    .await
}

/// The statements every appended message runs, prepared once per batch:
/// looking a cached statement up by its SQL text for each message of a
/// batch of 512 cost the single writer about 5% of durable sends.
struct AppendStatements<'t> {
    insert: rusqlite::CachedStatement<'t>,
    member: rusqlite::CachedStatement<'t>,
}

impl<'t> AppendStatements<'t> {
    fn prepare(tx: &'t rusqlite::Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            insert: tx.prepare_cached(
                "INSERT INTO messages (project, conv, sender, sender_name, sender_color, recipient, body, ts, client_id, reply_to)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (project, sender, client_id) DO NOTHING",
            )?,
            member: tx.prepare_cached("INSERT OR IGNORE INTO conversations (project, user, conv) VALUES (?1, ?2, ?3)")?,
        })
    }
}

/// Stores one message (or finds the original of a resend).
fn append_message(
    tx: &rusqlite::Transaction<'_>,
    statements: &mut AppendStatements<'_>,
    m: NewMessage,
) -> Result<Appended, StoreError> {
    let recipient = match &m.to {
        Conversation::Room => None,
        Conversation::Direct { user } => Some(user.as_str()),
    };
    let conv = conversation_key(&m.from.id, &m.to);
    let project = m.project.as_str();
    let reply_to = changes::reply_in(tx, project, &conv, m.reply_to)?;
    let inserted = statements.insert.execute(params![
        project,
        conv,
        m.from.id.as_str(),
        m.from.name,
        m.from.color,
        recipient,
        m.body,
        m.ts,
        m.client_id.as_str(),
        reply_to
    ])?;
    if inserted == 0 {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE m.project = ?1 AND m.sender = ?2 AND m.client_id = ?3");
        let original = read_messages(tx, &sql, params![project, m.from.id.as_str(), m.client_id.as_str()])?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a duplicate send without its original".into()))?;
        return Ok(Appended { message: original, duplicate: true });
    }
    let id = MessageId(tx.last_insert_rowid() as u64);
    webhooks::record_message_events(tx, &m, id)?;
    if let Some(recipient) = recipient {
        statements.member.execute(params![project, m.from.id.as_str(), conv])?;
        statements.member.execute(params![project, recipient, conv])?;
    }
    let mentions = changes::mentioned(&m.from.id, &m.to, &m.mentions);
    for user in &mentions {
        tx.prepare_cached("INSERT OR IGNORE INTO mentions (project, user, conv, id) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![project, user.as_str(), conv, sql_id(id)])?;
    }
    let quote = match reply_to {
        Some(_) => message_by_id(tx, project, id)?.and_then(|stored| stored.reply_to),
        None => None,
    };
    let mut message = ChatMessage::plain(id, m.ts, m.from, m.to, m.body);
    message.client_id = Some(m.client_id);
    message.reply_to = quote;
    message.mentions = mentions;
    Ok(Appended { message, duplicate: false })
}

/// Merges messages and updates (each in id order) into the first `limit`
/// log entries.
fn merge(messages: Vec<ChatMessage>, updates: Vec<protocol::Update>, limit: u32) -> Vec<LogEntry> {
    let mut entries: Vec<LogEntry> =
        messages.into_iter().map(LogEntry::Message).chain(updates.into_iter().map(LogEntry::Update)).collect();
    entries.sort_by_key(LogEntry::id);
    entries.truncate(limit as usize);
    entries
}

pub(super) async fn messages_after(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<LogEntry>, StoreError> {
    let (project, user) = (project.clone(), user.clone());
    db.read(move |conn| {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM}
             WHERE m.project = ?2 AND m.id > ?1 AND m.conv IN (
                 SELECT 'room' UNION ALL SELECT conv FROM conversations WHERE project = ?2 AND user = ?3)
             ORDER BY m.id LIMIT ?4"
        );
        // One snapshot for both reads: read apart, a message and a change
        // committed between them could leave the change in the page and the
        // message (with a smaller id) out of it, and the cursor would pass it.
        let snapshot = conn.unchecked_transaction()?;
        let messages = read_messages(&snapshot, &sql, params![sql_id(after), project.as_str(), user.as_str(), limit])?;
        let updates = changes::events_after(&snapshot, project.as_str(), Some(&user), after, limit)?;
        Ok(merge(messages, updates, limit))
    })
    .await
}

pub(super) async fn project_messages_after(
    db: &SqliteStore,
    project: &ProjectId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<LogEntry>, StoreError> {
    let project = project.clone();
    db.read(move |conn| {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE m.project = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3");
        // One snapshot for both reads (see `messages_after`).
        let snapshot = conn.unchecked_transaction()?;
        let messages = read_messages(&snapshot, &sql, params![project.as_str(), sql_id(after), limit])?;
        let updates = changes::events_after(&snapshot, project.as_str(), None, after, limit)?;
        Ok(merge(messages, updates, limit))
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
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE m.project = ?1 AND m.conv = ?2 AND m.id < ?3
             ORDER BY m.id DESC LIMIT ?4"
        );
        let before = before.map_or(i64::MAX, sql_id);
        let mut messages = read_messages(conn, &sql, params![project.as_str(), conv, before, limit as i64 + 1])?;
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
