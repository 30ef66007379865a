//! The bare reference: warp's `websockets_chat` example (warp 0.4, the same
//! stack as the chat server), kept as the example writes it:
//!
//! - the users in a `HashMap` behind a `tokio::sync::RwLock`, read-locked for
//!   each broadcast;
//! - an unbounded channel per user, drained by a task that `send`s each
//!   message (feed and flush: one write per message per user);
//! - the text copied into a new `Message` for each recipient.
//!
//! The one change: the example prefixes each text with `<User#id>: `; here
//! the text goes out unchanged, so the load client's timestamp leads it and
//! the frames are exactly as long as the chat server's.
//!
//! Like the example, it leaves Nagle's algorithm on (warp 0.4 does not set
//! `TCP_NODELAY`). That costs it latency but lets the kernel coalesce its
//! one-frame writes: with `TCP_NODELAY` it sustains fewer
//! deliveries per second (the figures are in BENCHMARKS.md; `bench
//! --bare-nodelay` runs that variant), so as-is is the stronger reference
//! for the ratio.

use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, RwLock};
use warp::ws::{Message, WebSocket};
use warp::Filter;

static NEXT_USER_ID: AtomicUsize = AtomicUsize::new(1);

type Users = Arc<RwLock<HashMap<usize, mpsc::UnboundedSender<Message>>>>;

/// `nodelay`: set `TCP_NODELAY` on the listener, which accepted sockets
/// inherit on Linux (warp's own `run` cannot set it).
pub async fn run(listen: std::net::SocketAddr, nodelay: bool) -> anyhow::Result<()> {
    let users = Users::default();
    let users = warp::any().map(move || users.clone());
    let chat =
        warp::ws().and(users).map(|ws: warp::ws::Ws, users| ws.on_upgrade(move |socket| user_connected(socket, users)));
    if !nodelay {
        warp::serve(chat).run(listen).await;
        return Ok(());
    }
    let socket = if listen.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_nodelay(true)?;
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    warp::serve(chat).incoming(socket.listen(1024)?).run().await;
    Ok(())
}

async fn user_connected(ws: WebSocket, users: Users) {
    let my_id = NEXT_USER_ID.fetch_add(1, Ordering::Relaxed);
    let (mut user_ws_tx, mut user_ws_rx) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    tokio::task::spawn(async move {
        while let Some(message) = rx.recv().await {
            if user_ws_tx.send(message).await.is_err() {
                break;
            }
        }
    });
    users.write().await.insert(my_id, tx);
    while let Some(Ok(msg)) = user_ws_rx.next().await {
        user_message(my_id, msg, &users).await;
    }
    users.write().await.remove(&my_id);
}

async fn user_message(my_id: usize, msg: Message, users: &Users) {
    let Ok(text) = msg.to_str() else { return };
    for (&uid, tx) in users.read().await.iter() {
        if my_id != uid {
            let _ = tx.send(Message::text(text.to_owned()));
        }
    }
}
