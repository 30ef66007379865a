//! What the composer and the message actions do in one conversation:
//! replying (the composer shows the quote), editing (↑ in an empty
//! composer takes my last message), deleting, reacting, showing a quoted
//! message, and who a message mentions (by id, from `@name`).

use crate::components::composer::{self, Draft, Mode};
use crate::components::message_view::MessageActions;
use crate::hooks::use_chat::Chat;
use crate::state::{Delivery, Entry};
use client_core::compose::{mentioned, name_matches};
use protocol::{Conversation, MessageId, Profile, UserId};
use std::rc::Rc;
use yew::prelude::*;

/// People offered for one `@` query at most.
const SUGGESTIONS: usize = 6;

pub struct Compose {
    pub mode: Option<Mode>,
    pub actions: MessageActions,
    pub on_send: Callback<Draft>,
    pub on_cancel: Callback<()>,
    pub on_edit_last: Callback<()>,
    pub on_mention_query: Callback<Option<String>>,
    pub suggestions: Vec<Profile>,
}

/// Whether `user` can be mentioned in `c` (all of the room; the other one
/// of a direct conversation).
fn in_conversation(c: &Conversation, user: &UserId) -> bool {
    match c {
        Conversation::Room => true,
        Conversation::Direct { user: other } => other == user,
    }
}

/// `on_sent` is called after each send (typing stops).
#[hook]
pub fn use_compose(chat: &Chat, active: &Conversation, on_sent: Callback<()>) -> Compose {
    // The mode belongs to the conversation it was chosen in.
    let mode_state = use_state(|| None::<(Conversation, Mode)>);
    let query = use_state_eq(|| None::<String>);
    let mode = mode_state.as_ref().filter(|(c, _)| c == active).map(|(_, m)| m.clone());
    let s = &chat.state;
    let entry = {
        let (s, active) = (s.clone(), active.clone());
        move |id: MessageId| s.conversation(&active).and_then(|c| c.entries.get(id).cloned())
    };
    let set_mode = {
        let (mode_state, active) = (mode_state.clone(), active.clone());
        Callback::from(move |m: Option<Mode>| {
            mode_state.set(m.map(|m| (active.clone(), m)));
            composer::focus();
        })
    };
    let edit = {
        let (set_mode, entry) = (set_mode.clone(), entry.clone());
        Callback::from(move |id: MessageId| {
            if let Some(e) = entry(id) {
                set_mode.emit(Some(Mode::Edit { id, body: e.life.body.clone() }));
            }
        })
    };
    let actions = MessageActions {
        reply: {
            let (set_mode, entry) = (set_mode.clone(), entry.clone());
            Callback::from(move |id: MessageId| {
                if let Some(e) = entry(id) {
                    set_mode.emit(Some(Mode::Reply(e.life.quote(id, &e.from))));
                }
            })
        },
        edit: edit.clone(),
        delete: {
            let chat = chat.clone();
            Callback::from(move |id| chat.delete(id))
        },
        react: {
            let chat = chat.clone();
            Callback::from(move |(id, emoji, on)| chat.react(id, emoji, on))
        },
        show_original: {
            let (chat, active) = (chat.clone(), active.clone());
            Callback::from(move |id| chat.jump(active.clone(), id))
        },
    };
    let on_edit_last = {
        let (s, active, edit) = (s.clone(), active.clone(), edit.clone());
        Callback::from(move |()| {
            let me = s.me_id();
            let now = js_sys::Date::now();
            let Some(conv) = s.conversation(&active) else { return };
            let last = conv.entries[..conv.entries.stored_len()].iter().rev().find(|e| {
                Some(&e.from.id) == me && e.delivery == Delivery::Sent && e.editable(s.limits.edit_window_secs, now)
            });
            if let Some(id) = last.and_then(|e| e.id) {
                edit.emit(id);
            }
        })
    };
    let on_send = {
        let (chat, active, mode, set_mode) = (chat.clone(), active.clone(), mode.clone(), set_mode.clone());
        Callback::from(move |draft: Draft| {
            match &mode {
                Some(Mode::Edit { id, .. }) => chat.edit(*id, draft.body),
                _ => {
                    let s = &chat.state;
                    let picked = draft.picked.iter().map(|(id, name)| (id, name.as_str()));
                    let everyone = s.people.values().map(|p| (&p.id, p.name.as_str()));
                    let mut mentions = mentioned(&draft.body, picked.chain(everyone));
                    // The server drops me, and anyone outside a direct conversation.
                    mentions.retain(|id| Some(id) != s.me_id() && in_conversation(&active, id));
                    mentions.truncate(s.limits.max_mentions as usize);
                    let reply_to = match &mode {
                        Some(Mode::Reply(q)) => Some(q.id),
                        _ => None,
                    };
                    chat.send(active.clone(), draft.body, reply_to, mentions);
                }
            }
            set_mode.emit(None);
            on_sent.emit(());
        })
    };
    let on_cancel = {
        let set_mode = set_mode.clone();
        Callback::from(move |()| set_mode.emit(None))
    };
    let on_mention_query = {
        let query = query.clone();
        Callback::from(move |q| query.set(q))
    };
    let suggestions = match query.as_deref() {
        None => Vec::new(),
        // In the sidebar's order: online first, then by name.
        Some(q) => s
            .contacts()
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| name_matches(&p.name, q) && in_conversation(active, &p.id))
            .take(SUGGESTIONS)
            .cloned()
            .collect(),
    };
    Compose { mode, actions, on_send, on_cancel, on_edit_last, on_mention_query, suggestions }
}

/// Names of the people who reacted in `entries`, for the tooltips.
pub fn reaction_names(chat: &Chat, entries: &[Rc<Entry>]) -> Rc<Vec<(UserId, String)>> {
    let s = &chat.state;
    let mut names: Vec<(UserId, String)> = Vec::new();
    for user in entries.iter().flat_map(|e| e.life.reactions.iter().flat_map(|r| &r.users)) {
        if !names.iter().any(|(id, _)| id == user) {
            let name = s.me.as_ref().filter(|me| me.id == *user).or_else(|| s.people.get(user));
            names.push((user.clone(), name.map_or_else(|| user.to_string(), |p| p.name.clone())));
        }
    }
    Rc::new(names)
}
