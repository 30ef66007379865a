//! One WebSocket connection, one task: hello, then (with a cursor) the
//! replay, then a loop that reads client frames, writes queued frames in
//! batches, pings, and closes with the right code.
//!
//! One task per connection (no split halves): the socket is read and written
//! from one `select!`, which keeps an idle connection to a single future.
//! The phases live in their own files: `hello.rs` (sign-in and welcome),
//! `replay.rs` (resume from a cursor), `requests/` (one handler per client
//! request, behind a short dispatcher) and `socket.rs` (reading and writing
//! frames under timeouts).

mod hello;
mod replay;
mod requests;
mod socket;

use crate::addressees::KnownAddressees;
use crate::app::App;
use crate::auth::Identity;
use crate::hub::frame;
use crate::outbox::{outbox, ConnId, OutboxReceiver, OutboxSender, Priority};
use crate::ratelimit::{RateLimiter, Verdict};
use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMsg, CloseCode, ErrorCode, MessageId};
use socket::{Incoming, BINARY_REFUSED};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, warn, Instrument};

/// Why a connection ends.
enum End {
    /// Close with this code.
    Close(CloseCode),
    /// The client sent a close frame: answer it with ours.
    ClosedByClient,
    /// The socket failed or dropped: nothing more to send.
    Gone,
}

/// Runs a connection to its end.
pub(crate) async fn run<S>(ws: WebSocketStream<S>, app: Arc<App>)
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
        profile_generation: 0,
        history_after: None,
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
    /// Shared: each request takes a handle to it, not a copy of its strings.
    identity: Arc<Identity>,
    conn: ConnId,
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
    /// deleted only by the host's erasure, so a hit stays true (see
    /// `addressees.rs`); it spares a store read for every DM of a
    /// conversation after the first.
    known_addressees: KnownAddressees,
    /// The hub's profile generation when this connection last took its
    /// user's profile (see `Conn::refresh_profile`).
    profile_generation: u64,
    /// This connection sees no message with this id or older (a guest in a
    /// project whose history is not open to guests: the room's newest
    /// message when it joined).
    history_after: Option<MessageId>,
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
        match end {
            End::Close(code) => {
                if code == CloseCode::ServerRestart {
                    self.drain_outbox().await;
                }
                self.close(code).await;
            }
            End::ClosedByClient => self.answer_close().await,
            End::Gone => {}
        }
        debug!("connection ended");
    }

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
                            // Name the refused send or change, so the client knows
                            // what to resend.
                            let (client_id, target) = match text.as_deref().map(ClientMsg::parse) {
                                Some(Ok(ClientMsg::Send { client_id, .. })) => (Some(client_id), None),
                                Some(Ok(
                                    ClientMsg::Edit { id, .. } | ClientMsg::Delete { id } | ClientMsg::React { id, .. },
                                )) => (None, Some(id)),
                                _ => (None, None),
                            };
                            let error = protocol::ServerMsg::Error { code: ErrorCode::RateLimited, message: msg, client_id, target };
                            // Reliable: a send must get an ack or an error, and
                            // refusals are bounded by the limiter's kick.
                            self.tx.push(frame(&error), Priority::Reliable);
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

    /// After the host application changed someone's profile (the hub's
    /// generation moved): takes this user's current one, so the messages it
    /// sends from now on carry it. One atomic load when nothing changed.
    fn refresh_profile(&mut self) {
        let generation = self.app.hub.profile_generation();
        if generation == self.profile_generation {
            return;
        }
        self.profile_generation = generation;
        let Some(membership) = &mut self.membership else { return };
        let identity = Arc::make_mut(&mut membership.identity);
        if let Some(profile) = self.app.hub.profile_of(&identity.project, &identity.profile.id) {
            identity.profile = profile;
        }
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
}

fn internal(e: impl std::fmt::Display) -> End {
    warn!(error = %e, "internal error");
    End::Close(CloseCode::InternalError)
}
