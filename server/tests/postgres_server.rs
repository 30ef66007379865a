//! Whole servers on PostgreSQL: what two nodes sharing one database give
//! without a bus (one identity, one history), and what a database restart
//! costs a sender (an `unavailable` error, then success on resend).

mod support;

use protocol::{Conversation, ErrorCode, MessageId, ServerMsg};
use support::postgres::{fresh_database, Cleanup, PgServer};
use support::*;

async fn node(database_url: &str) -> TestServer {
    let url = database_url.to_owned();
    TestServer::start_with(move |config| config.database_url = Some(url)).await
}

async fn acked(client: &mut Client, client_id: &str, body: &str) -> MessageId {
    client.say(client_id, Conversation::Room, body).await;
    match client.recv_chat().await {
        ServerMsg::Ack { id, duplicate: false, .. } => id,
        other => panic!("expected the ack of {client_id}, got {other:?}"),
    }
}

/// Reads `n` chat messages (a replay), skipping presence noise.
async fn messages(client: &mut Client, n: usize) -> Vec<protocol::ChatMessage> {
    let mut out = Vec::new();
    while out.len() < n {
        match client.recv_chat().await {
            ServerMsg::Message(m) => out.push(m),
            other => panic!("expected a message, got {other:?}"),
        }
    }
    out
}

#[tokio::test]
async fn two_nodes_on_one_database_share_identities_and_history() {
    let url = fresh_database().await;
    let (mut a, mut b) = (node(&url).await, node(&url).await);
    let (mut alice, welcome) = a.guest("alice", "shared").await;
    let first = acked(&mut alice, "m1", "one").await;
    let second = acked(&mut alice, "m2", "two").await;
    assert!(first < second);

    // Alice's session token from node A opens a session on node B, which
    // replays what she sent through A from the shared store.
    let mut tab = b.connect().await;
    let again = tab.hello(token(&welcome.session_token), Some(MessageId(0))).await;
    assert_eq!(again.me, welcome.me);
    let replay = messages(&mut tab, 2).await;
    assert_eq!(replay.iter().map(|m| m.id).collect::<Vec<_>>(), [first, second]);
    // A resend through B of what A stored is recognised as the same message.
    tab.say("m2", Conversation::Room, "two").await;
    loop {
        match tab.recv_chat().await {
            ServerMsg::Synced { .. } => continue,
            ServerMsg::Ack { id, duplicate: true, .. } => break assert_eq!(id, second),
            other => panic!("expected a duplicate ack, got {other:?}"),
        }
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_shared_database_without_an_explicit_token_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::Config::for_tests(dir.path().to_path_buf());
    config.token_secret = None;
    config.database_url = Some(fresh_database().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = server::run(listener, config, std::future::pending()).await.expect_err("refused");
    assert!(matches!(error, server::ServerError::SecretRequired), "{error}");
    assert!(error.to_string().contains("--token-secret"), "{error}");
}

#[tokio::test]
async fn sends_while_postgres_restarts_get_unavailable_and_succeed_when_resent() {
    let mut database = PgServer::start(Cleanup::OnDrop);
    database.wait_ready().await;
    let url = database.url("postgres");
    let mut node = TestServer::start_with(move |config| {
        config.database_url = Some(url);
        config.database_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    let (mut alice, _) = node.guest("alice", "restart").await;
    let (mut bob, bob_welcome) = node.guest("bob", "restart").await;
    let before = acked(&mut alice, "m1", "before").await;
    assert_eq!(messages(&mut bob, 1).await[0].id, before);

    database.stop();
    alice.say("m2", Conversation::Room, "during").await;
    match alice.recv_chat().await {
        ServerMsg::Error { code: ErrorCode::Unavailable, client_id, .. } => assert_eq!(client_id, Some(cid("m2"))),
        other => panic!("expected unavailable, got {other:?}"),
    }

    database.restart().await;
    let during = acked(&mut alice, "m2", "during").await;
    assert_eq!(during.0, before.0 + 1, "the failed attempt took no id");
    assert_eq!(messages(&mut bob, 1).await[0].id, during, "live delivery resumes");

    // Nothing acked was lost: a fresh session replays both.
    let mut later = node.connect().await;
    later.hello(token(&bob_welcome.session_token), Some(MessageId(0))).await;
    let bodies: Vec<String> = messages(&mut later, 2).await.into_iter().map(|m| m.body).collect();
    assert_eq!(bodies, ["before", "during"]);
    node.shutdown().await;
}

/// Several commit lanes (`--commit-lanes`), several projects sending at
/// once, each sender pipelining: every sender gets its acks in the order
/// it sent, with increasing ids, and a reader in each project gets every
/// message in id order with no gap. Were a project's sends spread over
/// lanes, its batches would commit in two lanes at once and this fails.
#[tokio::test]
async fn with_commit_lanes_each_project_keeps_its_order() {
    const PROJECTS: usize = 6;
    const SENDS: usize = 200;
    let url = fresh_database().await;
    let mut server = TestServer::start_with(move |config| {
        config.database_url = Some(url);
        config.commit_lanes = 4;
        config.rate_per_sec = 1_000_000;
        config.rate_burst = 1_000_000;
    })
    .await;
    let mut pairs = Vec::new();
    for p in 0..PROJECTS {
        let project = format!("lanes-{p}");
        let (reader, _) = server.guest("reader", &project).await;
        let (sender, _) = server.guest("sender", &project).await;
        pairs.push((project, sender, reader));
    }
    let runs = pairs.into_iter().map(|(project, mut sender, mut reader)| async move {
        for n in 0..SENDS {
            sender.say(&format!("c-{n}"), Conversation::Room, &n.to_string()).await;
        }
        let mut last = MessageId(0);
        for n in 0..SENDS {
            match sender.recv_chat().await {
                ServerMsg::Ack { client_id, id, duplicate: false, .. } => {
                    assert_eq!(client_id.as_str(), format!("c-{n}"), "{project}: acks in send order");
                    assert!(id > last, "{project}: ack {n} has id {id:?} after {last:?}");
                    last = id;
                }
                other => panic!("{project}: expected an ack, got {other:?}"),
            }
        }
        let received = messages(&mut reader, SENDS).await;
        let bodies: Vec<_> = received.iter().map(|m| m.body.clone()).collect();
        assert_eq!(bodies, (0..SENDS).map(|n| n.to_string()).collect::<Vec<_>>(), "{project}: delivered in send order");
        assert!(received.windows(2).all(|w| w[1].id.0 == w[0].id.0 + 1), "{project}: ids contiguous, in order");
    });
    futures_util::future::join_all(runs).await;
    server.shutdown().await;
}
