use crate::state::{Delivery, Entry};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub entries: Vec<Entry>,
    pub has_more: bool,
    pub loading: bool,
    /// Asked when the list is scrolled to the top.
    pub on_load_older: Callback<()>,
}

/// Local time as HH:MM.
fn clock(ts: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts));
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// Messages grouped by consecutive sender; all text rendered as text.
#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let list = use_node_ref();
    // Keep the newest message in view when one arrives at the bottom.
    {
        let list = list.clone();
        let last = props.entries.last().map(|e| (e.id, e.client_id.clone()));
        use_effect_with(last, move |_| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        });
    }
    let onscroll = {
        let on_load_older = props.on_load_older.clone();
        let list = list.clone();
        let can_load = props.has_more && !props.loading;
        Callback::from(move |_: Event| {
            if can_load && list.cast::<web_sys::Element>().is_some_and(|el| el.scroll_top() <= 4) {
                on_load_older.emit(());
            }
        })
    };
    let mut groups: Vec<Vec<&Entry>> = Vec::new();
    for e in &props.entries {
        match groups.last_mut() {
            Some(g) if g[0].from.id == e.from.id => g.push(e),
            _ => groups.push(vec![e]),
        }
    }
    html! {
        <div class="messages" ref={list} {onscroll} role="log" aria-live="polite" aria-label="Messages" tabindex="0">
            if props.loading {
                <p class="hint">{ "Loading older messages…" }</p>
            } else if props.has_more {
                <p class="hint">{ "Scroll up for older messages" }</p>
            }
            if props.entries.is_empty() && !props.loading {
                <p class="hint">{ "No messages yet. Say hello!" }</p>
            }
            { for groups.into_iter().map(|group| {
                let from = &group[0].from;
                html! {
                    <section class="group">
                        <header>
                            <span class="name" style={format!("color: {}", from.color)}>{ from.name.clone() }</span>
                            <time>{ clock(group[0].ts) }</time>
                        </header>
                        { for group.iter().map(|e| {
                            let (class, mark) = match &e.delivery {
                                Delivery::Pending => ("pending", html! { <span class="mark" title="Sending">{ "…" }</span> }),
                                Delivery::Sent => ("sent", html! { <span class="mark" title="Sent">{ "✓" }</span> }),
                                Delivery::Failed(why) => ("failed", html! { <span class="mark" title={why.clone()}>{ format!("Not sent: {why}") }</span> }),
                            };
                            html! {
                                <p class={classes!("body", class)} data-testid="message">
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
