//! Messages: reading them back after a cursor or page by page, and pruning
//! by retention (appending is `append.rs`).

use super::rows::{message_from_row, sql_id, COLUMNS};
use crate::store::*;
use deadpool_postgres::Object;

pub(super) async fn messages_after(
    client: &Object,
    project: &ProjectId,
    user: &UserId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<ChatMessage>, StoreError> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE project = $1 AND id > $2 AND (conv = 'room' OR conv IN (
                 SELECT conv FROM conversations WHERE project = $1 AND user_id = $3))
             ORDER BY id LIMIT $4"
        ))
        .await?;
    let rows = client.query(&stmt, &[&project.as_str(), &sql_id(after), &user.as_str(), &i64::from(limit)]).await?;
    rows.iter().map(message_from_row).collect()
}

pub(super) async fn project_messages_after(
    client: &Object,
    project: &ProjectId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<ChatMessage>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE project = $1 AND id > $2 ORDER BY id LIMIT $3"))
        .await?;
    let rows = client.query(&stmt, &[&project.as_str(), &sql_id(after), &i64::from(limit)]).await?;
    rows.iter().map(message_from_row).collect()
}

pub(super) async fn history(
    client: &Object,
    project: &ProjectId,
    user: &UserId,
    conversation: &Conversation,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Page, StoreError> {
    let conv = conversation_key(user, conversation);
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages WHERE project = $1 AND conv = $2 AND id < $3
             ORDER BY id DESC LIMIT $4"
        ))
        .await?;
    let before = before.map_or(i64::MAX, sql_id);
    let rows = client.query(&stmt, &[&project.as_str(), &conv, &before, &(i64::from(limit) + 1)]).await?;
    let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    messages.reverse();
    Ok(Page { messages, has_more })
}

pub(super) async fn prune(client: &Object, retention: Retention) -> Result<u64, StoreError> {
    let mut deleted = 0;
    if let Some(cutoff) = retention.older_than {
        deleted += client.execute("DELETE FROM messages WHERE ts < $1", &[&cutoff]).await?;
    }
    if let Some(keep) = retention.max_per_conversation {
        deleted += client
            .execute(
                "DELETE FROM messages m USING (
                     SELECT project, id FROM (
                         SELECT project, id, ROW_NUMBER() OVER (PARTITION BY project, conv ORDER BY id DESC) AS n
                         FROM messages) ranked
                     WHERE n > $1) old
                 WHERE m.project = old.project AND m.id = old.id",
                &[&i64::from(keep)],
            )
            .await?;
    }
    Ok(deleted)
}
