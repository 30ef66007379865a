//! How each [`Action`] changes the [`State`]. Yew keeps the old state while
//! `reduce` runs, so the state is copied once per dispatch: bursts come as
//! one [`Action::Batch`], conversations share their entries ([`Entries`]),
//! and an action that changes nothing returns the old state (no render).

use super::{placeholder, Action, Delivery, Entry, Notice, State, Status, MAX_NOTICES, NOTICE_TTL_MS, TYPING_TTL_MS};
use protocol::{ChatMessage, Conversation, Profile};
use std::rc::Rc;
use yew::Reducible;

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut s = (*self).clone();
        if s.apply(action) {
            Rc::new(s)
        } else {
            self
        }
    }
}

impl State {
    /// Applies one action; false if it changed nothing.
    pub(crate) fn apply(&mut self, action: Action) -> bool {
        match action {
            Action::Batch(actions) => {
                // `|` (not `||`): every action applies, changed or not.
                actions.into_iter().fold(false, |changed, a| self.apply(a) | changed)
            }
            Action::Status(status) => {
                if status == self.status {
                    return false;
                }
                if status != Status::Online && self.status == Status::Online {
                    // Presence resumes with the next welcome.
                    self.online.clear();
                }
                self.status = status;
                true
            }
            Action::Welcome { welcome: w, resumed } => {
                self.online = w.online.iter().map(|p| (p.id.clone(), p.clone())).collect();
                for p in &w.online {
                    self.people.insert(p.id.clone(), p.clone());
                }
                for conv in self.conversations.values_mut() {
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
                    self.conversations.entry(u.conversation.clone()).or_default().unread = u.count;
                    if let Conversation::Direct { user } = &u.conversation {
                        self.people.entry(user.clone()).or_insert_with(|| placeholder(user));
                    }
                }
                self.me = Some(w.me);
                self.project = Some(w.project);
                self.limits = w.limits;
                // Everyone the project knows, page by page, for the sidebar.
                self.directory_next = Some(None);
                true
            }
            Action::Contacts(list) => {
                for p in &list {
                    if self.me.as_ref().is_some_and(|me| me.id != p.id) {
                        self.learn(p);
                        self.remembered.insert(p.id.clone());
                    }
                }
                true
            }
            Action::Message(m) => self.insert_message(m, true),
            Action::Replayed(m) => self.insert_message(m, false),
            Action::Queued { client_id, to, body, now } => {
                let Some(me) = self.me.clone() else { return false };
                self.conversations.entry(to).or_default().entries.push_unsent(Entry {
                    id: None,
                    client_id: Some(client_id),
                    from: me,
                    body,
                    ts: now,
                    delivery: Delivery::Pending,
                });
                true
            }
            Action::Ack { client_id, id, ts } => {
                self.conversations.values_mut().any(|conv| conv.entries.settle(&client_id, id, ts as f64))
            }
            Action::SendFailed { client_id, reason } => {
                self.conversations.values_mut().any(|conv| conv.entries.fail(&client_id, &reason))
            }
            Action::Resending { client_id } => {
                self.conversations.values_mut().any(|conv| conv.entries.resend(&client_id))
            }
            Action::Discarded { client_id } => {
                self.conversations.values_mut().any(|conv| conv.entries.discard(&client_id))
            }
            Action::Presence { user, online } => {
                self.people.insert(user.id.clone(), user.clone());
                if self.me.as_ref().is_some_and(|me| me.id == user.id) {
                    // Not sent for our own connections; ignore if it is.
                } else if online {
                    self.online.insert(user.id.clone(), user.clone());
                    self.notice(format!("{} joined", user.name));
                } else {
                    self.online.remove(&user.id);
                    self.typing.retain(|(who, _), _| *who != user.id);
                    self.notice(format!("{} left", user.name));
                }
                true
            }
            Action::Online(users) => {
                // Silent: a correction of what the events said, not news.
                self.online = users.iter().map(|p| (p.id.clone(), p.clone())).collect();
                for p in users {
                    self.people.insert(p.id.clone(), p);
                }
                let online = &self.online;
                self.typing.retain(|(who, _), _| online.contains_key(who));
                true
            }
            Action::UserUpdated(user) => {
                self.user_updated(user);
                true
            }
            Action::UserErased(user) => {
                self.user_erased(&user);
                true
            }
            Action::Typing { from, to, active, now } => {
                // `to` is as the typist named it: a direct one names me.
                let key = match to {
                    Conversation::Direct { .. } => Conversation::Direct { user: from.clone() },
                    room => room,
                };
                if active {
                    self.typing.insert((from, key), now + TYPING_TTL_MS);
                    true
                } else {
                    self.typing.remove(&(from, key)).is_some()
                }
            }
            Action::History { conversation, messages, has_more } => {
                for m in messages {
                    self.insert_message(m, false);
                }
                let conv = self.conversations.entry(conversation).or_default();
                conv.has_more = has_more;
                conv.history_requested = false;
                conv.loaded = true;
                true
            }
            Action::HistoryRequested(c) => {
                self.conversations.entry(c).or_default().history_requested = true;
                true
            }
            Action::Read { conversation, up_to, unread } => {
                let conv = self.conversations.entry(conversation).or_default();
                conv.unread = unread;
                conv.read_sent = conv.read_sent.max(Some(up_to));
                true
            }
            Action::ReadSent { conversation, up_to } => {
                let conv = self.conversations.entry(conversation).or_default();
                conv.read_sent = conv.read_sent.max(Some(up_to));
                conv.unread = 0;
                true
            }
            Action::Select(c) => {
                if let Conversation::Direct { user } = &c {
                    if !self.people.contains_key(user) {
                        return false;
                    }
                }
                if self.active == c {
                    return false;
                }
                self.active = c;
                // A conversation opens at its newest message.
                self.reading_back = false;
                true
            }
            Action::Directory { members, has_more } => {
                let me = self.me_id().cloned();
                let last = members.last().map(|m| m.user.id.clone());
                for m in members.iter().filter(|m| Some(&m.user.id) != me.as_ref()) {
                    self.learn(&m.user);
                    if m.online {
                        // Presence says so too; the directory may come first.
                        self.online.entry(m.user.id.clone()).or_insert_with(|| m.user.clone());
                    }
                }
                self.directory_next = if has_more { last.map(Some) } else { None };
                true
            }
            Action::DirectoryRequested => self.directory_next.take().is_some(),
            Action::Visible(visible) => std::mem::replace(&mut self.visible, visible) != visible,
            Action::ScrolledUp(up) => std::mem::replace(&mut self.reading_back, up) != up,
            Action::Notice(text) => {
                self.notice(text);
                true
            }
            Action::Tick { now } => {
                let before = (self.typing.len(), self.notices.len());
                self.typing.retain(|_, until| *until > now);
                // A notice's time starts at the first tick that sees it.
                let mut started = false;
                for n in self.notices.iter_mut().filter(|n| n.until.is_none()) {
                    n.until = Some(now + NOTICE_TTL_MS);
                    started = true;
                }
                self.notices.retain(|n| n.until.is_none_or(|until| until > now));
                started || before != (self.typing.len(), self.notices.len())
            }
            Action::SignOut => {
                // The page's visibility is not the session's: it stays.
                *self = State { visible: self.visible, ..State::default() };
                true
            }
        }
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
        self.notices.push(Notice { id: self.next_notice, text, until: None });
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    /// Files a delivered message, merging it with our pending copy (same
    /// client id) and ignoring it if it is already there (same id). False
    /// if nothing changed.
    fn insert_message(&mut self, m: ChatMessage, count_unread: bool) -> bool {
        let Some(me) = self.me_id().cloned() else { return false };
        if m.from.id != me {
            self.learn(&m.from);
        }
        let key = m.conversation_for(&me);
        let seen_now = self.active == key && self.visible && !self.reading_back;
        // A message ends its author's typing there.
        self.typing.remove(&(m.from.id.clone(), key.clone()));
        let conv = self.conversations.entry(key).or_default();
        if conv.entries.contains(m.id) {
            return false;
        }
        if m.from.id == me {
            if let Some(client_id) = &m.client_id {
                if conv.entries.settle(client_id, m.id, m.ts as f64) {
                    return true;
                }
            }
        }
        let counts = count_unread && m.from.id != me && !seen_now;
        conv.entries.insert_stored(Entry {
            id: Some(m.id),
            client_id: m.client_id,
            from: m.from,
            body: m.body,
            ts: m.ts as f64,
            delivery: Delivery::Sent,
        });
        if counts {
            conv.unread += 1;
        }
        true
    }
}
