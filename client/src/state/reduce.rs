//! How each [`Action`] changes the [`State`]. Yew keeps the old state while
//! `reduce` runs, so the state is copied once per dispatch: bursts come as
//! one [`Action::Batch`], conversations share their entries ([`Entries`]),
//! and an action that changes nothing returns the old state (no render).

use super::{placeholder, Action, Delivery, Entry, Notice, State, Status, MAX_NOTICES, NOTICE_TTL_MS, TYPING_TTL_MS};
use client_core::life::{requote, Life};
use protocol::{Change, ChatMessage, Conversation, MessageId, Profile, Update};
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
                    conv.requested.clear();
                    if !resumed {
                        // Nothing will be replayed: fetch each again when shown.
                        conv.loaded = false;
                    }
                    // The welcome's counts replace ours (absent means none).
                    conv.unread = 0;
                    conv.mentions = 0;
                }
                if let Some(search) = &mut self.search {
                    search.loading = false;
                }
                for u in &w.unread {
                    let conv = self.conversations.entry(u.conversation.clone()).or_default();
                    conv.unread = u.count;
                    conv.mentions = u.mentions;
                    if let Conversation::Direct { user } = &u.conversation {
                        self.people.entry(user.clone()).or_insert_with(|| placeholder(user));
                    }
                }
                self.me = Some(w.me);
                self.project = Some(w.project);
                self.limits = w.limits;
                self.reactions = Rc::new(w.reactions);
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
            Action::Message(m) => self.insert_message(m, true, true),
            Action::Replayed(m) => self.insert_message(m, false, true),
            Action::Queued { client_id, to, body, reply_to, mentions, now } => {
                let Some(me) = self.me.clone() else { return false };
                let entries = &mut self.conversations.entry(to).or_default().entries;
                // Shown with the quote the server will make (it sends its own).
                let quote = reply_to.and_then(|id| entries.get(id).map(|e| e.life.quote(id, &e.from)));
                entries.push_unsent(Entry {
                    id: None,
                    client_id: Some(client_id),
                    from: me,
                    ts: now,
                    delivery: Delivery::Pending,
                    life: Life::new(body, quote, mentions),
                    gap_before: false,
                });
                true
            }
            Action::Update(update) => self.apply_update(&update),
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
            Action::History { conversation, messages, has_more } => self.history(conversation, messages, has_more),
            Action::HistoryRequested { conversation, before } => {
                let conv = self.conversations.entry(conversation).or_default();
                conv.requested.push(before);
                conv.history_requested = true;
                true
            }
            Action::Read { conversation, up_to, unread, mentions } => {
                let conv = self.conversations.entry(conversation).or_default();
                conv.unread = unread;
                conv.mentions = mentions;
                conv.read_sent = conv.read_sent.max(Some(up_to));
                true
            }
            Action::ReadSent { conversation, up_to } => {
                let conv = self.conversations.entry(conversation).or_default();
                conv.read_sent = conv.read_sent.max(Some(up_to));
                conv.unread = 0;
                conv.mentions = 0;
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
                self.focus = None;
                // A conversation opens at its newest message.
                self.reading_back = false;
                true
            }
            Action::Jump { conversation, id } => {
                let selected = self.apply(Action::Select(conversation.clone()));
                if self.active != conversation {
                    return selected; // a direct conversation with nobody we know
                }
                self.focus = Some(id);
                true
            }
            Action::SearchRequested { query, before } => self.search_requested(query, before),
            Action::SearchResults { query, before, results, has_more } => {
                self.search_results(&query, before, results, has_more)
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
            Action::ScrolledUp(up) => {
                // Back at the newest: the message jumped to has been left.
                let unfocused = !up && self.focus.take().is_some();
                std::mem::replace(&mut self.reading_back, up) != up || unfocused
            }
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
    /// client id), or with the copy already there (same id: it may be
    /// newer or older, see `Life::merge`). `contiguous`: live or replayed,
    /// not from a history page. False if nothing changed.
    fn insert_message(&mut self, m: ChatMessage, count_unread: bool, contiguous: bool) -> bool {
        let Some(me) = self.me_id().cloned() else { return false };
        if m.from.id != me {
            self.learn(&m.from);
        }
        let key = m.conversation_for(&me);
        let seen_now = self.active == key && self.visible && !self.reading_back;
        // A message ends its author's typing there.
        self.typing.remove(&(m.from.id.clone(), key.clone()));
        let conv = self.conversations.entry(key).or_default();
        let entry = Entry::stored(m);
        let id = entry.id.unwrap_or(MessageId(0));
        if conv.entries.contains(id) {
            return conv.entries.change(id, |e| e.life.merge(entry.life));
        }
        if entry.from.id == me {
            if let Some(client_id) = &entry.client_id {
                if conv.entries.settle(client_id, id, entry.ts) {
                    conv.entries.change(id, |e| e.life.merge(entry.life));
                    return true;
                }
            }
        }
        let counts = count_unread && entry.from.id != me && !seen_now;
        let mentions_me = entry.life.mentions(&me);
        conv.entries.insert_stored(entry, contiguous);
        if counts {
            conv.unread += 1;
            conv.mentions += u32::from(mentions_me);
        }
        true
    }

    /// Files a history page (oldest first) of messages below the `before`
    /// asked for, and notes which stretch it proves complete.
    fn history(&mut self, conversation: Conversation, messages: Vec<ChatMessage>, has_more: bool) -> bool {
        let requested = &mut self.conversations.entry(conversation.clone()).or_default().requested;
        let asked = (!requested.is_empty()).then(|| requested.remove(0));
        let (first, last) = (messages.first().map(|m| m.id), messages.last().map(|m| m.id));
        for m in messages {
            self.insert_message(m, false, false);
        }
        let conv = self.conversations.entry(conversation).or_default();
        // Nothing is missing from the page's oldest up to what was asked
        // for (everything below it, if there is no more); if the answer is
        // not to the request we think, only the page itself is known.
        let top = match asked {
            Some(None) => MessageId(u64::MAX),
            Some(Some(before)) if last.is_none_or(|l| l < before) => before,
            _ => last.unwrap_or(MessageId(0)),
        };
        let bottom = if has_more { first.unwrap_or(top) } else { MessageId(0) };
        conv.entries.mark_known(bottom, top);
        // `has_more` is about what lies below the page: the conversation's
        // when the page reaches its oldest loaded message.
        if first.is_none_or(|f| Some(f) <= conv.entries.oldest_id()) {
            conv.has_more = has_more;
        }
        conv.history_requested = !conv.requested.is_empty();
        // Loaded means the newest page is: not a page loaded apart (a jump).
        if !matches!(asked, Some(Some(_))) {
            conv.loaded = true;
        }
        true
    }

    /// Applies a change to a stored message wherever it shows: the message
    /// itself, quotes of it in replies, search results.
    fn apply_update(&mut self, u: &Update) -> bool {
        let Some(me) = self.me_id().cloned() else { return false };
        let mut changed = false;
        if let Some(conv) = self.conversations.get_mut(&u.conversation_for(&me)) {
            changed |= conv.entries.change(u.target, |e| e.life.apply(u.id, &u.change));
            // A quote shows the body, not the reactions: only an edit or a
            // deletion changes (and copies) the replies quoting it.
            if !matches!(u.change, Change::Reactions { .. }) {
                let quotes = |e: &Entry| e.life.reply_to.as_ref().is_some_and(|q| q.id == u.target);
                changed |= conv.entries.update_where(quotes, |e| {
                    if let Some(q) = &mut e.life.reply_to {
                        requote(q, &u.change);
                    }
                });
            }
        }
        if let Some(search) = &mut self.search {
            for hit in search.hits.iter_mut().filter(|h| h.entry.id == Some(u.target)) {
                changed |= hit.entry.life.apply(u.id, &u.change);
            }
        }
        changed
    }
}
