//! The shared store for several nodes: PostgreSQL through a connection pool
//! (`tokio-postgres` with `deadpool-postgres`).
//!
//! Ids come from a counter row per project (see [`append`]), not from a
//! sequence: every node can write, and a reader following `id > cursor`
//! still never skips a message.
//!
//! `append.rs`, `changes.rs`, `messages.rs`, `search.rs`, `users.rs`,
//! `markers.rs` and `webhooks.rs` hold the `Store` operations as SQL,
//! `rows.rs` reads messages in their current state, `schema.rs` migrates,
//! `index.rs` fills the search index after commits and `indexer.rs` runs
//! it in the background; here: connecting, and the trait, delegating to
//! them.

mod append;
mod changes;
mod index;
mod indexer;
mod markers;
mod messages;
mod rows;
mod schema;
mod search;
mod users;
mod webhooks;

use super::*;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;

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
    inner: Arc<Inner>,
}

/// What the store and its background indexer share (the indexer holds it
/// weakly: dropping the store stops it).
struct Inner {
    pool: Pool,
    activity: indexer::Activity,
}

impl Inner {
    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Pool(e.to_string()))
    }
}

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
        let inner = Arc::new(Inner { pool, activity: indexer::Activity::new() });
        let mut client = inner.client().await?;
        schema::migrate(&mut client).await?;
        drop(client);
        indexer::spawn(Arc::downgrade(&inner));
        Ok(Self { inner })
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.inner.client().await
    }

    /// Migrates the database at `url` only up to schema `version`, as an
    /// older server left it, for a test of the migrations after it.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn migrate_only_to(url: &str, version: usize) -> Result<usize, StoreError> {
        let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
        let connection = tokio::spawn(connection);
        let done = schema::migrate_to(&mut client, version).await;
        drop(client);
        let _ = connection.await;
        done
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn append(&self, batch: Vec<Write>) -> Result<Vec<Written>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let written = append::append(&mut self.client().await?, batch).await?;
        self.inner.activity.note_commit(written.len() as u64);
        Ok(written)
    }

    async fn upsert_user(&self, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
        users::upsert_user(&mut self.client().await?, project, profile).await
    }

    async fn users(
        &self,
        project: &ProjectId,
        query: Option<&str>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        users::users(&self.client().await?, project, query, after, limit).await
    }

    async fn user_exists(&self, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
        users::user_exists(&self.client().await?, project, user).await
    }

    async fn messages_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        messages::messages_after(&self.client().await?, project, user, after, limit).await
    }

    async fn project_messages_after(
        &self,
        project: &ProjectId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        messages::project_messages_after(&self.client().await?, project, after, limit).await
    }

    async fn search(
        &self,
        project: &ProjectId,
        user: &UserId,
        query: &str,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        search::search(&mut self.client().await?, project, user, query, before, limit).await
    }

    async fn history(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        messages::history(&self.client().await?, project, user, conversation, before, limit).await
    }

    async fn mark_read(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        up_to: MessageId,
    ) -> Result<UnreadCount, StoreError> {
        markers::mark_read(&self.client().await?, project, user, conversation, up_to).await
    }

    async fn unread(&self, project: &ProjectId, user: &UserId) -> Result<Vec<UnreadCount>, StoreError> {
        markers::unread(&self.client().await?, project, user).await
    }

    async fn sign_in_state(&self, project: &ProjectId, user: &UserId) -> Result<SignInState, StoreError> {
        users::sign_in_state(&self.client().await?, project, user).await
    }

    async fn set_profile(&self, project: &ProjectId, profile: &Profile, at: Millis) -> Result<(), StoreError> {
        users::set_profile(&mut self.client().await?, project, profile, at).await
    }

    async fn sign_out(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<(), StoreError> {
        users::sign_out(&self.client().await?, project, user, not_before).await
    }

    async fn erase_user(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<Erased, StoreError> {
        users::erase_user(&mut self.client().await?, project, user, not_before).await
    }

    async fn erasures_since(&self, project: &ProjectId, cursor: MessageId) -> Result<Vec<UserId>, StoreError> {
        users::erasures_since(&self.client().await?, project, cursor).await
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
        messages::prune(&self.client().await?, retention).await
    }
}
