//! Desktop notifications for direct messages, and room messages that
//! mention me, while the tab is hidden: offered from a button (never asked
//! on load), raised for live messages from others, and a click brings the
//! tab to that conversation.

use crate::state::{Entry, State};
use protocol::{Conversation, MessageId};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Whether the browser can show notifications, and what the user said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Permission {
    Unsupported,
    /// Not asked yet: the button shows.
    Ask,
    Granted,
    Denied,
}

fn permission() -> Permission {
    let supported =
        web_sys::window().is_some_and(|w| js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false));
    if !supported {
        return Permission::Unsupported;
    }
    match web_sys::Notification::permission() {
        web_sys::NotificationPermission::Granted => Permission::Granted,
        web_sys::NotificationPermission::Denied => Permission::Denied,
        _ => Permission::Ask,
    }
}

/// The most body characters put in a notification.
const PREVIEW_CHARS: usize = 120;

pub struct Notifications {
    pub permission: Permission,
    /// Asks the browser for permission (from a click).
    pub request: Callback<()>,
}

/// `select` opens a conversation (when a notification is clicked).
#[hook]
pub fn use_notifications(state: &State, select: Callback<Conversation>) -> Notifications {
    let permission_state = use_state_eq(permission);
    let request = {
        let permission_state = permission_state.clone();
        Callback::from(move |()| {
            let Ok(promise) = web_sys::Notification::request_permission() else { return };
            let permission_state = permission_state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
                permission_state.set(permission());
            });
        })
    };
    // The newest message per direct conversation already considered: only
    // what arrives after it can notify (not what history or replay loads).
    let seen = use_mut_ref(HashMap::<Conversation, MessageId>::new);
    let granted = *permission_state == Permission::Granted;
    let me = state.me.as_ref().map(|m| m.id.clone());
    let hidden = !state.visible;
    let mut fresh = Vec::new();
    for (conv, c) in &state.conversations {
        let room = *conv == Conversation::Room;
        let Some(newest) = c.newest_id() else { continue };
        let before = seen.borrow_mut().insert(conv.clone(), newest);
        // In the room only what mentions me, and only what came after the
        // room was first seen (not a mention history brought in).
        let unread = if room { c.mentions } else { c.unread };
        if (room && before.is_none()) || !(before.is_none_or(|b| b < newest) && granted && hidden && unread > 0) {
            continue;
        }
        // Something new and unread while the page is hidden.
        let entries = &c.entries[..c.entries.stored_len()];
        let new = entries.iter().rev().take_while(|e| e.id > before);
        let wanted = |e: &&Rc<Entry>| {
            Some(&e.from.id) != me.as_ref() && (!room || me.as_ref().is_some_and(|me| e.life.mentions(me)))
        };
        if let Some(e) = new.filter(wanted).last() {
            let title = if room {
                format!("{} mentioned you", e.from.name)
            } else {
                format!("{} (direct message)", e.from.name)
            };
            fresh.push((conv.clone(), title, e.life.body.chars().take(PREVIEW_CHARS).collect::<String>()));
        }
    }
    for (conv, title, body) in fresh {
        show(&conv, &title, &body, select.clone());
    }
    Notifications { permission: *permission_state, request }
}

fn show(conv: &Conversation, title: &str, body: &str, select: Callback<Conversation>) {
    let options = web_sys::NotificationOptions::new();
    options.set_body(body);
    // One notification per conversation: a newer one replaces it.
    options.set_tag(&format!("chat-{conv:?}"));
    let Ok(n) = web_sys::Notification::new_with_options(title, &options) else { return };
    let conv = conv.clone();
    let onclick = Closure::<dyn FnMut()>::new(move || {
        if let Some(w) = web_sys::window() {
            let _ = w.focus();
        }
        select.emit(conv.clone());
    });
    n.set_onclick(Some(onclick.as_ref().unchecked_ref()));
    // Lives as long as the notification may be clicked (the page's life).
    onclick.forget();
}
