//! Resume from a cursor: everything after it that concerns the user,
//! written straight to the socket in pages (one `message` frame each, or
//! `replay` frames of many when the hello asked for `replay_batches`), then
//! `synced`. Live messages
//! queued meanwhile that the replay already covered are skipped by
//! `Conn::replayed_up_to`.

use super::socket::{within, WRITE_BATCH_BYTES, WRITE_BATCH_FRAMES};
use super::{internal, Conn, End};
use crate::auth::Identity;
use crate::hub::frame;
use crate::outbox::{Outbound, OutboxReceiver};
use futures_util::SinkExt;
use protocol::{ChatMessage, CloseCode, MessageId, ServerMsg};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Messages read from the store per replay page.
const REPLAY_PAGE: u32 = 1000;
/// Full replay pages in a row during which the room sent this client at
/// least as many live messages as the page held: it is then closed as too
/// slow (4011), as it would be were its outbox to overflow.
const STALLED_PAGES: u32 = 3;

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

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
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
    pub(super) async fn replay(&mut self, identity: &Identity, cursor: MessageId, batches: bool) -> Result<(), End> {
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
            aside.wait(rx, write_messages(ws, page, batches, write_timeout)).await?;
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
            write_messages(&mut self.ws, page, batches, write_timeout).await?;
            self.replayed_up_to = Some(last);
        }
        let synced = ServerMsg::Synced { cursor: (last > MessageId(0)).then_some(last) };
        self.timed(|ws| ws.feed(Message::Text(frame(&synced).frame))).await?;
        self.timed(|ws| ws.flush()).await
    }
}

/// Writes replayed messages and flushes, in batches as `write_batch` does,
/// each batch under its own write timeout (a page of long messages to a slow
/// reader may take longer than one timeout, and it is making progress).
/// With `batches`, each batch is one `replay` frame rather than a `message`
/// frame per message.
async fn write_messages<S>(
    ws: &mut WebSocketStream<S>,
    page: Vec<ChatMessage>,
    batches: bool,
    limit: Duration,
) -> Result<(), End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut page = page.into_iter().peekable();
    while page.peek().is_some() {
        within(limit, async {
            if batches {
                ws.feed(Message::Text(replay_frame(&mut page).into())).await?;
            } else {
                let (mut frames, mut bytes) = (0, 0);
                while frames < WRITE_BATCH_FRAMES && bytes < WRITE_BATCH_BYTES {
                    let Some(message) = page.next() else { break };
                    let text = frame(&ServerMsg::Message(message)).frame;
                    bytes += text.len();
                    frames += 1;
                    ws.feed(Message::Text(text)).await?;
                }
            }
            ws.flush().await
        })
        .await?;
    }
    Ok(())
}

/// One `replay` frame: messages from `page` until it passes
/// `WRITE_BATCH_BYTES` (at least one, however long). Joined from each
/// message's own JSON so the frame is measured as it grows; the test below
/// checks it is what `ServerMsg::Replay` serializes to.
fn replay_frame(page: &mut impl Iterator<Item = ChatMessage>) -> String {
    const HEAD: &str = r#"{"type":"replay","messages":["#;
    let mut text = String::with_capacity(WRITE_BATCH_BYTES + 4096);
    text.push_str(HEAD);
    for message in page.by_ref() {
        if text.len() > HEAD.len() {
            text.push(',');
        }
        // Our own types always serialize (see `hub::frame`).
        text.push_str(&serde_json::to_string(&message).unwrap_or_else(|e| unreachable!("serialize: {e}")));
        if text.len() >= WRITE_BATCH_BYTES {
            break;
        }
    }
    text.push_str("]}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Conversation, Profile, UserId};

    fn message(id: u64, body: String) -> ChatMessage {
        ChatMessage {
            id: MessageId(id),
            ts: 1_764_000_000_000,
            from: Profile { id: UserId::new("7").unwrap(), name: "mks".into(), color: "#e0245e".into() },
            to: Conversation::Room,
            body,
            client_id: None,
        }
    }

    #[test]
    fn a_replay_frame_is_the_servers_replay_message_and_splits_by_size() {
        let page: Vec<_> = (1..=100).map(|i| message(i, "x".repeat(2000))).collect();
        let mut rest = page.clone().into_iter().peekable();
        let mut frames = Vec::new();
        while rest.peek().is_some() {
            frames.push(replay_frame(&mut rest));
        }
        assert!(frames.len() > 1, "100 messages of 2,000 characters are more than one frame");
        let mut replayed = Vec::new();
        for text in &frames {
            assert!(text.len() < WRITE_BATCH_BYTES + 2100, "a frame stops once past the batch size");
            match serde_json::from_str::<ServerMsg>(text).unwrap() {
                ServerMsg::Replay { messages } => {
                    assert_eq!(
                        text,
                        &serde_json::to_string(&ServerMsg::Replay { messages: messages.clone() }).unwrap()
                    );
                    replayed.extend(messages);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(replayed, page, "every message once, in order");
        let long = message(1, "y".repeat(WRITE_BATCH_BYTES));
        assert_eq!(
            replay_frame(&mut std::iter::once(long.clone())),
            serde_json::to_string(&ServerMsg::Replay { messages: vec![long] }).unwrap()
        );
    }
}
