//! Presence across nodes, as the hub sees it: users online on other nodes,
//! told by the bus, merged with this node's own so that `welcome.online`
//! covers the cluster and a `presence` event fires once per transition of
//! the union (online on some node / on none).
//!
//! The hub still does no I/O: the bus calls these methods with what it
//! heard, and hears of this node's own transitions through the
//! [`PresenceSink`].

use super::{frame, Hub, Priority};
use protocol::{Profile, ProjectId, ServerMsg, UserId};
use std::collections::BTreeSet;

/// A node of the cluster, as the bus names it.
pub(crate) type NodeId = u64;

/// Told, under the hub's lock, when a user's first connection on this node
/// opens (`true`) or their last one closes (`false`). Must not block.
pub(crate) type PresenceSink = Box<dyn Fn(&ProjectId, &Profile, bool) + Send + Sync>;

/// A user online on other nodes, and on which.
pub(crate) struct RemoteUser {
    pub(crate) profile: Profile,
    nodes: BTreeSet<NodeId>,
}

impl Hub {
    /// Sets the sink once (a second call is ignored).
    pub(crate) fn set_presence_sink(&self, sink: PresenceSink) {
        let _ = self.presence_sink.set(sink);
    }

    /// `profile` has a connection on `node`.
    pub(crate) fn remote_online(&self, project: &ProjectId, profile: &Profile, node: NodeId) {
        let mut projects = self.lock();
        let state = projects.entry(project.clone()).or_default();
        let was_online = state.is_online(&profile.id);
        let entry = state
            .remote
            .entry(profile.id.clone())
            .or_insert_with(|| RemoteUser { profile: profile.clone(), nodes: BTreeSet::new() });
        entry.profile = profile.clone();
        entry.nodes.insert(node);
        if !was_online {
            let out = frame(&ServerMsg::Presence { user: profile.clone(), online: true });
            self.push_all(state.snapshot().iter(), &out, Priority::Presence);
        }
    }

    /// `user` has no connection left on `node`.
    pub(crate) fn remote_offline(&self, project: &ProjectId, user: &UserId, node: NodeId) {
        let mut projects = self.lock();
        let Some(state) = projects.get_mut(project) else { return };
        let Some(entry) = state.remote.get_mut(user) else { return };
        entry.nodes.remove(&node);
        if !entry.nodes.is_empty() {
            return;
        }
        let gone = state.remote.remove(user).map(|r| r.profile);
        if state.users.is_empty() && state.remote.is_empty() {
            projects.remove(project);
            return;
        }
        if let Some(profile) = gone.filter(|p| !state.users.contains_key(&p.id)) {
            let out = frame(&ServerMsg::Presence { user: profile, online: false });
            self.push_all(state.snapshot().iter(), &out, Priority::Presence);
        }
    }

    /// `node` is dead: everyone who was online only there goes offline.
    pub(crate) fn remote_node_gone(&self, node: NodeId) {
        let entries: Vec<(ProjectId, UserId)> = self
            .lock()
            .iter()
            .flat_map(|(project, state)| {
                state
                    .remote
                    .iter()
                    .filter(|(_, r)| r.nodes.contains(&node))
                    .map(|(user, _)| (project.clone(), user.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (project, user) in entries {
            self.remote_offline(&project, &user, node);
        }
    }

    /// Every other node some user is online on.
    pub(crate) fn remote_nodes(&self) -> BTreeSet<NodeId> {
        self.lock().values().flat_map(|s| s.remote.values().flat_map(|r| r.nodes.iter().copied())).collect()
    }

    /// Everyone with a connection on this node, by project.
    pub(crate) fn local_presence(&self) -> Vec<(ProjectId, Profile)> {
        self.lock()
            .iter()
            .flat_map(|(project, state)| {
                state.users.values().filter_map(|u| u.profile.clone()).map(|p| (project.clone(), p)).collect::<Vec<_>>()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::{outbox, OutboxReceiver};
    use std::sync::{Arc, Mutex};

    fn user(id: &str) -> Profile {
        Profile { id: UserId::new(id).unwrap(), name: format!("user {id}"), color: "#000000".into() }
    }
    fn presence(rx: &mut OutboxReceiver) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        while let Ok(o) = rx.rx.try_recv() {
            if let Ok(ServerMsg::Presence { user, online }) = serde_json::from_str(&o.frame) {
                out.push((user.id.to_string(), online));
            }
        }
        out
    }

    #[test]
    fn a_remote_user_counts_as_online_and_transitions_fire_once_for_the_union() {
        let hub = Hub::new(Arc::new(Metrics::default()));
        let p = ProjectId::new("p").unwrap();
        let (watcher, bob) = (user("watcher"), user("bob"));
        let (tx, mut rx) = outbox(64);
        hub.join(&p, &watcher, tx);
        hub.remote_online(&p, &bob, 7);
        assert_eq!(presence(&mut rx), [("bob".into(), true)]);
        hub.remote_online(&p, &bob, 8);
        let (tab, _tab_rx) = outbox(64);
        let tab_id = tab.id;
        let online = hub.join(&p, &bob, tab);
        assert_eq!(online.iter().filter(|u| u.id == bob.id).count(), 1, "listed once: {online:?}");
        assert!(presence(&mut rx).is_empty(), "bob was online already (on other nodes)");
        hub.remote_offline(&p, &bob.id, 7);
        hub.leave(&p, &bob.id, tab_id);
        assert!(presence(&mut rx).is_empty(), "still online on node 8");
        hub.remote_node_gone(8);
        assert_eq!(presence(&mut rx), [("bob".into(), false)]);
        assert!(!hub.is_online(&p, &bob.id));
        assert!(hub.remote_nodes().is_empty());
    }

    #[test]
    fn the_sink_hears_of_first_and_last_local_connections_only() {
        let hub = Hub::new(Arc::new(Metrics::default()));
        let heard = Arc::new(Mutex::new(Vec::new()));
        let log = heard.clone();
        hub.set_presence_sink(Box::new(move |_, profile, online| {
            log.lock().unwrap().push((profile.id.to_string(), online));
        }));
        let p = ProjectId::new("p").unwrap();
        let a = user("a");
        let (one, _rx1) = outbox(8);
        let (two, _rx2) = outbox(8);
        let (first, second) = (one.id, two.id);
        hub.join(&p, &a, one);
        hub.join(&p, &a, two);
        hub.leave(&p, &a.id, first);
        hub.leave(&p, &a.id, second);
        assert_eq!(*heard.lock().unwrap(), [("a".to_string(), true), ("a".to_string(), false)]);
        assert_eq!(hub.local_presence().len(), 0);
    }
}
