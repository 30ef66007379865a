//! Message search: a box in the top bar, and its results (newest first, a
//! page at a time) in a panel over the conversation. Picking a result shows
//! it in its conversation.

use crate::components::{name_color, when};
use crate::state::Search;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SearchBoxProps {
    pub on_search: Callback<String>,
}

#[function_component(SearchBox)]
pub fn search_box(props: &SearchBoxProps) -> Html {
    let input = use_node_ref();
    let onsubmit = {
        let (input, on_search) = (input.clone(), props.on_search.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(el) = input.cast::<web_sys::HtmlInputElement>() {
                on_search.emit(el.value());
            }
        })
    };
    html! {
        <form class="search-form" role="search" {onsubmit}>
            <label for="search-input" class="visually-hidden">{ "Search messages" }</label>
            <input id="search-input" ref={input} type="search" placeholder="Search messages" autocomplete="off"
                data-testid="search" />
        </form>
    }
}

#[derive(Properties, PartialEq)]
pub struct SearchPanelProps {
    pub search: Search,
    /// Where each result is ("# lobby", a person's name), in order.
    pub places: Vec<String>,
    pub on_more: Callback<()>,
    /// The index of the result picked.
    pub on_pick: Callback<usize>,
    pub on_close: Callback<()>,
}

#[function_component(SearchPanel)]
pub fn search_panel(props: &SearchPanelProps) -> Html {
    let s = &props.search;
    let close = {
        let on_close = props.on_close.clone();
        Callback::from(move |_: MouseEvent| on_close.emit(()))
    };
    let more = {
        let on_more = props.on_more.clone();
        Callback::from(move |_: MouseEvent| on_more.emit(()))
    };
    let onkeydown = {
        let on_close = props.on_close.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Escape" {
                e.stop_propagation();
                on_close.emit(());
            }
        })
    };
    let status = if s.loading {
        "Searching…".to_owned()
    } else if s.hits.is_empty() {
        "No messages found.".to_owned()
    } else {
        format!("{}{} found", s.hits.len(), if s.has_more { "+" } else { "" })
    };
    html! {
        <section class="search-panel" aria-labelledby="search-title" {onkeydown} data-testid="search-results">
            <header>
                <h2 id="search-title">{ format!("Messages with “{}”", s.query) }</h2>
                <button type="button" class="link" onclick={close}>{ "Close" }</button>
            </header>
            <p class="hint" aria-live="polite">{ status }</p>
            <ul>
                { for s.hits.iter().zip(&props.places).enumerate().map(|(i, (hit, place))| {
                    let e = &hit.entry;
                    let onclick = {
                        let on_pick = props.on_pick.clone();
                        Callback::from(move |_: MouseEvent| on_pick.emit(i))
                    };
                    let text = if e.life.deleted { "message deleted".to_owned() } else { e.life.body.clone() };
                    html! {
                        <li key={format!("{:?}", e.id)}>
                            <button type="button" class="hit" {onclick} data-testid="hit">
                                <span class="name" style={name_color(&e.from.color)}>{ e.from.name.clone() }</span>
                                <span class="where">{ format!(" in {place} · {}", when::full(e.ts)) }</span>
                                <span class="text">{ text }</span>
                            </button>
                        </li>
                    }
                }) }
            </ul>
            if s.has_more {
                // Not disabled while loading: that would drop the focus (and
                // a second click asks nothing: `Chat::search_more` waits).
                <button type="button" class="link" onclick={more} data-testid="more-results">
                    { "More results" }
                </button>
            }
        </section>
    }
}
