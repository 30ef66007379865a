use crate::components::name_color;
use protocol::{Conversation, Profile};
use yew::prelude::*;

/// A person in the sidebar.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub profile: Profile,
    pub online: bool,
    pub unread: u32,
    /// How many of the unread mention me.
    pub mentions: u32,
}

#[derive(Properties, PartialEq)]
pub struct SidebarProps {
    pub project: String,
    pub room_unread: u32,
    #[prop_or_default]
    pub room_mentions: u32,
    /// Online first; people we talked to stay here (offline) after they leave.
    pub contacts: Vec<Contact>,
    pub active: Conversation,
    pub on_select: Callback<Conversation>,
    /// The find box (Ctrl+K focuses it).
    #[prop_or_default]
    pub find_ref: NodeRef,
}

/// Whether a person matches what was typed in the find box.
pub fn matches_filter(name: &str, filter: &str) -> bool {
    name.to_lowercase().contains(&filter.trim().to_lowercase())
}

/// The project room and the people, with presence and unread counts.
#[function_component(Sidebar)]
pub fn sidebar(props: &SidebarProps) -> Html {
    let filter = use_state(String::new);
    let oninput = {
        let filter = filter.clone();
        Callback::from(move |e: InputEvent| filter.set(e.target_unchecked_into::<web_sys::HtmlInputElement>().value()))
    };
    let shown: Vec<&Contact> = props.contacts.iter().filter(|c| matches_filter(&c.profile.name, &filter)).collect();
    // Enter opens the first match; Esc clears the box.
    let onkeydown = {
        let (filter, on_select) = (filter.clone(), props.on_select.clone());
        let first = shown.first().map(|c| Conversation::Direct { user: c.profile.id.clone() });
        Callback::from(move |e: KeyboardEvent| match e.key().as_str() {
            "Enter" => {
                if let Some(c) = first.clone() {
                    e.prevent_default();
                    filter.set(String::new());
                    if let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                        input.set_value("");
                    }
                    on_select.emit(c);
                }
            }
            "Escape" => {
                filter.set(String::new());
                if let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
                    input.set_value("");
                }
            }
            _ => {}
        })
    };
    let item = |conv: Conversation,
                label: Html,
                aria: String,
                online: Option<bool>,
                (unread, mentions): (u32, u32),
                testid: String| {
        let current = props.active == conv;
        let onclick = {
            let on_select = props.on_select.clone();
            let conv = conv.clone();
            Callback::from(move |_| on_select.emit(conv.clone()))
        };
        let mut aria = aria;
        if unread > 0 {
            aria.push_str(&format!(", {unread} unread"));
        }
        if mentions > 0 {
            aria.push_str(&format!(", {mentions} mentioning you"));
        }
        html! {
            <li>
                <button type="button" class={classes!("conv", current.then_some("current"), (online == Some(false)).then_some("offline"))}
                    aria-current={current.then_some("page")} aria-label={aria} {onclick} data-testid={testid}>
                    if let Some(on) = online {
                        <span class={classes!("dot", on.then_some("on"))} aria-hidden="true"></span>
                    }
                    <span class="label">{ label }</span>
                    if mentions > 0 {
                        <span class="badge mention" aria-hidden="true" title="Mentions of you">{ format!("@{mentions}") }</span>
                    }
                    if unread > 0 {
                        <span class="badge" aria-hidden="true">{ unread }</span>
                    }
                </button>
            </li>
        }
    };
    html! {
        <nav class="sidebar" id="sidebar" aria-label="Conversations">
            <div class="find">
                <label for="find-conversation" class="visually-hidden">{ "Find a person" }</label>
                <input id="find-conversation" ref={props.find_ref.clone()} type="search" placeholder="Find a person (Ctrl+K)"
                    autocomplete="off" {oninput} {onkeydown} data-testid="find" />
            </div>
            <ul>
                { item(Conversation::Room, html! { <>{ "# " }{ props.project.clone() }</> },
                    format!("Room {}", props.project), None, (props.room_unread, props.room_mentions), "conv-room".into()) }
            </ul>
            <h2 id="people-title">{ "People" }</h2>
            <ul data-testid="people" aria-labelledby="people-title">
                { for shown.iter().map(|c| {
                    let p = &c.profile;
                    let label = html! {
                        <>
                            <span class="name" style={name_color(&p.color)}>{ p.name.clone() }</span>
                            if !c.online {
                                <span class="state">{ " (offline)" }</span>
                            }
                        </>
                    };
                    let aria = format!("{}, {}", p.name, if c.online { "online" } else { "offline" });
                    item(Conversation::Direct { user: p.id.clone() }, label, aria, Some(c.online), (c.unread, c.mentions), format!("person-{}", p.name))
                }) }
            </ul>
            if props.contacts.is_empty() {
                <p class="hint">{ "Nobody else is here yet." }</p>
            } else if shown.is_empty() {
                <p class="hint">{ "Nobody by that name." }</p>
            }
        </nav>
    }
}
