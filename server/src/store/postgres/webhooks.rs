//! The webhook outbox on PostgreSQL: the same tables and rules as SQLite's
//! (`sqlite/webhooks.rs`). Several nodes expand events at once without
//! doing one twice: each claims its due events with `FOR UPDATE SKIP
//! LOCKED`. Deliveries are not claimed: every node's worker for an endpoint
//! may attempt the same row (receivers dedupe by event id).

use super::rows::{decorated, message_from_row, NOT_EVENT};
use super::StoreError;
use crate::store::webhook_events::{caused_by, DueEvent};
use crate::store::{Delivery, NewEvent, NewMessage, Settle};
use deadpool_postgres::Object;
use protocol::{ChatMessage, Millis};

/// Events expanded per transaction; the rest wait for the next pass.
const EXPAND_BATCH: i64 = 500;

/// The `webhook_events` rows of a batch's new messages, as columns.
#[derive(Default)]
pub(super) struct MessageEvents<'a> {
    kind: Vec<&'static str>,
    project: Vec<&'a str>,
    message_id: Vec<i64>,
    recipient: Vec<Option<&'a str>>,
    created_at: Vec<i64>,
    due_at: Vec<i64>,
}

impl<'a> MessageEvents<'a> {
    /// The events of message `id` (just given its id, in `append`).
    pub(super) fn add(&mut self, m: &'a NewMessage, id: i64) {
        for e in caused_by(m) {
            self.kind.push(e.kind);
            self.project.push(m.project.as_str());
            self.message_id.push(id);
            self.recipient.push(e.recipient);
            self.created_at.push(m.ts);
            self.due_at.push(e.due_at);
        }
    }

    /// Writes them (one statement) in the append transaction.
    pub(super) async fn write(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<u64, StoreError> {
        if self.kind.is_empty() {
            return Ok(0);
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO webhook_events (kind, project, message_id, recipient, created_at, due_at)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[])",
            )
            .await?;
        Ok(tx
            .execute(
                &stmt,
                &[&self.kind, &self.project, &self.message_id, &self.recipient, &self.created_at, &self.due_at],
            )
            .await?)
    }
}

pub(super) async fn add_events(client: &mut Object, events: Vec<NewEvent>) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO webhook_events (kind, project, payload, created_at, due_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .await?;
    for e in events {
        let user = serde_json::to_string(&e.user).unwrap_or_default();
        tx.execute(&stmt, &[&e.kind, &e.project.as_str(), &user, &e.at]).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn expand_due(client: &mut Object, now: Millis, endpoints: &[String]) -> Result<u64, StoreError> {
    let tx = client.transaction().await?;
    let due = tx
        .query(
            "DELETE FROM webhook_events WHERE seq IN (
                 SELECT seq FROM webhook_events WHERE due_at <= $1 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING seq, kind, project, message_id, recipient, payload, created_at",
            &[&now, &EXPAND_BATCH],
        )
        .await?;
    let mut due: Vec<_> = due.into_iter().collect();
    due.sort_by_key(|r| r.get::<_, i64>(0));
    let message = tx
        .prepare_cached(&decorated(
            &format!("SELECT m.*, {NOT_EVENT} FROM messages m WHERE m.project = $1 AND m.id = $2"),
            "ASC",
        ))
        .await?;
    let marker =
        tx.prepare_cached("SELECT up_to FROM read_markers WHERE project = $1 AND user_id = $2 AND conv = $3").await?;
    let deliver = tx
        .prepare_cached(
            "INSERT INTO webhook_deliveries (endpoint, event_id, kind, body, created_at, next_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    let mut made = 0;
    for row in due {
        let message_id: Option<i64> = row.try_get(3)?;
        let project: String = row.try_get(2)?;
        let found: Option<ChatMessage> = match message_id {
            Some(id) => match tx.query_opt(&message, &[&project, &id]).await? {
                Some(r) => Some(message_from_row(&r)?),
                None => None,
            },
            None => None,
        };
        let created_at: Millis = row.try_get(6)?;
        let event = DueEvent {
            seq: row.try_get(0)?,
            kind: row.try_get(1)?,
            project,
            message: found,
            recipient: row.try_get(4)?,
            payload: row.try_get(5)?,
            created_at,
        };
        let read_up_to: Option<i64> = match event.marker() {
            Some((reader, conv)) => {
                tx.query_opt(&marker, &[&event.project, &reader.as_str(), &conv]).await?.map(|r| r.get(0))
            }
            None => None,
        };
        let Some((event_id, kind, body)) = event.body(read_up_to) else { continue };
        for endpoint in endpoints {
            tx.execute(&deliver, &[endpoint, &event_id, &kind, &body, &created_at, &now]).await?;
            made += 1;
        }
    }
    tx.commit().await?;
    Ok(made)
}

pub(super) async fn due_deliveries(
    client: &Object,
    endpoint: &str,
    now: Millis,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, event_id, kind, body, attempts, created_at FROM webhook_deliveries
             WHERE endpoint = $1 AND next_at <= $2 ORDER BY next_at, id LIMIT $3",
        )
        .await?;
    let rows = client.query(&stmt, &[&endpoint, &now, &i64::from(limit)]).await?;
    rows.iter()
        .map(|r| {
            let attempts: i32 = r.try_get(4)?;
            Ok(Delivery {
                id: r.try_get(0)?,
                event_id: r.try_get(1)?,
                kind: r.try_get(2)?,
                body: r.try_get(3)?,
                attempts: u32::try_from(attempts).unwrap_or(0),
                created_at: r.try_get(5)?,
            })
        })
        .collect()
}

pub(super) async fn settle(client: &mut Object, outcomes: Vec<(i64, Settle)>) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    let forget = tx.prepare_cached("DELETE FROM webhook_deliveries WHERE id = $1").await?;
    let later =
        tx.prepare_cached("UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = $2 WHERE id = $1").await?;
    for (id, outcome) in outcomes {
        match outcome {
            Settle::Delivered | Settle::Drop => tx.execute(&forget, &[&id]).await?,
            Settle::Retry { at } => tx.execute(&later, &[&id, &at]).await?,
        };
    }
    tx.commit().await?;
    Ok(())
}

/// Deliveries and events waiting.
pub(super) async fn backlog(client: &Object) -> Result<u64, StoreError> {
    let waiting: i64 = client
        .query_one("SELECT (SELECT COUNT(*) FROM webhook_deliveries) + (SELECT COUNT(*) FROM webhook_events)", &[])
        .await?
        .try_get(0)?;
    Ok(waiting as u64)
}

/// Drops deliveries for endpoints not in `endpoints`; returns how many.
pub(super) async fn drop_except(client: &Object, endpoints: &[String]) -> Result<u64, StoreError> {
    Ok(client.execute("DELETE FROM webhook_deliveries WHERE NOT (endpoint = ANY($1))", &[&endpoints]).await?)
}
