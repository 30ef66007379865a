//! The tuned reference: the roofline. A bare broadcast over
//! tokio-tungstenite 0.29 with no JSON, no auth and no store, that uses every
//! technique the chat server uses on its hot path: a snapshot of the
//! recipients swapped on join/leave (no lock or per-recipient clone of the
//! list per broadcast), the frame shared by refcount, bounded queues (a full
//! queue drops, so memory cannot balloon), and batched writes with one flush
//! per batch. The chat server does strictly more work on the same
//! techniques, so it cannot reach this; the ratio to it shows what JSON,
//! auth and the store cost.

use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// Frames queued per client; beyond this a client's frames are dropped.
const QUEUE: usize = 1024;
/// Frames written per flush at most.
const BATCH: usize = 64;

type Peer = (u64, mpsc::Sender<Message>);

#[derive(Default)]
struct Peers {
    /// The list, edited under a lock on join and leave only.
    list: Mutex<Vec<Peer>>,
    /// What a broadcast reads: replaced after each edit.
    snapshot: RwLock<Arc<[Peer]>>,
}

impl Peers {
    fn edit(&self, f: impl FnOnce(&mut Vec<Peer>)) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut list);
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = list.as_slice().into();
    }

    fn snapshot(&self) -> Arc<[Peer]> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

pub async fn run(listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let peers = Arc::new(Peers::default());
    let next_id = AtomicU64::new(0);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (peers, id) = (peers.clone(), next_id.fetch_add(1, Ordering::Relaxed));
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            let (mut write, mut read) = ws.split();
            let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
            peers.edit(|l| l.push((id, tx)));
            let writer = tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    let mut next = Some(first);
                    let mut n = 0;
                    while let Some(m) = next.take() {
                        if write.feed(m).await.is_err() {
                            return;
                        }
                        n += 1;
                        if n < BATCH {
                            next = rx.try_recv().ok();
                        }
                    }
                    if write.flush().await.is_err() {
                        return;
                    }
                }
            });
            while let Some(Ok(msg)) = read.next().await {
                if msg.is_text() {
                    for (peer, tx) in peers.snapshot().iter() {
                        if *peer != id {
                            let _ = tx.try_send(msg.clone());
                        }
                    }
                }
            }
            peers.edit(|l| l.retain(|(peer, _)| *peer != id));
            writer.abort();
        });
    }
}
