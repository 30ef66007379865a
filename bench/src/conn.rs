//! One load-test client connection, speaking the `protocol` crate's types.
//!
//! Senders and receivers live in this one process, so a latency is measured
//! against one monotonic clock: a body carries the nanoseconds since
//! [`epoch`] at which it was sent (a DM) or due to be sent (fan-out).

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use protocol::{Auth, ClientMsg, ClientMsgId, Hello, MessageId, ProjectId, ServerMsg, Welcome, PROTOCOL_VERSION};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest a TCP connect plus WebSocket handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest the bench waits for an expected frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(15);

/// The instant latencies are measured from.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`]: what a body carries.
pub fn stamp() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// The instant a [`stamp`] stands for, to sleep until.
pub fn at(stamp: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(epoch() + Duration::from_nanos(stamp))
}

/// Latency in µs of a body that starts with its send [`stamp`].
pub fn latency_us(body: &str) -> Option<u64> {
    let sent: u64 = body.split(' ').next()?.parse().ok()?;
    Some(stamp().saturating_sub(sent) / 1000)
}

pub fn cid(s: String) -> ClientMsgId {
    ClientMsgId::new(s).unwrap_or_else(|e| unreachable!("bench client ids are valid: {e}"))
}

/// A server frame classified without a full JSON parse, so the load
/// client's own parsing (on the same cores as the server) stays small.
pub enum Quick<'a> {
    /// A `message`, with its body (bench bodies are digits and spaces or
    /// letters, so they contain no escapes).
    Message(&'a str),
    /// An `ack`, with the id the message was stored as.
    Ack(MessageId),
    Error,
    Other,
}

pub fn classify(frame: &str) -> Quick<'_> {
    if frame.starts_with(r#"{"type":"message""#) {
        let body = frame.find(r#""body":""#).map(|i| i + 8).and_then(|start| {
            let len = frame[start..].find('"')?;
            Some(&frame[start..start + len])
        });
        return body.map_or(Quick::Other, Quick::Message);
    }
    if frame.starts_with(r#"{"type":"ack""#) {
        let id = frame.find(r#","id":"#).and_then(|i| {
            let digits = &frame[i + 6..];
            let len = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
            digits[..len].parse().ok()
        });
        return id.map_or(Quick::Other, |id| Quick::Ack(MessageId(id)));
    }
    if frame.starts_with(r#"{"type":"error""#) {
        return Quick::Error;
    }
    Quick::Other
}

/// Connects with Nagle off (as the server does on its side) and small
/// buffers: the bench holds up to 15,000 of these.
pub async fn connect(url: &str) -> Result<Ws> {
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024).write_buffer_size(16 * 1024);
    let (ws, _) =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async_with_config(url, Some(config), true))
            .await
            .map_err(|_| anyhow!("connecting to {url}: no answer within {CONNECT_TIMEOUT:?}"))?
            .with_context(|| format!("connecting to {url}"))?;
    Ok(ws)
}

pub fn text(msg: &ClientMsg) -> Result<Message> {
    Ok(Message::text(serde_json::to_string(msg)?))
}

/// Sends one frame and flushes it, within [`FRAME_TIMEOUT`].
pub async fn write(ws: &mut Ws, frame: Message) -> Result<()> {
    tokio::time::timeout(FRAME_TIMEOUT, ws.send(frame))
        .await
        .map_err(|_| anyhow!("a write stalled for {FRAME_TIMEOUT:?}"))??;
    Ok(())
}

pub async fn send(ws: &mut Ws, msg: &ClientMsg) -> Result<()> {
    write(ws, text(msg)?).await
}

/// The next protocol message, within `wait`. Pings are answered by
/// tungstenite while this reads.
pub async fn next(ws: &mut Ws, wait: Duration) -> Result<ServerMsg> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame =
            tokio::time::timeout_at(deadline, ws.next()).await.map_err(|_| anyhow!("no frame within {wait:?}"))?;
        match frame {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(&t).with_context(|| format!("unexpected frame {t}"))
            }
            Some(Ok(Message::Close(f))) => bail!("closed by the server: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("read: {e}"),
            None => bail!("closed"),
        }
    }
}

pub async fn hello(url: &str, auth: Auth, cursor: Option<MessageId>) -> Result<(Ws, Welcome)> {
    open(url, Hello { protocol: PROTOCOL_VERSION, auth, cursor, replay_batches: false }).await
}

/// As [`hello`], asking for the replay in `replay` frames, as the web app
/// does.
pub async fn hello_batched(url: &str, auth: Auth, cursor: Option<MessageId>) -> Result<(Ws, Welcome)> {
    open(url, Hello { protocol: PROTOCOL_VERSION, auth, cursor, replay_batches: true }).await
}

async fn open(url: &str, hello: Hello) -> Result<(Ws, Welcome)> {
    let mut ws = connect(url).await?;
    send(&mut ws, &ClientMsg::Hello(hello)).await?;
    loop {
        match next(&mut ws, FRAME_TIMEOUT).await? {
            ServerMsg::Welcome(w) => return Ok((ws, w)),
            ServerMsg::Presence { .. } | ServerMsg::Typing { .. } => {}
            other => bail!("expected welcome, got {other:?}"),
        }
    }
}

pub async fn guest(url: &str, name: &str, project: &str) -> Result<(Ws, Welcome)> {
    let auth = Auth::Guest { name: name.into(), color: "#336699".into(), project: ProjectId::new(project)? };
    hello(url, auth, None).await
}

pub fn token(token: &str) -> Auth {
    Auth::Token { token: token.into(), project: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_servers_frames_without_parsing_them() {
        // The golden frames of protocol/src/messages/tests.rs.
        let message = r##"{"type":"message","id":42,"ts":1764000000000,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"direct","user":"5"},"body":"123 x","client_id":"c-1"}"##;
        assert!(matches!(classify(message), Quick::Message("123 x")));
        let ack = r#"{"type":"ack","client_id":"c-1","id":42,"ts":1764000000000}"#;
        assert!(matches!(classify(ack), Quick::Ack(MessageId(42))));
        let error = r#"{"type":"error","code":"unknown_user","message":"no user 9 in this project","client_id":"c-3"}"#;
        assert!(matches!(classify(error), Quick::Error));
        assert!(matches!(classify(r#"{"type":"pong"}"#), Quick::Other));
    }

    #[test]
    fn a_body_carries_its_send_time() {
        let body = format!("{} padding", stamp());
        assert!(latency_us(&body).is_some_and(|us| us < 1_000_000));
        assert_eq!(latency_us("not a stamp"), None);
    }
}
