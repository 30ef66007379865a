//! One WebSocket connection: hello, then a loop that reads client frames,
//! writes queued frames in batches, pings, and closes with the right code.
//!
//! One task per connection (no split halves): the socket is read and written
//! from one `select!`, which keeps an idle connection to a single future.

use crate::addressees::KnownAddressees;
use crate::app::App;
use crate::auth::{new_guest_id, Identity};
use crate::bus::Event;
use crate::config::HISTORY_PAGE_BYTES;
use crate::hub::frame;
use crate::outbox::{outbox, Outbound, OutboxReceiver, OutboxSender, Priority};
use crate::ratelimit::{RateLimiter, Verdict};
use crate::sequencer::SendRequest;
use crate::store::NewMessage;
use futures_util::{SinkExt, StreamExt};
use protocol::{
    validate, Auth, ChatMessage, ClientMsg, CloseCode, Conversation, ErrorCode, Hello, MessageId, Profile, ServerMsg,
    UserId, Welcome, PROTOCOL_VERSION,
};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::TryAcquireError;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, warn, Instrument};

/// Most frames written before one flush.
const WRITE_BATCH_FRAMES: usize = 64;
/// Most bytes written before one flush.
const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// Messages read from the store per replay page.
const REPLAY_PAGE: u32 = 1000;
/// Full replay pages in a row during which the room sent this client at
/// least as many live messages as the page held: it is then closed as too
/// slow (4011), as it would be were its outbox to overflow.
const STALLED_PAGES: u32 = 3;
/// How long to wait for the client's answer to our close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);

pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

const BINARY_REFUSED: &str = "binary frames are not supported; send JSON text";

/// One frame read from the client.
enum Incoming {
    Text(Utf8Bytes),
    Binary,
    /// Ping, pong or a raw frame: nothing to do.
    Control,
}

/// What reaches a resuming connection's outbox while its replay runs (see
/// `Conn::replay`): live chat messages are dropped, since the replay reads
/// them from the store once the backlog is done; other frames wait to be
/// written after the current page.
struct SetAside {
    /// The newest live chat message dropped.
    live_up_to: MessageId,
    /// How many were dropped.
    set_aside: usize,
    others: Vec<Utf8Bytes>,
}

impl SetAside {
    fn new(cursor: MessageId) -> Self {
        Self { live_up_to: cursor, set_aside: 0, others: Vec::new() }
    }

    fn take(&mut self, out: Outbound) {
        match out.msg_id {
            Some(id) => {
                self.live_up_to = self.live_up_to.max(id);
                self.set_aside += 1;
            }
            None => self.others.push(out.frame),
        }
    }

    /// Awaits `wait` (a store read, a page being written) while emptying
    /// the outbox, so live traffic cannot fill it meanwhile.
    async fn wait<T>(&mut self, rx: &mut OutboxReceiver, wait: impl std::future::Future<Output = T>) -> T {
        let mut wait = std::pin::pin!(wait);
        loop {
            tokio::select! {
                biased;
                done = &mut wait => return done,
                Some(out) = rx.rx.recv() => self.take(out),
            }
        }
    }

    fn drain(&mut self, rx: &mut OutboxReceiver) {
        while let Ok(out) = rx.rx.try_recv() {
            self.take(out);
        }
    }
}

/// Why a connection ends.
enum End {
    /// Close with this code.
    Close(CloseCode),
    /// The client closed, or the socket failed: nothing more to send.
    Gone,
}

/// Runs a connection to its end.
pub async fn run<S>(ws: WebSocketStream<S>, app: Arc<App>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (tx, rx) = outbox(app.config.outbox_capacity);
    let span = tracing::info_span!("conn", id = tx.id, project = tracing::field::Empty, user = tracing::field::Empty);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(app.config.in_flight_sends()));
    Conn {
        ws,
        app,
        tx,
        rx,
        membership: None,
        replayed_up_to: None,
        in_flight,
        known_addressees: KnownAddressees::default(),
    }
    .run()
    .instrument(span)
    .await
}

/// A connection's place in the hub. Leaving happens on drop, so it happens
/// however the session ends, a panic included: otherwise the user would
/// stay online (and in every room snapshot) for good.
struct Membership {
    app: Arc<App>,
    identity: Identity,
    conn: crate::outbox::ConnId,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.app.hub.leave(&self.identity.project, &self.identity.profile.id, self.conn);
    }
}

struct Conn<S> {
    ws: WebSocketStream<S>,
    app: Arc<App>,
    tx: OutboxSender,
    rx: OutboxReceiver,
    /// Who this is, once signed in and joined to the hub; dropping it
    /// leaves.
    membership: Option<Membership>,
    /// Live messages at or below this id were already sent by the replay.
    replayed_up_to: Option<MessageId>,
    /// Permits for unacknowledged sends (`--max-in-flight-sends`).
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Addressees this connection already found in the store. Users are
    /// never deleted, so a hit stays true; it spares a store read for every
    /// DM of a conversation after the first.
    known_addressees: KnownAddressees,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    async fn run(mut self) {
        let end = match self.hello_phase().await {
            // Boxed: the hello and replay's state would otherwise be part of
            // every connection's task for its whole life.
            Ok(hello) => match Box::pin(self.start(hello)).await {
                Ok(()) => self.main_loop().await,
                Err(end) => end,
            },
            Err(end) => end,
        };
        drop(self.membership.take());
        if let End::Close(code) = end {
            if code == CloseCode::ServerRestart {
                self.drain_outbox().await;
            }
            self.close(code).await;
        }
        debug!("connection ended");
    }

    // ------------------------------------------------------------ hello

    /// Reads frames until a hello arrives; anything else gets an error frame.
    async fn hello_phase(&mut self) -> Result<Hello, End> {
        let deadline = tokio::time::Instant::now() + self.app.config.hello_timeout;
        // Owned, so no borrow of `self` lives across the await (the socket
        // need not be Sync).
        let shutdown = self.app.shutdown.clone();
        loop {
            let next = tokio::select! {
                next = self.ws.next() => next,
                _ = tokio::time::sleep_until(deadline) => return Err(End::Close(CloseCode::HelloTimeout)),
                _ = shutdown.cancelled() => return Err(End::Close(CloseCode::ServerRestart)),
            };
            let text = match self.read(next)? {
                Incoming::Text(text) => text,
                Incoming::Binary => {
                    self.send_now(error(ErrorCode::BinaryFrame, BINARY_REFUSED)).await?;
                    continue;
                }
                Incoming::Control => continue,
            };
            match ClientMsg::parse(&text) {
                Ok(ClientMsg::Hello(hello)) => return Ok(hello),
                Ok(_) => self.send_now(error(ErrorCode::HelloRequired, "the first message must be a hello")).await?,
                Err(e) => self.send_now(error(e.code, e.message)).await?,
            }
        }
    }

    /// Authenticates, registers, welcomes and (with a cursor) replays.
    async fn start(&mut self, hello: Hello) -> Result<(), End> {
        let identity = match self.authenticate(&hello) {
            Ok(identity) => identity,
            Err((code, message)) => {
                info!(code = code.code(), %message, "hello refused");
                let _ = self.send_now(error(ErrorCode::HelloRefused, message)).await;
                return Err(End::Close(code));
            }
        };
        let span = tracing::Span::current();
        span.record("project", identity.project.as_str());
        span.record("user", identity.profile.id.as_str());
        let app = self.app.clone();
        app.store.upsert_user(&identity.project, &identity.profile).await.map_err(internal)?;
        let unread = app.store.unread(&identity.project, &identity.profile.id).await.map_err(internal)?;
        let (session_token, session_expires) = app.auth.session_token(&identity).map_err(internal)?;
        let online = app.hub.join(&identity.project, &identity.profile, self.tx.clone());
        self.membership = Some(Membership { app: app.clone(), identity: identity.clone(), conn: self.tx.id });
        info!("joined");
        let welcome = ServerMsg::Welcome(Welcome {
            protocol: PROTOCOL_VERSION,
            me: identity.profile.clone(),
            project: identity.project.clone(),
            session_token,
            session_expires,
            online,
            unread,
            limits: app.config.limits(),
        });
        self.send_now(frame(&welcome).frame).await?;
        if let Some(cursor) = hello.cursor {
            self.replay(&identity, cursor).await?;
        }
        Ok(())
    }

    fn authenticate(&self, hello: &Hello) -> Result<Identity, (CloseCode, String)> {
        if hello.protocol != PROTOCOL_VERSION {
            return Err((
                CloseCode::UnsupportedVersion,
                format!("protocol {} is not supported; this server speaks {PROTOCOL_VERSION}", hello.protocol),
            ));
        }
        match &hello.auth {
            Auth::Token { token, project } => {
                self.app.auth.verify(token, project.as_ref()).map_err(|e| (e.close_code(), e.to_string()))
            }
            Auth::Guest { name, color, project } => {
                if !self.app.config.guests {
                    return Err((CloseCode::GuestsDisabled, "guest sign-in is disabled; sign in with a token".into()));
                }
                let bad = |e: validate::FieldError| (CloseCode::BadHello, e.to_string());
                Ok(Identity {
                    project: project.clone(),
                    profile: Profile {
                        id: new_guest_id(),
                        name: validate::display_name(name).map_err(bad)?,
                        color: validate::color(color).map_err(bad)?,
                    },
                })
            }
        }
    }

    /// Sends everything after `cursor` that concerns this user, straight to
    /// the socket, then `synced`. Live messages queued meanwhile that the
    /// replay already covered are skipped by `replayed_up_to`.
    ///
    /// Two phases. While the backlog is paged (full pages), the outbox is
    /// emptied, so a busy room cannot fill it while a long replay is written
    /// (the client would be cut off as too slow however fast it reads): live
    /// chat messages are set aside (dropped; each was stored before it was
    /// queued, so a later read has it) and other frames (presence, read
    /// markers) are written after each page. Once a page is not full, the
    /// backlog is done: the live messages set aside while that page was
    /// read and written are read once more, this time leaving the outbox
    /// alone, so the replay ends however busy the room is.
    async fn replay(&mut self, identity: &Identity, cursor: MessageId) -> Result<(), End> {
        let app = self.app.clone();
        let read = |after| app.store.messages_after(&identity.project, &identity.profile.id, after, REPLAY_PAGE);
        let write_timeout = app.config.write_timeout;
        let mut aside = SetAside::new(cursor);
        let mut last = cursor;
        let mut stalled = 0;
        loop {
            if let Some(code) = self.rx.kill.code() {
                return Err(End::Close(code));
            }
            if app.shutdown.is_cancelled() {
                return Err(End::Close(CloseCode::ServerRestart));
            }
            let set_aside_before = aside.set_aside;
            let page = aside.wait(&mut self.rx, read(last)).await.map_err(internal)?;
            let (covered, full) = (page.len(), page.len() == REPLAY_PAGE as usize);
            last = page.last().map_or(last, |m| m.id);
            let Conn { ws, rx, .. } = &mut *self;
            aside.wait(rx, write_messages(ws, page, write_timeout)).await?;
            aside.drain(&mut self.rx);
            let others = std::mem::take(&mut aside.others);
            self.timed(|ws| async move {
                for frame in others {
                    ws.feed(Message::Text(frame)).await?;
                }
                Ok(())
            })
            .await?;
            self.replayed_up_to = Some(last);
            if !full {
                break;
            }
            // The room outran the page: this client gains nothing on it. A
            // few such pages in a row and it is as slow as a consumer whose
            // outbox overflows.
            stalled = if aside.set_aside - set_aside_before >= covered { stalled + 1 } else { 0 };
            if stalled >= STALLED_PAGES {
                return Err(End::Close(CloseCode::SlowConsumer));
            }
        }
        while aside.live_up_to > last {
            let page = read(last).await.map_err(internal)?;
            let Some(newest) = page.last().map(|m| m.id) else {
                // Set aside means stored before this read: it cannot happen,
                // but if it did, closing makes the client resume from its
                // cursor rather than miss a message.
                let live = aside.live_up_to;
                return Err(internal(format!("replay ended at {} before live message {}", last.0, live.0)));
            };
            last = newest;
            write_messages(&mut self.ws, page, write_timeout).await?;
            self.replayed_up_to = Some(last);
        }
        let synced = ServerMsg::Synced { cursor: (last > MessageId(0)).then_some(last) };
        self.timed(|ws| ws.feed(Message::Text(frame(&synced).frame))).await?;
        self.timed(|ws| ws.flush()).await
    }

    // ------------------------------------------------------------ main loop

    async fn main_loop(&mut self) -> End {
        let config = &self.app.config;
        let mut limiter =
            RateLimiter::new(config.rate_per_sec, config.rate_burst, config.rate_kick_after, Instant::now());
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + config.ping_interval, config.ping_interval);
        let idle_timeout = config.idle_timeout;
        let mut last_heard = Instant::now();
        let kill = self.rx.kill.clone();
        let shutdown = self.app.shutdown.clone();
        loop {
            tokio::select! {
                code = kill.triggered() => return End::Close(code),
                _ = shutdown.cancelled() => return End::Close(CloseCode::ServerRestart),
                out = self.rx.rx.recv() => {
                    let Some(out) = out else { return End::Gone };
                    if let Err(end) = self.write_batch(out).await {
                        return end;
                    }
                    self.resync_presence();
                }
                next = self.ws.next() => {
                    last_heard = Instant::now();
                    // Every data frame counts against the rate limit, text or not.
                    let text = match self.read(next) {
                        Ok(Incoming::Text(text)) => Some(text),
                        Ok(Incoming::Binary) => None,
                        Ok(Incoming::Control) => continue,
                        Err(end) => return end,
                    };
                    match (limiter.check(last_heard), text) {
                        (Verdict::Allow, Some(text)) => {
                            if let Err(end) = self.handle(&text).await {
                                return end;
                            }
                        }
                        (Verdict::Allow, None) => {
                            self.reply_error(ErrorCode::BinaryFrame, BINARY_REFUSED.into(), None)
                        }
                        (Verdict::Refuse, text) => {
                            self.app.metrics.inc(&self.app.metrics.rate_limited);
                            let msg = format!("over {} messages per second; this one was dropped", self.app.config.rate_per_sec);
                            // Name the refused send, so the client knows what to resend.
                            let client_id = match text.as_deref().map(ClientMsg::parse) {
                                Some(Ok(ClientMsg::Send { client_id, .. })) => Some(client_id),
                                _ => None,
                            };
                            // Reliable: a send must get an ack or an error, and
                            // refusals are bounded by the limiter's kick.
                            self.tx.push(frame(&error_msg(ErrorCode::RateLimited, msg, client_id)), Priority::Reliable);
                        }
                        (Verdict::Kick, _) => return End::Close(CloseCode::RateLimited),
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > idle_timeout {
                        return End::Close(CloseCode::IdleTimeout);
                    }
                    if let Err(end) = self.timed(|ws| ws.send(Message::Ping(Default::default()))).await {
                        return end;
                    }
                }
            }
        }
    }

    /// Writes `first` and whatever else is queued (up to a batch), then
    /// flushes once. One timeout covers the whole batch: a timer per frame
    /// would cost more than the frame.
    async fn write_batch(&mut self, first: Outbound) -> Result<(), End> {
        let write_timeout = self.app.config.write_timeout;
        let Conn { ws, rx, replayed_up_to, .. } = self;
        let batch = async {
            let mut next = Some(first);
            let (mut frames, mut bytes) = (0, 0);
            while let Some(out) = next.take() {
                let skip = matches!((out.msg_id, *replayed_up_to), (Some(id), Some(upto)) if id <= upto);
                if !skip {
                    bytes += out.frame.len();
                    frames += 1;
                    ws.feed(Message::Text(out.frame)).await?;
                }
                if frames < WRITE_BATCH_FRAMES && bytes < WRITE_BATCH_BYTES {
                    next = rx.rx.try_recv().ok();
                }
            }
            ws.flush().await
        };
        within(write_timeout, batch).await
    }

    /// Once the queue has drained after presence events for this connection
    /// had to be dropped: the whole online list, so the client's view of who
    /// is online is right again. Checked after each written batch; two
    /// loads when nothing was lost.
    fn resync_presence(&mut self) {
        if !self.rx.rx.is_empty() || !self.rx.take_presence_lost() {
            return;
        }
        let Some(Membership { identity, .. }) = &self.membership else { return };
        self.app.hub.resync_online(&identity.project, &self.tx);
    }

    /// Sends what is still queued, for a graceful shutdown.
    async fn drain_outbox(&mut self) {
        while let Ok(out) = self.rx.rx.try_recv() {
            if self.write_batch(out).await.is_err() {
                return;
            }
        }
    }

    /// Awaits `wait` while still writing what is queued for this client. A
    /// session waiting on the sequencer (at its in-flight limit, or behind a
    /// full send queue) or on the store must keep draining its outbox: room
    /// traffic goes on arriving meanwhile, and a client that reads everything
    /// would otherwise be closed as too slow (4011) for the server's pause.
    async fn draining<T>(&mut self, wait: impl std::future::Future<Output = T>) -> Result<T, End> {
        let mut wait = std::pin::pin!(wait);
        loop {
            tokio::select! {
                biased;
                done = &mut wait => return Ok(done),
                out = self.rx.rx.recv() => match out {
                    Some(out) => self.write_batch(out).await?,
                    None => return Err(End::Gone),
                },
            }
        }
    }

    /// Handles one text frame from an authenticated client. Errors the
    /// client caused are answered with an error frame; `Err` means the
    /// connection ends (its socket failed while we wrote).
    async fn handle(&mut self, text: &str) -> Result<(), End> {
        let msg = match ClientMsg::parse(text) {
            Ok(msg) => msg,
            Err(e) => {
                self.reply_error(e.code, e.message, None);
                return Ok(());
            }
        };
        let Some(identity) = self.membership.as_ref().map(|m| m.identity.clone()) else { return Ok(()) };
        let app = self.app.clone();
        let (project, me) = (&identity.project, &identity.profile.id);
        match msg {
            ClientMsg::Hello(_) => self.reply_error(ErrorCode::HelloRepeated, "already said hello".into(), None),
            ClientMsg::Send { client_id, to, body } => {
                if let Err(e) = validate::body(&body, app.config.max_body_chars) {
                    let code = match e {
                        validate::FieldError::BodyEmpty => ErrorCode::BodyEmpty,
                        _ => ErrorCode::BodyTooLong,
                    };
                    self.reply_error(code, e.to_string(), Some(client_id));
                    return Ok(());
                }
                if let Conversation::Direct { user } = &to {
                    if let Err((code, message)) = self.check_known(&identity, user).await {
                        self.reply_error(code, message, Some(client_id));
                        return Ok(());
                    }
                }
                let message = NewMessage {
                    project: project.clone(),
                    from: identity.profile.clone(),
                    to,
                    body,
                    client_id: client_id.clone(),
                    ts: now_millis(),
                };
                // At the in-flight limit this waits (the socket is not read,
                // the outbox keeps draining) until the sequencer has queued
                // some of our acks. The waits are boxed: they are rare, and
                // inline they would enlarge every connection's task, idle
                // ones included.
                let in_flight = self.in_flight.clone();
                let permit = match in_flight.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(TryAcquireError::NoPermits) => {
                        match Box::pin(self.draining(in_flight.acquire_owned())).await? {
                            Ok(permit) => permit,
                            Err(_) => return Ok(()),
                        }
                    }
                    Err(TryAcquireError::Closed) => return Ok(()),
                };
                let slot = match app.sends.try_reserve() {
                    Ok(slot) => Some(slot),
                    Err(TrySendError::Full(())) => Box::pin(self.draining(app.sends.reserve())).await?.ok(),
                    Err(TrySendError::Closed(())) => None,
                };
                match slot {
                    Some(slot) => slot.send(SendRequest { message, origin: self.tx.clone(), permit }),
                    None => self.reply_error(
                        ErrorCode::Unavailable,
                        "the server is shutting down; resend later".into(),
                        Some(client_id),
                    ),
                }
            }
            ClientMsg::Typing { to, active } => {
                app.bus.publish(Event::Typing { project: project.clone(), from: me.clone(), to, active })
            }
            ClientMsg::History { conversation, before, limit } => {
                let limit = limit.unwrap_or(50).clamp(1, app.config.history_page_max.max(1));
                match Box::pin(self.draining(app.store.history(project, me, &conversation, before, limit))).await? {
                    Ok(page) => {
                        let (messages, trimmed) = newest_within(page.messages, HISTORY_PAGE_BYTES);
                        let has_more = page.has_more || trimmed;
                        let reply = ServerMsg::History { conversation, messages, has_more };
                        self.tx.push(frame(&reply), Priority::Reliable);
                    }
                    Err(e) => self.store_failed(e),
                }
            }
            ClientMsg::Read { conversation, up_to } => {
                // A marker per made-up user would be a stored row (and an
                // fsync) each: only conversations that can exist.
                if let Conversation::Direct { user } = &conversation {
                    if let Err((code, message)) = self.check_known(&identity, user).await {
                        self.reply_error(code, message, None);
                        return Ok(());
                    }
                }
                match Box::pin(self.draining(app.store.mark_read(project, me, &conversation, up_to))).await? {
                    Ok(marker) => {
                        let reply = ServerMsg::Read {
                            conversation: marker.conversation,
                            up_to: marker.read_up_to.unwrap_or(up_to),
                            unread: marker.count,
                        };
                        app.bus.publish(Event::ToUser {
                            project: project.clone(),
                            user: me.clone(),
                            frame: frame(&reply),
                        });
                    }
                    Err(e) => self.store_failed(e),
                }
            }
            ClientMsg::Ping => {
                self.tx.push(frame(&ServerMsg::Pong), Priority::Reliable);
            }
        }
        Ok(())
    }

    fn store_failed(&self, e: crate::store::StoreError) {
        warn!(error = %e, "store request failed");
        self.reply_error(ErrorCode::Unavailable, "storage is unavailable; try again".into(), None);
    }

    /// A direct message may go to any user the project has seen, online or not.
    async fn check_known(&mut self, identity: &Identity, user: &UserId) -> Result<(), (ErrorCode, String)> {
        let app = &self.app;
        if *user == identity.profile.id
            || self.known_addressees.contains(user)
            || app.hub.is_online(&identity.project, user)
        {
            return Ok(());
        }
        match app.store.user_exists(&identity.project, user).await {
            Ok(true) => {
                self.known_addressees.remember(user);
                Ok(())
            }
            Ok(false) => Err((ErrorCode::UnknownUser, format!("no user {user} in this project"))),
            Err(e) => {
                warn!(error = %e, "user lookup failed");
                Err((ErrorCode::Unavailable, "could not check the addressee; resend later".into()))
            }
        }
    }

    fn reply_error(&self, code: ErrorCode, message: String, client_id: Option<protocol::ClientMsgId>) {
        self.app.metrics.inc(&self.app.metrics.client_errors);
        debug!(?code, %message, "refused a client frame");
        self.tx.push(frame(&error_msg(code, message, client_id)), Priority::Reliable);
    }

    // ------------------------------------------------------------ socket helpers

    /// Interprets one read; `Err` when the connection ends.
    fn read(&mut self, next: Option<Result<Message, WsError>>) -> Result<Incoming, End> {
        match next {
            Some(Ok(Message::Text(text))) => Ok(Incoming::Text(text)),
            Some(Ok(Message::Binary(_))) => Ok(Incoming::Binary),
            Some(Ok(Message::Close(_))) | None => Err(End::Gone),
            Some(Ok(_)) => Ok(Incoming::Control), // tungstenite answers pings itself
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                info!(size, max_size, "message too big");
                Err(End::Close(CloseCode::MessageTooBig))
            }
            Some(Err(e)) => {
                debug!(error = %e, "read failed");
                Err(End::Gone)
            }
        }
    }

    /// Sends one frame now (before the outbox is drained by the main loop).
    async fn send_now(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.timed(|ws| ws.send(Message::Text(text))).await
    }

    /// Runs a socket write under the write timeout; a stalled or failed
    /// write ends the connection.
    async fn timed<'a, F, Fut>(&'a mut self, op: F) -> Result<(), End>
    where
        F: FnOnce(&'a mut WebSocketStream<S>) -> Fut,
        Fut: std::future::Future<Output = Result<(), WsError>> + 'a,
    {
        within(self.app.config.write_timeout, op(&mut self.ws)).await
    }

    async fn close(&mut self, code: CloseCode) {
        info!(code = code.code(), reason = code.reason(), "closing");
        let close = CloseFrame { code: code.code().into(), reason: Utf8Bytes::from_static(code.reason()) };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            if self.ws.close(Some(close)).await.is_ok() {
                // Read until the client answers the close (or goes away).
                while let Some(Ok(_)) = self.ws.next().await {}
            }
        })
        .await;
    }
}

/// Runs a socket write with a deadline: a failed or stalled write ends the
/// connection (no close frame can get through a stalled socket).
/// Writes replayed messages and flushes, in batches as `write_batch` does,
/// each batch under its own write timeout (a page of long messages to a slow
/// reader may take longer than one timeout, and it is making progress).
async fn write_messages<S>(ws: &mut WebSocketStream<S>, page: Vec<ChatMessage>, limit: Duration) -> Result<(), End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut page = page.into_iter().peekable();
    while page.peek().is_some() {
        within(limit, async {
            let (mut frames, mut bytes) = (0, 0);
            while frames < WRITE_BATCH_FRAMES && bytes < WRITE_BATCH_BYTES {
                let Some(message) = page.next() else { break };
                let text = frame(&ServerMsg::Message(message)).frame;
                bytes += text.len();
                frames += 1;
                ws.feed(Message::Text(text)).await?;
            }
            ws.flush().await
        })
        .await?;
    }
    Ok(())
}

async fn within(limit: Duration, write: impl std::future::Future<Output = Result<(), WsError>>) -> Result<(), End> {
    match tokio::time::timeout(limit, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            debug!(error = %e, "write failed");
            Err(End::Gone)
        }
        Err(_) => {
            info!("write stalled; dropping the connection");
            Err(End::Gone)
        }
    }
}

fn error_msg(code: ErrorCode, message: String, client_id: Option<protocol::ClientMsgId>) -> ServerMsg {
    ServerMsg::Error { code, message, client_id }
}

fn error(code: ErrorCode, message: impl Into<String>) -> Utf8Bytes {
    frame(&error_msg(code, message.into(), None)).frame
}

/// The newest of `messages` (oldest first) whose JSON fits in `budget`
/// bytes, at least one; and whether older ones were left out (the client
/// asks for them with the next page's `before`).
fn newest_within(mut messages: Vec<protocol::ChatMessage>, budget: usize) -> (Vec<protocol::ChatMessage>, bool) {
    let mut bytes = 0;
    let mut keep = 0;
    for message in messages.iter().rev() {
        bytes += serde_json::to_string(message).map_or(0, |json| json.len() + 1);
        if bytes > budget && keep > 0 {
            break;
        }
        keep += 1;
    }
    let trimmed = keep < messages.len();
    (messages.split_off(messages.len() - keep), trimmed)
}

fn internal(e: impl std::fmt::Display) -> End {
    warn!(error = %e, "internal error");
    End::Close(CloseCode::InternalError)
}
