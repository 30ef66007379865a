//! Defences against clients that are not what they seem: pages of other
//! origins, connections that never finish their request head, a process
//! started with a low open-file limit.

mod support;

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
