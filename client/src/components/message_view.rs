//! One sender's group of messages; bodies are text nodes and `<a>` elements,
//! never HTML.

use crate::components::linkify::{pieces, Piece};
use crate::components::{name_color, when};
use crate::state::{Delivery, Entry};
use protocol::{ClientMsgId, UserId};
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

pub fn group_view(group: &Group, me: Option<&UserId>, failed: &FailedActions<'_>) -> Html {
    let first = &group.entries[0];
    let from = &first.from;
    html! {
        <section class="group" key={dom_key(first)}>
            <header>
                <span class="name" style={name_color(&from.color)}>{ from.name.clone() }</span>
                <time datetime={when::iso(first.ts)} title={when::full(first.ts)}>{ when::clock(first.ts) }</time>
            </header>
            { for group.entries.iter().map(|e| {
                let mine = me == Some(&e.from.id) || e.delivery != Delivery::Sent;
                let (class, mark) = match &e.delivery {
                    _ if !mine => ("", html! {}),
                    Delivery::Pending => ("pending", html! { <span class="mark" title="Sending" aria-label="sending">{ "…" }</span> }),
                    Delivery::Sent => ("sent", html! { <span class="mark" title="Sent" aria-label="sent">{ "✓" }</span> }),
                    Delivery::Failed(why) => ("failed", failed_view(why, e.client_id.as_ref(), failed)),
                };
                html! {
                    <p class={classes!("body", class)} data-testid="message" title={when::full(e.ts)} key={dom_key(e)}>
                        { body_view(&e.body) }{ mark }
                    </p>
                }
            }) }
        </section>
    }
}
