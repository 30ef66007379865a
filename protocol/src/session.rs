//! A sans-I/O client session: what a client must remember between
//! connections. The wasm app drives it with frames; it does no I/O itself.
//!
//! - the cursor: the highest message id received, for `hello.cursor`;
//! - the outbox: sends not yet acknowledged, resent in order with the same
//!   `client_id` after a reconnect (the server deduplicates them);
//! - dedupe: whether a delivered message id was already seen.

use crate::ids::{ClientMsgId, MessageId, UserId};
use crate::messages::{Auth, ClientMsg, Conversation, Hello, ServerMsg};
use crate::PROTOCOL_VERSION;
use std::collections::{BTreeSet, VecDeque};

/// How many delivered ids are remembered for deduplication. Ids arrive in
/// increasing order, so anything at or below the cursor is a duplicate too;
/// this set only matters for history pages (older ids).
const SEEN_CAPACITY: usize = 10_000;

/// Longest client id prefix kept: with `-` and a `u64` counter (at most 20
/// digits) a generated id stays within [`crate::ids::MAX_ID_LEN`].
pub const MAX_PREFIX_LEN: usize = 40;

#[derive(Debug, Clone, Default)]
pub struct ClientSession {
    cursor: Option<MessageId>,
    outbox: VecDeque<Outgoing>,
    seen: BTreeSet<MessageId>,
    /// Prefix making this session's client ids unique across reloads.
    id_prefix: String,
    next_id: u64,
}

/// A send waiting for its ack.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outgoing {
    client_id: ClientMsgId,
    to: Conversation,
    body: String,
    reply_to: Option<MessageId>,
    mentions: Vec<UserId>,
}

impl Outgoing {
    fn frame(&self) -> ClientMsg {
        ClientMsg::Send {
            client_id: self.client_id.clone(),
            to: self.to.clone(),
            body: self.body.clone(),
            reply_to: self.reply_to,
            mentions: self.mentions.clone(),
        }
    }
}

/// What a server frame means for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A new chat message (not seen before).
    NewMessage,
    /// A new change to a message (not seen before).
    NewUpdate,
    /// A message already seen: ignore it.
    Duplicate,
    /// One of our sends was stored.
    Acked(ClientMsgId),
    /// Anything else.
    Other,
}

impl ClientSession {
    /// `id_prefix` should be unique per page load (random, or a timestamp).
    /// Characters an id may not hold are dropped, and it is cut to
    /// [`MAX_PREFIX_LEN`], so every generated `client_id` is valid.
    pub fn new(id_prefix: impl Into<String>) -> Self {
        let mut id_prefix: String = id_prefix
            .into()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .take(MAX_PREFIX_LEN)
            .collect();
        if id_prefix.is_empty() {
            id_prefix.push('c');
        }
        Self { id_prefix, ..Self::default() }
    }

    pub fn cursor(&self) -> Option<MessageId> {
        self.cursor
    }

    /// The hello to send on (re)connecting. It asks for the replay in
    /// batches: the caller takes each message of a [`ServerMsg::Replay`]
    /// as a [`ServerMsg::Message`] of its own.
    pub fn hello(&self, auth: Auth) -> ClientMsg {
        ClientMsg::Hello(Hello { protocol: PROTOCOL_VERSION, auth, cursor: self.cursor, replay_batches: true })
    }

    /// Queues a new message; returns the frame to send now (if connected).
    pub fn send(&mut self, to: Conversation, body: String) -> ClientMsg {
        self.send_with(to, body, None, Vec::new())
    }

    /// As [`send`](Self::send), answering `reply_to` and mentioning `mentions`.
    pub fn send_with(
        &mut self,
        to: Conversation,
        body: String,
        reply_to: Option<MessageId>,
        mentions: Vec<UserId>,
    ) -> ClientMsg {
        self.next_id += 1;
        // The prefix was cleaned in `new`; with '-' and digits the id is valid.
        let client_id = ClientMsgId::new(format!("{}-{}", self.id_prefix, self.next_id))
            .unwrap_or_else(|_| unreachable!("generated client ids are valid"));
        let outgoing = Outgoing { client_id, to, body, reply_to, mentions };
        let frame = outgoing.frame();
        self.outbox.push_back(outgoing);
        frame
    }

    /// Every unacknowledged send, in order: resend these after a welcome.
    pub fn pending(&self) -> impl Iterator<Item = ClientMsg> + '_ {
        self.outbox.iter().map(Outgoing::frame)
    }

    /// Adds sends saved by an earlier page load (what [`pending`](Self::pending)
    /// gave then), after the ones already queued, skipping any whose
    /// `client_id` is queued already; returns those it added. Resending them
    /// with their own `client_id` is safe: the server stores each once.
    pub fn restore(&mut self, saved: impl IntoIterator<Item = ClientMsg>) -> Vec<(ClientMsgId, Conversation, String)> {
        let mut added = Vec::new();
        for msg in saved {
            let ClientMsg::Send { client_id, to, body, reply_to, mentions } = msg else { continue };
            if self.outbox.iter().any(|o| o.client_id == client_id) {
                continue;
            }
            added.push((client_id.clone(), to.clone(), body.clone()));
            self.outbox.push_back(Outgoing { client_id, to, body, reply_to, mentions });
        }
        added
    }

    pub fn pending_len(&self) -> usize {
        self.outbox.len()
    }

    /// Drops a send the server refused for good (e.g. `unknown_user`).
    pub fn forget(&mut self, client_id: &ClientMsgId) {
        self.outbox.retain(|o| o.client_id != *client_id);
    }

    /// Updates the session from a server frame.
    pub fn receive(&mut self, msg: &ServerMsg) -> Received {
        match msg {
            ServerMsg::Message(m) => {
                if self.seen.contains(&m.id) {
                    return Received::Duplicate;
                }
                self.remember(m.id);
                if self.cursor.is_none_or(|c| m.id > c) {
                    self.cursor = Some(m.id);
                }
                Received::NewMessage
            }
            ServerMsg::Update(u) => {
                if self.seen.contains(&u.id) {
                    return Received::Duplicate;
                }
                self.remember(u.id);
                if self.cursor.is_none_or(|c| u.id > c) {
                    self.cursor = Some(u.id);
                }
                Received::NewUpdate
            }
            ServerMsg::Ack { client_id, id, .. } => {
                self.forget(client_id);
                self.remember(*id);
                if self.cursor.is_none_or(|c| *id > c) {
                    self.cursor = Some(*id);
                }
                Received::Acked(client_id.clone())
            }
            ServerMsg::History { messages, .. } => {
                for m in messages {
                    self.remember(m.id);
                }
                Received::Other
            }
            _ => Received::Other,
        }
    }

    fn remember(&mut self, id: MessageId) {
        self.seen.insert(id);
        while self.seen.len() > SEEN_CAPACITY {
            self.seen.pop_first();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::messages::{ChatMessage, Profile};

    fn message(id: u64) -> ServerMsg {
        ServerMsg::Message(ChatMessage::plain(
            MessageId(id),
            0,
            Profile { id: UserId::new("a").unwrap(), name: "a".into(), color: "#000000".into() },
            Conversation::Room,
            "x".into(),
        ))
    }

    #[test]
    fn updates_move_the_cursor_and_are_deduplicated() {
        use crate::messages::{Change, Update};
        let mut s = ClientSession::new("t");
        s.receive(&message(5));
        let a = UserId::new("a").unwrap();
        let update = ServerMsg::Update(Update {
            id: MessageId(6),
            ts: 0,
            target: MessageId(5),
            author: a.clone(),
            to: Conversation::Room,
            by: a,
            change: Change::Deleted,
        });
        assert_eq!(s.receive(&update), Received::NewUpdate);
        assert_eq!(s.cursor(), Some(MessageId(6)), "an update's id is part of the cursor");
        assert_eq!(s.receive(&update), Received::Duplicate);
    }

    #[test]
    fn replies_and_mentions_are_resent_as_they_were() {
        let mut s = ClientSession::new("t");
        let ann = UserId::new("ann").unwrap();
        let sent = s.send_with(Conversation::Room, "@ann yes".into(), Some(MessageId(3)), vec![ann]);
        assert_eq!(s.pending().collect::<Vec<_>>(), vec![sent.clone()]);
        let mut other = ClientSession::new("u");
        other.restore([sent.clone()]);
        assert_eq!(other.pending().collect::<Vec<_>>(), vec![sent]);
    }

    #[test]
    fn sends_saved_by_an_earlier_page_load_are_restored_once_and_in_order() {
        let mut before_reload = ClientSession::new("old");
        before_reload.send(Conversation::Room, "one".into());
        before_reload.send(Conversation::Room, "two".into());
        let saved: Vec<ClientMsg> = before_reload.pending().collect();

        let mut s = ClientSession::new("new");
        let typed_meanwhile = s.send(Conversation::Room, "three".into());
        let added = s.restore(saved.clone());
        assert_eq!(added.iter().map(|(_, _, body)| body.as_str()).collect::<Vec<_>>(), ["one", "two"]);
        assert!(s.restore(saved.clone()).is_empty(), "restoring twice adds nothing");
        assert!(s.restore([ClientMsg::Ping]).is_empty(), "only sends are restored");
        let pending: Vec<ClientMsg> = s.pending().collect();
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[0], typed_meanwhile);
        assert_eq!(pending[1..], saved[..], "same client ids, so the server stores each once");
    }

    #[test]
    fn cursor_follows_the_highest_id_and_duplicates_are_flagged() {
        let mut s = ClientSession::new("t");
        assert_eq!(s.cursor(), None);
        assert_eq!(s.receive(&message(5)), Received::NewMessage);
        assert_eq!(s.receive(&message(7)), Received::NewMessage);
        assert_eq!(s.receive(&message(7)), Received::Duplicate);
        assert_eq!(s.cursor(), Some(MessageId(7)));
        let auth = Auth::Token { token: "t".into(), project: None };
        match s.hello(auth) {
            ClientMsg::Hello(h) => assert_eq!(h.cursor, Some(MessageId(7))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unacked_sends_are_kept_in_order_with_their_ids() {
        let mut s = ClientSession::new("p1");
        let first = s.send(Conversation::Room, "one".into());
        let second = s.send(Conversation::Room, "two".into());
        assert_ne!(first, second);
        assert_eq!(s.pending().collect::<Vec<_>>(), vec![first.clone(), second.clone()]);
        let ClientMsg::Send { client_id, .. } = first else { panic!() };
        let ack = ServerMsg::Ack { client_id: client_id.clone(), id: MessageId(3), ts: 0, duplicate: false };
        assert_eq!(s.receive(&ack), Received::Acked(client_id));
        assert_eq!(s.pending().collect::<Vec<_>>(), vec![second]);
        assert_eq!(s.cursor(), Some(MessageId(3)));
        assert_eq!(s.receive(&message(3)), Received::Duplicate, "our own message echoed back");
    }

    #[test]
    fn a_reconnect_resends_the_same_frames_and_resumes_from_the_cursor() {
        let mut s = ClientSession::new("p");
        let auth =
            || Auth::Guest { name: "a".into(), color: "#000000".into(), project: crate::ProjectId::new("x").unwrap() };
        match s.hello(auth()) {
            ClientMsg::Hello(h) => assert_eq!(h.cursor, None, "a new session asks for no replay"),
            other => panic!("{other:?}"),
        }
        s.receive(&message(10));
        let sent = s.send(Conversation::Room, "lost in the drop".into());
        // The socket died before the ack. After the new welcome:
        assert_eq!(s.pending().collect::<Vec<_>>(), vec![sent.clone()], "same client_id, same body");
        match s.hello(auth()) {
            ClientMsg::Hello(h) => assert_eq!(h.cursor, Some(MessageId(10))),
            other => panic!("{other:?}"),
        }
        // The server had stored it before the drop: the resend is acked as a duplicate.
        let ClientMsg::Send { client_id, .. } = sent else { panic!() };
        let ack = ServerMsg::Ack { client_id: client_id.clone(), id: MessageId(11), ts: 0, duplicate: true };
        assert_eq!(s.receive(&ack), Received::Acked(client_id));
        assert_eq!(s.pending_len(), 0);
    }

    #[test]
    fn an_old_duplicate_ack_does_not_move_the_cursor_back() {
        let mut s = ClientSession::new("p");
        s.receive(&message(50));
        let ClientMsg::Send { client_id, .. } = s.send(Conversation::Room, "x".into()) else { panic!() };
        s.receive(&ServerMsg::Ack { client_id, id: MessageId(7), ts: 0, duplicate: true });
        assert_eq!(s.cursor(), Some(MessageId(50)));
    }

    #[test]
    fn history_pages_are_remembered_without_moving_the_cursor() {
        let mut s = ClientSession::new("p");
        s.receive(&message(20));
        let ServerMsg::Message(old) = message(3) else { panic!() };
        let page = ServerMsg::History { conversation: Conversation::Room, messages: vec![old], has_more: false };
        assert_eq!(s.receive(&page), Received::Other);
        assert_eq!(s.cursor(), Some(MessageId(20)));
        assert_eq!(s.receive(&message(3)), Received::Duplicate);
    }

    #[test]
    fn generated_client_ids_are_always_valid_and_unique() {
        for prefix in ["", "a b<c>", &"x".repeat(200), "ok-1.2_3"] {
            let mut s = ClientSession::new(prefix);
            let mut ids = std::collections::HashSet::new();
            for _ in 0..3 {
                let ClientMsg::Send { client_id, .. } = s.send(Conversation::Room, "x".into()) else { panic!() };
                assert!(ClientMsgId::new(client_id.as_str()).is_ok());
                assert!(ids.insert(client_id));
            }
        }
        let mut s = ClientSession { next_id: u64::MAX - 1, ..ClientSession::new("y".repeat(99)) };
        let ClientMsg::Send { client_id, .. } = s.send(Conversation::Room, "x".into()) else { panic!() };
        assert!(client_id.as_str().len() <= crate::ids::MAX_ID_LEN);
    }

    #[test]
    fn forgetting_a_refused_send() {
        let mut s = ClientSession::new("p");
        let ClientMsg::Send { client_id, .. } = s.send(Conversation::Room, "x".into()) else { panic!() };
        s.forget(&client_id);
        assert_eq!(s.pending_len(), 0);
    }
}
