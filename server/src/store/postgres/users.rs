//! Users: the directory, profiles, sign-in state, sign-out and erasure.

use super::markers::start_room_marker;
use super::rows::sql_id;
use crate::store::*;
use deadpool_postgres::{GenericClient, Object};

async fn record_sign_out(
    client: &impl GenericClient,
    project: &str,
    user: &str,
    not_before: Millis,
) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO sign_outs (project, user_id, not_before) VALUES ($1, $2, $3)
             ON CONFLICT (project, user_id) DO UPDATE SET not_before = GREATEST(sign_outs.not_before, excluded.not_before)",
        )
        .await?;
    client.execute(&stmt, &[&project, &user, &not_before]).await?;
    Ok(())
}

pub(super) async fn upsert_user(client: &mut Object, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
    let (p, u) = (project.as_str(), profile.id.as_str());
    // Most hellos are reconnects of a known, unchanged user: a read
    // answers them, so a reconnect storm costs no commits.
    let unchanged = client
        .prepare_cached("SELECT 1 FROM users WHERE project = $1 AND id = $2 AND name = $3 AND color = $4")
        .await?;
    if client.query_opt(&unchanged, &[&p, &u, &profile.name, &profile.color]).await?.is_some() {
        return Ok(());
    }
    let tx = client.transaction().await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO users (project, id, name, color) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project, id) DO UPDATE SET name = excluded.name, color = excluded.color
             RETURNING (xmax = 0) AS inserted",
        )
        .await?;
    let inserted: bool = tx.query_one(&insert, &[&p, &u, &profile.name, &profile.color]).await?.try_get(0)?;
    if inserted {
        start_room_marker(&tx, p, u).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn users(
    client: &Object,
    project: &ProjectId,
    query: Option<&str>,
    after: Option<&UserId>,
    limit: u32,
) -> Result<UserPage, StoreError> {
    // strpos and a prefix comparison, not LIKE: a query's `%` and `_`
    // are plain characters.
    let stmt = client
        .prepare_cached(
            r#"SELECT id, name, color FROM users
             WHERE project = $1
               AND ($2::text IS NULL OR strpos(lower(name), lower($2)) > 0 OR left(id, length($2)) = $2)
               AND ($3::text IS NULL OR (lower(name) COLLATE "C", id) >
                    (SELECT lower(name) COLLATE "C", id FROM users WHERE project = $1 AND id = $3))
             ORDER BY lower(name) COLLATE "C", id
             LIMIT $4"#,
        )
        .await?;
    let rows =
        client.query(&stmt, &[&project.as_str(), &query, &after.map(UserId::as_str), &(i64::from(limit) + 1)]).await?;
    let mut users = rows
        .iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            Ok(Profile {
                id: UserId::new(id).map_err(|e| StoreError::Corrupt(format!("user id: {e}")))?,
                name: row.try_get(1)?,
                color: row.try_get(2)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let has_more = users.len() > limit as usize;
    users.truncate(limit as usize);
    Ok(UserPage { users, has_more })
}

pub(super) async fn user_exists(client: &Object, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
    let stmt = client.prepare_cached("SELECT 1 FROM users WHERE project = $1 AND id = $2").await?;
    Ok(client.query_opt(&stmt, &[&project.as_str(), &user.as_str()]).await?.is_some())
}

pub(super) async fn sign_in_state(
    client: &Object,
    project: &ProjectId,
    user: &UserId,
) -> Result<SignInState, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT u.name, u.color, u.profile_at,
                    (SELECT not_before FROM sign_outs s WHERE s.project = $1 AND s.user_id = $2)
             FROM (SELECT 1) one
             LEFT JOIN users u ON u.project = $1 AND u.id = $2",
        )
        .await?;
    let row = client.query_one(&stmt, &[&project.as_str(), &user.as_str()]).await?;
    let name: Option<String> = row.try_get(0)?;
    let color: Option<String> = row.try_get(1)?;
    let profile = match (name, color) {
        (Some(name), Some(color)) => Some((Profile { id: user.clone(), name, color }, row.try_get(2)?)),
        _ => None,
    };
    Ok(SignInState { profile, not_before: row.try_get(3)? })
}

pub(super) async fn set_profile(
    client: &mut Object,
    project: &ProjectId,
    profile: &Profile,
    at: Millis,
) -> Result<(), StoreError> {
    let (p, u) = (project.as_str(), profile.id.as_str());
    let tx = client.transaction().await?;
    let upsert = tx
        .prepare_cached(
            "INSERT INTO users (project, id, name, color, profile_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (project, id) DO UPDATE SET name = excluded.name, color = excluded.color,
                 profile_at = GREATEST(COALESCE(users.profile_at, 0), excluded.profile_at)
             RETURNING (xmax = 0) AS inserted",
        )
        .await?;
    let inserted: bool = tx.query_one(&upsert, &[&p, &u, &profile.name, &profile.color, &at]).await?.try_get(0)?;
    if inserted {
        start_room_marker(&tx, p, u).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn sign_out(
    client: &Object,
    project: &ProjectId,
    user: &UserId,
    not_before: Millis,
) -> Result<(), StoreError> {
    record_sign_out(client, project.as_str(), user.as_str(), not_before).await
}

pub(super) async fn erase_user(
    client: &mut Object,
    project: &ProjectId,
    user: &UserId,
    not_before: Millis,
) -> Result<Erased, StoreError> {
    let (p, u) = (project.as_str(), user.as_str());
    let tx = client.transaction().await?;
    record_sign_out(&tx, p, u, not_before).await?;
    let messages = tx.execute("DELETE FROM messages WHERE project = $1 AND sender = $2", &[&p, &u]).await?;
    let existed = tx.execute("DELETE FROM users WHERE project = $1 AND id = $2", &[&p, &u]).await? == 1;
    tx.execute("DELETE FROM read_markers WHERE project = $1 AND user_id = $2", &[&p, &u]).await?;
    tx.execute("DELETE FROM conversations WHERE project = $1 AND user_id = $2", &[&p, &u]).await?;
    // Their reactions, the changes they made to others' messages and the
    // mentions of them (their own messages took theirs with them: the
    // `messages_gone` trigger).
    tx.execute("DELETE FROM reactions WHERE project = $1 AND user_id = $2", &[&p, &u]).await?;
    tx.execute("DELETE FROM events WHERE project = $1 AND by_user = $2", &[&p, &u]).await?;
    tx.execute("DELETE FROM mentions WHERE project = $1 AND user_id = $2", &[&p, &u]).await?;
    // The project's newest id ever assigned (deleted ones included):
    // what a client that saw everything before the erasure has as cursor.
    tx.execute(
        "INSERT INTO erasures (project, user_id, at_id)
         SELECT $1, $2, COALESCE((SELECT last_id FROM project_counters WHERE project = $1), 0)
         ON CONFLICT DO NOTHING",
        &[&p, &u],
    )
    .await?;
    tx.commit().await?;
    Ok(Erased { messages, existed })
}

pub(super) async fn erasures_since(
    client: &Object,
    project: &ProjectId,
    cursor: MessageId,
) -> Result<Vec<UserId>, StoreError> {
    let stmt =
        client.prepare_cached("SELECT DISTINCT user_id FROM erasures WHERE project = $1 AND at_id >= $2").await?;
    let rows = client.query(&stmt, &[&project.as_str(), &sql_id(cursor)]).await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            UserId::new(id).map_err(|e| StoreError::Corrupt(format!("erased user: {e}")))
        })
        .collect()
}
