//! Who is connected where, and fan-out to their outboxes.
//!
//! Architecture invariant: the hub does no I/O and never awaits. It only
//! pushes already-serialized frames into bounded outboxes, so holding its
//! lock is always short. A room broadcast takes a snapshot of the project's
//! connections (`Arc<[OutboxSender]>`, rebuilt lazily after joins/leaves) and
//! pushes outside the lock: messages are ordered by the sequencer already.
//! Presence is pushed under the lock, so that changes reach every outbox in
//! the order they happened (a user's last tab leaving as a new one joins
//! must not arrive as "online" then "offline").

use crate::metrics::Metrics;
use crate::outbox::{ConnId, Outbound, OutboxSender, Priority, Pushed};
use crate::store::LogEntry;
use protocol::{CloseCode, Conversation, Profile, ProjectId, ServerMsg, UserId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

mod cluster;
pub(crate) mod presence_queue;

use presence_queue::{PresenceChange, PresenceQueue};

pub(crate) use cluster::{NodeId, PresenceSink};

#[derive(Default)]
struct OnlineUser {
    profile: Option<Profile>,
    conns: Vec<OutboxSender>,
}

#[derive(Default)]
struct ProjectState {
    users: HashMap<UserId, OnlineUser>,
    /// Users online on other nodes (several nodes only; see `cluster.rs`).
    remote: HashMap<UserId, cluster::RemoteUser>,
    /// Every connection of the project; `None` after a change, rebuilt on
    /// the next broadcast.
    snapshot: Option<Arc<[OutboxSender]>>,
}

impl ProjectState {
    /// Everyone online in the project, on this node or another.
    fn online(&self) -> Vec<Profile> {
        let remote_only = self.remote.iter().filter(|(id, _)| !self.users.contains_key(*id)).map(|(_, r)| &r.profile);
        self.users.values().filter_map(|u| u.profile.clone()).chain(remote_only.cloned()).collect()
    }

    fn is_online(&self, user: &UserId) -> bool {
        self.users.contains_key(user) || self.remote.contains_key(user)
    }

    fn snapshot(&mut self) -> Arc<[OutboxSender]> {
        let users = &self.users;
        self.snapshot.get_or_insert_with(|| users.values().flat_map(|u| u.conns.iter().cloned()).collect()).clone()
    }
}

pub(crate) struct Hub {
    // A std Mutex: the lock is never held across an await, and is shorter
    // than a tokio Mutex's bookkeeping would be.
    projects: Mutex<HashMap<ProjectId, ProjectState>>,
    metrics: Arc<Metrics>,
    /// Told when a user's first connection here opens or their last closes
    /// (a bus across nodes shares it); called under the lock, never blocks.
    presence_sink: OnceLock<PresenceSink>,
    /// Bumped whenever the host application changes an online user's
    /// profile: a connection compares it (one atomic load per frame) to
    /// know when to take its user's new profile from the hub.
    profile_generation: AtomicU64,
    /// Where first joins and last leaves are reported for webhooks (when on).
    presence_webhooks: std::sync::OnceLock<PresenceQueue>,
}

/// Serializes a server message once, for any number of recipients.
pub(crate) fn frame(msg: &ServerMsg) -> Outbound {
    let msg_id = match msg {
        ServerMsg::Message(m) => Some(m.id),
        ServerMsg::Update(u) => Some(u.id),
        _ => None,
    };
    // Serializing our own types to a String cannot fail (no maps with
    // non-string keys, no failing Serialize impls).
    let text = serde_json::to_string(msg).unwrap_or_else(|e| unreachable!("serialize: {e}"));
    Outbound { frame: text.into(), msg_id }
}

impl Hub {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            projects: Mutex::new(HashMap::new()),
            metrics,
            presence_sink: OnceLock::new(),
            profile_generation: AtomicU64::new(0),
            presence_webhooks: std::sync::OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ProjectId, ProjectState>> {
        // A panic while holding the lock cannot leave the maps half-updated
        // in a way that matters more than losing the whole server would.
        self.projects.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pushes one frame to many connections. Counters are added once per
    /// call, not once per recipient: a shared atomic per delivery would be
    /// a measurable part of a large room's fan-out.
    fn push_all<'a>(&self, conns: impl IntoIterator<Item = &'a OutboxSender>, out: &Outbound, priority: Priority) {
        let (mut queued, mut dropped, mut overflowed) = (0, 0, 0);
        for conn in conns {
            match conn.push(out.clone(), priority) {
                Pushed::Queued => queued += 1,
                Pushed::Dropped => dropped += 1,
                Pushed::Overflowed => overflowed += 1,
                Pushed::Closed => {}
            }
        }
        self.metrics.add(&self.metrics.frames_queued, queued);
        if dropped > 0 {
            self.metrics.add(&self.metrics.ephemeral_dropped, dropped);
        }
        if overflowed > 0 {
            self.metrics.add(&self.metrics.outbox_overflows, overflowed);
        }
    }

    /// Reports presence changes to `queue` from now on (a non-blocking push,
    /// made under the lock so changes are queued in the order they happen).
    pub(crate) fn report_presence_to(&self, queue: PresenceQueue) {
        let _ = self.presence_webhooks.set(queue);
    }

    fn report_presence(&self, project: &ProjectId, user: &Profile, online: bool) {
        if let Some(queue) = self.presence_webhooks.get() {
            queue.push(PresenceChange { project: project.clone(), user: user.clone(), online });
        }
    }

    /// Registers a connection. Returns who is online in the project
    /// (including `profile`), consistent with the presence events the
    /// connection will receive after this call. Announces the user if this is
    /// their first connection.
    pub(crate) fn join(&self, project: &ProjectId, profile: &Profile, conn: OutboxSender) -> Vec<Profile> {
        let mut projects = self.lock();
        let state = projects.entry(project.clone()).or_default();
        if !state.users.contains_key(&profile.id) {
            // Online elsewhere in the cluster already: no transition.
            if !state.remote.contains_key(&profile.id) {
                let out = frame(&ServerMsg::Presence { user: profile.clone(), online: true });
                self.push_all(state.snapshot().iter(), &out, Priority::Presence);
                self.report_presence(project, profile, true);
            }
            if let Some(sink) = self.presence_sink.get() {
                sink(project, profile, true);
            }
        }
        let user = state.users.entry(profile.id.clone()).or_default();
        user.profile = Some(profile.clone());
        user.conns.push(conn);
        state.snapshot = None;
        state.online()
    }

    /// Unregisters a connection; announces the user's departure if it was
    /// their last.
    pub(crate) fn leave(&self, project: &ProjectId, user: &UserId, conn: ConnId) {
        let mut projects = self.lock();
        let Some(state) = projects.get_mut(project) else { return };
        let Some(entry) = state.users.get_mut(user) else { return };
        entry.conns.retain(|c| c.id != conn);
        state.snapshot = None;
        if !entry.conns.is_empty() {
            return;
        }
        let profile = state.users.remove(user).and_then(|u| u.profile);
        if let (Some(sink), Some(profile)) = (self.presence_sink.get(), &profile) {
            sink(project, profile, false);
        }
        if let Some(profile) = profile.as_ref().filter(|p| !state.remote.contains_key(&p.id)) {
            self.report_presence(project, profile, false);
        }
        if state.users.is_empty() {
            if state.remote.is_empty() {
                projects.remove(project);
            }
            return;
        }
        if let Some(profile) = profile.filter(|p| !state.remote.contains_key(&p.id)) {
            let out = frame(&ServerMsg::Presence { user: profile, online: false });
            self.push_all(state.snapshot().iter(), &out, Priority::Presence);
        }
    }

    /// Queues the whole online list of the project to `conn`, under the
    /// lock: a presence change made meanwhile arrives after the list, where
    /// it applies, never before it, where the list would undo it.
    pub(crate) fn resync_online(&self, project: &ProjectId, conn: &OutboxSender) {
        let projects = self.lock();
        let users = projects.get(project).map(ProjectState::online).unwrap_or_default();
        conn.push(frame(&ServerMsg::Online { users }), Priority::Reliable);
    }

    /// Whether each of `users` is online, under one lock.
    pub(crate) fn online_flags(&self, project: &ProjectId, users: &[Profile]) -> Vec<bool> {
        let projects = self.lock();
        let state = projects.get(project);
        users.iter().map(|u| state.is_some_and(|s| s.is_online(&u.id))).collect()
    }

    pub(crate) fn is_online(&self, project: &ProjectId, user: &UserId) -> bool {
        self.lock().get(project).is_some_and(|s| s.is_online(user))
    }

    /// Delivers a stored message to everyone it concerns except the
    /// connection it came from (which gets an ack instead).
    pub(crate) fn deliver(&self, project: &ProjectId, entry: &LogEntry, out: &Outbound, origin: Option<ConnId>) {
        // A message goes to its conversation; an update to the conversation
        // of the message it changes.
        let (from, to) = match entry {
            LogEntry::Message(m) => (&m.from.id, &m.to),
            LogEntry::Update(u) => (&u.author, &u.to),
        };
        let targets: Vec<OutboxSender> = {
            let mut projects = self.lock();
            let Some(state) = projects.get_mut(project) else { return };
            match to {
                Conversation::Room => {
                    let everyone = state.snapshot();
                    drop(projects);
                    self.push_all(everyone.iter().filter(|c| Some(c.id) != origin), out, Priority::Reliable);
                    self.metrics.inc(&self.metrics.messages_routed);
                    return;
                }
                Conversation::Direct { user } => {
                    let mut conns = Vec::new();
                    for id in [from, user] {
                        if let Some(u) = state.users.get(id) {
                            conns.extend(u.conns.iter().filter(|c| Some(c.id) != origin).cloned());
                        }
                        if from == user {
                            break; // a note to self: one set of connections
                        }
                    }
                    conns
                }
            }
        };
        self.push_all(targets.iter(), out, Priority::Reliable);
        self.metrics.inc(&self.metrics.messages_routed);
    }

    /// Relays a typing indicator: to the addressee of a direct conversation,
    /// or to everyone else in the room.
    pub(crate) fn typing(&self, project: &ProjectId, from: &UserId, to: &Conversation, active: bool) {
        let out = frame(&ServerMsg::Typing { from: from.clone(), to: to.clone(), active });
        let mut projects = self.lock();
        let Some(state) = projects.get_mut(project) else { return };
        match to {
            Conversation::Room => {
                let everyone = state.snapshot();
                let own: Vec<ConnId> =
                    state.users.get(from).map(|u| u.conns.iter().map(|c| c.id).collect()).unwrap_or_default();
                drop(projects);
                // Not to the typist's own tabs.
                self.push_all(everyone.iter().filter(|c| !own.contains(&c.id)), &out, Priority::Ephemeral);
            }
            Conversation::Direct { user } if user != from => {
                let conns: Vec<OutboxSender> = state.users.get(user).map(|u| u.conns.clone()).unwrap_or_default();
                drop(projects);
                self.push_all(conns.iter(), &out, Priority::Ephemeral);
            }
            Conversation::Direct { .. } => {}
        }
    }

    /// Everyone online in `project`.
    pub(crate) fn online(&self, project: &ProjectId) -> Vec<Profile> {
        self.lock().get(project).map(ProjectState::online).unwrap_or_default()
    }

    /// See [`Hub::profile_of`].
    pub(crate) fn profile_generation(&self) -> u64 {
        self.profile_generation.load(Ordering::Acquire)
    }

    /// The current profile of an online user (changed by
    /// [`Hub::update_profile`] since they joined, perhaps).
    pub(crate) fn profile_of(&self, project: &ProjectId, user: &UserId) -> Option<Profile> {
        self.lock().get(project).and_then(|s| s.users.get(user)).and_then(|u| u.profile.clone())
    }

    /// The host application changed `profile`: online lists show it from
    /// now on, the user's connections stamp their next messages with it,
    /// and every connection of the project gets `out` (a `user_updated`).
    pub(crate) fn update_profile(&self, project: &ProjectId, profile: &Profile, out: &Outbound) {
        let everyone = {
            let mut projects = self.lock();
            let Some(state) = projects.get_mut(project) else { return };
            if let Some(user) = state.users.get_mut(&profile.id) {
                user.profile = Some(profile.clone());
                self.profile_generation.fetch_add(1, Ordering::AcqRel);
            }
            state.snapshot()
        };
        self.push_all(everyone.iter(), out, Priority::Reliable);
    }

    /// Sends one frame to every connection of a project.
    pub(crate) fn to_project(&self, project: &ProjectId, out: &Outbound) {
        let Some(everyone) = self.lock().get_mut(project).map(ProjectState::snapshot) else { return };
        self.push_all(everyone.iter(), out, Priority::Reliable);
    }

    /// Closes every connection of one user with `code`.
    pub(crate) fn close_user(&self, project: &ProjectId, user: &UserId, code: CloseCode) -> usize {
        let conns: Vec<OutboxSender> =
            self.lock().get(project).and_then(|s| s.users.get(user)).map(|u| u.conns.clone()).unwrap_or_default();
        for conn in &conns {
            conn.close(code);
        }
        conns.len()
    }

    /// Sends one frame to every connection of one user (e.g. a moved read marker).
    pub(crate) fn to_user(&self, project: &ProjectId, user: &UserId, out: &Outbound) {
        let conns: Vec<OutboxSender> =
            self.lock().get(project).and_then(|s| s.users.get(user)).map(|u| u.conns.clone()).unwrap_or_default();
        self.push_all(conns.iter(), out, Priority::Reliable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{outbox, OutboxReceiver};
    use protocol::MessageId;

    fn project(s: &str) -> ProjectId {
        ProjectId::new(s).unwrap()
    }
    fn user(id: &str) -> Profile {
        Profile { id: UserId::new(id).unwrap(), name: format!("user {id}"), color: "#000000".into() }
    }
    fn hub() -> Hub {
        Hub::new(Arc::new(Metrics::default()))
    }
    fn drain(rx: &mut OutboxReceiver) -> Vec<ServerMsg> {
        let mut out = Vec::new();
        while let Ok(o) = rx.rx.try_recv() {
            out.push(serde_json::from_str(&o.frame).unwrap());
        }
        out
    }
    fn message(from: &Profile, to: Conversation) -> protocol::ChatMessage {
        protocol::ChatMessage::plain(MessageId(1), 0, from.clone(), to, "hi".into())
    }

    #[test]
    fn presence_joined_once_left_after_last_tab() {
        let hub = hub();
        let p = project("p");
        let (a, b) = (user("a"), user("b"));
        let (tx_a, mut rx_a) = outbox(16);
        assert_eq!(hub.join(&p, &a, tx_a), vec![a.clone()]);
        let (tx_b1, _rx_b1) = outbox(16);
        let (tx_b2, _rx_b2) = outbox(16);
        let (b1, b2) = (tx_b1.id, tx_b2.id);
        assert_eq!(hub.join(&p, &b, tx_b1).len(), 2);
        hub.join(&p, &b, tx_b2);
        assert_eq!(drain(&mut rx_a), vec![ServerMsg::Presence { user: b.clone(), online: true }]);
        hub.leave(&p, &b.id, b1);
        assert!(drain(&mut rx_a).is_empty(), "one tab of b is still open");
        assert!(hub.is_online(&p, &b.id));
        hub.leave(&p, &b.id, b2);
        assert_eq!(drain(&mut rx_a), vec![ServerMsg::Presence { user: b.clone(), online: false }]);
        assert!(!hub.is_online(&p, &b.id));
    }

    #[test]
    fn direct_message_reaches_addressee_tabs_and_sender_other_tabs_only() {
        let hub = hub();
        let p = project("p");
        let (a, b, c) = (user("a"), user("b"), user("c"));
        let (tx_a1, mut rx_a1) = outbox(16);
        let (tx_a2, mut rx_a2) = outbox(16);
        let (tx_b1, mut rx_b1) = outbox(16);
        let (tx_b2, mut rx_b2) = outbox(16);
        let (tx_c, mut rx_c) = outbox(16);
        let (tx_x, mut rx_x) = outbox(16);
        let origin = tx_a1.id;
        hub.join(&p, &a, tx_a1);
        hub.join(&p, &a, tx_a2);
        hub.join(&p, &b, tx_b1);
        hub.join(&p, &b, tx_b2);
        hub.join(&p, &c, tx_c);
        hub.join(&project("other"), &b, tx_x);
        for rx in [&mut rx_a1, &mut rx_a2, &mut rx_b1, &mut rx_b2, &mut rx_c, &mut rx_x] {
            drain(rx);
        }
        let msg = message(&a, Conversation::Direct { user: b.id.clone() });
        hub.deliver(&p, &LogEntry::Message(msg.clone()), &frame(&ServerMsg::Message(msg.clone())), Some(origin));
        let got = vec![ServerMsg::Message(msg)];
        assert_eq!(drain(&mut rx_b1), got);
        assert_eq!(drain(&mut rx_b2), got);
        assert_eq!(drain(&mut rx_a2), got);
        assert!(drain(&mut rx_a1).is_empty(), "the origin gets an ack, not an echo");
        assert!(drain(&mut rx_c).is_empty());
        assert!(drain(&mut rx_x).is_empty(), "same user id in another project");
    }

    #[test]
    fn room_message_stays_in_project() {
        let hub = hub();
        let (a, b) = (user("a"), user("b"));
        let (tx_a, mut rx_a) = outbox(16);
        let (tx_b, mut rx_b) = outbox(16);
        let (tx_x, mut rx_x) = outbox(16);
        hub.join(&project("p"), &a, tx_a);
        hub.join(&project("p"), &b, tx_b);
        hub.join(&project("q"), &user("x"), tx_x);
        drain(&mut rx_a);
        let msg = message(&b, Conversation::Room);
        hub.deliver(&project("p"), &LogEntry::Message(msg.clone()), &frame(&ServerMsg::Message(msg.clone())), None);
        assert_eq!(drain(&mut rx_a).len(), 1);
        assert_eq!(drain(&mut rx_b).len(), 1);
        assert!(drain(&mut rx_x).is_empty());
    }

    #[test]
    fn typing_skips_own_tabs_and_is_dropped_under_pressure() {
        let hub = hub();
        let p = project("p");
        let (a, b) = (user("a"), user("b"));
        let (tx_a, mut rx_a) = outbox(16);
        let (tx_b, mut rx_b) = outbox(4);
        hub.join(&p, &a, tx_a);
        hub.join(&p, &b, tx_b);
        drain(&mut rx_a);
        for _ in 0..10 {
            hub.typing(&p, &a.id, &Conversation::Room, true);
        }
        assert!(drain(&mut rx_a).is_empty());
        assert_eq!(drain(&mut rx_b).len(), 2, "ephemeral frames stop at half of capacity 4");
        assert_eq!(rx_b.kill.code(), None, "dropping typing never closes");
    }

    #[test]
    fn presence_events_reach_others_in_the_order_the_changes_happened() {
        const ROUNDS: usize = 20_000;
        let hub = Arc::new(hub());
        let p = project("p");
        let x = user("x");
        let (tx_o, mut rx_o) = outbox(4 * ROUNDS + 16);
        hub.join(&p, &user("observer"), tx_o);
        let (tx, _rx) = outbox(16);
        let mut conn = tx.id;
        hub.join(&p, &x, tx);
        assert_eq!(drain(&mut rx_o), vec![ServerMsg::Presence { user: x.clone(), online: true }]);
        let mut keep = Vec::new();
        for _ in 0..ROUNDS {
            let (tx, rx) = outbox(16);
            let next = tx.id;
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let leaving = std::thread::spawn({
                let (hub, p, id, barrier) = (hub.clone(), p.clone(), x.id.clone(), barrier.clone());
                move || {
                    barrier.wait();
                    hub.leave(&p, &id, conn);
                }
            });
            barrier.wait();
            hub.join(&p, &x, tx);
            leaving.join().unwrap();
            keep.push(rx);
            conn = next;
        }
        let (mut online, mut changes) = (true, 0);
        for event in drain(&mut rx_o) {
            let ServerMsg::Presence { user, online: now } = event else { continue };
            assert_eq!(user.id, x.id);
            assert_ne!(now, online, "two presence events in a row say online: {now}");
            online = now;
            changes += 1;
        }
        assert!(changes > 0, "no leave ever came before its join: the race was not exercised");
        assert!(online, "x is connected and must be shown online");
        assert!(hub.is_online(&p, &x.id));
    }
}
