//! The app's state and every way it can change: pure, so it is tested
//! natively. Effects (socket, storage, timers) live in `services/` and
//! `hooks/` and only dispatch [`Action`]s here.

use client_core::life::Life;
use protocol::{
    ChatMessage, ClientMsgId, Conversation, Limits, Member, MessageId, Millis, Profile, ProjectId, Update, UserId,
    Welcome,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

mod conversation;
mod search;
pub use conversation::{ConversationState, Entries};
pub use search::{Hit, Search};

/// How long a typing indicator lasts without a refresh, in ms.
pub const TYPING_TTL_MS: f64 = 6_000.0;
/// System notices kept on screen at once.
pub(crate) const MAX_NOTICES: usize = 3;
/// How long a notice ("ann joined") stays, in ms.
pub const NOTICE_TTL_MS: f64 = 8_000.0;

/// The connection as the user should see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// No identity yet: show the join form (with why, if we were refused).
    SignedOut {
        reason: Option<String>,
    },
    Connecting,
    Online,
    /// Waiting before the next attempt; `at_ms` is when (Date.now()).
    Reconnecting {
        at_ms: f64,
    },
    /// Not trying until something changes (the browser reports no network);
    /// "retry now" still works.
    Offline {
        reason: String,
    },
}

impl Status {
    /// Whether the user may skip the wait with "retry now".
    pub fn can_retry(&self) -> bool {
        matches!(self, Status::Reconnecting { .. } | Status::Offline { .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Sent, not yet acknowledged.
    Pending,
    Sent,
    /// Refused by the server (with why).
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: Option<MessageId>,
    pub client_id: Option<ClientMsgId>,
    pub from: Profile,
    pub ts: f64,
    pub delivery: Delivery,
    /// The body and what happened to it since (edits, deletion,
    /// reactions), the quote of the message it answers, its mentions.
    pub life: Life,
    /// Messages between the one before and this one may not be loaded (a
    /// jump to an older message loaded its page apart): the list offers to
    /// load them.
    pub gap_before: bool,
}

impl Entry {
    /// A stored message as delivered.
    pub fn stored(mut m: ChatMessage) -> Self {
        let life = Life::of(&mut m);
        Entry {
            id: Some(m.id),
            client_id: m.client_id,
            from: m.from,
            ts: m.ts as f64,
            delivery: Delivery::Sent,
            life,
            gap_before: false,
        }
    }
    /// Whether it can be edited at `now` (if it is mine): stored, not
    /// deleted, and within the server's edit window.
    pub fn editable(&self, window_secs: Option<u64>, now: f64) -> bool {
        self.id.is_some() && !self.life.deleted && window_secs.is_none_or(|w| now - self.ts < w as f64 * 1000.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub id: u64,
    pub text: String,
    /// When it goes (ms), [`NOTICE_TTL_MS`] after the first tick that saw it.
    until: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: Status,
    pub me: Option<Profile>,
    pub project: Option<ProjectId>,
    pub limits: Limits,
    /// Users with an open connection now.
    pub online: BTreeMap<UserId, Profile>,
    /// Everyone seen this session (online or not), for the sidebar.
    pub people: BTreeMap<UserId, Profile>,
    /// People we had direct conversations with before this page load.
    pub remembered: BTreeSet<UserId>,
    pub conversations: HashMap<Conversation, ConversationState>,
    pub active: Conversation,
    /// (who, where) → until when (ms).
    pub typing: HashMap<(UserId, Conversation), f64>,
    pub notices: Vec<Notice>,
    next_notice: u64,
    /// Whether the page is visible: messages arriving in the active
    /// conversation of a hidden tab count as unread.
    pub visible: bool,
    /// The reader scrolled the active conversation up to older messages:
    /// what arrives meanwhile is unread until they are back at the bottom.
    pub reading_back: bool,
    /// The next page of the people directory to ask for: `Some(after)`
    /// (`after` = the last user of the previous page, `None` for the first),
    /// or `None` while a request is out or the directory is complete.
    pub directory_next: Option<Option<UserId>>,
    /// The emoji a message can be reacted with (the welcome's).
    pub reactions: Rc<Vec<String>>,
    /// The last search and its results.
    pub search: Option<Search>,
    /// The message jumped to (from a search result or a quote) in the
    /// active conversation: shown highlighted.
    pub focus: Option<MessageId>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            status: Status::SignedOut { reason: None },
            me: None,
            project: None,
            limits: Limits::default(),
            online: BTreeMap::new(),
            people: BTreeMap::new(),
            remembered: BTreeSet::new(),
            conversations: HashMap::new(),
            active: Conversation::Room,
            typing: HashMap::new(),
            notices: Vec::new(),
            next_notice: 0,
            visible: true,
            reading_back: false,
            directory_next: None,
            reactions: Rc::default(),
            search: None,
            focus: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Several actions applied as one (a burst from the socket: the state
    /// is copied and the page rendered once for all of them).
    Batch(Vec<Action>),
    Status(Status),
    /// `resumed`: the hello carried a cursor, so the server replays what we
    /// missed. Otherwise every conversation must be fetched afresh.
    Welcome {
        welcome: Welcome,
        resumed: bool,
    },
    /// People we talked to before (kept across reloads), shown offline
    /// until presence says otherwise.
    Contacts(Vec<Profile>),
    /// A live message.
    Message(ChatMessage),
    /// A message replayed after a resumed welcome (already counted in the
    /// welcome's unread counts).
    Replayed(ChatMessage),
    /// Our own send, shown as pending until its ack.
    Queued {
        client_id: ClientMsgId,
        to: Conversation,
        body: String,
        reply_to: Option<MessageId>,
        mentions: Vec<UserId>,
        now: f64,
    },
    /// A stored message changed (edited, deleted, reacted to).
    Update(Update),
    Ack {
        client_id: ClientMsgId,
        id: MessageId,
        ts: Millis,
    },
    SendFailed {
        client_id: ClientMsgId,
        reason: String,
    },
    /// A failed send was queued again (Retry): pending once more.
    Resending {
        client_id: ClientMsgId,
    },
    /// A failed send was given up (Delete): it goes from the list.
    Discarded {
        client_id: ClientMsgId,
    },
    Presence {
        user: Profile,
        online: bool,
    },
    /// The whole online list (after the server had to drop presence events).
    Online(Vec<Profile>),
    /// The host application changed this user's profile (`user_updated`).
    UserUpdated(Profile),
    /// The host application erased this user (`user_erased`).
    UserErased(UserId),
    Typing {
        from: UserId,
        to: Conversation,
        active: bool,
        now: f64,
    },
    History {
        conversation: Conversation,
        messages: Vec<ChatMessage>,
        has_more: bool,
    },
    /// A history page below `before` (`None`: the newest) was asked for.
    HistoryRequested {
        conversation: Conversation,
        before: Option<MessageId>,
    },
    Read {
        conversation: Conversation,
        up_to: MessageId,
        unread: u32,
        /// How many of the unread mention me.
        mentions: u32,
    },
    ReadSent {
        conversation: Conversation,
        up_to: MessageId,
    },
    Select(Conversation),
    /// Show message `id` of `conversation` (a search result, a quote's
    /// original), highlighted.
    Jump {
        conversation: Conversation,
        id: MessageId,
    },
    /// A search page was asked for (`before: None`: a new search).
    SearchRequested {
        query: String,
        before: Option<MessageId>,
    },
    /// The answer to a search.
    SearchResults {
        query: String,
        before: Option<MessageId>,
        results: Vec<ChatMessage>,
        has_more: bool,
    },
    /// The page became visible or hidden.
    Visible(bool),
    /// The active conversation was scrolled up from (true) or back to
    /// (false) the newest message.
    ScrolledUp(bool),
    Notice(String),
    /// A page of the people directory (everyone the project has seen).
    Directory {
        members: Vec<Member>,
        has_more: bool,
    },
    /// The next directory page was asked for.
    DirectoryRequested,
    /// Drop typing indicators and notices that expired by `now`.
    Tick {
        now: f64,
    },
    SignOut,
}

impl State {
    pub fn conversation(&self, c: &Conversation) -> Option<&ConversationState> {
        self.conversations.get(c)
    }

    /// Who is typing in `c` right now (not me).
    pub fn typing_in(&self, c: &Conversation) -> Vec<&Profile> {
        let mut names: Vec<&Profile> =
            self.typing.keys().filter(|(_, where_)| where_ == c).filter_map(|(who, _)| self.people.get(who)).collect();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        names
    }

    /// The sidebar's people: everyone seen except me, online first.
    pub fn contacts(&self) -> Vec<(&Profile, bool)> {
        let me = self.me.as_ref().map(|m| &m.id);
        let mut list: Vec<(&Profile, bool)> =
            self.people.values().filter(|p| Some(&p.id) != me).map(|p| (p, self.online.contains_key(&p.id))).collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.name.to_lowercase().cmp(&b.0.name.to_lowercase())));
        list
    }

    /// The people we have direct conversations with (messages this session,
    /// or remembered from before), to remember across reloads.
    pub fn dm_partners(&self) -> Vec<Profile> {
        let talked: BTreeSet<&UserId> = self
            .conversations
            .iter()
            .filter(|(_, c)| !c.entries.is_empty())
            .filter_map(|(k, _)| match k {
                Conversation::Direct { user } => Some(user),
                Conversation::Room => None,
            })
            .chain(&self.remembered)
            .collect();
        talked
            .into_iter()
            .filter_map(|id| self.people.get(id))
            .filter(|p| Some(&p.id) != self.me_id() && !is_placeholder(p))
            .cloned()
            .collect()
    }

    /// Unread messages over every conversation.
    pub fn total_unread(&self) -> u32 {
        self.conversations.values().map(|c| c.unread).sum()
    }

    /// The unread count and unread mentions of `c`.
    pub fn unread_in(&self, c: &Conversation) -> (u32, u32) {
        self.conversation(c).map_or((0, 0), |c| (c.unread, c.mentions))
    }

    pub(crate) fn me_id(&self) -> Option<&UserId> {
        self.me.as_ref().map(|m| &m.id)
    }
}

/// Someone known only by id (from an unread count), until a message, a stored
/// contact or presence tells us their name.
fn placeholder(id: &UserId) -> Profile {
    Profile { id: id.clone(), name: id.to_string(), color: PLACEHOLDER_COLOR.into() }
}

fn is_placeholder(p: &Profile) -> bool {
    p.color == PLACEHOLDER_COLOR && p.name == p.id.as_str()
}

const PLACEHOLDER_COLOR: &str = "#888888";

mod host;
mod reduce;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod life_tests;
#[cfg(test)]
mod tests;
