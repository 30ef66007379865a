//! Messages: reading the log back after a cursor (messages and changes,
//! merged in id order) or page by page, in current state, and pruning by
//! retention (appending is `append.rs`; a pruned message's reactions,
//! mentions and events go with it by the `messages_gone` trigger).

use super::changes;
use super::rows::{decorated, message_from_row, sql_id, EVENT_COLUMNS, NOT_EVENT};
use crate::store::*;
use deadpool_postgres::Object;

/// Up to `limit` log entries of `project` with id > `after` (those `user`
/// can see; with `None`, all), in id order, in current state.
///
/// One statement, so one snapshot: messages and events read by two could
/// each see a different set of commits, and a page merged from them could
/// hold id N without an id below N that committed in between, which the
/// cursor would then skip for good. An event row is its target's row
/// (current state) plus the event's id, time, author and kind; a message
/// row has NULL there.
async fn log_after(
    client: &Object,
    project: &ProjectId,
    user: Option<&UserId>,
    after: MessageId,
    limit: u32,
) -> Result<Vec<LogEntry>, StoreError> {
    // $1 project, $2 after, $3 limit, $4 user.
    let seen_by = |conv: &str| match user {
        Some(_) => format!(
            "AND ({conv} = 'room' OR {conv} IN (SELECT conv FROM conversations WHERE project = $1 AND user_id = $4))"
        ),
        None => String::new(),
    };
    let (message_seen, event_seen) = (seen_by("m.conv"), seen_by("e.conv"));
    let page = format!(
        "(SELECT m.*, {NOT_EVENT} FROM messages m
          WHERE m.project = $1 AND m.id > $2 {message_seen}
          ORDER BY m.id LIMIT $3)
         UNION ALL
         (SELECT m.*, e.id, e.ts, e.by_user, e.kind
          FROM events e JOIN messages m ON m.project = e.project AND m.id = e.target
          WHERE e.project = $1 AND e.id > $2 {event_seen}
          ORDER BY e.id LIMIT $3)
         ORDER BY log_id LIMIT $3"
    );
    let stmt = client.prepare_cached(&decorated(&page, "ASC")).await?;
    let (after, limit) = (sql_id(after), i64::from(limit));
    let rows = match user {
        Some(user) => client.query(&stmt, &[&project.as_str(), &after, &limit, &user.as_str()]).await?,
        None => client.query(&stmt, &[&project.as_str(), &after, &limit]).await?,
    };
    rows.iter()
        .map(|row| match row.try_get::<_, Option<String>>(EVENT_COLUMNS + 3)? {
            None => Ok(LogEntry::Message(message_from_row(row)?)),
            Some(kind) => Ok(LogEntry::Update(changes::update_from_row(row, &kind)?)),
        })
        .collect()
}

pub(super) async fn messages_after(
    client: &Object,
    project: &ProjectId,
    user: &UserId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<LogEntry>, StoreError> {
    log_after(client, project, Some(user), after, limit).await
}

pub(super) async fn project_messages_after(
    client: &Object,
    project: &ProjectId,
    after: MessageId,
    limit: u32,
) -> Result<Vec<LogEntry>, StoreError> {
    log_after(client, project, None, after, limit).await
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
    let page = format!(
        "SELECT m.*, {NOT_EVENT} FROM messages m WHERE m.project = $1 AND m.conv = $2 AND m.id < $3
         ORDER BY m.id DESC LIMIT $4"
    );
    let stmt = client.prepare_cached(&decorated(&page, "DESC")).await?;
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
