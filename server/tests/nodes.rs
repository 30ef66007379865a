//! Several nodes: real servers sharing one PostgreSQL database and one
//! Redis, real WebSocket clients spread over them.

mod support;

use protocol::{ChatMessage, Conversation, MessageId, ServerMsg};
use server::testing::RedisServer;
use std::time::Duration;
use support::postgres::fresh_database;
use support::*;

struct Cluster {
    nodes: Vec<TestServer>,
    redis: RedisServer,
}

impl Cluster {
    async fn start(n: usize) -> Self {
        let redis = RedisServer::start().await;
        let database = fresh_database().await;
        let mut nodes = Vec::new();
        for _ in 0..n {
            let (database, redis_url) = (database.clone(), redis.url());
            nodes.push(
                TestServer::start_with(move |config| {
                    config.database_url = Some(database);
                    config.redis_url = Some(redis_url);
                    // The tests send in bursts; the limit is not what they test.
                    config.rate_per_sec = 10_000;
                    config.rate_burst = 10_000;
                })
                .await,
            );
        }
        let cluster = Self { nodes, redis };
        cluster.wait_for_subscribers().await;
        cluster
    }

    /// Pub/sub drops what is published before a node subscribes: wait
    /// until every node listens (a generous deadline, no fixed sleep).
    async fn wait_for_subscribers(&self) {
        let client = redis::Client::open(self.redis.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, count): (String, usize) =
                redis::cmd("PUBSUB").arg("NUMSUB").arg("chat").query_async(&mut conn).await.unwrap();
            if count >= self.nodes.len() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{count} of {} nodes subscribed", self.nodes.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn shutdown(mut self) {
        for node in &mut self.nodes {
            node.shutdown().await;
        }
    }
}

/// Sends `n` room messages and waits for their acks; returns their ids.
async fn send_room(client: &mut Client, prefix: &str, n: usize) -> Vec<MessageId> {
    for i in 0..n {
        client.say(&format!("{prefix}-{i}"), Conversation::Room, &format!("{prefix} {i}")).await;
    }
    let mut acked = Vec::new();
    while acked.len() < n {
        match client.recv_chat().await {
            ServerMsg::Ack { id, .. } => acked.push(id),
            ServerMsg::Message(_) => {}
            other => panic!("expected acks, got {other:?}"),
        }
    }
    acked
}

/// Reads chat messages until `n` have arrived.
async fn receive(client: &mut Client, n: usize) -> Vec<ChatMessage> {
    let mut got = Vec::new();
    while got.len() < n {
        match client.recv_chat().await {
            ServerMsg::Message(m) => got.push(m),
            other => panic!("expected messages, got {other:?}"),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_and_direct_messages_reach_clients_on_other_nodes() {
    let cluster = Cluster::start(3).await;
    let (mut alice, _) = cluster.nodes[0].guest("alice", "p").await;
    let (mut bob, bob_welcome) = cluster.nodes[1].guest("bob", "p").await;
    let (mut carol, _) = cluster.nodes[2].guest("carol", "p").await;

    let room = send_room(&mut alice, "r", 1).await;
    for other in [&mut bob, &mut carol] {
        let got = receive(other, 1).await;
        assert_eq!((got[0].id, got[0].body.as_str()), (room[0], "r 0"));
    }

    alice.say("d1", dm(&bob_welcome.me.id), "just for bob").await;
    let ServerMsg::Ack { id, .. } = alice.recv_chat().await else { panic!("no ack") };
    let got = receive(&mut bob, 1).await;
    assert_eq!((got[0].id, got[0].body.as_str()), (id, "just for bob"));
    // Carol's node got the event too and delivered nothing of it: a room
    // message sent after it reaches her next, and nothing before it.
    let after = send_room(&mut alice, "r2", 1).await;
    assert_eq!(receive(&mut carol, 1).await[0].id, after[0]);
    cluster.shutdown().await;
}

/// One sender per node, all at once; one listener per node. Every listener
/// sees the same ids, contiguous and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_sees_one_contiguous_sequence_while_all_nodes_send() {
    const EACH: usize = 100;
    let cluster = Cluster::start(3).await;
    let mut listeners = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        listeners.push(node.guest(&format!("listener{i}"), "busy").await.0);
    }
    let mut senders = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let (mut client, _) = node.guest(&format!("sender{i}"), "busy").await;
        senders.push(tokio::spawn(async move { send_room(&mut client, &format!("s{i}"), EACH).await }));
    }
    let mut acked = Vec::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    acked.sort();
    let total = 3 * EACH;
    assert_eq!(acked, (1..=total as u64).map(MessageId).collect::<Vec<_>>(), "ids are contiguous");
    for (i, listener) in listeners.iter_mut().enumerate() {
        let ids: Vec<MessageId> = receive(listener, total).await.into_iter().map(|m| m.id).collect();
        assert_eq!(ids, acked, "listener {i} saw a gap, a repeat or another order");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_id_through_two_nodes_is_one_message_and_projects_stay_apart() {
    let cluster = Cluster::start(2).await;
    let (mut tab_a, welcome) = cluster.nodes[0].guest("alice", "p1").await;
    let (mut tab_b, _) = cluster.nodes[1].tab(&welcome).await;
    let (mut listener, _) = cluster.nodes[1].guest("listener", "p1").await;
    let (mut stranger, _) = cluster.nodes[1].guest("stranger", "p2").await;
    tab_a.say("same", Conversation::Room, "once").await;
    let first = loop {
        if let ServerMsg::Ack { id, duplicate: false, .. } = tab_a.recv_chat().await {
            break id;
        }
    };
    tab_b.say("same", Conversation::Room, "once").await;
    let second = loop {
        match tab_b.recv_chat().await {
            ServerMsg::Ack { id, duplicate, .. } => break (id, duplicate),
            ServerMsg::Message(m) => assert_eq!(m.id, first, "tab b sees the message from tab a"),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(second, (first, true));
    assert_eq!(receive(&mut listener, 1).await[0].id, first);
    // The stranger's project got nothing: the next thing it sees is its own traffic.
    let (mut other, _) = cluster.nodes[0].guest("other", "p2").await;
    let theirs = send_room(&mut other, "p2", 1).await;
    assert_eq!(receive(&mut stranger, 1).await[0].id, theirs[0]);
    assert_eq!(theirs[0], MessageId(1), "each project counts its own ids");
    cluster.shutdown().await;
}

/// Redis stops and starts again while a node keeps sending: sends are
/// stored and acked throughout, and a listener on another node ends with
/// every acked message, in order, once (the gap is filled from the store
/// when its node subscribes again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_during_traffic_loses_no_acked_message_for_live_clients() {
    let mut cluster = Cluster::start(2).await;
    let (mut sender, _) = cluster.nodes[0].guest("sender", "live").await;
    let (mut listener, _) = cluster.nodes[1].guest("listener", "live").await;
    let mut acked = send_room(&mut sender, "before", 20).await;
    cluster.redis.stop();
    acked.extend(send_room(&mut sender, "during", 20).await);
    cluster.redis.restart().await;
    cluster.wait_for_subscribers().await;
    acked.extend(send_room(&mut sender, "after", 20).await);
    let ids: Vec<MessageId> = receive(&mut listener, acked.len()).await.into_iter().map(|m| m.id).collect();
    assert_eq!(ids, acked);
    listener.quiet(Duration::from_millis(300)).await;
    cluster.shutdown().await;
}
