//! The shared store for several nodes: PostgreSQL through a connection pool
//! (`tokio-postgres` with `deadpool-postgres`).
//!
//! Ids come from a counter row per project (see [`append`]), not from a
//! sequence: every node can write, and a reader following `id > cursor`
//! still never skips a message.

mod append;
mod schema;
mod webhooks;

use super::*;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::{NoTls, Row};

/// How a [`PostgresStore`] connects.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Most connections this node keeps open to the database.
    pub pool_size: usize,
    /// How long a call waits for a connection (a free one, or a new one to
    /// be opened) before it fails with [`StoreError::Pool`].
    pub timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self { pool_size: 16, timeout: Duration::from_secs(5) }
    }
}

pub struct PostgresStore {
    pool: Pool,
}

const COLUMNS: &str = "id, ts, sender, sender_name, sender_color, recipient, conv, body, client_id";

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`)
    /// and migrates the schema. Fails at once if the database cannot be
    /// reached: a node must not start without its store.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| StoreError::Config(e.to_string()))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.timeout);
        }
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        let store = Self { pool };
        let mut client = store.client().await?;
        schema::migrate(&mut client).await?;
        Ok(store)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Pool(e.to_string()))
    }
}

/// A message id as PostgreSQL stores it (`BIGINT`). Clients can name any
/// `u64`: a larger one means "after every message", not a negative number.
fn sql_id(id: MessageId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

/// Reads a row selected with [`COLUMNS`] (in that order, from column 0).
fn message_from_row(row: &Row) -> Result<ChatMessage, StoreError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| StoreError::Corrupt(format!("{what}: {e}"));
    let id: i64 = row.try_get(0)?;
    let recipient: Option<String> = row.try_get(5)?;
    let to = match recipient {
        None => Conversation::Room,
        Some(r) => Conversation::Direct { user: UserId::new(r).map_err(|e| corrupt("recipient", &e))? },
    };
    let client_id: String = row.try_get(8)?;
    Ok(ChatMessage {
        id: MessageId(u64::try_from(id).map_err(|e| corrupt("id", &e))?),
        ts: row.try_get(1)?,
        from: Profile {
            id: UserId::new(row.try_get::<_, String>(2)?).map_err(|e| corrupt("sender", &e))?,
            name: row.try_get(3)?,
            color: row.try_get(4)?,
        },
        to,
        body: row.try_get(7)?,
        client_id: Some(ClientMsgId::new(client_id).map_err(|e| corrupt("client_id", &e))?),
    })
}

/// Unread count and read marker of every conversation in `convs` (storage
/// keys) for `user`; one round trip.
async fn unread_in(
    client: &Object,
    project: &str,
    user: &UserId,
    convs: &[String],
) -> Result<Vec<(String, u32, Option<MessageId>)>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT c.conv, r.up_to,
                    (SELECT COUNT(*) FROM messages m
                     WHERE m.project = $1 AND m.conv = c.conv AND m.id > COALESCE(r.up_to, 0) AND m.sender <> $2)
             FROM unnest($3::text[]) AS c(conv)
             LEFT JOIN read_markers r ON r.project = $1 AND r.user_id = $2 AND r.conv = c.conv",
        )
        .await?;
    let rows = client.query(&stmt, &[&project, &user.as_str(), &convs]).await?;
    rows.iter()
        .map(|row| {
            let up_to: Option<i64> = row.try_get(1)?;
            let count: i64 = row.try_get(2)?;
            Ok((row.try_get(0)?, u32::try_from(count).unwrap_or(u32::MAX), up_to.map(|u| MessageId(u.max(0) as u64))))
        })
        .collect()
}

/// A new user's room marker starts at the newest room message, so older
/// room history is not "unread".
async fn start_room_marker(client: &impl GenericClient, project: &str, user: &str) -> Result<(), StoreError> {
    let stmt = client
        .prepare_cached(
            "INSERT INTO read_markers (project, user_id, conv, up_to)
             SELECT $1, $2, 'room', COALESCE(MAX(id), 0) FROM messages WHERE project = $1 AND conv = 'room'
             ON CONFLICT DO NOTHING",
        )
        .await?;
    client.execute(&stmt, &[&project, &user]).await?;
    Ok(())
}

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

#[async_trait]
impl Store for PostgresStore {
    async fn append(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        append::append(&mut client, batch).await
    }

    async fn upsert_user(&self, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
        let mut client = self.client().await?;
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

    async fn users(
        &self,
        project: &ProjectId,
        query: Option<&str>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        let client = self.client().await?;
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
        let rows = client
            .query(&stmt, &[&project.as_str(), &query, &after.map(UserId::as_str), &(i64::from(limit) + 1)])
            .await?;
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

    async fn user_exists(&self, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached("SELECT 1 FROM users WHERE project = $1 AND id = $2").await?;
        Ok(client.query_opt(&stmt, &[&project.as_str(), &user.as_str()]).await?.is_some())
    }

    async fn messages_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let client = self.client().await?;
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

    async fn project_messages_after(
        &self,
        project: &ProjectId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages WHERE project = $1 AND id > $2 ORDER BY id LIMIT $3"
            ))
            .await?;
        let rows = client.query(&stmt, &[&project.as_str(), &sql_id(after), &i64::from(limit)]).await?;
        rows.iter().map(message_from_row).collect()
    }

    async fn history(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let client = self.client().await?;
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

    async fn mark_read(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        up_to: MessageId,
    ) -> Result<UnreadCount, StoreError> {
        let client = self.client().await?;
        let conv = conversation_key(user, conversation);
        let stmt = client
            .prepare_cached(
                "INSERT INTO read_markers (project, user_id, conv, up_to)
                 SELECT $1, $2, $3, LEAST($4, COALESCE(MAX(id), 0)) FROM messages WHERE project = $1 AND conv = $3
                 ON CONFLICT (project, user_id, conv) DO UPDATE SET up_to = GREATEST(read_markers.up_to, excluded.up_to)",
            )
            .await?;
        client.execute(&stmt, &[&project.as_str(), &user.as_str(), &conv, &sql_id(up_to)]).await?;
        let counts = unread_in(&client, project.as_str(), user, std::slice::from_ref(&conv)).await?;
        let (_, count, read_up_to) =
            counts.into_iter().next().ok_or_else(|| StoreError::Corrupt("no unread count returned".into()))?;
        Ok(UnreadCount { conversation: conversation.clone(), count, read_up_to })
    }

    async fn unread(&self, project: &ProjectId, user: &UserId) -> Result<Vec<UnreadCount>, StoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached("SELECT conv FROM conversations WHERE project = $1 AND user_id = $2").await?;
        let mut convs: Vec<String> = client
            .query(&stmt, &[&project.as_str(), &user.as_str()])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        convs.push("room".into());
        let mut out = Vec::new();
        for (conv, count, read_up_to) in unread_in(&client, project.as_str(), user, &convs).await? {
            if count > 0 {
                out.push(UnreadCount { conversation: conversation_from_key(user, &conv)?, count, read_up_to });
            }
        }
        Ok(out)
    }

    async fn sign_in_state(&self, project: &ProjectId, user: &UserId) -> Result<SignInState, StoreError> {
        let client = self.client().await?;
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

    async fn set_profile(&self, project: &ProjectId, profile: &Profile, at: Millis) -> Result<(), StoreError> {
        let mut client = self.client().await?;
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

    async fn sign_out(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<(), StoreError> {
        let client = self.client().await?;
        record_sign_out(&client, project.as_str(), user.as_str(), not_before).await
    }

    async fn erase_user(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<Erased, StoreError> {
        let mut client = self.client().await?;
        let (p, u) = (project.as_str(), user.as_str());
        let tx = client.transaction().await?;
        record_sign_out(&tx, p, u, not_before).await?;
        let messages = tx.execute("DELETE FROM messages WHERE project = $1 AND sender = $2", &[&p, &u]).await?;
        let existed = tx.execute("DELETE FROM users WHERE project = $1 AND id = $2", &[&p, &u]).await? == 1;
        tx.execute("DELETE FROM read_markers WHERE project = $1 AND user_id = $2", &[&p, &u]).await?;
        tx.execute("DELETE FROM conversations WHERE project = $1 AND user_id = $2", &[&p, &u]).await?;
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

    async fn erasures_since(&self, project: &ProjectId, cursor: MessageId) -> Result<Vec<UserId>, StoreError> {
        let client = self.client().await?;
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

    async fn add_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        webhooks::add_events(&mut self.client().await?, events).await
    }

    async fn expand_due_events(&self, now: Millis, endpoints: &[String]) -> Result<u64, StoreError> {
        webhooks::expand_due(&mut self.client().await?, now, endpoints).await
    }

    async fn due_deliveries(&self, endpoint: &str, now: Millis, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        webhooks::due_deliveries(&self.client().await?, endpoint, now, limit).await
    }

    async fn settle_deliveries(&self, outcomes: Vec<(i64, Settle)>) -> Result<(), StoreError> {
        webhooks::settle(&mut self.client().await?, outcomes).await
    }

    async fn webhook_backlog(&self) -> Result<u64, StoreError> {
        webhooks::backlog(&self.client().await?).await
    }

    async fn drop_deliveries_except(&self, endpoints: &[String]) -> Result<u64, StoreError> {
        webhooks::drop_except(&self.client().await?, endpoints).await
    }

    async fn prune(&self, retention: Retention) -> Result<u64, StoreError> {
        let client = self.client().await?;
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
}
