//! A load-test client connection speaking the protocol crate's types.

use anyhow::{anyhow, bail, Result};
use futures_util::{SinkExt, StreamExt};
use protocol::{Auth, ClientMsg, Hello, MessageId, ProjectId, ServerMsg, Welcome, PROTOCOL_VERSION};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Wall-clock nanoseconds: client and server share the machine's clock.
pub fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// Latency in µs of a body that carries its send time in nanoseconds.
pub fn latency_us(body: &str) -> Option<u64> {
    let sent: u64 = body.split(' ').next()?.parse().ok()?;
    Some(now_nanos().saturating_sub(sent) / 1000)
}

pub async fn connect(url: &str) -> Result<Ws> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    Ok(ws)
}

pub async fn send(ws: &mut Ws, msg: &ClientMsg) -> Result<()> {
    ws.send(Message::text(serde_json::to_string(msg)?)).await?;
    Ok(())
}

pub fn parse(msg: Message) -> Option<ServerMsg> {
    match msg {
        Message::Text(t) => serde_json::from_str(&t).ok(),
        _ => None,
    }
}

/// The next protocol message, within `wait`.
pub async fn next(ws: &mut Ws, wait: Duration) -> Result<ServerMsg> {
    loop {
        let frame = tokio::time::timeout(wait, ws.next()).await.map_err(|_| anyhow!("no frame within {wait:?}"))?;
        match frame {
            Some(Ok(Message::Close(f))) => bail!("closed: {f:?}"),
            Some(Ok(m)) => {
                if let Some(msg) = parse(m) {
                    return Ok(msg);
                }
            }
            Some(Err(e)) => bail!("read: {e}"),
            None => bail!("closed"),
        }
    }
}

pub async fn hello(url: &str, auth: Auth, cursor: Option<MessageId>) -> Result<(Ws, Welcome)> {
    let mut ws = connect(url).await?;
    send(&mut ws, &ClientMsg::Hello(Hello { protocol: PROTOCOL_VERSION, auth, cursor })).await?;
    match next(&mut ws, Duration::from_secs(30)).await? {
        ServerMsg::Welcome(w) => Ok((ws, w)),
        other => bail!("expected welcome, got {other:?}"),
    }
}

pub async fn guest(url: &str, name: &str, project: &str) -> Result<(Ws, Welcome)> {
    let auth = Auth::Guest { name: name.into(), color: "#336699".into(), project: ProjectId::new(project)? };
    hello(url, auth, None).await
}

pub fn token(token: &str) -> Auth {
    Auth::Token { token: token.into(), project: None }
}
