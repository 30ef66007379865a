//! Defences against clients that are not what they seem: pages of other
//! origins, connections that never finish their request head, a process
//! started with a low open-file limit.

mod support;

use protocol::{ClientMsg, Conversation, ErrorCode, ServerMsg};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

/// The HTTP status of a WebSocket upgrade sent with this `Origin` (none
/// when `None`).
async fn upgrade_status(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut request = server.url().into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("upgrade failed: {e}"),
    }
}

#[tokio::test]
async fn pages_of_other_origins_get_403_at_the_upgrade() {
    let server = TestServer::start().await;
    let own = format!("http://{}", server.addr);
    assert_eq!(upgrade_status(&server, None).await, 101, "no Origin: not a web page");
    assert_eq!(upgrade_status(&server, Some(&own)).await, 101, "the server's own origin");
    assert_eq!(upgrade_status(&server, Some("https://evil.example")).await, 403);
    assert_eq!(upgrade_status(&server, Some("null")).await, 403, "a sandboxed or file page");

    let listed = TestServer::start_with(|c| c.allowed_origins = vec!["https://app.example".into()]).await;
    assert_eq!(upgrade_status(&listed, Some("https://app.example")).await, 101);
    assert_eq!(upgrade_status(&listed, Some("https://evil.example")).await, 403);
    let any = TestServer::start_with(|c| c.allowed_origins = vec!["*".into()]).await;
    assert_eq!(upgrade_status(&any, Some("https://evil.example")).await, 101);
}

#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let limits = server::raise_fd_limit().unwrap();
    assert_eq!(limits.soft, limits.hard);
    assert!(limits.soft >= limits.soft_before);
    let again = server::raise_fd_limit().unwrap();
    assert_eq!(again.soft_before, limits.hard, "the raise holds for the process");
}

/// 500 connections that send half a request line and then nothing do not
/// keep normal clients out, and each is closed once `--header-read-timeout`
/// has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off_and_do_not_lock_clients_out() {
    const SLOW: usize = 500;
    let _ = server::raise_fd_limit(); // 500 sockets each side, in this one process
    let timeout = Duration::from_secs(1);
    let server = TestServer::start_with(|c| c.header_read_timeout = timeout).await;
    let started = tokio::time::Instant::now();
    let mut slow = Vec::with_capacity(SLOW);
    for _ in 0..SLOW {
        let mut s = TcpStream::connect(server.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        slow.push(s);
    }
    // Normal clients get through meanwhile.
    let (mut alice, _) = server.guest("alice", "slow-heads").await;
    alice.alive().await;
    assert!(http_get(server.addr, "/healthz").await.ends_with("ok\n"));
    // Every slow one is closed by the server (EOF or reset), not after a
    // wall-clock guess but within a generous deadline.
    let deadline = started + Duration::from_secs(60);
    for (i, mut s) in slow.into_iter().enumerate() {
        let mut sink = Vec::new();
        match tokio::time::timeout_at(deadline, s.read_to_end(&mut sink)).await {
            Ok(_) => {}
            Err(_) => panic!("slow connection {i} still open after 60 s"),
        }
    }
    assert!(started.elapsed() >= timeout, "none was cut before its time");
    alice.alive().await;
}

fn host_token(user: &str, project: &str) -> protocol::Auth {
    let auth = server::auth::Authenticator::new(b"test-secret", Duration::from_secs(60));
    let identity = server::auth::Identity {
        project: protocol::ProjectId::new(project).unwrap(),
        profile: protocol::Profile {
            id: protocol::UserId::new(user).unwrap(),
            name: user.into(),
            color: "#123456".into(),
        },
    };
    token(&auth.mint(&identity, Duration::from_secs(60)).unwrap().0)
}

/// The guest rules as a deployment gets them by default.
fn default_guest_rules(c: &mut server::Config) {
    c.guest_projects = vec!["lobby".into()];
    c.guest_history = vec![];
}

async fn room_history(c: &mut Client) -> (Vec<String>, bool) {
    c.send(&ClientMsg::History { conversation: Conversation::Room, before: None, limit: None }).await;
    loop {
        if let ServerMsg::History { messages, has_more, .. } = c.recv_chat().await {
            return (messages.into_iter().map(|m| m.body).collect(), has_more);
        }
    }
}

/// Replays from cursor 0 and returns the bodies until `synced`.
async fn replayed(server: &TestServer, auth: protocol::Auth) -> Vec<String> {
    let mut c = server.connect().await;
    c.hello(auth, Some(protocol::MessageId(0))).await;
    let mut bodies = Vec::new();
    loop {
        match c.recv_chat().await {
            ServerMsg::Message(m) => bodies.push(m.body),
            ServerMsg::Synced { .. } => return bodies,
            _ => {}
        }
    }
}

#[tokio::test]
async fn guests_join_only_invited_projects_and_see_no_history_before_their_join() {
    let server = TestServer::start_with(default_guest_rules).await;
    // A project not opened to guests: refused with its own code.
    let mut stranger = server.connect().await;
    stranger
        .send(&ClientMsg::Hello(protocol::Hello {
            protocol: 1,
            auth: guest("eve", "acme"),
            cursor: None,
            replay_batches: false,
        }))
        .await;
    assert!(matches!(stranger.recv().await, ServerMsg::Error { code: ErrorCode::HelloRefused, .. }));
    assert_eq!(stranger.closed().await, Some(4007));
    // Token users are unaffected, in any project.
    let mut member = server.connect().await;
    member.hello(host_token("7", "acme"), None).await;
    member.say("a-1", Conversation::Room, "acme only").await;
    assert!(matches!(member.recv_chat().await, ServerMsg::Ack { .. }));

    let mut alice = server.connect().await;
    alice.hello(host_token("alice", "lobby"), None).await;
    alice.say("l-1", Conversation::Room, "before the guest").await;
    assert!(matches!(alice.recv_chat().await, ServerMsg::Ack { .. }));
    let (mut bob, bob_welcome) = server.guest("bob", "lobby").await;
    assert_eq!(room_history(&mut bob).await, (vec![], false), "nothing from before the join");
    alice.say("l-2", Conversation::Room, "after the guest").await;
    assert!(matches!(bob.recv_chat().await, ServerMsg::Message(m) if m.body == "after the guest"));
    assert_eq!(room_history(&mut bob).await, (vec!["after the guest".to_string()], false));
    // The floor holds across reconnects with the session token, and resume.
    assert_eq!(replayed(&server, token(&bob_welcome.session_token)).await, ["after the guest"]);
    let (mut tab, _) = server.tab(&bob_welcome).await;
    assert_eq!(room_history(&mut tab).await.0, ["after the guest"]);
    // A token user of the project sees everything.
    assert_eq!(room_history(&mut alice).await.0, ["before the guest", "after the guest"]);
}

#[tokio::test]
async fn a_project_can_open_its_history_to_guests() {
    let server = TestServer::start_with(|c| {
        default_guest_rules(c);
        c.guest_projects.push("open".into());
        c.guest_history = vec!["open".into()];
    })
    .await;
    let (mut alice, _) = server.guest("alice", "open").await;
    alice.say("o-1", Conversation::Room, "old news").await;
    assert!(matches!(alice.recv_chat().await, ServerMsg::Ack { .. }));
    let (mut bob, _) = server.guest("bob", "open").await;
    assert_eq!(room_history(&mut bob).await.0, ["old news"]);
}

#[test]
fn by_default_only_the_lobby_is_open_to_guests_without_history() {
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: server::Config,
    }
    let config = <Wrapper as clap::Parser>::parse_from(["server"]).config;
    assert_eq!(config.guest_projects, ["lobby"]);
    assert!(config.guest_history.is_empty());
}
