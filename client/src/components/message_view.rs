//! One sender's group of messages; bodies are text nodes and `<a>` elements,
//! never HTML. Each message shows what happened to it (edited, deleted,
//! reactions), the quote of the message it answers, and one "…" button
//! that opens its actions (react, reply, edit, delete): one button per
//! message, so a window of hundreds stays light, and all of it reachable
//! with Tab, Enter and Esc.

use crate::components::linkify::{pieces, Piece};
use crate::components::{name_color, when};
use crate::state::{Delivery, Entry};
use protocol::{ClientMsgId, MessageId, Quote, Reaction, UserId};
use std::collections::HashMap;
use std::rc::Rc;
use yew::prelude::*;

/// Consecutive messages from one sender.
pub struct Group {
    pub entries: Vec<Rc<Entry>>,
}

/// A stable element key: the message id, or our client id while pending.
fn dom_key(e: &Entry) -> String {
    match (e.id, &e.client_id) {
        (Some(id), _) => format!("m{id}"),
        (None, Some(c)) => format!("c{c}"),
        (None, None) => String::new(),
    }
}

/// The body with its http(s) URLs as links opening in a new tab.
pub fn body_view(body: &str) -> Html {
    html! {
        { for pieces(body).into_iter().map(|p| match p {
            Piece::Text(t) => html! { { t.to_owned() } },
            Piece::Link(url) => html! {
                <a href={url.to_owned()} target="_blank" rel="noopener noreferrer">{ url.to_owned() }</a>
            },
        }) }
    }
}

/// What a message that could not be sent offers: send it again, or give it up.
pub struct FailedActions<'a> {
    pub retry: &'a Callback<ClientMsgId>,
    pub discard: &'a Callback<ClientMsgId>,
}

/// What the user can do to a stored message (the list's owner decides how).
#[derive(Clone, PartialEq, Default)]
pub struct MessageActions {
    pub reply: Callback<MessageId>,
    pub edit: Callback<MessageId>,
    pub delete: Callback<MessageId>,
    /// (message, emoji, on)
    pub react: Callback<(MessageId, String, bool)>,
    /// A quote was clicked: show its original.
    pub show_original: Callback<MessageId>,
}

/// Which message's actions are open, and whether its deletion awaits a
/// confirmation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpenMenu {
    pub id: MessageId,
    pub confirm_delete: bool,
}

/// What every message of the list is drawn with.
pub struct View<'a> {
    pub me: Option<&'a UserId>,
    pub failed: FailedActions<'a>,
    pub actions: &'a MessageActions,
    /// The emoji a message can be reacted with.
    pub emoji: &'a [String],
    /// Names of the people who reacted, for the tooltips.
    pub names: &'a HashMap<UserId, String>,
    /// Whether my message can still be edited (the server's edit window).
    pub editable: &'a dyn Fn(&Entry) -> bool,
    pub focus: Option<MessageId>,
    pub menu: Option<OpenMenu>,
    pub set_menu: &'a Callback<Option<OpenMenu>>,
}

fn failed_view(why: &str, client_id: Option<&ClientMsgId>, actions: &FailedActions<'_>) -> Html {
    let Some(client_id) = client_id else { return html! { <span class="mark">{ format!("Not sent: {why}") }</span> } };
    let retry = {
        let (cb, id) = (actions.retry.clone(), client_id.clone());
        Callback::from(move |_| cb.emit(id.clone()))
    };
    let discard = {
        let (cb, id) = (actions.discard.clone(), client_id.clone());
        Callback::from(move |_| cb.emit(id.clone()))
    };
    html! {
        <span class="mark failed-actions" title={why.to_owned()}>
            { format!("Not sent: {why}") }
            <button type="button" class="link" data-testid="retry-send" onclick={retry}>{ "Retry" }</button>
            <button type="button" class="link" data-testid="discard-send" onclick={discard}>{ "Delete" }</button>
        </span>
    }
}

/// The quote of the message a reply answers: a button that shows it.
fn quote_view(q: &Quote, show: &Callback<MessageId>) -> Html {
    let onclick = {
        let (show, id) = (show.clone(), q.id);
        Callback::from(move |_: MouseEvent| show.emit(id))
    };
    let text = if q.deleted { "message deleted".to_owned() } else { q.body.clone() };
    html! {
        <button type="button" class={classes!("quote", q.deleted.then_some("deleted"))} {onclick} data-testid="quote"
            aria-label={format!("In reply to {}: {text}. Show the message", q.from.name)}>
            <span class="name" style={name_color(&q.from.color)}>{ q.from.name.clone() }</span>
            { " " }{ text }
        </button>
    }
}

/// Who reacted, by name, for a tooltip.
fn who(r: &Reaction, names: &HashMap<UserId, String>) -> String {
    let list: Vec<&str> = r.users.iter().map(|u| names.get(u).map_or(u.as_str(), String::as_str)).collect();
    list.join(", ")
}

/// The reactions under a message: a button per emoji with its count, mine
/// pressed; pressing one adds or takes back mine.
fn reactions_view(e: &Entry, id: MessageId, v: &View<'_>) -> Html {
    if e.life.reactions.is_empty() {
        return html! {};
    }
    html! {
        <div class="reactions" data-testid="reactions">
            { for e.life.reactions.iter().map(|r| {
                let mine = v.me.is_some_and(|me| r.users.contains(me));
                let names = who(r, v.names);
                let onclick = {
                    let (react, emoji) = (v.actions.react.clone(), r.emoji.clone());
                    Callback::from(move |_: MouseEvent| react.emit((id, emoji.clone(), !mine)))
                };
                html! {
                    <button type="button" class={classes!("chip", mine.then_some("mine"))} {onclick} title={names.clone()}
                        aria-pressed={mine.to_string()} aria-label={format!("{} {}: {names}", r.emoji, r.users.len())}>
                        { format!("{} {}", r.emoji, r.users.len()) }
                    </button>
                }
            }) }
        </div>
    }
}

/// The open actions of message `id`: the reactions to pick from, reply,
/// and for my own edit and delete (delete asks first).
fn menu_view(e: &Entry, id: MessageId, open: OpenMenu, v: &View<'_>) -> Html {
    let close = {
        let set = v.set_menu.clone();
        Callback::from(move |_: MouseEvent| set.emit(None))
    };
    let then_close = |cb: &Callback<MessageId>| {
        let (cb, set) = (cb.clone(), v.set_menu.clone());
        Callback::from(move |_: MouseEvent| {
            set.emit(None);
            cb.emit(id);
        })
    };
    let onkeydown = {
        let set = v.set_menu.clone();
        Callback::from(move |k: KeyboardEvent| {
            if k.key() == "Escape" {
                k.stop_propagation();
                set.emit(None);
            }
        })
    };
    if open.confirm_delete {
        return html! {
            <div class="menu" role="group" aria-label="Delete this message?" {onkeydown} data-testid="confirm-delete">
                <span>{ "Delete this message?" }</span>
                <button type="button" class="danger" onclick={then_close(&v.actions.delete)}>{ "Delete" }</button>
                <button type="button" class="link" onclick={close}>{ "Cancel" }</button>
            </div>
        };
    }
    let mine = v.me == Some(&e.from.id);
    let confirm = {
        let set = v.set_menu.clone();
        Callback::from(move |_: MouseEvent| set.emit(Some(OpenMenu { id, confirm_delete: true })))
    };
    html! {
        <div class="menu" role="group" aria-label="Message actions" {onkeydown} data-testid="menu">
            { for v.emoji.iter().map(|emoji| {
                let on = v.me.is_some_and(|me| e.life.reacted(emoji, me));
                let onclick = {
                    let (react, set, emoji) = (v.actions.react.clone(), v.set_menu.clone(), emoji.clone());
                    Callback::from(move |_: MouseEvent| {
                        set.emit(None);
                        react.emit((id, emoji.clone(), !on));
                    })
                };
                html! {
                    <button type="button" class={classes!("emoji", on.then_some("mine"))} {onclick} aria-pressed={on.to_string()}
                        aria-label={format!("React with {emoji}")}>{ emoji.clone() }</button>
                }
            }) }
            <button type="button" class="link" onclick={then_close(&v.actions.reply)}>{ "Reply" }</button>
            if mine && (v.editable)(e) {
                <button type="button" class="link" onclick={then_close(&v.actions.edit)}>{ "Edit" }</button>
            }
            if mine {
                <button type="button" class="link" onclick={confirm}>{ "Delete" }</button>
            }
            <button type="button" class="link" onclick={close}>{ "Close" }</button>
        </div>
    }
}

fn message_view(e: &Rc<Entry>, v: &View<'_>) -> Html {
    let mine = v.me == Some(&e.from.id) || e.delivery != Delivery::Sent;
    let (class, mark) = match &e.delivery {
        _ if !mine || e.life.deleted => ("", html! {}),
        Delivery::Pending => {
            ("pending", html! { <span class="mark" title="Sending" aria-label="sending">{ "…" }</span> })
        }
        Delivery::Sent => ("sent", html! { <span class="mark" title="Sent" aria-label="sent">{ "✓" }</span> }),
        Delivery::Failed(why) => ("failed", failed_view(why, e.client_id.as_ref(), &v.failed)),
    };
    let edited = e.life.edited_at.filter(|_| !e.life.deleted).map(|at| {
        html! { <span class="mark edited" title={format!("Edited {}", when::full(at as f64))}>{ "(edited)" }</span> }
    });
    let body = if e.life.deleted {
        html! { <p class="body deleted" data-testid="message" title={when::full(e.ts)}>{ "message deleted" }</p> }
    } else {
        html! {
            <p class={classes!("body", class)} data-testid="message" title={when::full(e.ts)}>
                { body_view(&e.life.body) }{ edited }{ mark }
            </p>
        }
    };
    let Some(id) = e.id else {
        // Not stored yet: nothing can be done to it but what a failure offers.
        let quote = e.life.reply_to.as_ref().map(|q| quote_view(q, &v.actions.show_original));
        return html! { <div class="msg" key={dom_key(e)}>{ for quote }{ body }</div> };
    };
    let open = v.menu.filter(|m| m.id == id);
    let toggle = {
        let set = v.set_menu.clone();
        let next = if open.is_some() { None } else { Some(OpenMenu { id, confirm_delete: false }) };
        Callback::from(move |_: MouseEvent| set.emit(next))
    };
    let mentions_me = v.me.is_some_and(|me| e.life.mentions(me));
    let focused = v.focus == Some(id);
    html! {
        <div class={classes!("msg", mentions_me.then_some("mention"), focused.then_some("focused"))} key={dom_key(e)}
            id={format!("msg-{id}")} tabindex={focused.then_some("-1")} data-testid="msg">
            if let Some(q) = &e.life.reply_to {
                { quote_view(q, &v.actions.show_original) }
            }
            { body }
            if !e.life.deleted {
                { reactions_view(e, id, v) }
                <button type="button" class="more" onclick={toggle} aria-expanded={open.is_some().to_string()}
                    aria-label={format!("Actions for {}'s message", e.from.name)} data-testid="more">{ "…" }</button>
                if let Some(open) = open {
                    { menu_view(e, id, open, v) }
                }
            }
        </div>
    }
}

pub fn group_view(group: &Group, v: &View<'_>) -> Html {
    let first = &group.entries[0];
    let from = &first.from;
    html! {
        <section class="group" key={dom_key(first)}>
            <header>
                <span class="name" style={name_color(&from.color)}>{ from.name.clone() }</span>
                <time datetime={when::iso(first.ts)} title={when::full(first.ts)}>{ when::clock(first.ts) }</time>
            </header>
            { for group.entries.iter().map(|e| message_view(e, v)) }
        </section>
    }
}
