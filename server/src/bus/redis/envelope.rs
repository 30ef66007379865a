//! The wire envelope: what one node publishes on the channel for the
//! others, serialized as JSON.

use protocol::{Conversation, Profile, ProjectId, UserId};
use serde::{Deserialize, Serialize};

/// What travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Envelope {
    pub(super) node: u64,
    pub(super) project: ProjectId,
    #[serde(flatten)]
    pub(super) event: WireEvent,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum WireEvent {
    /// The `message` frame as the publishing node serialized it.
    Message {
        frame: String,
    },
    Typing {
        from: UserId,
        to: Conversation,
        active: bool,
    },
    ToUser {
        user: UserId,
        frame: String,
    },
    /// The host application changed a user's profile (`frame`: `user_updated`).
    ProfileChanged {
        profile: Profile,
        frame: String,
    },
    /// A frame for every connection of the project.
    ToProject {
        frame: String,
    },
    /// Close every connection of the user with this close code.
    CloseUser {
        user: UserId,
        code: u16,
    },
    /// The user's first connection on the node opened, or their last closed.
    Presence {
        user: Profile,
        online: bool,
    },
}
