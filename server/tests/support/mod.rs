//! A real server on an ephemeral port and real WebSocket clients.
#![allow(dead_code, clippy::large_enum_variant)]

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
        self.send(&ClientMsg::Hello(Hello { protocol: 1, auth, cursor })).await;
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
