//! The [`Bus`] test suite: the two promises of the trait's doc, checked on
//! any number of nodes. Every implementation runs [`run_all`] on nodes that
//! share one bus (a single node for [`super::LocalBus`]; several for a bus
//! across processes, each with its own hub, all in one test process).
//!
//! - Local first: the publishing node's connections have the event queued
//!   when `publish` returns (checked with a non-blocking read right after).
//! - Per-publisher order: every node's connections get one publisher's
//!   events in the order it published them, each once (a node ignores its
//!   own events coming back), and only connections of the event's project.
//!
//! Remote nodes may receive later: their side is polled until the expected
//! frames are there. The deadline only bounds a failing run; nothing here
//! depends on how fast the machine is.

use super::{Bus, Event};
use crate::hub::{frame, Hub};
use crate::outbox::{outbox, OutboxReceiver};
use crate::store::LogEntry;
use protocol::{ChatMessage, Conversation, MessageId, Profile, ProjectId, ServerMsg, UserId};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One node: its hub and its handle on the shared bus.
pub(crate) struct Node {
    pub(crate) hub: Arc<Hub>,
    pub(crate) bus: Arc<dyn Bus>,
}

/// How long remote delivery may take before a run fails.
const REMOTE_DEADLINE: Duration = Duration::from_secs(30);
/// Messages one publisher sends in the ordering check.
const BURST: u64 = 500;

/// Runs every check. `settle` is called after each publishing step, for a
/// bus whose remote side needs driving in a test (a no-op otherwise).
pub(crate) fn run_all(nodes: &[Node], settle: impl Fn(&[Node])) {
    assert!(!nodes.is_empty());
    // Each check uses its own project, so their connections never meet.
    local_connections_have_the_event_before_publish_returns(nodes, "conf-local", &settle);
    one_publishers_events_arrive_in_order_once_everywhere(nodes, "conf-order", &settle);
    the_origin_connection_gets_no_echo_and_other_projects_nothing(nodes, "conf-origin", &settle);
    the_host_applications_events_reach_the_project_on_every_node(nodes, "conf-host", &settle);
    updates_share_the_id_order_with_messages(nodes, "conf-updates", &settle);
}

/// Updates (edits, deletions, reactions) take ids from the messages'
/// sequence: they arrive in id order among them on every node, reach only
/// their conversation, and one that concerns no listener still closes its
/// id (the next message is not held behind a gap).
fn updates_share_the_id_order_with_messages(nodes: &[Node], name: &str, settle: &dyn Fn(&[Node])) {
    let p = project(name);
    let mut rxs = listeners(nodes, &p, "listener");
    settle(nodes);
    discard_queued(&mut rxs);
    let author = profile("author");
    let update = |id: u64, target: u64, to: Conversation| {
        LogEntry::Update(protocol::Update {
            id: MessageId(id),
            ts: 0,
            target: MessageId(target),
            author: author.id.clone(),
            to,
            by: author.id.clone(),
            change: protocol::Change::Deleted,
        })
    };
    let private = Conversation::Direct { user: UserId::new("someone-else").unwrap() };
    publish_message(&nodes[0], &p, message(1, &author), None);
    publish_entry(&nodes[0], &p, update(2, 1, Conversation::Room), None);
    publish_message(&nodes[0], &p, message(3, &author), None);
    publish_entry(&nodes[0], &p, update(4, 1, private), None);
    settle(nodes);
    let names = |got: Vec<ServerMsg>, i: usize| -> Vec<String> {
        got.iter()
            .map(|m| match m {
                ServerMsg::Message(m) => format!("message {}", m.id.0),
                ServerMsg::Update(u) => format!("update {}", u.id.0),
                other => panic!("node {i}: unexpected {other:?}"),
            })
            .collect()
    };
    for (i, rx) in rxs.iter_mut().enumerate() {
        let got = eventually(rx, 3, &|| settle(nodes));
        assert_eq!(names(got, i), ["message 1", "update 2", "message 3"], "node {i}");
    }
    // Another node stores the next id (in a real cluster only after 1-4
    // committed): nothing holds it back on any node.
    publish_message(&nodes[nodes.len() - 1], &p, message(5, &author), None);
    settle(nodes);
    for (i, rx) in rxs.iter_mut().enumerate() {
        let got = eventually(rx, 1, &|| settle(nodes));
        assert_eq!(names(got, i), ["message 5"], "node {i}: update 4 went to no listener here, yet closed its id");
    }
}

/// What the HTTP API publishes: a profile change (kept by every node's hub
/// and announced), a frame for the whole project, and closing a user's
/// connections wherever they are.
fn the_host_applications_events_reach_the_project_on_every_node(nodes: &[Node], name: &str, settle: &dyn Fn(&[Node])) {
    use protocol::CloseCode;
    let p = project(name);
    let other = project(&format!("{name}-other"));
    let mut watchers = listeners(nodes, &p, "watcher");
    let mut targets = listeners(nodes, &p, "target");
    let mut strangers = listeners(nodes, &other, "target");
    settle(nodes);
    for rxs in [&mut watchers, &mut targets, &mut strangers] {
        discard_queued(rxs);
    }
    let renamed = Profile { name: "Renamed".into(), ..profile("target") };
    let updated = ServerMsg::UserUpdated { user: renamed.clone() };
    nodes[0].bus.publish(Event::ProfileChanged {
        project: p.clone(),
        profile: renamed.clone(),
        frame: frame(&updated),
    });
    let erased = ServerMsg::UserErased { user: renamed.id.clone() };
    nodes[0].bus.publish(Event::ToProject { project: p.clone(), frame: frame(&erased) });
    nodes[0].bus.publish(Event::CloseUser { project: p.clone(), user: renamed.id.clone(), code: CloseCode::SignedOut });
    let sentinel = ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(3), unread: 0, mentions: 0 };
    nodes[0].bus.publish(Event::ToProject { project: other.clone(), frame: frame(&sentinel) });
    settle(nodes);
    for (i, rx) in watchers.iter_mut().enumerate() {
        assert_eq!(eventually(rx, 2, &|| settle(nodes)), vec![updated.clone(), erased.clone()], "node {i}");
        assert_eq!(rx.kill.code(), None, "node {i}: only the user's connections are closed");
    }
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node.hub.profile_of(&p, &renamed.id), Some(renamed.clone()), "node {i} keeps the new profile");
    }
    for (i, rx) in targets.iter_mut().enumerate() {
        let deadline = Instant::now() + REMOTE_DEADLINE;
        while rx.kill.code().is_none() && Instant::now() < deadline {
            settle(nodes);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(rx.kill.code(), Some(CloseCode::SignedOut), "node {i}: the user's connection is closed");
    }
    for (i, rx) in strangers.iter_mut().enumerate() {
        assert_eq!(eventually(rx, 1, &|| settle(nodes)), vec![sentinel.clone()], "node {i}: another project's");
        assert_eq!(rx.kill.code(), None, "node {i}: the same id in another project stays connected");
    }
}

fn project(name: &str) -> ProjectId {
    ProjectId::new(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn profile(id: &str) -> Profile {
    Profile { id: UserId::new(id).unwrap_or_else(|e| panic!("{id}: {e}")), name: id.into(), color: "#123456".into() }
}

fn message(id: u64, from: &Profile) -> ChatMessage {
    ChatMessage::plain(MessageId(id), 0, from.clone(), Conversation::Room, format!("m{id}"))
}

/// Publishes a stored message the way the sequencer does.
fn publish_message(node: &Node, project: &ProjectId, msg: ChatMessage, origin: Option<crate::outbox::ConnId>) {
    publish_entry(node, project, LogEntry::Message(msg), origin);
}

/// Publishes a stored log entry (a message or an update) the way the
/// sequencer does: `catch_up` first (a bus that waits there needs the suite
/// on a blocking thread of a tokio runtime), then `publish`.
fn publish_entry(node: &Node, project: &ProjectId, entry: LogEntry, origin: Option<crate::outbox::ConnId>) {
    let caught_up = node.bus.catch_up(project, entry.id());
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.block_on(caught_up),
        Err(_) => assert!(
            futures_util::FutureExt::now_or_never(caught_up).is_some(),
            "this bus's catch_up waits: run the suite in spawn_blocking"
        ),
    }
    let out = frame(&entry.clone().into_server_msg());
    node.bus.publish(Event::Entry { project: project.clone(), entry, frame: out, origin });
}

/// Joins a listener on every node; the presence frames of the joins are
/// read off so that each check sees only what it published.
fn listeners(nodes: &[Node], project: &ProjectId, user: &str) -> Vec<OutboxReceiver> {
    let rxs: Vec<OutboxReceiver> = nodes
        .iter()
        .map(|node| {
            let (tx, rx) = outbox(4 * BURST as usize);
            node.hub.join(project, &profile(user), tx);
            rx
        })
        .collect();
    rxs
}

fn discard_queued(rxs: &mut [OutboxReceiver]) {
    for rx in rxs {
        while rx.rx.try_recv().is_ok() {}
    }
}

/// What is queued right now, parsed.
/// Presence frames are skipped: a bus that shares presence across nodes
/// announces the suite's listeners on the other nodes whenever its link
/// carries them, which is outside what this suite checks.
fn queued(rx: &mut OutboxReceiver) -> Vec<ServerMsg> {
    let mut out = Vec::new();
    while let Ok(o) = rx.rx.try_recv() {
        match serde_json::from_str(&o.frame).unwrap_or_else(|e| panic!("bad frame {}: {e}", o.frame)) {
            ServerMsg::Presence { .. } | ServerMsg::Online { .. } => {}
            msg => out.push(msg),
        }
    }
    out
}

/// Polls until at least `want` frames are queued (or the deadline); what
/// arrived with them is returned too, so a duplicate shows.
fn eventually(rx: &mut OutboxReceiver, want: usize, settle: &dyn Fn()) -> Vec<ServerMsg> {
    let deadline = Instant::now() + REMOTE_DEADLINE;
    let mut got = queued(rx);
    while got.len() < want && Instant::now() < deadline {
        settle();
        std::thread::sleep(Duration::from_millis(5));
        got.extend(queued(rx));
    }
    got
}

fn local_connections_have_the_event_before_publish_returns(nodes: &[Node], name: &str, settle: &dyn Fn(&[Node])) {
    let p = project(name);
    let mut rxs = listeners(nodes, &p, "listener");
    let (typist, reader) = (profile("typist"), profile("reader"));
    let (reader_tx, mut reader_rx) = outbox(16);
    nodes[0].hub.join(&p, &reader, reader_tx);
    settle(nodes);
    discard_queued(&mut rxs);
    // What earlier nodes published may reach a node's listener at any time
    // too: each node publishes as its own typist, and the check looks for
    // that node's own event among what is queued.
    for (i, node) in nodes.iter().enumerate() {
        let id = i as u64 + 1;
        let typist = profile(&format!("{}{i}", typist.id));
        publish_message(node, &p, message(id, &typist), None);
        let local = queued(&mut rxs[i]);
        assert!(
            local.iter().any(|m| matches!(m, ServerMsg::Message(m) if m.id == MessageId(id))),
            "node {i}: message {id} not queued locally when publish returned: {local:?}"
        );
        node.bus.publish(Event::Typing {
            project: p.clone(),
            from: typist.id.clone(),
            to: Conversation::Room,
            active: true,
        });
        let local = queued(&mut rxs[i]);
        assert!(
            local.iter().any(|m| matches!(m, ServerMsg::Typing { from, .. } if *from == typist.id)),
            "node {i}: typing not queued locally: {local:?}"
        );
    }
    let marker = ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(1), unread: 0, mentions: 0 };
    nodes[0].bus.publish(Event::ToUser { project: p.clone(), user: reader.id.clone(), frame: frame(&marker) });
    let reader_got = queued(&mut reader_rx);
    assert_eq!(reader_got.last(), Some(&marker), "a frame for one user is queued to their local tab at once");
}

fn one_publishers_events_arrive_in_order_once_everywhere(nodes: &[Node], name: &str, settle: &dyn Fn(&[Node])) {
    let p = project(name);
    let mut rxs = listeners(nodes, &p, "listener");
    settle(nodes);
    discard_queued(&mut rxs);
    let sender = profile("sender");
    for publisher in 0..nodes.len() {
        let base = publisher as u64 * BURST;
        for id in base + 1..=base + BURST {
            publish_message(&nodes[publisher], &p, message(id, &sender), None);
        }
        settle(nodes);
        for (i, rx) in rxs.iter_mut().enumerate() {
            let got = eventually(rx, BURST as usize, &|| settle(nodes));
            let ids: Vec<u64> = got
                .iter()
                .map(|m| match m {
                    ServerMsg::Message(m) => m.id.0,
                    other => panic!("node {i}: unexpected {other:?}"),
                })
                .collect();
            let want: Vec<u64> = (base + 1..=base + BURST).collect();
            assert_eq!(ids, want, "node {i} got publisher {publisher}'s messages out of order, twice or not at all");
        }
    }
}

fn the_origin_connection_gets_no_echo_and_other_projects_nothing(nodes: &[Node], name: &str, settle: &dyn Fn(&[Node])) {
    let p = project(name);
    let other = project(&format!("{name}-other"));
    let mut rxs = listeners(nodes, &p, "listener");
    let mut strangers = listeners(nodes, &other, "listener");
    let author = profile("author");
    let (origin_tx, mut origin_rx) = outbox(16);
    let origin = origin_tx.id;
    nodes[0].hub.join(&p, &author, origin_tx);
    settle(nodes);
    discard_queued(&mut rxs);
    discard_queued(&mut strangers);
    queued(&mut origin_rx);
    publish_message(&nodes[0], &p, message(1, &author), Some(origin));
    // A marker published after the message: once it has arrived, so has
    // anything the message would have caused on the same node.
    let marker = ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(1), unread: 0, mentions: 0 };
    nodes[0].bus.publish(Event::ToUser { project: p.clone(), user: author.id.clone(), frame: frame(&marker) });
    // The strangers' sentinel, also after the message: when it has arrived,
    // a leak of the message into their project would have too.
    let sentinel = ServerMsg::Read { conversation: Conversation::Room, up_to: MessageId(2), unread: 0, mentions: 0 };
    let listener = UserId::new("listener").unwrap_or_else(|e| panic!("{e}"));
    nodes[0].bus.publish(Event::ToUser { project: other.clone(), user: listener, frame: frame(&sentinel) });
    settle(nodes);
    for (i, rx) in rxs.iter_mut().enumerate() {
        let got = eventually(rx, 1, &|| settle(nodes));
        assert!(matches!(got.as_slice(), [ServerMsg::Message(m)] if m.id == MessageId(1)), "node {i}: {got:?}");
    }
    assert_eq!(queued(&mut origin_rx), vec![marker], "the origin gets no echo of its own message");
    for (i, rx) in strangers.iter_mut().enumerate() {
        let got = eventually(rx, 1, &|| settle(nodes));
        assert_eq!(got, vec![sentinel.clone()], "node {i}: another project's listener got the message");
    }
}
