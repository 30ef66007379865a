//! Scenario 6: resumers that never read. A talker stores `backlog` room
//! messages in one project; then `connections` tabs of a user who was away
//! say `hello` with `cursor: 0` (the whole backlog each, in `replay`
//! frames as the web app asks) and never read a byte after their `welcome`. They are held for `hold`, with the server's
//! RSS sampled, then dropped; RSS is read again after `settle`. What the
//! server holds for them is bounded by the replay budget
//! (`--max-replay-bytes`, server/src/replay_budget.rs): a page each for the
//! replays that run, nothing for those that wait. Kernel socket buffers are
//! not the server's RSS; the TCP memory of the whole machine
//! (/proc/net/sockstat) is reported beside it.
//!
//! Before the stall, one more tab resumes and reads everything, which
//! checks that the backlog is complete and in order.

use super::CONNECT_CONCURRENCY;
use crate::conn::{self, Ws, FRAME_TIMEOUT};
use crate::process::Proc;
use crate::sys::{Memory, RssWatch};
use anyhow::{bail, ensure, Context, Result};
use futures_util::stream::{StreamExt, TryStreamExt};
use futures_util::SinkExt;
use protocol::{ClientMsg, Conversation, MessageId, ServerMsg};
use std::time::Duration;

/// Room sends in flight while storing the backlog.
const WINDOW: usize = 256;
/// A body of a typical chat line's length.
const BODY: &str = "a message of about the length people type in a chat, sixty to a hundred characters";

pub struct StalledResult {
    pub connections: usize,
    pub backlog: usize,
    /// Bytes of JSON each connection asked for (the backlog's frames).
    pub backlog_bytes: u64,
    /// Server RSS: before the stalled tabs, while held, after they closed.
    pub memory: Memory,
    /// The server's `chat_replays_running` and `chat_replays_queued` while held.
    pub running: u64,
    pub queued: u64,
    /// The machine's TCP buffer memory (KiB) before and while held.
    pub tcp_kib_before: u64,
    pub tcp_kib_held: u64,
}

pub async fn run(
    server: &mut Proc,
    connections: usize,
    backlog: usize,
    hold: Duration,
    settle: Duration,
) -> Result<StalledResult> {
    let url = server.url();
    let (mut talker, _) = conn::guest(&url, "talker", "stalled").await?;
    let (away, reader) = conn::guest(&url, "reader", "stalled").await?;
    drop(away);
    store_backlog(&mut talker, backlog).await?;
    drop(talker);
    let token = reader.session_token;

    let backlog_bytes = read_whole_backlog(&url, &token, backlog).await?;
    tokio::time::sleep(settle).await;
    let before = server.rss_kib();
    let tcp_kib_before = tcp_buffer_kib();
    let watch = RssWatch::start(&[server.pid()], before);
    let stalled: Vec<Ws> = futures_util::stream::iter(0..connections)
        .map(|_| {
            let url = url.clone();
            let token = token.clone();
            // As the web app resumes: the backlog in `replay` frames.
            async move { conn::hello_batched(&url, conn::token(&token), Some(MessageId(0))).await.map(|(ws, _)| ws) }
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .try_collect()
        .await
        .context("opening the tabs that never read")?;
    tokio::time::sleep(hold).await;
    server.check_alive()?;
    let running = server.metric("chat_replays_running").await.unwrap_or(0);
    let queued = server.metric("chat_replays_queued").await.unwrap_or(0);
    let tcp_kib_held = tcp_buffer_kib();
    drop(stalled);
    tokio::time::sleep(settle).await;
    server.check_alive()?;
    let memory = watch.finish(server.rss_kib());
    Ok(StalledResult { connections, backlog, backlog_bytes, memory, running, queued, tcp_kib_before, tcp_kib_held })
}

/// Stores `n` room messages, `WINDOW` in flight.
async fn store_backlog(ws: &mut Ws, n: usize) -> Result<()> {
    let (mut sent, mut acked) = (0, 0);
    while acked < n {
        while sent < n && sent - acked < WINDOW {
            let msg = ClientMsg::Send {
                client_id: conn::cid(format!("b{sent}")),
                to: Conversation::Room,
                body: format!("{BODY} {sent}"),
                reply_to: None,
                mentions: Vec::new(),
            };
            ws.feed(conn::text(&msg)?).await?;
            sent += 1;
        }
        ws.flush().await?;
        match conn::next(ws, FRAME_TIMEOUT).await? {
            ServerMsg::Ack { .. } => acked += 1,
            ServerMsg::Error { code, message, .. } => bail!("send refused: {code:?} {message}"),
            _ => {}
        }
    }
    Ok(())
}

/// Resumes from 0 and reads to `synced`: the backlog, complete and in id
/// order; its size in bytes of JSON.
async fn read_whole_backlog(url: &str, token: &str, backlog: usize) -> Result<u64> {
    let (mut ws, _) = conn::hello(url, conn::token(token), Some(MessageId(0))).await?;
    let (mut ids, mut bytes) = (Vec::with_capacity(backlog), 0u64);
    loop {
        match conn::next(&mut ws, FRAME_TIMEOUT).await? {
            ServerMsg::Message(m) => {
                bytes += serde_json::to_string(&ServerMsg::Message(m.clone()))?.len() as u64;
                ids.push(m.id);
            }
            ServerMsg::Synced { .. } => break,
            _ => {}
        }
    }
    ensure!(ids.len() == backlog, "the replay held {} of the {backlog} messages", ids.len());
    ensure!(ids.windows(2).all(|w| w[0] < w[1]), "the replay was not in id order");
    Ok(bytes)
}

/// TCP buffer memory of the whole machine, in KiB (`mem` in
/// /proc/net/sockstat counts pages); 0 where it cannot be read.
fn tcp_buffer_kib() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/sockstat") else { return 0 };
    let pages = text
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| l.split_whitespace().skip_while(|w| *w != "mem").nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    pages * 4
}
