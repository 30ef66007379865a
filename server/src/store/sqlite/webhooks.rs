//! The webhook outbox in SQL: events recorded with what caused them,
//! expanded into one delivery per endpoint once due, settled per attempt.

use super::rows::{message_from_row, COLUMNS, FROM};
use crate::store::webhook_events::{caused_by, DueEvent};
use crate::store::{Delivery, NewEvent, NewMessage, Settle};
use protocol::{ChatMessage, MessageId, Millis};
use rusqlite::{params, Connection, OptionalExtension};

/// Events expanded per transaction; the rest wait for the next pass.
const EXPAND_BATCH: u32 = 500;

/// Writes the events of message `id` (just inserted, in `conn`'s transaction).
pub(super) fn record_message_events(conn: &Connection, m: &NewMessage, id: MessageId) -> rusqlite::Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO webhook_events (kind, project, message_id, recipient, created_at, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for e in caused_by(m) {
        insert.execute(params![e.kind, m.project.as_str(), id.0 as i64, e.recipient, m.ts, e.due_at])?;
    }
    Ok(())
}

pub(super) fn add_events(conn: &mut Connection, events: Vec<NewEvent>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO webhook_events (kind, project, payload, created_at, due_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        )?;
        for e in events {
            let user = serde_json::to_string(&e.user).unwrap_or_default();
            insert.execute(params![e.kind, e.project.as_str(), user, e.at])?;
        }
    }
    tx.commit()
}

pub(super) fn expand_due(conn: &mut Connection, now: Millis, endpoints: &[String]) -> rusqlite::Result<u64> {
    let tx = conn.transaction()?;
    let mut made = 0;
    {
        type Row = (i64, String, String, Option<i64>, Option<String>, Option<String>, Millis);
        let due: Vec<Row> = tx
            .prepare_cached(
                "SELECT seq, kind, project, message_id, recipient, payload, created_at FROM webhook_events
                 WHERE due_at <= ?1 ORDER BY seq LIMIT ?2",
            )?
            .query_map(params![now, EXPAND_BATCH], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut message = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM {FROM} WHERE m.id = ?1"))?;
        let mut marker =
            tx.prepare_cached("SELECT up_to FROM read_markers WHERE project = ?1 AND user = ?2 AND conv = ?3")?;
        let mut deliver = tx.prepare_cached(
            "INSERT INTO webhook_deliveries (endpoint, event_id, kind, body, created_at, next_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut forget = tx.prepare_cached("DELETE FROM webhook_events WHERE seq = ?1")?;
        for (seq, kind, project, message_id, recipient, payload, created_at) in due {
            forget.execute(params![seq])?;
            let found: Option<ChatMessage> = match message_id {
                Some(id) => message.query_row(params![id], message_from_row).optional()?,
                None => None,
            };
            let event = DueEvent { seq, kind, project, message: found, recipient, payload, created_at };
            let read_up_to: Option<i64> = match event.marker() {
                Some((reader, conv)) => {
                    marker.query_row(params![event.project, reader.as_str(), conv], |r| r.get(0)).optional()?
                }
                None => None,
            };
            let Some((event_id, kind, body)) = event.body(read_up_to) else { continue };
            for endpoint in endpoints {
                deliver.execute(params![endpoint, event_id, kind, body, created_at, now])?;
                made += 1;
            }
        }
    }
    tx.commit()?;
    Ok(made)
}

pub(super) fn due_deliveries(
    conn: &Connection,
    endpoint: &str,
    now: Millis,
    limit: u32,
) -> rusqlite::Result<Vec<Delivery>> {
    conn.prepare_cached(
        "SELECT id, event_id, kind, body, attempts, created_at FROM webhook_deliveries
         WHERE endpoint = ?1 AND next_at <= ?2 ORDER BY next_at, id LIMIT ?3",
    )?
    .query_map(params![endpoint, now, limit], |r| {
        Ok(Delivery {
            id: r.get(0)?,
            event_id: r.get(1)?,
            kind: r.get(2)?,
            body: r.get(3)?,
            attempts: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?
    .collect()
}

pub(super) fn settle(conn: &mut Connection, outcomes: Vec<(i64, Settle)>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut forget = tx.prepare_cached("DELETE FROM webhook_deliveries WHERE id = ?1")?;
        let mut later =
            tx.prepare_cached("UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = ?2 WHERE id = ?1")?;
        for (id, outcome) in outcomes {
            match outcome {
                Settle::Delivered | Settle::Drop => forget.execute(params![id])?,
                Settle::Retry { at } => later.execute(params![id, at])?,
            };
        }
    }
    tx.commit()
}

pub(super) fn backlog(conn: &Connection) -> rusqlite::Result<u64> {
    let waiting: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM webhook_deliveries) + (SELECT COUNT(*) FROM webhook_events)",
        [],
        |r| r.get(0),
    )?;
    Ok(waiting as u64)
}

pub(super) fn drop_except(conn: &Connection, endpoints: &[String]) -> rusqlite::Result<u64> {
    let known = serde_json::to_string(endpoints).unwrap_or_else(|_| "[]".into());
    let dropped = conn.execute(
        "DELETE FROM webhook_deliveries WHERE endpoint NOT IN (SELECT value FROM json_each(?1))",
        params![known],
    )?;
    Ok(dropped as u64)
}
