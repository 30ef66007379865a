//! Typing notifications for one conversation: `active: true` when the user
//! types (at most every [`TYPING_EVERY_MS`]), `active: false` after
//! [`TYPING_IDLE_MS`] without input, when the text is cleared or sent, and
//! when the user moves to another conversation.

use crate::hooks::use_chat::Chat;
use gloo_timers::callback::Timeout;
use protocol::Conversation;
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// Refresh of `active: true` while typing goes on (the receivers' indicator
/// lasts longer than this, see `state::TYPING_TTL_MS`).
pub const TYPING_EVERY_MS: f64 = 3_000.0;
/// Input pause after which the user is no longer typing.
pub const TYPING_IDLE_MS: u32 = 5_000;

#[derive(Default)]
struct Typing {
    active: bool,
    last_sent: f64,
    idle: Option<Timeout>,
}

#[derive(Clone, PartialEq)]
pub struct TypingHandle {
    /// Call with the composer's text on every input.
    pub on_input: Callback<String>,
    /// Call when the message was sent.
    pub on_sent: Callback<()>,
}

fn stop(typing: &RefCell<Typing>, chat: &Chat, to: &Conversation) {
    let mut t = typing.borrow_mut();
    if t.active {
        t.active = false;
        chat.typing(to.clone(), false);
    }
}

#[hook]
pub fn use_typing(chat: &Chat, conversation: &Conversation) -> TypingHandle {
    let typing: Rc<RefCell<Typing>> = use_mut_ref(Typing::default);
    // Leaving the conversation (or the screen) ends typing there.
    {
        let (typing, chat) = (typing.clone(), chat.clone());
        use_effect_with(conversation.clone(), move |to| {
            let to = to.clone();
            move || {
                typing.borrow_mut().idle = None;
                stop(&typing, &chat, &to);
            }
        });
    }
    let on_input = {
        let (typing, chat, to) = (typing.clone(), chat.clone(), conversation.clone());
        Callback::from(move |text: String| {
            if text.trim().is_empty() {
                typing.borrow_mut().idle = None;
                return stop(&typing, &chat, &to);
            }
            let now = js_sys::Date::now();
            let idle = {
                let (typing, chat, to) = (typing.clone(), chat.clone(), to.clone());
                Timeout::new(TYPING_IDLE_MS, move || stop(&typing, &chat, &to))
            };
            let mut t = typing.borrow_mut();
            t.idle = Some(idle);
            if !t.active || now - t.last_sent >= TYPING_EVERY_MS {
                t.active = true;
                t.last_sent = now;
                chat.typing(to.clone(), true);
            }
        })
    };
    let on_sent = {
        let (typing, chat, to) = (typing.clone(), chat.clone(), conversation.clone());
        Callback::from(move |()| {
            typing.borrow_mut().idle = None;
            stop(&typing, &chat, &to);
        })
    };
    TypingHandle { on_input, on_sent }
}
