//! The server-wide replay budget (`--max-replay-bytes`): replays beyond it
//! wait for a running one to end, then get everything; pages are trimmed to
//! the reservation and still cover the whole backlog. Driven through the
//! store's replay gate (a read that returns when the test says), not by
//! timing.

mod support;

use protocol::{Conversation, MessageId, ServerMsg};
use std::sync::Arc;
use std::time::Duration;
use support::faulty::*;
use support::*;
use tokio::sync::Semaphore;

/// Reads until `synced`; the ids replayed before it.
async fn replayed(client: &mut Client) -> Vec<MessageId> {
    let mut ids = Vec::new();
    loop {
        match client.event_within(Duration::from_secs(60)).await {
            Some(Event::Msg(ServerMsg::Message(m))) => ids.push(m.id),
            Some(Event::Msg(ServerMsg::Synced { .. })) => return ids,
            Some(Event::Msg(_)) => {}
            other => panic!("expected the replay, got {other:?} after {} messages", ids.len()),
        }
    }
}

/// Polls a metric until it has `value` (a guard, not a timing assertion:
/// the condition is reached by the server's own steps, whatever the speed).
async fn metric_reaches(addr: std::net::SocketAddr, name: &str, value: u64) {
    for _ in 0..600 {
        if metric(addr, name).await == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never reached {value} (now {})", metric(addr, name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_beyond_the_budget_waits_for_a_running_one_then_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::Config::for_tests(dir.path().to_path_buf());
    config.rate_per_sec = 1_000_000;
    config.rate_burst = 1_000_000;
    config.max_replay_bytes = 256 * 1024; // one replay page: one replay at a time
    let (read_started, mut reads) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let store = FaultyStore { replay_gate: Some((read_started, release.clone())), ..FaultyStore::open(dir.path()) };
    let (addr, url) = serve(config, store).await;
    let (mut alice, bob) = alice_and_absent_bob(&url).await;
    let sent = flood(&mut alice, 0, 50).await;

    // Bob's first tab resumes; its first page read is held by the store.
    let mut first = Client::connect(&url).await;
    first.hello(token(&bob.session_token), Some(MessageId(0))).await;
    reads.recv().await.expect("the first replay reads");
    // His second tab is welcomed, then waits for the budget, without reading.
    let mut second = Client::connect(&url).await;
    second.hello(token(&bob.session_token), Some(MessageId(0))).await;
    metric_reaches(addr, "chat_replays_queued", 1).await;
    assert_eq!(metric(addr, "chat_replays_running").await, 1, "only the first runs");
    assert!(reads.try_recv().is_err(), "the waiting replay has not read the store");

    release.add_permits(1_000);
    let (a, b) = tokio::join!(replayed(&mut first), replayed(&mut second));
    assert_eq!(a.len(), sent, "the first tab got the whole backlog");
    assert_eq!(a, b, "and so did the one that waited, the same ids");
    assert!(a.windows(2).all(|w| w[0] < w[1]), "in id order");
    metric_reaches(addr, "chat_replays_running", 0).await;
    first.alive().await;
    second.alive().await;
}

#[tokio::test]
async fn pages_trimmed_to_a_small_budget_still_replay_the_whole_backlog() {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
        c.max_replay_bytes = 4_000; // about three of these messages per page
    })
    .await;
    let (mut alice, _) = server.guest("alice", "p").await;
    let (bob_ws, bob) = server.guest("bob", "p").await;
    drop(bob_ws);
    let body = "x".repeat(1_000);
    for i in 0..30 {
        alice.say(&format!("m{i}"), Conversation::Room, &body).await;
    }
    let mut acked = Vec::new();
    while acked.len() < 30 {
        if let ServerMsg::Ack { id, .. } = alice.recv_chat().await {
            acked.push(id);
        }
    }
    // Two resumes at once: one runs, the other waits for it.
    let mut one = server.connect().await;
    one.hello(token(&bob.session_token), Some(MessageId(0))).await;
    let mut two = server.connect().await;
    two.hello(token(&bob.session_token), Some(MessageId(0))).await;
    let (a, b) = tokio::join!(replayed(&mut one), replayed(&mut two));
    assert_eq!(a, acked, "every message, in order, over about ten pages");
    assert_eq!(b, acked);
}
