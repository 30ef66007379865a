//! Scenario 3: idle connections. `connections` authenticated connections
//! (session-token hellos, 50 tabs per user, 10 users per project) opened
//! with [`CONNECT_CONCURRENCY`] in flight, then held without traffic, then
//! closed; twice. Memory per connection is (RSS held − RSS before) /
//! connections, from the first wave.

use super::CONNECT_CONCURRENCY;
use crate::conn::{self, Ws};
use crate::process::Proc;
use crate::sys::{Memory, RssWatch};
use anyhow::{ensure, Result};
use futures_util::stream::{StreamExt, TryStreamExt};
use std::time::{Duration, Instant};

const TABS_PER_USER: usize = 50;
/// Times the connections are opened and closed: a second wave shows
/// whether memory freed by the first is reused or RSS keeps growing.
const WAVES: usize = 2;
const USERS_PER_PROJECT: usize = 10;

pub struct IdleResult {
    pub connections: usize,
    pub users: usize,
    pub open_secs: f64,
    pub opened_per_sec: f64,
    pub held_kib: u64,
    pub kib_per_conn: f64,
    /// Until the server reported no open connection after the clients closed.
    pub close_secs: f64,
    pub waves: Vec<Wave>,
    pub memory: Memory,
}

#[derive(Debug, Clone, Copy)]
pub struct Wave {
    pub open_secs: f64,
    /// RSS with every connection open.
    pub held_kib: u64,
    pub close_secs: f64,
    /// RSS after they all closed.
    pub after_kib: u64,
}

/// `settle`: each pause (connections closing, held, closed) before RSS is read.
pub async fn run(server: &mut Proc, connections: usize, settle: Duration) -> Result<IdleResult> {
    let url = server.url();
    let users = connections.div_ceil(TABS_PER_USER);
    let tokens: Vec<String> = futures_util::stream::iter(0..users)
        .map(|u| {
            let url = url.clone();
            async move {
                let (ws, welcome) =
                    conn::guest(&url, &format!("i{u}"), &format!("idle{}", u / USERS_PER_PROJECT)).await?;
                drop(ws);
                anyhow::Ok(welcome.session_token)
            }
        })
        .buffered(32)
        .try_collect()
        .await?;
    tokio::time::sleep(settle).await; // the sign-up connections close

    let before = server.rss_kib();
    let watch = RssWatch::start(&[server.pid()], before);
    let mut waves = Vec::new();
    for _ in 0..WAVES {
        waves.push(wave(server, &url, &tokens, connections, settle).await?);
    }
    let memory = watch.finish(server.rss_kib());
    let first = waves[0];
    Ok(IdleResult {
        connections,
        users,
        open_secs: first.open_secs,
        opened_per_sec: connections as f64 / first.open_secs,
        held_kib: first.held_kib,
        kib_per_conn: first.held_kib.saturating_sub(before) as f64 / connections as f64,
        close_secs: first.close_secs,
        waves,
        memory,
    })
}

/// Opens `connections`, holds them, closes them and waits until the server
/// has let go of every one.
async fn wave(server: &mut Proc, url: &str, tokens: &[String], connections: usize, settle: Duration) -> Result<Wave> {
    let started = Instant::now();
    let mut held: Vec<Ws> = Vec::with_capacity(connections);
    let mut pending = futures_util::stream::iter(0..connections)
        .map(|i| {
            let (url, token) = (url.to_string(), conn::token(&tokens[i % tokens.len()]));
            async move { conn::hello(&url, token, None).await.map(|(ws, _)| ws) }
        })
        .buffer_unordered(CONNECT_CONCURRENCY);
    while let Some(ws) = pending.next().await {
        held.push(ws?);
    }
    let open_secs = started.elapsed().as_secs_f64();
    // Held without reading: the server pings only every 20 s, and the
    // settle pause is shorter than that.
    tokio::time::sleep(settle).await;
    let held_kib = server.rss_kib();
    let open = server.metric("chat_connections_open").await;
    ensure!(open == Some(connections as u64), "the server reports {open:?} open connections, expected {connections}");
    server.check_alive()?;
    drop(held);
    // The server must let go of every connection (bounded wait).
    let closing = Instant::now();
    let mut open = server.metric("chat_connections_open").await;
    while open != Some(0) && closing.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        open = server.metric("chat_connections_open").await;
    }
    ensure!(open == Some(0), "{open:?} connections still open on the server 15 s after the clients closed");
    let close_secs = closing.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    Ok(Wave { open_secs, held_kib, close_secs, after_kib: server.rss_kib() })
}
