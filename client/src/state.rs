//! The app's state and every way it can change: pure, so it is tested
//! natively. Effects (socket, storage, timers) live in `services/` and
//! `hooks/` and only dispatch [`Action`]s here.

use protocol::{
    ChatMessage, ClientMsgId, Conversation, Limits, MessageId, Millis, Profile, ProjectId, UserId, Welcome,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use yew::Reducible;

/// How long a typing indicator lasts without a refresh, in ms.
pub const TYPING_TTL_MS: f64 = 6_000.0;
/// System notices kept on screen.
const MAX_NOTICES: usize = 5;

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
    pub body: String,
    pub ts: f64,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationState {
    /// Oldest first; pending entries (no id yet) at the end.
    pub entries: Vec<Entry>,
    pub unread: u32,
    /// Whether older messages may exist on the server.
    pub has_more: bool,
    /// A history request is in flight.
    pub history_requested: bool,
    /// A first history page arrived (since the last welcome that did not
    /// resume): until then the hook asks for one when this is shown.
    pub loaded: bool,
    /// The newest id we told the server we read.
    pub read_sent: Option<MessageId>,
}

impl ConversationState {
    pub fn newest_id(&self) -> Option<MessageId> {
        self.entries.iter().filter_map(|e| e.id).max()
    }

    pub fn oldest_id(&self) -> Option<MessageId> {
        self.entries.iter().filter_map(|e| e.id).min()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub id: u64,
    pub text: String,
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
    /// Whether we were online before (so the next "online" is a reconnect).
    was_online: bool,
    /// Whether the page is visible: messages arriving in the active
    /// conversation of a hidden tab count as unread.
    pub visible: bool,
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
            was_online: false,
            visible: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
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
        now: f64,
    },
    Ack {
        client_id: ClientMsgId,
        id: MessageId,
        ts: Millis,
    },
    SendFailed {
        client_id: ClientMsgId,
        reason: String,
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
    HistoryRequested(Conversation),
    Read {
        conversation: Conversation,
        up_to: MessageId,
        unread: u32,
    },
    ReadSent {
        conversation: Conversation,
        up_to: MessageId,
    },
    Select(Conversation),
    /// The page became visible or hidden.
    Visible(bool),
    Notice(String),
    /// Drop typing indicators that expired by `now`.
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

    /// Learns a profile from a message or a stored contact. Whoever is online
    /// is described by presence (the newest truth); otherwise the last
    /// message or stored contact seen wins (replacing any placeholder).
    fn learn(&mut self, p: &Profile) {
        if !self.online.contains_key(&p.id) && self.people.get(&p.id) != Some(p) {
            self.people.insert(p.id.clone(), p.clone());
        }
    }

    fn notice(&mut self, text: String) {
        self.next_notice += 1;
        self.notices.push(Notice { id: self.next_notice, text });
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    fn me_id(&self) -> Option<&UserId> {
        self.me.as_ref().map(|m| &m.id)
    }

    /// Files a delivered message, merging it with our pending copy (same
    /// client id) and ignoring it if it is already there (same id).
    fn insert_message(&mut self, m: ChatMessage, count_unread: bool) {
        let Some(me) = self.me_id().cloned() else { return };
        if m.from.id != me {
            self.learn(&m.from);
        }
        let key = m.conversation_for(&me);
        let seen_now = self.active == key && self.visible;
        // A message ends its author's typing there.
        self.typing.remove(&(m.from.id.clone(), key.clone()));
        let conv = self.conversations.entry(key).or_default();
        if conv.entries.iter().any(|e| e.id == Some(m.id)) {
            return;
        }
        if m.from.id == me {
            if let Some(own) =
                conv.entries.iter_mut().find(|e| e.id.is_none() && e.client_id.is_some() && e.client_id == m.client_id)
            {
                own.id = Some(m.id);
                own.ts = m.ts as f64;
                own.delivery = Delivery::Sent;
                sort_entries(&mut conv.entries);
                return;
            }
        }
        let entry_from = m.from.id.clone();
        let entry = Entry {
            id: Some(m.id),
            client_id: m.client_id,
            from: m.from.clone(),
            body: m.body,
            ts: m.ts as f64,
            delivery: Delivery::Sent,
        };
        conv.entries.push(entry);
        sort_entries(&mut conv.entries);
        if count_unread && entry_from != me && !seen_now {
            conv.unread += 1;
        }
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

/// Stored messages by id, pending ones after them in the order they were sent.
fn sort_entries(entries: &mut [Entry]) {
    entries.sort_by_key(|e| e.id.map_or((1, 0), |id| (0, id.0)));
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        match action {
            Action::Status(status) => {
                if status == Status::Online && s.status != Status::Online {
                    s.notice(if s.was_online { "Reconnected" } else { "Connected" }.into());
                    s.was_online = true;
                }
                if matches!(status, Status::Reconnecting { .. } | Status::Offline { .. }) && s.status == Status::Online
                {
                    s.notice("Connection lost; reconnecting".into());
                    s.online.clear();
                }
                s.status = status;
            }
            Action::Welcome { welcome: w, resumed } => {
                s.online = w.online.iter().map(|p| (p.id.clone(), p.clone())).collect();
                for p in &w.online {
                    s.people.insert(p.id.clone(), p.clone());
                }
                for conv in s.conversations.values_mut() {
                    // Requests in flight died with the old connection.
                    conv.history_requested = false;
                    if !resumed {
                        // Nothing will be replayed: fetch each again when shown.
                        conv.loaded = false;
                    }
                    // The welcome's counts replace ours (absent means none).
                    conv.unread = 0;
                }
                for u in &w.unread {
                    s.conversations.entry(u.conversation.clone()).or_default().unread = u.count;
                    if let Conversation::Direct { user } = &u.conversation {
                        s.people.entry(user.clone()).or_insert_with(|| placeholder(user));
                    }
                }
                s.me = Some(w.me);
                s.project = Some(w.project);
                s.limits = w.limits;
            }
            Action::Contacts(list) => {
                for p in &list {
                    if s.me.as_ref().is_some_and(|me| me.id != p.id) {
                        s.learn(p);
                        s.remembered.insert(p.id.clone());
                    }
                }
            }
            Action::Message(m) => s.insert_message(m, true),
            Action::Replayed(m) => s.insert_message(m, false),
            Action::Queued { client_id, to, body, now } => {
                if let Some(me) = s.me.clone() {
                    let conv = s.conversations.entry(to).or_default();
                    conv.entries.push(Entry {
                        id: None,
                        client_id: Some(client_id),
                        from: me,
                        body,
                        ts: now,
                        delivery: Delivery::Pending,
                    });
                }
            }
            Action::Ack { client_id, id, ts } => {
                for conv in s.conversations.values_mut() {
                    if let Some(pos) =
                        conv.entries.iter().position(|e| e.client_id.as_ref() == Some(&client_id) && e.id.is_none())
                    {
                        if conv.entries.iter().any(|e| e.id == Some(id)) {
                            // The stored copy arrived first (e.g. by replay).
                            conv.entries.remove(pos);
                        } else {
                            conv.entries[pos].id = Some(id);
                            conv.entries[pos].ts = ts as f64;
                            conv.entries[pos].delivery = Delivery::Sent;
                            sort_entries(&mut conv.entries);
                        }
                        break;
                    }
                }
            }
            Action::SendFailed { client_id, reason } => {
                for conv in s.conversations.values_mut() {
                    for e in
                        conv.entries.iter_mut().filter(|e| e.client_id.as_ref() == Some(&client_id) && e.id.is_none())
                    {
                        e.delivery = Delivery::Failed(reason.clone());
                    }
                }
            }
            Action::Presence { user, online } => {
                s.people.insert(user.id.clone(), user.clone());
                if s.me.as_ref().is_some_and(|me| me.id == user.id) {
                    // Not sent for our own connections; ignore if it is.
                } else if online {
                    s.online.insert(user.id.clone(), user.clone());
                    s.notice(format!("{} joined", user.name));
                } else {
                    s.online.remove(&user.id);
                    s.typing.retain(|(who, _), _| *who != user.id);
                    s.notice(format!("{} left", user.name));
                }
            }
            Action::Online(users) => {
                // Silent: a correction of what the events said, not news.
                s.online = users.iter().map(|p| (p.id.clone(), p.clone())).collect();
                for p in users {
                    s.people.insert(p.id.clone(), p);
                }
                let online = &s.online;
                s.typing.retain(|(who, _), _| online.contains_key(who));
            }
            Action::UserUpdated(user) => s.user_updated(user),
            Action::UserErased(user) => s.user_erased(&user),
            Action::Typing { from, to, active, now } => {
                // `to` is as the typist named it: a direct one names me.
                let key = match to {
                    Conversation::Direct { .. } => Conversation::Direct { user: from.clone() },
                    room => room,
                };
                if active {
                    s.typing.insert((from, key), now + TYPING_TTL_MS);
                } else {
                    s.typing.remove(&(from, key));
                }
            }
            Action::History { conversation, messages, has_more } => {
                for m in messages {
                    s.insert_message(m, false);
                }
                let conv = s.conversations.entry(conversation).or_default();
                conv.has_more = has_more;
                conv.history_requested = false;
                conv.loaded = true;
            }
            Action::HistoryRequested(c) => {
                s.conversations.entry(c).or_default().history_requested = true;
            }
            Action::Read { conversation, up_to, unread } => {
                let conv = s.conversations.entry(conversation).or_default();
                conv.unread = unread;
                conv.read_sent = conv.read_sent.max(Some(up_to));
            }
            Action::ReadSent { conversation, up_to } => {
                let conv = s.conversations.entry(conversation).or_default();
                conv.read_sent = conv.read_sent.max(Some(up_to));
                conv.unread = 0;
            }
            Action::Select(c) => {
                if let Conversation::Direct { user } = &c {
                    if !s.people.contains_key(user) {
                        return self;
                    }
                }
                s.active = c;
            }
            Action::Visible(visible) => {
                if s.visible == visible {
                    return self;
                }
                s.visible = visible;
            }
            Action::Notice(text) => s.notice(text),
            Action::Tick { now } => {
                let before = s.typing.len();
                s.typing.retain(|_, until| *until > now);
                if before == s.typing.len() {
                    return self;
                }
            }
            // The page's visibility is not the session's: it stays.
            Action::SignOut => return Rc::new(State { visible: s.visible, ..State::default() }),
        }
        Rc::new(s)
    }
}

mod host;
#[cfg(test)]
mod tests;
