use crate::components::css_color;
use crate::state::{Delivery, Entry};
use protocol::{ClientMsgId, MessageId, UserId};
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub entries: Vec<Entry>,
    pub has_more: bool,
    pub loading: bool,
    /// Delivery marks (sending, sent, not sent) show on my own messages.
    #[prop_or_default]
    pub me: Option<UserId>,
    /// Asked when the list is scrolled to the top (or the button is used).
    pub on_load_older: Callback<()>,
}

/// A new group starts when the sender changes or after this pause, in ms.
const GROUP_GAP_MS: f64 = 5.0 * 60_000.0;
/// Within this many pixels of an edge counts as being at it.
const EDGE_PX: i32 = 24;

/// `HH:MM` today, `YYYY-MM-DD HH:MM` on other days (local time).
fn clock(ts: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts));
    let today = js_sys::Date::new_0();
    let time = format!("{:02}:{:02}", d.get_hours(), d.get_minutes());
    if d.to_date_string() == today.to_date_string() {
        time
    } else {
        format!("{}-{:02}-{:02} {time}", d.get_full_year(), d.get_month() + 1, d.get_date())
    }
}

fn iso(ts: f64) -> String {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts)).to_iso_string().into()
}

type EntryKey = (Option<MessageId>, Option<ClientMsgId>);

fn key(e: &Entry) -> EntryKey {
    (e.id, e.client_id.clone())
}

/// A stable element key: the message id, or our client id while pending.
fn dom_key(e: &Entry) -> String {
    match (e.id, &e.client_id) {
        (Some(id), _) => format!("m{id}"),
        (None, Some(c)) => format!("c{c}"),
        (None, None) => String::new(),
    }
}

/// What the list looked like after the last render or scroll, to keep the
/// reader's place when older messages are put above.
#[derive(Default)]
struct Place {
    first: Option<EntryKey>,
    last: Option<EntryKey>,
    height: i32,
    top: i32,
    at_bottom: bool,
}

impl Place {
    fn measure(&mut self, el: &web_sys::Element) {
        self.height = el.scroll_height();
        self.top = el.scroll_top();
        self.at_bottom = self.height - self.top - el.client_height() <= EDGE_PX;
    }
}

/// Messages grouped by sender; all text is rendered as text.
#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let list = use_node_ref();
    let place: Rc<RefCell<Place>> = use_mut_ref(|| Place { at_bottom: true, ..Place::default() });
    {
        let (list, place) = (list.clone(), place.clone());
        let first = props.entries.first().map(key);
        let last = props.entries.last().map(key);
        let own_new = props.entries.last().is_some_and(|e| e.delivery == Delivery::Pending);
        use_effect_with((first, last), move |(first, last)| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                let mut p = place.borrow_mut();
                if p.last != *last && (p.at_bottom || own_new) {
                    // A new message at the bottom: follow it, unless the
                    // reader had scrolled up to read older ones.
                    el.set_scroll_top(el.scroll_height());
                } else if p.first != *first && p.last == *last {
                    // Older messages were put above: keep what was on screen.
                    el.set_scroll_top(p.top + el.scroll_height() - p.height);
                }
                p.first = first.clone();
                p.last = last.clone();
                p.measure(&el);
            }
        });
    }
    let onscroll = {
        let (on_load_older, list, place) = (props.on_load_older.clone(), list.clone(), place.clone());
        let can_load = props.has_more && !props.loading;
        Callback::from(move |_: Event| {
            let Some(el) = list.cast::<web_sys::Element>() else { return };
            place.borrow_mut().measure(&el);
            if can_load && el.scroll_top() <= EDGE_PX {
                on_load_older.emit(());
            }
        })
    };
    let load_older = {
        let on_load_older = props.on_load_older.clone();
        Callback::from(move |_: MouseEvent| on_load_older.emit(()))
    };

    let mut groups: Vec<Vec<&Entry>> = Vec::new();
    for e in &props.entries {
        match groups.last_mut() {
            Some(g) if g[0].from.id == e.from.id && e.ts - g[g.len() - 1].ts < GROUP_GAP_MS => g.push(e),
            _ => groups.push(vec![e]),
        }
    }
    html! {
        <div class="messages" ref={list} {onscroll} role="log" aria-label="Messages" tabindex="0">
            if props.has_more || props.loading {
                <div class="older">
                    <button type="button" class="link" onclick={load_older} disabled={props.loading}>
                        { if props.loading { "Loading older messages…" } else { "Load older messages" } }
                    </button>
                </div>
            }
            if props.entries.is_empty() && !props.loading {
                <p class="hint">{ "No messages yet. Say hello!" }</p>
            }
            { for groups.into_iter().map(|group| {
                let from = &group[0].from;
                html! {
                    <section class="group" key={dom_key(group[0])}>
                        <header>
                            <span class="name" style={format!("color: {}", css_color(&from.color))}>{ from.name.clone() }</span>
                            <time datetime={iso(group[0].ts)}>{ clock(group[0].ts) }</time>
                        </header>
                        { for group.iter().map(|e| {
                            let mine = props.me.as_ref() == Some(&e.from.id) || e.delivery != Delivery::Sent;
                            let (class, mark) = match &e.delivery {
                                _ if !mine => ("", html! {}),
                                Delivery::Pending => ("pending", html! { <span class="mark" title="Sending" aria-label="sending">{ "…" }</span> }),
                                Delivery::Sent => ("sent", html! { <span class="mark" title="Sent" aria-label="sent">{ "✓" }</span> }),
                                Delivery::Failed(why) => ("failed", html! { <span class="mark" title={why.clone()}>{ format!("Not sent: {why}") }</span> }),
                            };
                            html! {
                                <p class={classes!("body", class)} data-testid="message" title={clock(e.ts)} key={dom_key(e)}>
                                    { e.body.clone() }{ mark }
                                </p>
                            }
                        }) }
                    </section>
                }
            }) }
        </div>
    }
}
