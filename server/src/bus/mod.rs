//! The cross-node bus: how an event that reaches connections gets from the
//! node that produced it to every node's hub, this one included.
//!
//! [`LocalBus`] is the one-process bus: publishing is handing the event
//! straight to the local hub (no copy, no task hop). [`RedisBus`] joins
//! nodes: `publish` delivers to the local hub, then puts the event on a
//! pub/sub channel (the frame's bytes as they are, plus the routing fields
//! and the node's id), and a subscriber task on each node feeds what other
//! nodes published to its own hub.
//!
//! What a remote bus must do when its link is slow or down: `publish` must
//! still return at once, with this node's connections served (the local
//! delivery comes first and never waits on the link). What waits for the
//! link is bounded by a queue of a fixed size; when it is full the bus drops
//! events for the *other* nodes, never blocks, and makes up for it: chat
//! messages are in the store, so a receiving node that sees a gap in a
//! project's ids reads the missing range from the store before it delivers
//! anything newer; typing indicators and read-marker frames are ephemeral
//! and may be lost. [`conformance`] is the suite every implementation runs.
//!
//! What stays out of the bus: presence (who is online where; local to the
//! hub until shared presence lands) and everything the store answers
//! (history, resume, read markers' values), which a shared database already
//! makes common to all nodes.

use crate::outbox::{ConnId, Outbound};
use crate::store::LogEntry;
use futures_util::future::BoxFuture;
use protocol::{CloseCode, Conversation, MessageId, Profile, ProjectId, UserId};

#[cfg(test)]
pub(crate) mod conformance;
mod local;
mod order;
mod redis;

pub(crate) use local::LocalBus;
pub(crate) use redis::{RedisBus, RedisOptions};

/// Something every node delivers to its own connections.
// Events are built, moved once into `publish` and dropped: boxing the big
// variant would cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A stored log entry (a chat message, or a change to one), serialized
    /// once (`frame`), for everyone it concerns except the connection it
    /// came from. `origin` is a connection of the publishing node; a remote
    /// bus sends it along with the node's id and other nodes ignore it.
    /// Entries share a project's id sequence: a bus keeps their id order.
    Entry { project: ProjectId, entry: LogEntry, frame: Outbound, origin: Option<ConnId> },
    /// A typing indicator, to the addressee or to the rest of the room.
    Typing { project: ProjectId, from: UserId, to: Conversation, active: bool },
    /// A frame for every connection of one user (a moved read marker).
    ToUser { project: ProjectId, user: UserId, frame: Outbound },
    /// The host application changed a user's profile: every node's hub
    /// keeps it for the user's connections and gives `frame` (a
    /// `user_updated`) to every connection of the project.
    ProfileChanged { project: ProjectId, profile: Profile, frame: Outbound },
    /// A frame for every connection of a project (a `user_erased`).
    ToProject { project: ProjectId, frame: Outbound },
    /// Close every connection of one user with `code` (signed out).
    CloseUser { project: ProjectId, user: UserId, code: CloseCode },
}

/// Publishes events to every node.
pub(crate) trait Bus: Send + Sync {
    /// Hands `event` to every node. Never blocks and never awaits: the
    /// sequencer's deliverer and the sessions call it on their hot path.
    ///
    /// Ordering contract, which the resume cursor relies on:
    /// - events reach each node's hub in the order one publisher publishes
    ///   them (message ids arrive in increasing order);
    /// - this node's connections have the event queued **before `publish`
    ///   returns**. The sequencer pushes a message's ack right after
    ///   publishing it, and a client moves its cursor on an ack: were the
    ///   local delivery to go through the network, ack N could overtake
    ///   message N-1 on another of the sender's tabs, and a reconnect then
    ///   would skip N-1. A remote bus therefore delivers locally first, then
    ///   ships the event to the other nodes, which ignore their own.
    fn publish(&self, event: Event);

    /// Waits until this node has delivered every message of `project` with
    /// an id below `first`. The sequencer calls it before publishing the
    /// messages it just stored, from `first` on, and acking them: those
    /// below were committed before (the store's cursor rule) but may still
    /// be on their way from other nodes, and an ack must not overtake them.
    /// On one node there is nothing to wait for.
    fn catch_up<'a>(&'a self, project: &'a ProjectId, first: MessageId) -> BoxFuture<'a, ()> {
        let _ = (project, first);
        Box::pin(std::future::ready(()))
    }
}
