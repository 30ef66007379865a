//! Users: the directory, profiles, sign-in state, sign-out and erasure.

use super::markers::start_room_marker;
use super::rows::{corrupt, sql_id};
use super::SqliteStore;
use crate::store::*;
use rusqlite::{params, Connection, OptionalExtension};

fn record_sign_out(conn: &Connection, project: &str, user: &str, not_before: Millis) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sign_outs (project, user, not_before) VALUES (?1, ?2, ?3)
         ON CONFLICT (project, user) DO UPDATE SET not_before = MAX(not_before, excluded.not_before)",
        params![project, user, not_before],
    )?;
    Ok(())
}

pub(super) async fn upsert_user(db: &SqliteStore, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
    // Most hellos are reconnects of a known, unchanged user: answer them
    // with a read, so a reconnect storm after a restart costs no fsyncs.
    let (p, u) = (project.clone(), profile.clone());
    let unchanged = db
        .read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM users WHERE project = ?1 AND id = ?2 AND name = ?3 AND color = ?4")?
                .exists(params![p.as_str(), u.id.as_str(), u.name, u.color])?)
        })
        .await?;
    if unchanged {
        return Ok(());
    }
    let (project, profile) = (project.clone(), profile.clone());
    db.write(move |conn| {
        let tx = conn.transaction()?;
        let new = tx.execute(
            "INSERT INTO users (project, id, name, color) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (project, id) DO NOTHING",
            params![project.as_str(), profile.id.as_str(), profile.name, profile.color],
        )? == 1;
        if new {
            start_room_marker(&tx, project.as_str(), profile.id.as_str())?;
        } else {
            tx.execute(
                "UPDATE users SET name = ?3, color = ?4 WHERE project = ?1 AND id = ?2",
                params![project.as_str(), profile.id.as_str(), profile.name, profile.color],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await
}

pub(super) async fn users(
    db: &SqliteStore,
    project: &ProjectId,
    query: Option<&str>,
    after: Option<&UserId>,
    limit: u32,
) -> Result<UserPage, StoreError> {
    let (project, after) = (project.clone(), after.cloned());
    // LIKE is case-insensitive for ASCII only; lower() on both sides
    // and instr() cover the rest and need no escaping of `%` and `_`.
    let query = query.map(str::to_owned);
    db.read(move |conn| {
        let mut users = conn
            .prepare_cached(
                "SELECT id, name, color FROM users
                 WHERE project = ?1
                   AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0 OR substr(id, 1, length(?2)) = ?2)
                   AND (?3 IS NULL OR (name COLLATE NOCASE, id) >
                        (SELECT name COLLATE NOCASE, id FROM users WHERE project = ?1 AND id = ?3))
                 ORDER BY name COLLATE NOCASE, id
                 LIMIT ?4",
            )?
            .query_map(
                params![project.as_str(), query, after.as_ref().map(UserId::as_str), i64::from(limit) + 1],
                |row| {
                    let id: String = row.get(0)?;
                    Ok(Profile {
                        id: UserId::new(id).map_err(|e| corrupt("user id", e))?,
                        name: row.get(1)?,
                        color: row.get(2)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = users.len() > limit as usize;
        users.truncate(limit as usize);
        Ok(UserPage { users, has_more })
    })
    .await
}

pub(super) async fn user_exists(db: &SqliteStore, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
    let (project, user) = (project.clone(), user.clone());
    db.read(move |conn| {
        Ok(conn
            .prepare_cached("SELECT 1 FROM users WHERE project = ?1 AND id = ?2")?
            .exists(params![project.as_str(), user.as_str()])?)
    })
    .await
}

pub(super) async fn sign_in_state(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
) -> Result<SignInState, StoreError> {
    let (project, user) = (project.clone(), user.clone());
    db.read(move |conn| {
        let profile = conn
            .prepare_cached("SELECT name, color, profile_at FROM users WHERE project = ?1 AND id = ?2")?
            .query_row(params![project.as_str(), user.as_str()], |row| {
                Ok((Profile { id: user.clone(), name: row.get(0)?, color: row.get(1)? }, row.get(2)?))
            })
            .optional()?;
        let not_before = conn
            .prepare_cached("SELECT not_before FROM sign_outs WHERE project = ?1 AND user = ?2")?
            .query_row(params![project.as_str(), user.as_str()], |row| row.get(0))
            .optional()?;
        Ok(SignInState { profile, not_before })
    })
    .await
}

pub(super) async fn set_profile(
    db: &SqliteStore,
    project: &ProjectId,
    profile: &Profile,
    at: Millis,
) -> Result<(), StoreError> {
    let (project, profile) = (project.clone(), profile.clone());
    db.write(move |conn| {
        let tx = conn.transaction()?;
        let new = tx.execute(
            "INSERT INTO users (project, id, name, color, profile_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (project, id) DO NOTHING",
            params![project.as_str(), profile.id.as_str(), profile.name, profile.color, at],
        )? == 1;
        if new {
            start_room_marker(&tx, project.as_str(), profile.id.as_str())?;
        } else {
            tx.execute(
                "UPDATE users SET name = ?3, color = ?4, profile_at = MAX(COALESCE(profile_at, 0), ?5)
                 WHERE project = ?1 AND id = ?2",
                params![project.as_str(), profile.id.as_str(), profile.name, profile.color, at],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await
}

pub(super) async fn sign_out(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
    not_before: Millis,
) -> Result<(), StoreError> {
    let (project, user) = (project.clone(), user.clone());
    db.write(move |conn| {
        record_sign_out(conn, project.as_str(), user.as_str(), not_before)?;
        Ok(())
    })
    .await
}

pub(super) async fn erase_user(
    db: &SqliteStore,
    project: &ProjectId,
    user: &UserId,
    not_before: Millis,
) -> Result<Erased, StoreError> {
    let (project, user) = (project.clone(), user.clone());
    db.write(move |conn| {
        let tx = conn.transaction()?;
        let (p, u) = (project.as_str(), user.as_str());
        record_sign_out(&tx, p, u, not_before)?;
        let messages = tx.execute("DELETE FROM messages WHERE project = ?1 AND sender = ?2", params![p, u])? as u64;
        let existed = tx.execute("DELETE FROM users WHERE project = ?1 AND id = ?2", params![p, u])? == 1;
        tx.execute("DELETE FROM read_markers WHERE project = ?1 AND user = ?2", params![p, u])?;
        tx.execute("DELETE FROM conversations WHERE project = ?1 AND user = ?2", params![p, u])?;
        // Their reactions and the changes they made to others' messages
        // (their own messages took theirs with them: `messages_delete`).
        tx.execute(
            "DELETE FROM reactions WHERE user = ?2 AND target IN (SELECT id FROM messages WHERE project = ?1)",
            params![p, u],
        )?;
        tx.execute("DELETE FROM events WHERE project = ?1 AND by_user = ?2", params![p, u])?;
        tx.execute("DELETE FROM mentions WHERE project = ?1 AND user = ?2", params![p, u])?;
        // The newest id ever assigned (deleted ones included): what a
        // client that saw everything before the erasure has as cursor.
        let at_id: i64 = tx
            .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'messages'", [], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        tx.execute("INSERT OR IGNORE INTO erasures (project, user, at_id) VALUES (?1, ?2, ?3)", params![p, u, at_id])?;
        tx.commit()?;
        Ok(Erased { messages, existed })
    })
    .await
}

pub(super) async fn erasures_since(
    db: &SqliteStore,
    project: &ProjectId,
    cursor: MessageId,
) -> Result<Vec<UserId>, StoreError> {
    let project = project.clone();
    db.read(move |conn| {
        let rows = conn
            .prepare_cached("SELECT DISTINCT user FROM erasures WHERE project = ?1 AND at_id >= ?2")?
            .query_map(params![project.as_str(), sql_id(cursor)], |row| {
                let id: String = row.get(0)?;
                UserId::new(id).map_err(|e| corrupt("erased user", e))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    })
    .await
}
