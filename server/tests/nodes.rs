//! Several nodes: real servers sharing one PostgreSQL database and one
//! Redis, real WebSocket clients spread over them.

mod support;

use futures_util::StreamExt;
use protocol::{ChatMessage, Conversation, MessageId, ServerMsg};
use server::testing::RedisServer;
use std::time::Duration;
use support::postgres::fresh_database;
use support::*;

struct Cluster {
    nodes: Vec<TestServer>,
    redis: RedisServer,
    database: String,
}

/// Heartbeats for the tests that kill a node: dead within about 2 s.
const FAST_HEARTBEAT: Duration = Duration::from_millis(200);
const FAST_TTL: Duration = Duration::from_secs(1);

impl Cluster {
    async fn start(n: usize) -> Self {
        Self::start_with(n, |_| {}).await
    }

    async fn start_with(n: usize, tweak: impl Fn(&mut server::Config) + Clone + Send + 'static) -> Self {
        let redis = RedisServer::start().await;
        let database = fresh_database().await;
        let mut nodes = Vec::new();
        for _ in 0..n {
            let (database, redis_url, tweak) = (database.clone(), redis.url(), tweak.clone());
            nodes.push(
                TestServer::start_with(move |config| {
                    tweak(config);
                    config.database_url = Some(database);
                    config.redis_url = Some(redis_url);
                    // The tests send in bursts; the limit is not what they test.
                    config.rate_per_sec = 10_000;
                    config.rate_burst = 10_000;
                })
                .await,
            );
        }
        let cluster = Self { nodes, redis, database };
        cluster.wait_for_subscribers(n).await;
        cluster
    }

    async fn wait_for_subscribers(&self, n: usize) {
        self.redis.wait_for_subscribers("chat", n).await;
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

/// The next update (skipping messages).
async fn next_update(c: &mut Client) -> protocol::Update {
    loop {
        match c.recv_chat().await {
            ServerMsg::Update(u) => return u,
            ServerMsg::Message(_) => {}
            other => panic!("expected an update, got {other:?}"),
        }
    }
}

/// Edits, reactions, deletions and searches across nodes: an update made on
/// one node reaches the conversation on every node in id order among the
/// messages, a client of a third node that was offline gets them on
/// resume, and search on another node finds the current text only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_to_a_message_reach_every_node_in_order_and_replay() {
    let cluster = Cluster::start(3).await;
    let (mut alice, _) = cluster.nodes[0].guest("alice", "life").await;
    let (mut bob, _) = cluster.nodes[1].guest("bob", "life").await;
    let (away, carol) = cluster.nodes[2].guest("carol", "life").await;
    drop(away);
    let ids = send_room(&mut alice, "m", 2).await;
    receive(&mut bob, 2).await;
    // Each change reaches both (whichever node made it) before the next.
    alice.send(&protocol::ClientMsg::Edit { id: ids[0], body: "m 0, fixed".into() }).await;
    let edited = next_update(&mut alice).await;
    assert_eq!(next_update(&mut bob).await, edited, "bob's node got alice's edit");
    bob.send(&protocol::ClientMsg::React { id: ids[0], emoji: "👍".into(), on: true }).await;
    let reacted = next_update(&mut bob).await;
    assert_eq!(next_update(&mut alice).await, reacted, "alice's node got bob's reaction");
    alice.send(&protocol::ClientMsg::Delete { id: ids[1] }).await;
    let deleted = next_update(&mut alice).await;
    assert_eq!(next_update(&mut bob).await, deleted);
    assert!(ids[1] < edited.id && edited.id < reacted.id && reacted.id < deleted.id, "one id sequence");

    let mut carol_again = cluster.nodes[2].connect().await;
    carol_again.hello(token(&carol.session_token), Some(ids[1])).await;
    for want in [&edited, &reacted, &deleted] {
        assert_eq!(&next_update(&mut carol_again).await, want);
    }
    assert_eq!(carol_again.recv_chat().await, ServerMsg::Synced { cursor: Some(deleted.id) });

    carol_again.send(&protocol::ClientMsg::Search { query: "fixed".into(), before: None, limit: None }).await;
    match carol_again.recv_chat().await {
        ServerMsg::Search { results, .. } => {
            assert_eq!(results.iter().map(|m| (m.id, m.body.as_str())).collect::<Vec<_>>(), [(ids[0], "m 0, fixed")])
        }
        other => panic!("{other:?}"),
    }
    carol_again.send(&protocol::ClientMsg::Search { query: "1".into(), before: None, limit: None }).await;
    match carol_again.recv_chat().await {
        ServerMsg::Search { results, .. } => assert!(results.is_empty(), "deleted text is not found: {results:?}"),
        other => panic!("{other:?}"),
    }
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
    cluster.wait_for_subscribers(2).await;
    acked.extend(send_room(&mut sender, "after", 20).await);
    let ids: Vec<MessageId> = receive(&mut listener, acked.len()).await.into_iter().map(|m| m.id).collect();
    assert_eq!(ids, acked);
    listener.quiet(Duration::from_millis(300)).await;
    cluster.shutdown().await;
}

/// Reads until a presence event about `user` arrives; returns whether it
/// says online. Other frames are skipped.
async fn presence_of(client: &mut Client, user: &protocol::UserId) -> bool {
    loop {
        match client.recv().await {
            ServerMsg::Presence { user: u, online } if u.id == *user => return online,
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_and_the_online_list_span_the_cluster() {
    let cluster = Cluster::start(2).await;
    let (mut dave, _) = cluster.nodes[0].guest("dave", "p").await;
    let (mut carol, carol_welcome) = cluster.nodes[1].guest("carol", "p").await;
    // Once dave has heard of carol, their node knows her: a welcome given
    // there from now on must list her.
    assert!(presence_of(&mut dave, &carol_welcome.me.id).await, "dave sees carol, on the other node, come online");
    let (mut alice, alice_welcome) = cluster.nodes[0].guest("alice", "p").await;
    let alice_id = alice_welcome.me.id.clone();
    assert!(presence_of(&mut carol, &alice_id).await, "carol, on the other node, sees alice come online");
    assert!(
        alice_welcome.online.iter().any(|u| u.name == "carol"),
        "alice's welcome lists carol, online on the other node: {:?}",
        alice_welcome.online
    );
    // A second tab of alice, on carol's node, is no transition.
    let (mut tab, _) = cluster.nodes[1].tab(&alice_welcome).await;
    let (mut bob, bob_welcome) = cluster.nodes[1].guest("bob", "p").await;
    assert_eq!(bob_welcome.online.iter().filter(|u| u.id == alice_id).count(), 1, "alice listed once");
    assert!(presence_of(&mut alice, &bob_welcome.me.id).await);
    alice.ws.close(None).await.unwrap();
    // Still online through the tab: the next presence carol sees about
    // alice is the offline one after the tab closes too.
    tab.ws.close(None).await.unwrap();
    assert!(!presence_of(&mut carol, &alice_id).await, "offline once her last tab anywhere closed");
    bob.alive().await;
    cluster.shutdown().await;
}

/// A node as its own process, so that it can be SIGKILLed.
struct NodeProcess {
    child: std::process::Child,
    port: u16,
}

impl NodeProcess {
    fn spawn(cluster: &Cluster, dir: &std::path::Path) -> Self {
        let port = server::testing::free_port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir)
            .args(["--database-url", &cluster.database, "--redis-url", &cluster.redis.url()])
            .args(["--token-secret", "test-secret", "--rate-per-sec", "100000", "--rate-burst", "100000"])
            .args(["--guest-projects", "*", "--guest-history", "*"])
            .args(["--node-heartbeat", &FAST_HEARTBEAT.as_secs_f64().to_string()])
            .args(["--node-ttl", &FAST_TTL.as_secs_f64().to_string(), "--log", "warn"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the server binary");
        Self { child, port }
    }

    async fn connect(&self) -> Client {
        let url = format!("ws://127.0.0.1:{}/ws", self.port);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
                return Client { ws };
            }
            assert!(std::time::Instant::now() < deadline, "the node process never came up");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// SIGKILL a node during a burst: its client reconnects through another
/// node with its token and gets every acked message exactly once; a live
/// client on the other node ends with all of them too; and the dead node's
/// users go offline there within the heartbeat deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_no_acked_message_and_its_users_go_offline() {
    const BURST: usize = 400;
    let cluster = Cluster::start_with(1, |config| {
        config.node_heartbeat = FAST_HEARTBEAT;
        config.node_ttl = FAST_TTL;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut doomed = NodeProcess::spawn(&cluster, dir.path());
    let mut carol = doomed.connect().await;
    let carol_welcome = carol.hello(guest("carol", "kill"), None).await;
    cluster.wait_for_subscribers(2).await;
    let (mut bob, _) = cluster.nodes[0].guest("bob", "kill").await;
    let mut alice = doomed.connect().await;
    let alice_welcome = alice.hello(guest("alice", "kill"), None).await;

    for i in 0..BURST {
        alice.say(&format!("k{i}"), Conversation::Room, &format!("burst {i}")).await;
    }
    let mut acked = Vec::new();
    while acked.len() < BURST / 4 {
        if let ServerMsg::Ack { id, .. } = alice.recv_chat().await {
            acked.push(id);
        }
    }
    doomed.sigkill();
    // Acks already on their way before the kill count too.
    // (Read raw: the socket ends with a reset, not a close.)
    while let Ok(Some(Ok(frame))) = tokio::time::timeout(Duration::from_secs(5), alice.ws.next()).await {
        if let Ok(ServerMsg::Ack { id, .. }) = frame.to_text().map(serde_json::from_str).unwrap_or(Ok(ServerMsg::Pong))
        {
            acked.push(id);
        }
    }

    let mut again = cluster.nodes[0].connect().await;
    again.hello(token(&alice_welcome.session_token), Some(MessageId(0))).await;
    let mut replayed = Vec::new();
    loop {
        match again.recv_chat().await {
            ServerMsg::Message(m) => replayed.push(m.id),
            ServerMsg::Synced { .. } => break,
            other => panic!("expected the replay, got {other:?}"),
        }
    }
    assert!(replayed.windows(2).all(|w| w[0] < w[1]), "replayed in order, each once");
    for id in &acked {
        assert!(replayed.contains(id), "acked message {id} is missing after the node died");
    }
    // Bob, live on the surviving node, gets everything the dead node stored
    // once a later message shows him the gap (or it came through Redis).
    let later = send_room(&mut again, "after", 1).await[0];
    let expected: Vec<MessageId> = replayed.iter().copied().chain([later]).collect();
    let mut bob_got = Vec::new();
    let mut carol_offline = false;
    while bob_got.last() != Some(&later) {
        match bob.recv().await {
            ServerMsg::Message(m) => bob_got.push(m.id),
            ServerMsg::Presence { user, online: false } if user.id == carol_welcome.me.id => carol_offline = true,
            _ => {}
        }
    }
    assert_eq!(bob_got, expected, "bob missed or repeated a message of the dead node");
    if !carol_offline {
        assert!(!presence_of(&mut bob, &carol_welcome.me.id).await, "carol goes offline for bob");
    }
    cluster.shutdown().await;
}
