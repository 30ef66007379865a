//! Bad input, limits, slow consumers, timeouts and shutdown, through real sockets.

mod support;

use futures_util::SinkExt;
use protocol::{ClientMsg, Conversation, ErrorCode, ServerMsg};
use std::time::Duration;
use support::*;
use tokio_tungstenite::tungstenite::Message;

async fn expect_error(c: &mut Client, expected: ErrorCode) -> String {
    loop {
        match c.recv().await {
            ServerMsg::Error { code, message, .. } => {
                assert_eq!(code, expected, "{message}");
                return message;
            }
            ServerMsg::Presence { .. } => continue,
            other => panic!("expected {expected:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_input_gets_an_error_and_the_connection_survives() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    // Before the hello.
    c.send(&ClientMsg::Ping).await;
    expect_error(&mut c, ErrorCode::HelloRequired).await;
    c.send_text("not json").await;
    expect_error(&mut c, ErrorCode::Malformed).await;
    c.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    expect_error(&mut c, ErrorCode::BinaryFrame).await;
    let w = c.hello(guest("alice", "bad"), None).await;

    let cases: Vec<(&str, ErrorCode)> = vec![
        ("{", ErrorCode::Malformed),
        (r#"{"type":"dance"}"#, ErrorCode::UnknownType),
        (r#"{"message":"seed style","to_id":5}"#, ErrorCode::UnknownType),
        (r#"{"type":"send","body":"no target"}"#, ErrorCode::InvalidMessage),
        (r#"{"type":"send","client_id":"has space","to":{"kind":"room"},"body":"x"}"#, ErrorCode::InvalidMessage),
        (r#"{"type":"send","client_id":"e1","to":{"kind":"room"},"body":"  \n "}"#, ErrorCode::BodyEmpty),
        (
            r#"{"type":"send","client_id":"e2","to":{"kind":"direct","user":"nobody"},"body":"hi"}"#,
            ErrorCode::UnknownUser,
        ),
        (r#"{"type":"read","conversation":{"kind":"direct","user":"nobody"},"up_to":1}"#, ErrorCode::UnknownUser),
        (r#"{"type":"hello","protocol":1,"auth":{"kind":"token","token":"x"}}"#, ErrorCode::HelloRepeated),
    ];
    for (text, code) in cases {
        c.send_text(text).await;
        expect_error(&mut c, code).await;
    }
    let long = "é".repeat(server.config.max_body_chars + 1);
    c.say("e3", Conversation::Room, &long).await;
    let msg = expect_error(&mut c, ErrorCode::BodyTooLong).await;
    assert!(msg.contains(&server.config.max_body_chars.to_string()));
    c.ws.send(Message::binary(vec![0u8; 10])).await.unwrap();
    expect_error(&mut c, ErrorCode::BinaryFrame).await;
    // Still alive, still the same user, and it can still chat.
    c.alive().await;
    c.say("ok-1", Conversation::Room, "still here").await;
    assert!(matches!(c.recv_chat().await, ServerMsg::Ack { .. }));
    let _ = w;
}

#[tokio::test]
async fn an_oversize_frame_closes_with_1009() {
    let server = TestServer::start_with(|c| {
        c.max_frame_bytes = 1024;
        c.max_body_chars = 50;
        c.max_mentions = 1; // the frame limit is then 12 * 50 + 2048 + 387 bytes
    })
    .await;
    let (mut c, w) = server.guest("alice", "big").await;
    assert_eq!(w.limits.max_frame_bytes, 3035);
    let body = "x".repeat(3100);
    c.say("big-1", Conversation::Room, &body).await;
    assert_eq!(c.closed().await, Some(1009));
    // The server is fine.
    let (mut d, _) = server.guest("bob", "big").await;
    d.alive().await;
}

/// A send frame with every non-ASCII char escaped, as Python's `json.dumps`
/// writes it by default.
fn ascii_escaped_send(client_id: &str, body: &str) -> String {
    let mut escaped = String::new();
    for unit in body.encode_utf16() {
        escaped.push_str(&format!("\\u{unit:04x}"));
    }
    format!(r#"{{"type":"send","client_id":"{client_id}","to":{{"kind":"room"}},"body":"{escaped}"}}"#)
}

#[tokio::test]
async fn a_body_within_the_limit_fits_a_frame_however_it_is_escaped() {
    let server = TestServer::start().await;
    let (mut c, w) = server.guest("alice", "escaped").await;
    let max = w.limits.max_body_chars;
    let longest = ascii_escaped_send("esc-1", &"\u{1F600}".repeat(max));
    assert!(longest.len() > 3 * max * 4, "escaped, the body is three times its UTF-8 size");
    c.send_text(&longest).await;
    assert!(matches!(c.recv_chat().await, ServerMsg::Ack { .. }), "a body of max_body_chars is accepted");
    // One char over: an error naming the send, not close 1009.
    c.send_text(&ascii_escaped_send("esc-2", &"\u{1F600}".repeat(max + 1))).await;
    match c.recv_chat().await {
        ServerMsg::Error { code: ErrorCode::BodyTooLong, client_id, .. } => assert_eq!(client_id, Some(cid("esc-2"))),
        other => panic!("expected body_too_long, got {other:?}"),
    }
    c.alive().await;
}

#[tokio::test]
async fn flooding_gets_rate_limit_errors_then_a_close() {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 5;
        c.rate_burst = 5;
        c.rate_kick_after = 20;
    })
    .await;
    let (mut c, _) = server.guest("alice", "flood").await;
    for _ in 0..10 {
        c.send(&ClientMsg::Ping).await;
    }
    let (mut pongs, mut limited) = (0, 0);
    while pongs + limited < 10 {
        match c.recv().await {
            ServerMsg::Pong => pongs += 1,
            ServerMsg::Error { code: ErrorCode::RateLimited, .. } => limited += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(pongs >= 5 && limited >= 1, "pongs {pongs}, limited {limited}");
    // A refused send names its client id.
    let mut named = false;
    for i in 0..10 {
        c.say(&format!("fl-{i}"), Conversation::Room, "spam").await;
    }
    for _ in 0..10 {
        if let ServerMsg::Error { code: ErrorCode::RateLimited, client_id: Some(_), .. } = c.recv_chat().await {
            named = true;
        }
    }
    assert!(named, "a rate-limited send carries its client_id");
    for _ in 0..40 {
        c.send(&ClientMsg::Ping).await;
    }
    assert_eq!(c.closed().await, Some(4012));
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_while_others_keep_receiving() {
    const MESSAGES: usize = 4000;
    const WINDOW: usize = 50;
    let server = TestServer::start_with(|c| {
        c.outbox_capacity = 64;
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
        c.write_timeout = Duration::from_secs(10);
    })
    .await;
    let (mut sender, _) = server.guest("sender", "slow").await;
    let (mut reader, _) = server.guest("reader", "slow").await;
    let (mut stuck, _) = server.guest("stuck", "slow").await;
    let body = "y".repeat(3000);
    let reading = tokio::spawn(async move {
        let mut got = 0;
        while got < MESSAGES {
            if let ServerMsg::Message(_) = reader.recv_chat().await {
                got += 1;
            }
        }
        got
    });
    // The sender reads its acks as it goes (a window of 50 in flight), as a
    // well-behaved client does; only `stuck` never reads.
    for start in (0..MESSAGES).step_by(WINDOW) {
        for i in start..start + WINDOW {
            sender.say(&format!("f-{i}"), Conversation::Room, &body).await;
        }
        let mut acks = 0;
        while acks < WINDOW {
            if let ServerMsg::Ack { .. } = sender.recv_chat().await {
                acks += 1;
            }
        }
    }
    assert_eq!(reading.await.unwrap(), MESSAGES, "the reading client got every message");
    // Now the stuck client reads what reached it: some messages, then 4011.
    let mut received = 0;
    let code = loop {
        match stuck.event().await {
            Event::Msg(ServerMsg::Message(_)) => received += 1,
            Event::Msg(_) => {}
            Event::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(4011));
    assert!(received < MESSAGES, "it was cut off before the end ({received})");
    let metrics = http_get(server.addr, "/metrics").await;
    assert!(metrics.contains("chat_outbox_overflows "), "{metrics}");
}

#[tokio::test]
async fn hello_timeout_closes_with_4010() {
    let server = TestServer::start_with(|c| c.hello_timeout = Duration::from_millis(300)).await;
    let mut c = server.connect().await;
    assert_eq!(c.closed().await, Some(4010));
}

#[tokio::test]
async fn a_silent_client_is_closed_for_idleness() {
    let server = TestServer::start_with(|c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(400);
    })
    .await;
    let (mut c, _) = server.guest("sleepy", "idle").await;
    // Not reading means not answering pings.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(c.closed().await, Some(4013));
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let server = TestServer::start_with(|c| c.max_connections = 2).await;
    let _a = server.connect().await;
    let _b = server.connect().await;
    match tokio_tungstenite::connect_async(server.url()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    drop(_a);
    // The permit comes back once the connection is gone.
    let mut ok = false;
    for _ in 0..50 {
        if tokio_tungstenite::connect_async(server.url()).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "a slot frees up after a disconnect");
}

#[tokio::test]
async fn graceful_shutdown_sends_every_client_1012() {
    let mut server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "bye").await;
    let (mut b, _) = server.guest("bob", "bye").await;
    let mut pending = server.connect().await; // no hello yet
    a.alive().await;
    server.shutdown().await;
    assert_eq!(a.closed().await, Some(1012));
    assert_eq!(b.closed().await, Some(1012));
    assert_eq!(pending.closed().await, Some(1012));
}

#[tokio::test]
async fn http_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>chat</title>").unwrap();
    std::fs::write(dir.path().join("client-0123456789abcdef_bg.wasm"), vec![0u8; 4096]).unwrap();
    let dist = dir.path().to_path_buf();
    let server = TestServer::start_with(move |c| c.dist_dir = dist).await;
    let health = http_get(server.addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"), "{health}");
    let index = http_get(server.addr, "/").await;
    assert!(index.contains("<title>chat</title>") && index.contains("cache-control: no-cache"), "{index}");
    assert!(!index.contains("content-encoding"), "no gzip unless asked: {index}");
    let spa = http_get(server.addr, "/some/client/route").await;
    assert!(spa.contains("<title>chat</title>"), "SPA fallback: {spa}");
    let missing = http_get(server.addr, "/nope.js").await;
    assert!(missing.contains(" 404 "), "{missing}");
    let wasm = http_get(server.addr, "/client-0123456789abcdef_bg.wasm").await;
    assert!(wasm.contains("immutable"), "{wasm}");
    let plain = http_get(server.addr, "/ws").await;
    assert!(plain.contains(" 400 "), "a plain GET on /ws: {plain}");
}

#[tokio::test]
async fn static_files_are_gzipped_when_asked() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<html>".repeat(1000)).unwrap();
    let dist = dir.path().to_path_buf();
    let server = TestServer::start_with(move |c| c.dist_dir = dist).await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /index.html HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let head = String::from_utf8_lossy(&out[..out.len().min(400)]).to_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(out.len() < 1000, "6000 bytes of markup compress well: {}", out.len());
}

#[tokio::test]
async fn a_client_pipelining_many_sends_is_slowed_not_cut_off() {
    // 2,000 sends in flight against an outbox of 64: the in-flight limit (at
    // most half the outbox) must keep every ack deliverable.
    const SENDS: usize = 1000;
    let server = TestServer::start_with(|c| {
        c.outbox_capacity = 64;
        c.max_in_flight_sends = 1000; // capped at 32
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let (c, _) = server.guest("piper", "pipe").await;
    let (mut write, mut read) = futures_util::StreamExt::split(c.ws);
    let writer = tokio::spawn(async move {
        for i in 0..SENDS {
            let msg = room_send(&format!("p-{i}"), "x");
            write.send(Message::text(serde_json::to_string(&msg).unwrap())).await.unwrap();
        }
        write
    });
    let mut acks = 0;
    while acks < SENDS {
        let frame = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut read)).await.expect("an ack in time");
        match frame {
            Some(Ok(Message::Text(t))) => {
                if let Ok(ServerMsg::Ack { .. }) = serde_json::from_str(&t) {
                    acks += 1;
                }
            }
            other => panic!("connection ended after {acks} acks: {other:?}"),
        }
    }
    let _write_half = writer.await.unwrap();
}

/// Several clients pipelining room sends at their in-flight limit, each
/// reading everything: bursts of room traffic arrive while a session waits
/// for its own acks, and none of them is slow, so none may be cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelining_clients_in_a_busy_room_are_not_cut_off() {
    const CLIENTS: usize = 8;
    const SENDS: usize = 1000;
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        clients.push(server.guest(&format!("piper{i}"), "busy").await.0);
    }
    let mut readers = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let (mut write, mut read) = futures_util::StreamExt::split(c.ws);
        tokio::spawn(async move {
            for n in 0..SENDS {
                let msg = room_send(&format!("{i}-{n}"), "x");
                if write.send(Message::text(serde_json::to_string(&msg).unwrap())).await.is_err() {
                    return;
                }
            }
            // Kept open until the reader is done.
            std::future::pending::<()>().await;
        });
        readers.push(tokio::spawn(async move {
            let (mut acks, mut messages) = (0, 0);
            while acks < SENDS || messages < (CLIENTS - 1) * SENDS {
                let next = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut read)).await;
                match next {
                    Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str(&t) {
                        Ok(ServerMsg::Ack { .. }) => acks += 1,
                        Ok(ServerMsg::Message(_)) => messages += 1,
                        _ => {}
                    },
                    Ok(Some(Ok(Message::Close(frame)))) => {
                        return format!(
                            "client {i} closed by the server after {acks} acks and {messages} messages: {frame:?}"
                        )
                    }
                    Ok(Some(Ok(_))) => {}
                    other => return format!("client {i} ended after {acks} acks and {messages} messages: {other:?}"),
                }
            }
            format!("client {i}: all")
        }));
    }
    let mut outcomes = Vec::new();
    for reader in readers {
        outcomes.push(reader.await.unwrap());
    }
    let everything: Vec<String> = (0..CLIENTS).map(|i| format!("client {i}: all")).collect();
    assert_eq!(outcomes, everything);
}

#[tokio::test]
async fn a_client_that_missed_presence_events_gets_the_online_list_once_it_catches_up() {
    let server = TestServer::start_with(|c| {
        c.outbox_capacity = 64;
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let (mut filler, _) = server.guest("filler", "lag").await;
    let (mut watcher, _) = server.guest("watcher", "lag").await;
    // The watcher stops reading. Room messages fill its socket, then its
    // queue; each step adds 20 messages and one join, so the join that
    // finds the queue half full is dropped long before the queue is full
    // (which would close it with 4011).
    let body = "z".repeat(4000);
    let (mut sent, mut joined) = (0, Vec::new());
    let missed = loop {
        for _ in 0..20 {
            sent += 1;
            filler.say(&format!("z-{sent}"), Conversation::Room, &body).await;
        }
        for _ in 0..20 {
            assert!(matches!(filler.recv_chat().await, ServerMsg::Ack { .. }));
        }
        let (late, welcome) = server.guest(&format!("late{}", joined.len()), "lag").await;
        let mut ws = late.ws;
        tokio::spawn(async move { while let Some(Ok(_)) = futures_util::StreamExt::next(&mut ws).await {} });
        joined.push(welcome.me.id.clone());
        if metric(server.addr, "chat_ephemeral_dropped").await > 0 {
            break welcome.me.id;
        }
        assert!(joined.len() < 500, "the watcher's queue never filled");
    };
    // It reads again: after what was queued, the list, with the join it missed.
    let users = loop {
        match watcher.event().await {
            Event::Msg(ServerMsg::Online { users }) => break users,
            Event::Msg(ServerMsg::Presence { user, .. }) => assert_ne!(user.id, missed, "this one was dropped"),
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed ({code:?}) before the online list"),
        }
    };
    assert!(users.iter().any(|p| p.id == missed), "the list has the user whose join was dropped");
    assert_eq!(users.len(), 2 + joined.len(), "filler, watcher and every late joiner");
}

#[tokio::test]
async fn binary_frames_count_against_the_rate_limit() {
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 5;
        c.rate_burst = 5;
        c.rate_kick_after = 20;
    })
    .await;
    let (mut c, _) = server.guest("alice", "bin").await;
    for _ in 0..200 {
        if c.ws.send(Message::binary(vec![0u8; 8])).await.is_err() {
            break; // already closed
        }
    }
    let (mut binary_errors, mut rate_errors) = (0, 0);
    let code = loop {
        match c.event().await {
            Event::Msg(ServerMsg::Error { code: ErrorCode::BinaryFrame, .. }) => binary_errors += 1,
            Event::Msg(ServerMsg::Error { code: ErrorCode::RateLimited, .. }) => rate_errors += 1,
            Event::Msg(_) => {}
            Event::Closed(code) => break code,
        }
    };
    assert_eq!(code, Some(4012), "{binary_errors} binary_frame and {rate_errors} rate_limited errors, then no 4012");
    assert!(binary_errors <= 10 && rate_errors >= 1, "{binary_errors} binary_frame, {rate_errors} rate_limited");
}

#[tokio::test]
async fn frames_larger_than_a_mebibyte_are_delivered() {
    // A server configured for long bodies sends frames over 1 MiB (as a
    // large project's welcome or online list can be): no write-buffer cap
    // may refuse them.
    let server = TestServer::start_with(|c| {
        c.max_body_chars = 300_000;
        c.max_frame_bytes = 2 * 1024 * 1024;
    })
    .await;
    let (mut a, _) = server.guest("alice", "huge-frames").await;
    let (mut b, _) = server.guest("bob", "huge-frames").await;
    let body = "\u{1F600}".repeat(300_000);
    a.say("big-1", Conversation::Room, &body).await;
    match b.recv_chat().await {
        ServerMsg::Message(m) => assert_eq!(m.body.len(), 1_200_000),
        other => panic!("expected the message, got {other:?}"),
    }
}
