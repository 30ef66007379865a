//! Resume from a cursor: everything after it that concerns the user,
//! written straight to the socket in pages (one `message` frame each, or
//! `replay` frames of many when the hello asked for `replay_batches`; a
//! change to a message goes as its own `update` frame, in id order among
//! them), then `synced`. Live messages
//! queued meanwhile that the replay already covered are skipped by
//! `Conn::replayed_up_to`.

use super::socket::{within, WRITE_BATCH_BYTES, WRITE_BATCH_FRAMES};
use super::{internal, Conn, End};
use crate::auth::Identity;
use crate::hub::frame;
use crate::metrics::Metrics;
use crate::outbox::{Outbound, OutboxReceiver};
use crate::store::LogEntry;
use futures_util::SinkExt;
use protocol::{CloseCode, MessageId, ServerMsg};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// A `replay` frame is closed once it holds this many bytes of messages.
/// Big enough that a browser handles a long backlog in a few hundred frames
/// rather than a frame a message; small enough that a frame is one ordinary
/// allocation (frames of 64 KiB, grown by doubling, showed as twice the
/// RSS per stalled resume of the unbatched replay: BENCHMARKS.md, scenario 6).
const REPLAY_FRAME_BYTES: usize = 16 * 1024;
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
    ///
    /// With `batches`, the messages go as `replay` frames of about
    /// `REPLAY_FRAME_BYTES` each instead of a `message` frame each: a browser
    /// pays per frame received, and a long backlog is thousands of them.
    pub(super) async fn replay(&mut self, identity: &Identity, cursor: MessageId, batches: bool) -> Result<(), End> {
        let app = self.app.clone();
        let read = |after| app.store.messages_after(&identity.project, &identity.profile.id, after, REPLAY_PAGE);
        let write_timeout = app.config.write_timeout;
        let mut aside = SetAside::new(cursor);
        let _reservation = self.reserve_replay(&mut aside).await?;
        let _running = Running::start(&app.metrics);
        let page_bytes = app.replay_budget.page_bytes();
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
            let page = Page::encode(page, page_bytes, batches);
            let full = page.more;
            last = page.last.unwrap_or(last);
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
            // Counted against a whole read (REPLAY_PAGE), not what a page kept
            // after trimming to its bytes: a page of long messages covers
            // fewer ids while the room's short ones pile up, yet the client
            // still gains on the backlog.
            stalled = if aside.set_aside - set_aside_before >= REPLAY_PAGE as usize { stalled + 1 } else { 0 };
            if stalled >= STALLED_PAGES {
                return Err(End::Close(CloseCode::SlowConsumer));
            }
        }
        while aside.live_up_to > last {
            let page = Page::encode(read(last).await.map_err(internal)?, page_bytes, batches);
            let Some(newest) = page.last else {
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
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// This replay's share of the server-wide budget, waiting for it if the
    /// budget is spent (still emptying the outbox, and giving up if the
    /// connection is closed or the server stops meanwhile).
    async fn reserve_replay(&mut self, aside: &mut SetAside) -> Result<OwnedSemaphorePermit, End> {
        let app = self.app.clone();
        if let Some(reservation) = app.replay_budget.try_reserve() {
            return Ok(reservation);
        }
        app.metrics.inc(&app.metrics.replays_queued);
        let kill = self.rx.kill.clone();
        let reserve = async {
            tokio::select! {
                reservation = app.replay_budget.reserve() => Ok(reservation),
                code = kill.triggered() => Err(End::Close(code)),
                _ = app.shutdown.cancelled() => Err(End::Close(CloseCode::ServerRestart)),
            }
        };
        aside.wait(&mut self.rx, reserve).await
    }
}

/// Counts a running replay in `replays_running` for as long as it lives.
struct Running<'a>(&'a Metrics);

impl<'a> Running<'a> {
    fn start(metrics: &'a Metrics) -> Self {
        metrics.inc(&metrics.replays_running);
        Self(metrics)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.dec(&self.0.replays_running);
    }
}

/// A page read from the store, as the frames to write: at most `max_bytes`
/// of JSON beyond its first message, so what a replay holds while a slow
/// socket takes it is what it reserved.
struct Page {
    frames: Vec<Utf8Bytes>,
    /// The id of the last message in `frames`.
    last: Option<MessageId>,
    /// The store may have more after `last`: the read was full, or trimmed.
    more: bool,
}

impl Page {
    /// With `batches`, messages go in `replay` frames of about
    /// `REPLAY_FRAME_BYTES` each; otherwise a `message` frame per message.
    /// An update is always its own `update` frame (it closes the `replay`
    /// frame being filled, so that order is kept).
    fn encode(entries: Vec<LogEntry>, max_bytes: usize, batches: bool) -> Self {
        let full = entries.len() == REPLAY_PAGE as usize;
        let (mut frames, mut bytes, mut last) = (Vec::new(), 0, None);
        // The `replay` frame being filled, when `batches`.
        let mut batch: Option<ReplayFrame> = None;
        let mut trimmed = false;
        for entry in entries {
            let id = entry.id();
            let (text, batched): (Utf8Bytes, bool) = match entry {
                // Our own types always serialize (see `hub::frame`).
                LogEntry::Message(message) if batches => {
                    (serde_json::to_string(&message).unwrap_or_else(|e| unreachable!("serialize: {e}")).into(), true)
                }
                other => (frame(&other.into_server_msg()).frame, false),
            };
            if last.is_some() && bytes + text.len() > max_bytes {
                trimmed = true;
                break;
            }
            bytes += text.len();
            last = Some(id);
            if !batched {
                frames.extend(batch.take().map(ReplayFrame::finish));
                frames.push(text);
                continue;
            }
            let filling = batch.get_or_insert_with(ReplayFrame::new);
            filling.push(&text);
            if filling.len() >= REPLAY_FRAME_BYTES {
                frames.extend(batch.take().map(ReplayFrame::finish));
            }
        }
        frames.extend(batch.map(ReplayFrame::finish));
        Self { frames, last, more: full || trimmed }
    }
}

/// A `replay` frame built from its messages' own JSON, so that it is
/// measured as it grows; the test below checks it is what
/// `ServerMsg::Replay` serializes to.
struct ReplayFrame {
    text: String,
}

impl ReplayFrame {
    const HEAD: &'static str = r#"{"type":"replay","messages":["#;
    const TAIL: &'static str = "]}";

    fn new() -> Self {
        // Room for a frame's worth and one more short message: most frames
        // are never reallocated.
        let mut text = String::with_capacity(REPLAY_FRAME_BYTES + 1024);
        text.push_str(Self::HEAD);
        Self { text }
    }

    fn len(&self) -> usize {
        self.text.len() + Self::TAIL.len()
    }

    /// Adds one message, given as its JSON object.
    fn push(&mut self, message: &str) {
        if self.text.len() > Self::HEAD.len() {
            self.text.push(',');
        }
        self.text.push_str(message);
    }

    /// The finished frame.
    fn finish(self) -> Utf8Bytes {
        let mut text = self.text;
        text.push_str(Self::TAIL);
        // The frame keeps its allocation while the socket takes it, and a
        // string grown by doubling holds up to twice its length: what the
        // replay budget counts is the length.
        text.shrink_to_fit();
        text.into()
    }
}

/// Writes a page and flushes, in batches as `write_batch` does, each batch
/// under its own write timeout (a page of long messages to a slow reader
/// may take longer than one timeout, and it is making progress). The next
/// page is read only once this one is flushed: the socket paces the replay.
async fn write_messages<S>(ws: &mut WebSocketStream<S>, page: Page, limit: Duration) -> Result<(), End>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut page = page.frames.into_iter().peekable();
    while page.peek().is_some() {
        within(limit, async {
            let (mut frames, mut bytes) = (0, 0);
            while frames < WRITE_BATCH_FRAMES && bytes < WRITE_BATCH_BYTES {
                let Some(text) = page.next() else { break };
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

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Change, ChatMessage, Conversation, Profile, Update, UserId};

    fn message(id: u64, body: String) -> LogEntry {
        let from = Profile { id: UserId::new("7").unwrap(), name: "mks".into(), color: "#e0245e".into() };
        LogEntry::Message(ChatMessage::plain(MessageId(id), 1_764_000_000_000, from, Conversation::Room, body))
    }

    fn update(id: u64, target: u64) -> LogEntry {
        LogEntry::Update(Update {
            id: MessageId(id),
            ts: 1_764_000_000_000,
            target: MessageId(target),
            author: UserId::new("7").unwrap(),
            to: Conversation::Room,
            by: UserId::new("7").unwrap(),
            change: Change::Deleted,
        })
    }

    fn replayed(page: &Page) -> Vec<LogEntry> {
        let mut replayed = Vec::new();
        for text in &page.frames {
            match serde_json::from_str::<ServerMsg>(text).unwrap() {
                ServerMsg::Replay { messages } => {
                    let again = serde_json::to_string(&ServerMsg::Replay { messages: messages.clone() }).unwrap();
                    assert_eq!(text.as_str(), again, "the frame is what ServerMsg::Replay serializes to");
                    replayed.extend(messages.into_iter().map(LogEntry::Message));
                }
                ServerMsg::Update(update) => replayed.push(LogEntry::Update(update)),
                other => panic!("{other:?}"),
            }
        }
        replayed
    }

    #[test]
    fn an_update_in_a_batched_page_is_its_own_frame_between_replay_frames() {
        let entries = vec![message(1, "a".into()), message(2, "b".into()), update(3, 1), message(4, "c".into())];
        let page = Page::encode(entries.clone(), usize::MAX, true);
        assert_eq!(page.frames.len(), 3, "replay [1, 2], update 3, replay [4]");
        assert!(page.frames[1].as_str().starts_with(r#"{"type":"update""#));
        assert_eq!(replayed(&page), entries, "every entry once, in id order");
        assert_eq!(page.last, Some(MessageId(4)));
    }

    #[test]
    fn a_batched_page_is_replay_frames_of_every_message_in_order_split_by_size() {
        let messages: Vec<_> = (1..=100).map(|i| message(i, "x".repeat(2000))).collect();
        let page = Page::encode(messages.clone(), usize::MAX, true);
        assert!(page.frames.len() > 1, "100 messages of 2,000 characters are more than one frame");
        assert!(
            page.frames.iter().all(|f| f.len() < REPLAY_FRAME_BYTES + 2_200),
            "a frame stops once past the batch size"
        );
        assert_eq!(replayed(&page), messages, "every message once, in order");
        assert_eq!((page.last, page.more), (Some(MessageId(100)), false));
    }

    #[test]
    fn a_batched_page_is_trimmed_to_its_bytes_like_a_page_of_message_frames() {
        let messages: Vec<_> = (1..=100).map(|i| message(i, "x".repeat(2000))).collect();
        let one = Page::encode(messages.clone(), 20_000, false);
        let batched = Page::encode(messages.clone(), 20_000, true);
        assert!(one.more && batched.more, "trimmed: the store has more");
        let kept = replayed(&batched);
        assert_eq!(batched.last, kept.last().map(LogEntry::id));
        assert_eq!(kept, messages[..kept.len()], "a prefix, in order");
        assert!(kept.len() >= one.frames.len(), "no fewer messages than unbatched frames hold");
        let long = message(1, "y".repeat(REPLAY_FRAME_BYTES * 2));
        let page = Page::encode(vec![long.clone()], 10, true);
        assert_eq!(replayed(&page), [long], "a message longer than the page still goes");
    }
}
