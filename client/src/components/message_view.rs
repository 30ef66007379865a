//! One sender's group of messages; bodies are text nodes and `<a>` elements,
//! never HTML. Each message shows what happened to it (edited, deleted,
//! reactions), the quote of the message it answers, and one "…" button
//! that opens its actions (react, reply, edit, delete): one button per
//! message, so a window of hundreds stays light, and all of it reachable
//! with Tab, Enter and Esc.
//!
//! The buttons carry what they do in `data-` attributes, read by one click
//! handler on the list ([`Act::of`]), rather than a callback each: a
//! closure per button was most of this view's share of the wasm, and an
//! allocation per button per render.

use crate::components::linkify::{pieces, Piece};
use crate::components::{name_color, when};
use crate::state::{Delivery, Entry};
use protocol::{ClientMsgId, MessageId, UserId};
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

/// What a button of the list does (its `data-act`, `data-id`, `data-emoji`
/// and `aria-pressed`).
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Menu(MessageId),
    Close,
    Reply(MessageId),
    Edit(MessageId),
    AskDelete(MessageId),
    Delete(MessageId),
    React(MessageId, String, bool),
    ShowOriginal(MessageId),
    Retry(ClientMsgId),
    Discard(ClientMsgId),
}

impl Act {
    /// The act of the button `el` is or is in, if any.
    pub fn of(el: &web_sys::Element) -> Option<Act> {
        let b = el.closest("[data-act]").ok()??;
        let attr = |name: &str| b.get_attribute(name).unwrap_or_default();
        let id = || attr("data-id").parse().ok().map(MessageId);
        let client_id = || ClientMsgId::new(attr("data-id")).ok();
        Some(match attr("data-act").as_str() {
            "menu" => Act::Menu(id()?),
            "close" => Act::Close,
            "reply" => Act::Reply(id()?),
            "edit" => Act::Edit(id()?),
            "ask-delete" => Act::AskDelete(id()?),
            "delete" => Act::Delete(id()?),
            "react" => Act::React(id()?, attr("data-emoji"), attr("aria-pressed") != "true"),
            "quote" => Act::ShowOriginal(id()?),
            "retry" => Act::Retry(client_id()?),
            "discard" => Act::Discard(client_id()?),
            _ => return None,
        })
    }
}

/// What every message of the list is drawn with.
pub struct View<'a> {
    pub me: Option<&'a UserId>,
    /// The emoji a message can be reacted with.
    pub emoji: &'a [String],
    /// Names of the people who reacted, for the tooltips.
    pub names: &'a [(UserId, String)],
    /// Whether my message can still be edited (the server's edit window).
    pub editable: &'a dyn Fn(&Entry) -> bool,
    pub focus: Option<MessageId>,
    pub menu: Option<OpenMenu>,
}

/// `u`'s name, or their id when it is not known.
fn name_of<'a>(names: &'a [(UserId, String)], u: &'a UserId) -> &'a str {
    names.iter().find(|(id, _)| id == u).map_or(u.as_str(), |(_, n)| n.as_str())
}

/// A button of the list: what it does is in its `data-` attributes.
fn button(class: &'static str, act: &'static str, id: &str, label: Html) -> Html {
    html! { <button type="button" {class} data-act={act} data-id={id.to_owned()}>{ label }</button> }
}

fn failed_view(why: &str, client_id: Option<&ClientMsgId>) -> Html {
    let text = format!("Not sent: {why}");
    let Some(client_id) = client_id else { return html! { <span class="mark">{ text }</span> } };
    html! {
        <span class="mark failed-actions" title={why.to_owned()}>
            { text }
            <button type="button" class="link" data-testid="retry-send" data-act="retry" data-id={client_id.to_string()}>{ "Retry" }</button>
            <button type="button" class="link" data-testid="discard-send" data-act="discard" data-id={client_id.to_string()}>{ "Delete" }</button>
        </span>
    }
}

/// An emoji button: a reaction under the message (`count` of them), or one
/// to pick in the menu; pressed when it is mine.
fn emoji_button(id: &str, emoji: &str, mine: bool, count: Option<(usize, String)>) -> Html {
    let (class, text, title) = match &count {
        Some((n, who)) => (classes!("chip", mine.then_some("mine")), format!("{emoji} {n}"), Some(who.clone())),
        None => (classes!("emoji", mine.then_some("mine")), emoji.to_owned(), None),
    };
    let label = match count {
        Some((n, who)) => format!("{emoji} {n}: {who}"),
        None => format!("React with {emoji}"),
    };
    html! {
        <button type="button" {class} data-act="react" data-id={id.to_owned()} data-emoji={emoji.to_owned()}
            aria-pressed={if mine { "true" } else { "false" }} aria-label={label} {title}>{ text }</button>
    }
}

/// The open actions of a message: the reactions to pick from, reply, and
/// for my own edit and delete (delete asks first).
fn menu_view(e: &Entry, id: &str, confirm: bool, v: &View<'_>) -> Html {
    if confirm {
        return html! {
            <div class="menu" role="group" aria-label="Delete this message?" data-testid="confirm-delete">
                <span>{ "Delete this message?" }</span>
                { button("danger", "delete", id, html! { "Delete" }) }
                { button("link", "close", id, html! { "Cancel" }) }
            </div>
        };
    }
    let mine = v.me == Some(&e.from.id);
    html! {
        <div class="menu" role="group" aria-label="Message actions" data-testid="menu">
            { for v.emoji.iter().map(|emoji| emoji_button(id, emoji, v.me.is_some_and(|me| e.life.reacted(emoji, me)), None)) }
            { button("link", "reply", id, html! { "Reply" }) }
            if mine && (v.editable)(e) {
                { button("link", "edit", id, html! { "Edit" }) }
            }
            if mine {
                { button("link", "ask-delete", id, html! { "Delete" }) }
            }
            { button("link", "close", id, html! { "Close" }) }
        </div>
    }
}

fn message_view(e: &Rc<Entry>, v: &View<'_>) -> Html {
    let life = &e.life;
    let mine = v.me == Some(&e.from.id) || e.delivery != Delivery::Sent;
    let (class, mark) = match &e.delivery {
        _ if !mine || life.deleted => ("", html! {}),
        Delivery::Pending => {
            ("pending", html! { <span class="mark" title="Sending" aria-label="sending">{ "…" }</span> })
        }
        Delivery::Sent => ("sent", html! { <span class="mark" title="Sent" aria-label="sent">{ "✓" }</span> }),
        Delivery::Failed(why) => ("failed", failed_view(why, e.client_id.as_ref())),
    };
    let id = e.id.map(|i| i.to_string()).unwrap_or_default();
    let quote = life.reply_to.as_ref().map(|q| {
        let text = if q.deleted { "message deleted" } else { q.body.as_str() };
        html! {
            <button type="button" class={classes!("quote", q.deleted.then_some("deleted"))} data-act="quote"
                data-id={q.id.to_string()} data-testid="quote"
                aria-label={format!("In reply to {}: {text}. Show the message", q.from.name)}>
                <span class="name" style={name_color(&q.from.color)}>{ q.from.name.clone() }</span>{ " " }{ text }
            </button>
        }
    });
    let body = if life.deleted {
        html! { <p class="body deleted" data-testid="message" title={when::full(e.ts)}>{ "message deleted" }</p> }
    } else {
        let edited = life.edited_at.map(|at| {
            html! { <span class="mark edited" title={format!("Edited {}", when::full(at as f64))}>{ "(edited)" }</span> }
        });
        html! {
            <p class={classes!("body", class)} data-testid="message" title={when::full(e.ts)}>
                { body_view(&life.body) }{ edited }{ mark }
            </p>
        }
    };
    // Only a stored message that is not deleted can be acted on.
    let open = v.menu.filter(|m| Some(m.id) == e.id);
    let actions = (e.id.is_some() && !life.deleted).then(|| {
        html! {
            <>
                if !life.reactions.is_empty() {
                    <div class="reactions" data-testid="reactions">
                        { for life.reactions.iter().map(|r| {
                            let who: Vec<&str> = r.users.iter().map(|u| name_of(v.names, u)).collect();
                            let mine = v.me.is_some_and(|me| r.users.contains(me));
                            emoji_button(&id, &r.emoji, mine, Some((r.users.len(), who.join(", "))))
                        }) }
                    </div>
                }
                <button type="button" class="more" data-act="menu" data-id={id.clone()} aria-expanded={if open.is_some() { "true" } else { "false" }}
                    aria-label={format!("Actions for {}'s message", e.from.name)} data-testid="more">{ "…" }</button>
                if let Some(open) = open {
                    { menu_view(e, &id, open.confirm_delete, v) }
                }
            </>
        }
    });
    let focused = e.id.is_some() && v.focus == e.id;
    let mentions_me = v.me.is_some_and(|me| life.mentions(me));
    html! {
        <div class={classes!("msg", mentions_me.then_some("mention"), focused.then_some("focused"))} key={dom_key(e)}
            id={e.id.map(|i| format!("msg-{i}"))} tabindex={focused.then_some("-1")} data-testid="msg">
            { for quote }{ body }{ for actions }
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
