//! A real server on a store whose `history` is slow or panics: a condemned
//! slow consumer gets nothing past the message it lost, and a session that
//! panics still leaves the hub.

mod support;

use async_trait::async_trait;
use protocol::{ChatMessage, ClientMsg, Conversation, MessageId, Profile, ProjectId, ServerMsg, UnreadCount, UserId};
use server::store::{Appended, NewMessage, Page, Retention, SqliteStore, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::sync::Semaphore;

/// SQLite, with `history` held until the gate opens (a slow read), or
/// panicking.
pub struct FaultyStore {
    pub inner: SqliteStore,
    pub gate: Arc<Semaphore>,
    pub history_panics: bool,
}

#[async_trait]
impl Store for FaultyStore {
    async fn append(&self, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError> {
        self.inner.append(batch).await
    }
    async fn upsert_user(&self, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
        self.inner.upsert_user(project, profile).await
    }
    async fn user_exists(&self, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
        self.inner.user_exists(project, user).await
    }
    async fn messages_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.inner.messages_after(project, user, after, limit).await
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
    async fn prune(&self, retention: Retention) -> Result<u64, StoreError> {
        self.inner.prune(retention).await
    }
}

async fn serve(config: server::Config, store: FaultyStore) -> (std::net::SocketAddr, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::run_with_store(listener, config, Arc::new(store), std::future::pending()));
    (addr, format!("ws://{addr}/ws"))
}

#[tokio::test]
async fn a_session_that_panics_leaves_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::Config::for_tests(dir.path().to_path_buf());
    let inner = SqliteStore::open(dir.path().join("chat.db")).unwrap();
    let (_, url) = serve(config, FaultyStore { inner, gate: Arc::new(Semaphore::new(0)), history_panics: true }).await;
    let mut bob = Client::connect(&url).await;
    bob.hello(guest("bob", "ghost"), None).await;
    let mut alice = Client::connect(&url).await;
    let alice_id = alice.hello(guest("alice", "ghost"), None).await.me.id;
    alice.send(&ClientMsg::History { conversation: Conversation::Room, before: None, limit: None }).await;
    let left = loop {
        match bob.event().await {
            Event::Msg(ServerMsg::Presence { user, online: false }) => break user.id,
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("bob was closed ({code:?})"),
        }
    };
    assert_eq!(left, alice_id, "everyone sees alice leave");
    let mut carol = Client::connect(&url).await;
    let online = carol.hello(guest("carol", "ghost"), None).await.online;
    assert!(!online.iter().any(|p| p.id == alice_id), "alice is not listed online: {online:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condemned_slow_consumer_receives_messages_past_the_dropped_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::Config::for_tests(dir.path().to_path_buf());
    config.outbox_capacity = 16;
    config.rate_per_sec = 1_000_000;
    config.rate_burst = 1_000_000;
    config.write_timeout = Duration::from_secs(30);
    let gate = Arc::new(Semaphore::new(0));
    let store = FaultyStore {
        inner: SqliteStore::open(dir.path().join("chat.db")).unwrap(),
        gate: gate.clone(),
        history_panics: false,
    };
    let (addr, url) = serve(config, store).await;

    let mut sender = Client::connect(&url).await;
    sender.hello(guest("sender", "gap"), None).await;
    let mut victim = Client::connect(&url).await;
    victim.hello(guest("victim", "gap"), None).await;
    // The victim asks for history (its session now waits on the store,
    // draining its outbox meanwhile) and does not read for a while.
    victim.send(&ClientMsg::History { conversation: Conversation::Room, before: None, limit: None }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let body = "y".repeat(3000);
    let mut sent: Vec<MessageId> = Vec::new();
    let mut n = 0;
    // Phase 1: fill the victim's socket and outbox until it overflows.
    while metric(addr, "chat_outbox_overflows").await == 0 {
        for _ in 0..50 {
            sender.say(&format!("g-{n}"), Conversation::Room, &body).await;
            n += 1;
        }
        while sent.len() < n {
            if let ServerMsg::Ack { id, .. } = sender.recv_chat().await {
                sent.push(id);
            }
        }
        assert!(n < 100_000, "never overflowed");
    }
    // Phase 2: the victim reads everything that reached it so far.
    let mut received: Vec<MessageId> = Vec::new();
    while let Some(ev) = victim.event_within(Duration::from_millis(500)).await {
        match ev {
            Event::Msg(ServerMsg::Message(m)) => received.push(m.id),
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed early: {code:?}"),
        }
    }
    // Phase 3: more room traffic, then the store read finishes.
    for _ in 0..20 {
        sender.say(&format!("g-{n}"), Conversation::Room, "after").await;
        n += 1;
    }
    while sent.len() < n {
        if let ServerMsg::Ack { id, .. } = sender.recv_chat().await {
            sent.push(id);
        }
    }
    gate.add_permits(1000);
    let code = loop {
        match victim.event().await {
            Event::Msg(ServerMsg::Message(m)) => received.push(m.id),
            Event::Msg(_) => {}
            Event::Closed(code) => break code,
        }
    };
    eprintln!("sent {} received {} code {code:?}", sent.len(), received.len());
    assert_eq!(code, Some(4011), "the victim was condemned as too slow");
    let at = received.iter().zip(&sent).position(|(a, b)| a != b);
    assert_eq!(
        at,
        None,
        "the victim got {:?} right after {:?}, skipping {:?}..: its cursor now jumps the dropped messages",
        at.map(|i| received[i]),
        at.and_then(|i| i.checked_sub(1)).map(|i| received[i]),
        at.map(|i| sent[i]),
    );
}
