//! A real server on an ephemeral port and real WebSocket clients.
#![allow(dead_code, clippy::large_enum_variant)]

pub mod faulty;
pub mod postgres;

use futures_util::{SinkExt, StreamExt};
use protocol::{Auth, ClientMsg, ClientMsgId, Conversation, Hello, MessageId, ProjectId, ServerMsg, UserId, Welcome};
use server::Config;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestServer {
    pub addr: SocketAddr,
    pub config: Config,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::ServerError>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path().to_path_buf());
        tweak(&mut config);
        let mut server = Self::start_in(config).await;
        server._dir = Some(dir);
        server
    }

    /// Starts on the given config (data dir included) without owning it.
    pub async fn start_in(config: Config) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::run(listener, config.clone(), async move {
            let _ = stopped.await;
        }));
        Self { addr, config, stop: Some(stop), task: Some(task), _dir: None }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task).await.expect("shutdown in time").unwrap().unwrap();
        }
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.url()).await
    }

    pub async fn guest(&self, name: &str, project: &str) -> (Client, Welcome) {
        let mut c = self.connect().await;
        let w = c.hello(guest(name, project), None).await;
        (c, w)
    }

    /// Another tab of the user that `welcome` was given to.
    pub async fn tab(&self, welcome: &Welcome) -> (Client, Welcome) {
        let mut c = self.connect().await;
        let w = c.hello(token(&welcome.session_token), None).await;
        (c, w)
    }
}

pub fn guest(name: &str, project: &str) -> Auth {
    Auth::Guest { name: name.into(), color: "#00aa00".into(), project: ProjectId::new(project).unwrap() }
}

pub fn token(t: &str) -> Auth {
    Auth::Token { token: t.into(), project: None }
}

pub fn dm(user: &UserId) -> Conversation {
    Conversation::Direct { user: user.clone() }
}

pub fn cid(s: &str) -> ClientMsgId {
    ClientMsgId::new(s).unwrap()
}

/// A plain `send` to the room.
pub fn room_send(client_id: &str, body: &str) -> ClientMsg {
    ClientMsg::Send {
        client_id: cid(client_id),
        to: Conversation::Room,
        body: body.into(),
        reply_to: None,
        mentions: vec![],
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What a read produced.
#[derive(Debug)]
pub enum Event {
    Msg(ServerMsg),
    Closed(Option<u16>),
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
        Self { ws }
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.send_text(&serde_json::to_string(msg).unwrap()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn hello(&mut self, auth: Auth, cursor: Option<MessageId>) -> Welcome {
        self.send(&ClientMsg::Hello(Hello { protocol: 1, auth, cursor, replay_batches: false })).await;
        match self.recv().await {
            ServerMsg::Welcome(w) => w,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    pub async fn say(&mut self, client_id: &str, to: Conversation, body: &str) {
        self.send(&ClientMsg::Send {
            client_id: cid(client_id),
            to,
            body: body.into(),
            reply_to: None,
            mentions: vec![],
        })
        .await;
    }

    /// Next event, or panics after [`WAIT`].
    pub async fn event(&mut self) -> Event {
        self.event_within(WAIT).await.expect("an event in time")
    }

    pub async fn event_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            return Some(match next {
                Some(Ok(Message::Text(t))) => {
                    Event::Msg(serde_json::from_str(&t).unwrap_or_else(|e| panic!("bad frame {t}: {e}")))
                }
                Some(Ok(Message::Close(frame))) => Event::Closed(frame.map(|f| f.code.into())),
                Some(Ok(_)) => continue,
                None | Some(Err(WsError::ConnectionClosed)) | Some(Err(WsError::AlreadyClosed)) => Event::Closed(None),
                Some(Err(e)) => panic!("read error: {e}"),
            });
        }
    }

    /// Next server message, skipping presence and typing noise unless asked.
    pub async fn recv(&mut self) -> ServerMsg {
        match self.event().await {
            Event::Msg(m) => m,
            Event::Closed(code) => panic!("closed ({code:?}) while waiting for a message"),
        }
    }

    /// Next message that is not presence or typing.
    pub async fn recv_chat(&mut self) -> ServerMsg {
        loop {
            match self.recv().await {
                ServerMsg::Presence { .. } | ServerMsg::Online { .. } | ServerMsg::Typing { .. } => continue,
                other => return other,
            }
        }
    }

    /// Reads until a close frame; returns its code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            if let Event::Closed(code) = self.event().await {
                return code;
            }
        }
    }

    /// Asserts nothing but presence/typing arrives for a while.
    pub async fn quiet(&mut self, wait: Duration) {
        while let Some(ev) = self.event_within(wait).await {
            match ev {
                Event::Msg(ServerMsg::Presence { .. } | ServerMsg::Online { .. } | ServerMsg::Typing { .. }) => {
                    continue
                }
                other => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Round-trips a ping: the connection is alive and everything sent
    /// before it has been handled.
    pub async fn alive(&mut self) {
        self.send(&ClientMsg::Ping).await;
        loop {
            match self.recv().await {
                ServerMsg::Pong => return,
                ServerMsg::Presence { .. } | ServerMsg::Online { .. } | ServerMsg::Typing { .. } => continue,
                other => panic!("expected pong, got {other:?}"),
            }
        }
    }
}

/// A bare HTTP/1.0 GET: the whole response, headers included.
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of one counter or gauge in /metrics.
pub async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let metrics = http_get(addr, "/metrics").await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

/// One HTTP/1.1 request (`Connection: close`) with an optional bearer key
/// and JSON body: the status and the JSON body (`Null` when empty).
pub async fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(key) = key {
        request.push_str(&format!("Authorization: Bearer {key}\r\n"));
    }
    request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await.expect("an HTTP answer in time").unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status in {head}"));
    let json = if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: body {body:?} is not JSON: {e}"))
    };
    (status, json)
}

/// A port free a moment ago (for a server binary to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server binary started by a test, SIGKILLed when dropped (so a failing
/// test leaves none behind).
pub struct ServerProcess(pub std::process::Child);

impl ServerProcess {
    pub fn sigkill(&mut self) {
        let _ = self.0.kill(); // SIGKILL on Unix
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// Connects once the server on `port` accepts WebSockets.
pub async fn connect_when_up(port: u16) -> Client {
    let url = format!("ws://127.0.0.1:{port}/ws");
    for _ in 0..400 {
        if let Ok((ws, _)) = tokio_tungstenite::connect_async(&url).await {
            return Client { ws };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("server did not come up on {port}");
}
