//! What the reducer's tests are built from (test builds only).

use super::{Action, State};
use protocol::{ChatMessage, ClientMsgId, Conversation, Limits, MessageId, Profile, ProjectId, UserId, Welcome};
use std::rc::Rc;
use yew::Reducible;

pub fn uid(s: &str) -> UserId {
    UserId::new(s).unwrap()
}
pub fn profile(id: &str) -> Profile {
    Profile { id: uid(id), name: format!("user {id}"), color: "#123456".into() }
}
pub fn cid(s: &str) -> ClientMsgId {
    ClientMsgId::new(s).unwrap()
}
pub fn dm(u: &str) -> Conversation {
    Conversation::Direct { user: uid(u) }
}
/// A welcome for `me` with `online` online, no unread, the default limits.
pub fn welcome(me: &str, online: &[&str]) -> Welcome {
    Welcome {
        protocol: 1,
        me: profile(me),
        project: ProjectId::new("p").unwrap(),
        session_token: "t".into(),
        session_expires: 0,
        online: online.iter().map(|u| profile(u)).collect(),
        unread: vec![],
        limits: Limits::default(),
        reactions: vec!["👍".into(), "🎉".into()],
    }
}
/// Message `id` ("body {id}") from `from` to `to`.
pub fn msg(id: u64, from: &str, to: Conversation) -> ChatMessage {
    ChatMessage::plain(MessageId(id), 1000, profile(from), to, format!("body {id}"))
}
/// As [`msg`], sent from a tab that named it `client_id`.
pub fn from_tab(id: u64, from: &str, to: Conversation, client_id: &str) -> ChatMessage {
    ChatMessage { client_id: Some(cid(client_id)), ..msg(id, from, to) }
}
/// Our own new message, no reply, no mention.
pub fn queued(client_id: &str, to: Conversation, body: &str, now: f64) -> Action {
    Action::Queued { client_id: cid(client_id), to, body: body.into(), reply_to: None, mentions: vec![], now }
}
pub fn run(actions: Vec<Action>) -> Rc<State> {
    actions.into_iter().fold(Rc::new(State::default()), |s, a| s.reduce(a))
}
