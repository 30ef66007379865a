//! Crash safety: SIGKILL the server process during a burst of sends, restart
//! it on the same database, and find every acknowledged message exactly once.

mod support;

use protocol::{ClientMsg, Conversation, MessageId, ServerMsg};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn spawn_server(port: u16, data_dir: &std::path::Path) -> ServerProcess {
    ServerProcess(
        Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--rate-per-sec", "100000", "--rate-burst", "100000", "--log", "warn", "--guest-projects", "crash"])
            .env_remove("CHAT_TOKEN_SECRET")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server binary"),
    )
}

#[tokio::test]
async fn every_acknowledged_message_survives_sigkill_exactly_once() {
    const BURST: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn_server(port, dir.path());
    let mut c = connect_when_up(port).await;
    let welcome = c.hello(guest("crash", "crash"), None).await;

    // Pipeline sends and read acks concurrently; kill mid-burst.
    let (mut write, mut read) = futures_util::StreamExt::split(c.ws);
    let writer = tokio::spawn(async move {
        use futures_util::SinkExt;
        for i in 0..BURST {
            let msg = ClientMsg::Send {
                client_id: cid(&format!("k-{i}")),
                to: Conversation::Room,
                body: format!("burst {i}"),
                reply_to: None,
                mentions: vec![],
            };
            let text = serde_json::to_string(&msg).unwrap();
            if write.send(tokio_tungstenite::tungstenite::Message::text(text)).await.is_err() {
                break;
            }
        }
    });
    let mut acked: HashMap<String, MessageId> = HashMap::new();
    let kill_after = BURST / 3;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(10), futures_util::StreamExt::next(&mut read)).await;
        let frame = match next {
            Ok(Some(Ok(frame))) => frame,
            other => {
                eprintln!("read loop ended: {other:?}");
                break;
            }
        };
        let tokio_tungstenite::tungstenite::Message::Text(text) = frame else {
            eprintln!("non-text frame: {frame:?}");
            continue;
        };
        if let Ok(ServerMsg::Ack { client_id, id, .. }) = serde_json::from_str(&text) {
            acked.insert(client_id.to_string(), id);
            if acked.len() == kill_after {
                child.sigkill();
            }
        }
    }
    let _ = writer.await;
    eprintln!("acked before SIGKILL: {} of {BURST}", acked.len());
    assert!(acked.len() >= kill_after, "acks before the kill: {}", acked.len());
    assert!(acked.len() < BURST, "the kill landed mid-burst ({} acked)", acked.len());

    let mut child = spawn_server(port, dir.path());
    let mut c = connect_when_up(port).await;
    let again = c.hello(token(&welcome.session_token), None).await;
    assert_eq!(again.me, welcome.me, "same identity after the restart (secret kept in the data dir)");

    // Every stored message, paging back through the room.
    let mut stored: Vec<(String, MessageId)> = Vec::new();
    let mut before = None;
    loop {
        c.send(&ClientMsg::History { conversation: Conversation::Room, before, limit: Some(200) }).await;
        let ServerMsg::History { messages, has_more, .. } = c.recv_chat().await else { panic!("expected history") };
        before = messages.first().map(|m| m.id);
        stored.extend(messages.into_iter().map(|m| (m.client_id.unwrap().to_string(), m.id)));
        if !has_more {
            break;
        }
    }
    let mut by_client: HashMap<String, Vec<MessageId>> = HashMap::new();
    for (client_id, id) in &stored {
        by_client.entry(client_id.clone()).or_default().push(*id);
    }
    for (client_id, id) in &acked {
        assert_eq!(by_client.get(client_id), Some(&vec![*id]), "{client_id} acked as {id}: stored exactly once");
    }
    assert!(by_client.values().all(|ids| ids.len() == 1), "no message stored twice");
    eprintln!("stored after restart: {}", stored.len());

    // Resending an acked message after the crash is recognised as a duplicate.
    let (some_client_id, some_id) = acked.iter().next().unwrap();
    c.say(some_client_id, Conversation::Room, "again").await;
    match c.recv_chat().await {
        ServerMsg::Ack { id, duplicate, .. } => assert_eq!((id, duplicate), (*some_id, true)),
        other => panic!("{other:?}"),
    }
    child.sigkill();
}
