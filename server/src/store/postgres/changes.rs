//! Edits, deletions and reactions: the rules of `sqlite/changes.rs`, on
//! PostgreSQL. A change is checked and applied inside the append
//! transaction, under its project's counter lock (so no other node changes
//! or stores anything in the project meanwhile), and recorded as an event
//! whose id comes from that counter: messages and changes of a project
//! share one sequence and one cursor. Two round trips per change (read the
//! target, then its writes pipelined); changes are rare next to messages,
//! which keep their bulk path. An edit or deletion also rewrites the
//! target's indexed words, if it has been indexed, after taking its
//! project's search lock (index.rs): after the target's row lock, the order
//! retention and erasure take them in too (rows, then the search lock).

use super::index;
use super::rows::{conversation, group_reactions, message_from_row, reaction_pairs, sql_id, user_id, EVENT_COLUMNS};
use crate::store::{Authority, ChangeKind, NewChange, Refused, StoreError};
use deadpool_postgres::Transaction;
use protocol::{Change, MessageId, Update};
use std::collections::HashMap;
use tokio_postgres::Row;

/// Checks and applies one change, taking its id from `last` (the batch's
/// locked counters) only if it is accepted; `Ok(Err(_))` is a refusal, and
/// a refusal writes nothing.
pub(super) async fn apply(
    tx: &Transaction<'_>,
    change: &NewChange,
    last: &mut HashMap<String, i64>,
) -> Result<Result<Update, Refused>, StoreError> {
    let project = change.project.as_str();
    let target = sql_id(change.target);
    let by = change.by.as_str();
    // The target, whether `by` is in its conversation, and its reactions
    // (the new set is computed here rather than read back after the write).
    // The counter lock keeps other appends away, not retention or erasure:
    // the row lock makes one of them wait, so a change never lands on a
    // message deleted under it (an orphan reaction, an update for nothing).
    let lookup = tx
        .prepare_cached(
            "SELECT m.sender, m.recipient, m.conv, m.ts, m.deleted_at IS NOT NULL,
                    m.conv = 'room' OR EXISTS (
                        SELECT 1 FROM conversations c WHERE c.project = m.project AND c.user_id = $3 AND c.conv = m.conv),
                    (SELECT array_agg(r.emoji ORDER BY r.seq) FROM reactions r
                     WHERE r.project = m.project AND r.target = m.id),
                    (SELECT array_agg(r.user_id ORDER BY r.seq) FROM reactions r
                     WHERE r.project = m.project AND r.target = m.id)
             FROM messages m WHERE m.project = $1 AND m.id = $2
             FOR NO KEY UPDATE OF m",
        )
        .await?;
    let Some(row) = tx.query_opt(&lookup, &[&project, &target, &by]).await? else {
        return Ok(Err(Refused::UnknownMessage));
    };
    let author = user_id(row.try_get(0)?, "sender")?;
    let to = conversation(row.try_get(1)?)?;
    let conv: String = row.try_get(2)?;
    let sent_at: i64 = row.try_get(3)?;
    let deleted: bool = row.try_get(4)?;
    let member = change.authority == Authority::Member;
    if member && !row.try_get::<_, bool>(5)? {
        return Ok(Err(Refused::UnknownMessage));
    }
    let refused = match &change.kind {
        _ if deleted => Some(Refused::Deleted),
        ChangeKind::Edit { .. } if author != change.by => Some(Refused::NotAuthor),
        ChangeKind::Edit { window: Some(w), .. } if change.ts - sent_at > *w => Some(Refused::EditWindowClosed),
        ChangeKind::Delete if member && author != change.by => Some(Refused::NotAuthor),
        _ => None,
    };
    if let Some(refused) = refused {
        return Ok(Err(refused));
    }

    let counter =
        last.get_mut(project).ok_or_else(|| StoreError::Corrupt(format!("no counter locked for project {project}")))?;
    let id = *counter + 1;
    let (kind, new_state) = match &change.kind {
        ChangeKind::Edit { body, .. } => ("edited", Change::Edited { body: body.clone(), edited_at: change.ts }),
        ChangeKind::Delete => ("deleted", Change::Deleted),
        ChangeKind::React { emoji, on } => {
            let mut pairs = reaction_pairs(row.try_get(6)?, row.try_get(7)?)?;
            let mine = |(e, u): &(String, String)| e == emoji && u == by;
            if !on {
                pairs.retain(|p| !mine(p));
            } else if !pairs.iter().any(mine) {
                pairs.push((emoji.clone(), by.to_owned()));
            }
            ("reactions", Change::Reactions { reactions: group_reactions(pairs)? })
        }
    };
    let write = async {
        match &change.kind {
            // The body and its indexed words (if it has been indexed: see
            // `index::lock_for_change`) in one statement.
            ChangeKind::Edit { body, .. } => {
                index::lock_for_change(tx, project).await?;
                let stmt = tx
                    .prepare_cached(
                        "WITH w AS (UPDATE message_words SET words = message_words($3) WHERE project = $1 AND id = $2)
                         UPDATE messages SET body = $3, edited_at = $4 WHERE project = $1 AND id = $2",
                    )
                    .await?;
                tx.execute(&stmt, &[&project, &target, body, &change.ts]).await
            }
            // One statement: the body, its words, reactions and mentions go
            // together.
            ChangeKind::Delete => {
                index::lock_for_change(tx, project).await?;
                let stmt = tx
                    .prepare_cached(
                        "WITH r AS (DELETE FROM reactions WHERE project = $1 AND target = $2),
                              n AS (DELETE FROM mentions WHERE project = $1 AND id = $2),
                              w AS (DELETE FROM message_words WHERE project = $1 AND id = $2)
                         UPDATE messages SET body = '', edited_at = NULL, deleted_at = $3
                         WHERE project = $1 AND id = $2",
                    )
                    .await?;
                tx.execute(&stmt, &[&project, &target, &change.ts]).await
            }
            ChangeKind::React { emoji, on: true } => {
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO reactions (project, target, emoji, user_id, seq) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT DO NOTHING",
                    )
                    .await?;
                tx.execute(&stmt, &[&project, &target, emoji, &by, &id]).await
            }
            ChangeKind::React { emoji, on: false } => {
                let stmt = tx
                    .prepare_cached(
                        "DELETE FROM reactions WHERE project = $1 AND target = $2 AND emoji = $3 AND user_id = $4",
                    )
                    .await?;
                tx.execute(&stmt, &[&project, &target, emoji, &by]).await
            }
        }
    };
    let event = tx
        .prepare_cached(
            "INSERT INTO events (project, id, conv, target, by_user, kind, ts) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let advance = tx.prepare_cached("UPDATE project_counters SET last_id = $2 WHERE project = $1").await?;
    futures_util::future::try_join3(
        write,
        tx.execute(&event, &[&project, &id, &conv, &target, &by, &kind, &change.ts]),
        tx.execute(&advance, &[&project, &id]),
    )
    .await?;
    *counter = id;
    Ok(Ok(Update {
        id: MessageId(id as u64),
        ts: change.ts,
        target: change.target,
        author,
        to,
        by: change.by.clone(),
        change: new_state,
    }))
}

/// The update a log row records (a [`decorated`](super::rows::decorated)
/// row: its target's columns, then the event's), with
/// the target's current state: an edit or reaction of a since-deleted
/// message replays as its deletion, an edit as the current body, a reaction
/// change as the current set.
pub(super) fn update_from_row(row: &Row, kind: &str) -> Result<Update, StoreError> {
    let target = message_from_row(row)?;
    let change = match kind {
        _ if target.deleted => Change::Deleted,
        "edited" => Change::Edited { body: target.body, edited_at: target.edited_at.unwrap_or(0) },
        "reactions" => Change::Reactions { reactions: target.reactions },
        "deleted" => Change::Deleted,
        other => return Err(StoreError::Corrupt(format!("event kind {other:?}"))),
    };
    Ok(Update {
        id: MessageId(row.try_get::<_, i64>(EVENT_COLUMNS)? as u64),
        ts: row.try_get(EVENT_COLUMNS + 1)?,
        target: target.id,
        author: target.from.id,
        to: target.to,
        by: user_id(row.try_get(EVENT_COLUMNS + 2)?, "event user")?,
        change,
    })
}
