//! The reference: a bare broadcast over the same WebSocket stack
//! (tokio-tungstenite), with no JSON, no auth and no store, and bounded
//! per-client queues so it cannot balloon. Every text frame a client sends
//! goes to every other client. Scenario 1 is reported as a ratio to it.

use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Clients = Arc<Mutex<Vec<(u64, mpsc::Sender<Message>)>>>;

pub async fn run(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let clients: Clients = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (clients, id) = (clients.clone(), next.fetch_add(1, Ordering::Relaxed));
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
            let (mut write, mut read) = ws.split();
            let (tx, mut rx) = mpsc::channel::<Message>(1024);
            clients.lock().unwrap().push((id, tx));
            let writer = tokio::spawn(async move {
                while let Some(m) = rx.recv().await {
                    if write.feed(m).await.is_err() {
                        return;
                    }
                    while let Ok(m) = rx.try_recv() {
                        if write.feed(m).await.is_err() {
                            return;
                        }
                    }
                    if write.flush().await.is_err() {
                        return;
                    }
                }
            });
            while let Some(Ok(msg)) = read.next().await {
                if msg.is_text() {
                    let targets: Vec<_> = clients.lock().unwrap().iter().filter(|(c, _)| *c != id).map(|(_, t)| t.clone()).collect();
                    for t in targets {
                        let _ = t.try_send(msg.clone());
                    }
                }
            }
            clients.lock().unwrap().retain(|(c, _)| *c != id);
            writer.abort();
        });
    }
}
