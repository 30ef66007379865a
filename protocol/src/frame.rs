//! Reading a server frame on the client: [`ServerMsg::from_frame`].
//!
//! Not through `ServerMsg`'s derived `Deserialize`: serde reads an
//! internally tagged enum by first buffering the whole frame into a generic
//! tree and then reading the variant out of it, which compiles every type a
//! frame can hold a second time (for that tree) and made it the largest
//! function of the web app's wasm. Here the frame is read twice instead,
//! straight from the text: once for its `type`, once into the one type
//! that `type` names. The golden tests check that this agrees with the
//! derived reading for every frame (`messages/tests.rs`).

use crate::ids::{ClientMsgId, MessageId, UserId};
use crate::messages::{ChatMessage, Conversation, ErrorCode, Member, Millis, Profile, ServerMsg, Update, Welcome};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::borrow::Cow;

fn read<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_str(text).ok()
}

#[derive(Deserialize)]
struct Tag<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

// The struct variants' fields, as `ServerMsg` declares them (same names,
// same defaults).
#[derive(Deserialize)]
struct Ack {
    client_id: ClientMsgId,
    id: MessageId,
    ts: Millis,
    #[serde(default)]
    duplicate: bool,
}
#[derive(Deserialize)]
struct Presence {
    user: Profile,
    online: bool,
}
#[derive(Deserialize)]
struct Online {
    users: Vec<Profile>,
}
#[derive(Deserialize)]
struct Typing {
    from: UserId,
    to: Conversation,
    active: bool,
}
#[derive(Deserialize)]
struct History {
    conversation: Conversation,
    messages: Vec<ChatMessage>,
    has_more: bool,
}
#[derive(Deserialize)]
struct Users {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    after: Option<UserId>,
    users: Vec<Member>,
    has_more: bool,
}
#[derive(Deserialize)]
struct Search {
    query: String,
    #[serde(default)]
    before: Option<MessageId>,
    results: Vec<ChatMessage>,
    has_more: bool,
}
#[derive(Deserialize)]
struct Read {
    conversation: Conversation,
    up_to: MessageId,
    unread: u32,
    #[serde(default)]
    mentions: u32,
}
#[derive(Deserialize)]
struct Synced {
    #[serde(default)]
    cursor: Option<MessageId>,
}
#[derive(Deserialize)]
struct Error {
    code: ErrorCode,
    message: String,
    #[serde(default)]
    client_id: Option<ClientMsgId>,
    #[serde(default)]
    target: Option<MessageId>,
}
#[derive(Deserialize)]
struct UserUpdated {
    user: Profile,
}
#[derive(Deserialize)]
struct UserErased {
    user: UserId,
}
/// A `replay` frame, its elements kept raw to be read one by one.
#[derive(Deserialize)]
struct Replay<'a> {
    #[serde(borrow)]
    messages: Vec<&'a serde_json::value::RawValue>,
}

impl ServerMsg {
    /// What a client makes of one text frame from the server: `None` for a
    /// frame it cannot read (a newer server's message type), which a client
    /// ignores. A `replay` frame is read element by element, so one
    /// element this client cannot read (say, a newer conversation kind) is
    /// skipped as a `message` frame of it would be, not the whole batch.
    pub fn from_frame(text: &str) -> Option<ServerMsg> {
        let tag: Tag<'_> = serde_json::from_str(text).ok()?;
        Some(match &*tag.kind {
            "message" => ServerMsg::Message(read(text)?),
            "replay" => {
                let batch: Replay<'_> = serde_json::from_str(text).ok()?;
                let messages = batch.messages.into_iter().filter_map(|m| read(m.get())).collect();
                ServerMsg::Replay { messages }
            }
            "update" => ServerMsg::Update(read::<Update>(text)?),
            "ack" => {
                let Ack { client_id, id, ts, duplicate } = read(text)?;
                ServerMsg::Ack { client_id, id, ts, duplicate }
            }
            "welcome" => ServerMsg::Welcome(read::<Welcome>(text)?),
            "presence" => {
                let Presence { user, online } = read(text)?;
                ServerMsg::Presence { user, online }
            }
            "online" => ServerMsg::Online { users: read::<Online>(text)?.users },
            "typing" => {
                let Typing { from, to, active } = read(text)?;
                ServerMsg::Typing { from, to, active }
            }
            "history" => {
                let History { conversation, messages, has_more } = read(text)?;
                ServerMsg::History { conversation, messages, has_more }
            }
            "users" => {
                let Users { query, after, users, has_more } = read(text)?;
                ServerMsg::Users { query, after, users, has_more }
            }
            "search" => {
                let Search { query, before, results, has_more } = read(text)?;
                ServerMsg::Search { query, before, results, has_more }
            }
            "read" => {
                let Read { conversation, up_to, unread, mentions } = read(text)?;
                ServerMsg::Read { conversation, up_to, unread, mentions }
            }
            "synced" => ServerMsg::Synced { cursor: read::<Synced>(text)?.cursor },
            "error" => {
                let Error { code, message, client_id, target } = read(text)?;
                ServerMsg::Error { code, message, client_id, target }
            }
            "pong" => ServerMsg::Pong,
            "user_updated" => ServerMsg::UserUpdated { user: read::<UserUpdated>(text)?.user },
            "user_erased" => ServerMsg::UserErased { user: read::<UserErased>(text)?.user },
            _ => return None,
        })
    }
}
