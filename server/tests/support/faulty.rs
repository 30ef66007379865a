//! A store that fails or waits on purpose (SQLite underneath), a server
//! on it, and the helpers the tests that drive it share.

use super::*;
use async_trait::async_trait;
use protocol::{Conversation, MessageId, Millis, Profile, ProjectId, ServerMsg, UnreadCount, UserId, Welcome};
use server::store::{
    Delivery, Erased, LogEntry, NewEvent, Page, Retention, Settle, SignInState, SqliteStore, Store, StoreError,
    UserPage, Write, Written,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// SQLite, with `history` held until the gate opens (a slow read), or
/// panicking, and `messages_after` answering `replay_delay` after it ran its
/// query (a busy blocking pool, a cold page cache: the rows are a snapshot
/// older than their arrival).
pub struct FaultyStore {
    pub inner: SqliteStore,
    pub gate: Arc<Semaphore>,
    pub history_panics: bool,
    pub replay_delay: Duration,
    /// When set, each `messages_after` runs its query, says so on the
    /// channel, and returns its rows only once the semaphore gives it a
    /// permit: the test decides what happens while a replay page is read.
    pub replay_gate: Option<(tokio::sync::mpsc::UnboundedSender<()>, Arc<Semaphore>)>,
}

impl FaultyStore {
    pub fn open(dir: &std::path::Path) -> Self {
        Self {
            inner: SqliteStore::open(dir.join("chat.db")).unwrap(),
            gate: Arc::new(Semaphore::new(0)),
            history_panics: false,
            replay_delay: Duration::ZERO,
            replay_gate: None,
        }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn append(&self, batch: Vec<Write>) -> Result<Vec<Written>, StoreError> {
        self.inner.append(batch).await
    }
    async fn upsert_user(&self, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
        self.inner.upsert_user(project, profile).await
    }
    async fn user_exists(&self, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
        self.inner.user_exists(project, user).await
    }
    async fn users(
        &self,
        project: &ProjectId,
        query: Option<&str>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        self.inner.users(project, query, after, limit).await
    }
    async fn messages_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let rows = self.inner.messages_after(project, user, after, limit).await;
        tokio::time::sleep(self.replay_delay).await;
        if let Some((read_started, release)) = &self.replay_gate {
            let _ = read_started.send(());
            if let Ok(permit) = release.acquire().await {
                permit.forget();
            }
        }
        rows
    }
    async fn project_messages_after(
        &self,
        project: &ProjectId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        self.inner.project_messages_after(project, after, limit).await
    }
    async fn search(
        &self,
        project: &ProjectId,
        user: &UserId,
        query: &str,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        self.inner.search(project, user, query, before, limit).await
    }
    async fn history(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        assert!(!self.history_panics, "history failed (on purpose)");
        let _open = self.gate.acquire().await;
        self.inner.history(project, user, conversation, before, limit).await
    }
    async fn mark_read(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        up_to: MessageId,
    ) -> Result<UnreadCount, StoreError> {
        self.inner.mark_read(project, user, conversation, up_to).await
    }
    async fn unread(&self, project: &ProjectId, user: &UserId) -> Result<Vec<UnreadCount>, StoreError> {
        self.inner.unread(project, user).await
    }
    async fn sign_in_state(&self, project: &ProjectId, user: &UserId) -> Result<SignInState, StoreError> {
        self.inner.sign_in_state(project, user).await
    }
    async fn set_profile(&self, project: &ProjectId, profile: &Profile, at: Millis) -> Result<(), StoreError> {
        self.inner.set_profile(project, profile, at).await
    }
    async fn sign_out(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<(), StoreError> {
        self.inner.sign_out(project, user, not_before).await
    }
    async fn erase_user(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<Erased, StoreError> {
        self.inner.erase_user(project, user, not_before).await
    }
    async fn erasures_since(&self, project: &ProjectId, cursor: MessageId) -> Result<Vec<UserId>, StoreError> {
        self.inner.erasures_since(project, cursor).await
    }
    async fn add_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        self.inner.add_events(events).await
    }
    async fn expand_due_events(&self, now: Millis, endpoints: &[String]) -> Result<u64, StoreError> {
        self.inner.expand_due_events(now, endpoints).await
    }
    async fn due_deliveries(&self, endpoint: &str, now: Millis, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        self.inner.due_deliveries(endpoint, now, limit).await
    }
    async fn settle_deliveries(&self, outcomes: Vec<(i64, Settle)>) -> Result<(), StoreError> {
        self.inner.settle_deliveries(outcomes).await
    }
    async fn webhook_backlog(&self) -> Result<u64, StoreError> {
        self.inner.webhook_backlog().await
    }
    async fn drop_deliveries_except(&self, endpoints: &[String]) -> Result<u64, StoreError> {
        self.inner.drop_deliveries_except(endpoints).await
    }
    async fn prune(&self, retention: Retention) -> Result<u64, StoreError> {
        self.inner.prune(retention).await
    }
}

pub async fn serve(config: server::Config, store: FaultyStore) -> (std::net::SocketAddr, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::run_with_store(listener, config, Arc::new(store), std::future::pending()));
    (addr, format!("ws://{addr}/ws"))
}

pub async fn serve_slow_replay(dir: &std::path::Path, delay: Duration) -> String {
    let mut config = server::Config::for_tests(dir.to_path_buf());
    config.rate_per_sec = 1_000_000;
    config.rate_burst = 1_000_000;
    serve(config, FaultyStore { replay_delay: delay, ..FaultyStore::open(dir) }).await.1
}

pub async fn ack_id(c: &mut Client) -> MessageId {
    loop {
        match c.recv_chat().await {
            ServerMsg::Ack { id, .. } => return id,
            ServerMsg::Message(_) => continue,
            other => panic!("expected an ack, got {other:?}"),
        }
    }
}

/// Alice, connected to project "p", and the welcome of bob, who signed in
/// there once and went away.
pub async fn alice_and_absent_bob(url: &str) -> (Client, Welcome) {
    let mut alice = Client::connect(url).await;
    alice.hello(guest("alice", "p"), None).await;
    let mut bob = Client::connect(url).await;
    let bob_welcome = bob.hello(guest("bob", "p"), None).await;
    (alice, bob_welcome)
}

pub async fn flood(alice: &mut Client, from: usize, n: usize) -> usize {
    let numbers: Vec<usize> = (from..from + n).collect();
    for chunk in numbers.chunks(100) {
        for i in chunk {
            alice.say(&format!("f-{i}"), Conversation::Room, "flood").await;
        }
        for _ in chunk {
            ack_id(alice).await;
        }
    }
    n
}
