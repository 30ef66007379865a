//! Reading and writing frames: what a read means, batched writes under
//! the write timeout, and the closing handshake.

use super::{Conn, End};
use crate::hub::frame;
use crate::outbox::Outbound;
use futures_util::{SinkExt, StreamExt};
use protocol::{CloseCode, ErrorCode, ServerMsg};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info};

/// Most frames written before one flush.
pub(super) const WRITE_BATCH_FRAMES: usize = 64;
/// Most bytes written before one flush.
pub(super) const WRITE_BATCH_BYTES: usize = 64 * 1024;
/// How long to wait for the client's answer to our close frame.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);

pub(super) const BINARY_REFUSED: &str = "binary frames are not supported; send JSON text";

/// One frame read from the client.
pub(super) enum Incoming {
    Text(Utf8Bytes),
    Binary,
    /// Ping, pong or a raw frame: nothing to do.
    Control,
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Writes `first` and whatever else is queued (up to a batch), then
    /// flushes once. One timeout covers the whole batch: a timer per frame
    /// would cost more than the frame.
    pub(super) async fn write_batch(&mut self, first: Outbound) -> Result<(), End> {
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

    /// Sends what is still queued, for a graceful shutdown.
    pub(super) async fn drain_outbox(&mut self) {
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
    pub(super) async fn draining<T>(&mut self, wait: impl std::future::Future<Output = T>) -> Result<T, End> {
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

    /// Interprets one read; `Err` when the connection ends.
    pub(super) fn read(&mut self, next: Option<Result<Message, WsError>>) -> Result<Incoming, End> {
        match next {
            Some(Ok(Message::Text(text))) => Ok(Incoming::Text(text)),
            Some(Ok(Message::Binary(_))) => Ok(Incoming::Binary),
            // tungstenite has queued the answering close frame (1002 when
            // the client's code is not one a peer may send).
            Some(Ok(Message::Close(_))) => Err(End::ClosedByClient),
            None => Err(End::Gone),
            Some(Ok(_)) => Ok(Incoming::Control), // tungstenite answers pings itself
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                info!(size, max_size, "message too big");
                Err(End::Close(CloseCode::MessageTooBig))
            }
            Some(Err(WsError::Utf8(e))) => {
                info!(error = %e, "text frame not UTF-8");
                Err(End::Close(CloseCode::InvalidPayload))
            }
            Some(Err(WsError::Protocol(e))) if is_violation(&e) => {
                info!(error = %e, "WebSocket protocol violation");
                Err(End::Close(CloseCode::ProtocolError))
            }
            Some(Err(e)) => {
                debug!(error = %e, "read failed");
                Err(End::Gone)
            }
        }
    }

    /// Answers a client's close frame with ours (RFC 6455 §5.5.1: queued by
    /// tungstenite as it read the client's), then waits briefly for the
    /// client to drop the TCP connection, as the side that closed first.
    pub(super) async fn answer_close(&mut self) {
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            if self.ws.flush().await.is_ok() {
                while let Some(Ok(_)) = self.ws.next().await {}
            }
        })
        .await;
    }

    /// Sends one frame now (before the outbox is drained by the main loop).
    pub(super) async fn send_now(&mut self, text: Utf8Bytes) -> Result<(), End> {
        self.timed(|ws| ws.send(Message::Text(text))).await
    }

    /// Runs a socket write under the write timeout; a stalled or failed
    /// write ends the connection.
    pub(super) async fn timed<'a, F, Fut>(&'a mut self, op: F) -> Result<(), End>
    where
        F: FnOnce(&'a mut WebSocketStream<S>) -> Fut,
        Fut: std::future::Future<Output = Result<(), WsError>> + 'a,
    {
        within(self.app.config.write_timeout, op(&mut self.ws)).await
    }

    pub(super) async fn close(&mut self, code: CloseCode) {
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

/// Whether a read error is the client breaking RFC 6455 (answered with
/// 1002), rather than the connection going away.
fn is_violation(e: &ProtocolError) -> bool {
    !matches!(
        e,
        ProtocolError::ResetWithoutClosingHandshake
            | ProtocolError::SendAfterClosing
            | ProtocolError::ReceivedAfterClosing
            | ProtocolError::HandshakeIncomplete
    )
}

/// Runs a socket write with a deadline: a failed or stalled write ends the
/// connection (no close frame can get through a stalled socket).
pub(super) async fn within(
    limit: Duration,
    write: impl std::future::Future<Output = Result<(), WsError>>,
) -> Result<(), End> {
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

pub(super) fn error_msg(code: ErrorCode, message: String, client_id: Option<protocol::ClientMsgId>) -> ServerMsg {
    ServerMsg::Error { code, message, client_id, target: None }
}

pub(super) fn error(code: ErrorCode, message: impl Into<String>) -> Utf8Bytes {
    frame(&error_msg(code, message.into(), None)).frame
}
