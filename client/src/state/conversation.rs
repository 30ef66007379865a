//! One conversation's messages, kept sorted as they arrive so a burst of
//! thousands costs a binary search each, not a sort or a scan each.
//!
//! Gaps: live and replayed messages are contiguous (the server delivers
//! every one, in order), and so is a history page. A page loaded apart (a
//! jump to an older message) may leave messages unloaded between it and
//! what was there: the entry above such a hole is marked `gap_before`
//! until a page covering the hole arrives ([`Entries::mark_known`]).

use super::{Delivery, Entry};
use protocol::{ClientMsgId, MessageId};
use std::rc::Rc;

/// The entries, shared between state snapshots: cloning the state (Yew does
/// once per action) copies a pointer, and the vector (of pointers: the
/// entries themselves are never copied) is copied only when an action
/// changes it. Equality is identity, so a component given the same list
/// skips rendering without comparing thousands of messages.
#[derive(Debug, Clone, Default)]
pub struct Entries(Rc<Vec<Rc<Entry>>>);

impl PartialEq for Entries {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for Entries {
    type Target = [Rc<Entry>];
    fn deref(&self) -> &[Rc<Entry>] {
        &self.0
    }
}

impl From<Vec<Entry>> for Entries {
    fn from(v: Vec<Entry>) -> Self {
        Self(Rc::new(v.into_iter().map(Rc::new).collect()))
    }
}

impl Entries {
    /// How many entries are stored messages (sorted by id, before the
    /// pending and failed sends, which have no id yet).
    pub fn stored_len(&self) -> usize {
        self.0.partition_point(|e| e.id.is_some())
    }

    /// Where the stored message `id` is (`Ok`) or would go (`Err`).
    fn find(&self, id: MessageId) -> Result<usize, usize> {
        self.0[..self.stored_len()].binary_search_by_key(&id, |e| e.id.unwrap_or(MessageId(0)))
    }

    /// The index of the first stored message with an id of at least `id`.
    pub fn index_from(&self, id: MessageId) -> usize {
        self.find(id).unwrap_or_else(|i| i)
    }

    pub fn newest_id(&self) -> Option<MessageId> {
        self.0[..self.stored_len()].last().and_then(|e| e.id)
    }

    pub fn oldest_id(&self) -> Option<MessageId> {
        self.0.first().and_then(|e| e.id)
    }

    pub fn contains(&self, id: MessageId) -> bool {
        self.find(id).is_ok()
    }

    /// Our own unsent entry with this client id.
    fn unsent(&self, client_id: &ClientMsgId) -> Option<usize> {
        let stored = self.stored_len();
        self.0[stored..].iter().position(|e| e.client_id.as_ref() == Some(client_id)).map(|i| stored + i)
    }

    /// Files a stored message; false if it was already there.
    /// `contiguous`: it comes live or replayed, so nothing is missing
    /// around it; otherwise (a history page) any hole it opens is marked.
    pub fn insert_stored(&mut self, mut entry: Entry, contiguous: bool) -> bool {
        let Some(id) = entry.id else { return false };
        let Err(at) = self.find(id) else { return false };
        let stored = self.stored_len();
        let v = Rc::make_mut(&mut self.0);
        entry.gap_before = if contiguous || stored == 0 {
            false
        } else if at == stored {
            true // above the newest loaded: unknown until the page says
        } else {
            if at == 0 {
                // Below the oldest loaded: what lies between is unknown.
                Rc::make_mut(&mut v[0]).gap_before = true;
            }
            // Inside a hole or not, as the entry above it was.
            at > 0 && v[at].gap_before
        };
        v.insert(at, Rc::new(entry));
        true
    }

    /// A history page said every message of the conversation with an id
    /// from `lo` up to (not including) `hi` is loaded: no hole is left
    /// there (the ids strictly between two entries are within it).
    pub fn mark_known(&mut self, lo: MessageId, hi: MessageId) {
        let stored = self.stored_len();
        let opens = |i: usize| {
            let (prev, e) = (self.0[i - 1].id.unwrap_or(lo), self.0[i].id.unwrap_or(hi));
            self.0[i].gap_before && prev.0.saturating_add(1) >= lo.0 && e <= hi
        };
        let holes: Vec<usize> = (1..stored).filter(|i| opens(*i)).collect();
        if holes.is_empty() {
            return;
        }
        let v = Rc::make_mut(&mut self.0);
        for i in holes {
            Rc::make_mut(&mut v[i]).gap_before = false;
        }
    }

    /// Changes stored message `id` by `change` (true if it changed
    /// something); the list is copied only then.
    pub fn change(&mut self, id: MessageId, change: impl FnOnce(&mut Entry) -> bool) -> bool {
        let Ok(pos) = self.find(id) else { return false };
        let mut e = Entry::clone(&self.0[pos]);
        if !change(&mut e) {
            return false;
        }
        Rc::make_mut(&mut self.0)[pos] = Rc::new(e);
        true
    }

    pub fn get(&self, id: MessageId) -> Option<&Rc<Entry>> {
        self.find(id).ok().map(|i| &self.0[i])
    }

    /// Our send got its id (by ack or by its stored copy arriving first):
    /// it moves among the stored messages. False if no such unsent entry.
    pub fn settle(&mut self, client_id: &ClientMsgId, id: MessageId, ts: f64) -> bool {
        let Some(pos) = self.unsent(client_id) else { return false };
        let v = Rc::make_mut(&mut self.0);
        let mut entry = Rc::unwrap_or_clone(v.remove(pos));
        if self.contains(id) {
            return true; // the stored copy is already there: drop ours
        }
        entry.id = Some(id);
        entry.ts = ts;
        entry.delivery = Delivery::Sent;
        self.insert_stored(entry, true);
        true
    }

    /// Marks our unsent entry failed; false if there is none.
    pub fn fail(&mut self, client_id: &ClientMsgId, reason: &str) -> bool {
        let Some(pos) = self.unsent(client_id) else { return false };
        Rc::make_mut(&mut Rc::make_mut(&mut self.0)[pos]).delivery = Delivery::Failed(reason.to_owned());
        true
    }

    /// Our failed send is queued again; false if there is none.
    pub fn resend(&mut self, client_id: &ClientMsgId) -> bool {
        let Some(pos) = self.unsent(client_id) else { return false };
        Rc::make_mut(&mut Rc::make_mut(&mut self.0)[pos]).delivery = Delivery::Pending;
        true
    }

    /// Drops our unsent entry (the user gave it up); false if there is none.
    pub fn discard(&mut self, client_id: &ClientMsgId) -> bool {
        let Some(pos) = self.unsent(client_id) else { return false };
        Rc::make_mut(&mut self.0).remove(pos);
        true
    }

    /// Changes the entries that match (copying only those); false if none
    /// matched.
    pub fn update_where(&mut self, matches: impl Fn(&Entry) -> bool, mut change: impl FnMut(&mut Entry)) -> bool {
        if !self.0.iter().any(|e| matches(e)) {
            return false;
        }
        for e in Rc::make_mut(&mut self.0).iter_mut().filter(|e| matches(e)) {
            change(Rc::make_mut(e));
        }
        true
    }

    /// Keeps only the entries that match (the order stays sorted).
    pub fn retain(&mut self, keep: impl Fn(&Entry) -> bool) {
        if self.0.iter().all(|e| keep(e)) {
            return;
        }
        Rc::make_mut(&mut self.0).retain(|e| keep(e));
    }

    /// A new send, after every stored message.
    pub fn push_unsent(&mut self, entry: Entry) {
        Rc::make_mut(&mut self.0).push(Rc::new(entry));
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationState {
    /// Oldest first; pending entries (no id yet) at the end.
    pub entries: Entries,
    pub unread: u32,
    /// How many of the unread mention me.
    pub mentions: u32,
    /// Whether older messages may exist on the server.
    pub has_more: bool,
    /// A history request is in flight.
    pub history_requested: bool,
    /// The `before` of each history request in flight, oldest first: the
    /// server answers a connection's requests in order, and the answer
    /// does not repeat it. (One or two at a time: a `Vec` is enough.)
    pub requested: Vec<Option<MessageId>>,
    /// A first history page arrived (since the last welcome that did not
    /// resume): until then the hook asks for one when this is shown.
    pub loaded: bool,
    /// The newest id we told the server we read.
    pub read_sent: Option<MessageId>,
}

impl ConversationState {
    pub fn newest_id(&self) -> Option<MessageId> {
        self.entries.newest_id()
    }

    pub fn oldest_id(&self) -> Option<MessageId> {
        self.entries.oldest_id()
    }

    /// Whether the whole history is loaded (the start-of-history marker).
    pub fn at_start(&self) -> bool {
        self.loaded && !self.has_more
    }
}
