use crate::components::composer::Composer;
use crate::components::message_list::MessageList;
use crate::components::name_color;
use crate::components::search::{SearchBox, SearchPanel};
use crate::components::sidebar::{Contact, Sidebar};
use crate::components::status_banner::StatusBanner;
use crate::hooks::use_chat::Chat;
use crate::hooks::use_compose::{reaction_names, use_compose};
use crate::hooks::use_notifications::{use_notifications, Permission};
use crate::hooks::use_shortcuts::{use_shortcuts, Shortcut};
use crate::hooks::use_typing::use_typing;
use protocol::Conversation;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ChatScreenProps {
    pub chat: Chat,
}

/// "ann is typing…", "ann, bob are typing…", or nothing.
pub fn typing_text(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        many => format!("{} are typing…", many.join(", ")),
    }
}

/// Back to writing after choosing a conversation (or closing the drawer).
fn focus_composer() {
    let input = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("composer-input"));
    if let Some(el) = input.and_then(|el| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el).ok()) {
        let _ = el.focus();
    }
}

#[function_component(ChatScreen)]
pub fn chat_screen(props: &ChatScreenProps) -> Html {
    let chat = &props.chat;
    let s = chat.state.clone();
    let active = s.active.clone();
    let typing = use_typing(chat, &active);
    let conv = s.conversation(&active).cloned().unwrap_or_default();
    let project = s.project.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let title = match &active {
        Conversation::Room => format!("# {project}"),
        Conversation::Direct { user } => s.people.get(user).map_or_else(|| user.to_string(), |p| p.name.clone()),
    };
    let peer_offline = match &active {
        Conversation::Direct { user } => !s.online.contains_key(user) && s.me.as_ref().is_some_and(|m| &m.id != user),
        Conversation::Room => false,
    };
    let typing_names: Vec<String> = s.typing_in(&active).into_iter().map(|p| p.name.clone()).collect();
    let contacts: Vec<Contact> = s
        .contacts()
        .into_iter()
        .map(|(p, online)| {
            let (unread, mentions) = s.unread_in(&Conversation::Direct { user: p.id.clone() });
            Contact { profile: p.clone(), online, unread, mentions }
        })
        .collect();
    let (room_unread, room_mentions) = s.unread_in(&Conversation::Room);
    let compose = use_compose(chat, &active, typing.on_sent.clone());
    let names = reaction_names(chat, &conv.entries);
    // The search panel shows the last search until it is closed.
    let search_open = use_state_eq(|| false);
    let place = |c: &Conversation| match c {
        Conversation::Room => format!("# {project}"),
        Conversation::Direct { user } => s.people.get(user).map_or_else(|| user.to_string(), |p| p.name.clone()),
    };
    let total_unread = s.total_unread();
    // On a phone the conversations are a drawer over the conversation.
    let drawer_open = use_state_eq(|| false);
    let find_ref = use_node_ref();
    let on_select = {
        let (chat, drawer_open, search_open) = (chat.clone(), drawer_open.clone(), search_open.clone());
        Callback::from(move |c| {
            chat.select(c);
            drawer_open.set(false);
            search_open.set(false);
            focus_composer();
        })
    };
    let notifications = use_notifications(&s, on_select.clone());
    let enable_notifications = {
        let request = notifications.request.clone();
        Callback::from(move |_: MouseEvent| request.emit(()))
    };
    let toggle_drawer = {
        let drawer_open = drawer_open.clone();
        Callback::from(move |_: MouseEvent| drawer_open.set(!*drawer_open))
    };
    // The sidebar's order, for Alt+Up/Down.
    let order: Vec<Conversation> = std::iter::once(Conversation::Room)
        .chain(contacts.iter().map(|c| Conversation::Direct { user: c.profile.id.clone() }))
        .collect();
    {
        let (on_select, drawer_open, find_ref, active) =
            (on_select.clone(), drawer_open.clone(), find_ref.clone(), active.clone());
        let search_open = search_open.clone();
        use_shortcuts(Callback::from(move |shortcut| match shortcut {
            Shortcut::Escape => {
                search_open.set(false);
                if *drawer_open {
                    drawer_open.set(false);
                    focus_composer();
                }
            }
            Shortcut::Previous | Shortcut::Next => {
                let at = order.iter().position(|c| *c == active).unwrap_or(0);
                let to = if shortcut == Shortcut::Next {
                    (at + 1) % order.len()
                } else {
                    (at + order.len() - 1) % order.len()
                };
                on_select.emit(order[to].clone());
            }
            Shortcut::Find => {
                drawer_open.set(true);
                if let Some(input) = find_ref.cast::<web_sys::HtmlElement>() {
                    let _ = input.focus();
                }
            }
        }));
    }
    let on_retry = {
        let chat = chat.clone();
        Callback::from(move |()| chat.retry_now())
    };
    let on_search = {
        let (chat, search_open) = (chat.clone(), search_open.clone());
        Callback::from(move |query: String| {
            chat.search(&query);
            search_open.set(true);
        })
    };
    let close_search = {
        let search_open = search_open.clone();
        Callback::from(move |()| search_open.set(false))
    };
    let search_panel = s.search.as_ref().filter(|_| *search_open).map(|search| {
        let places: Vec<String> = search.hits.iter().map(|h| place(&h.conversation)).collect();
        let on_pick = {
            let (chat, search_open, hits) = (chat.clone(), search_open.clone(), search.hits.clone());
            Callback::from(move |i: usize| {
                if let Some(id) = hits[i].entry.id {
                    search_open.set(false);
                    chat.jump(hits[i].conversation.clone(), id);
                }
            })
        };
        let on_more = {
            let chat = chat.clone();
            Callback::from(move |()| chat.search_more())
        };
        html! { <SearchPanel search={search.clone()} {places} {on_more} {on_pick} on_close={close_search.clone()} /> }
    });
    let on_load_gap = {
        let (chat, c) = (chat.clone(), active.clone());
        Callback::from(move |above| chat.load_gap(&c, above))
    };
    let on_load_older = {
        let (chat, c) = (chat.clone(), active.clone());
        Callback::from(move |()| chat.load_older(&c))
    };
    let on_scrolled_up = {
        let chat = chat.clone();
        Callback::from(move |up| chat.scrolled_up(up))
    };
    let retry_send = {
        let chat = chat.clone();
        Callback::from(move |id| chat.retry_send(id))
    };
    let discard_send = {
        let chat = chat.clone();
        Callback::from(move |id| chat.discard_send(id))
    };
    let sign_out = {
        let chat = chat.clone();
        Callback::from(move |_| chat.sign_out())
    };
    // Each conversation gets its own list and composer (scroll place, draft).
    let conv_key = match &active {
        Conversation::Room => "room".to_string(),
        Conversation::Direct { user } => format!("dm-{user}"),
    };
    html! {
        <div class={classes!("app", drawer_open.then_some("drawer-open"))}>
            <header class="topbar">
                <button type="button" class="link drawer-toggle" onclick={toggle_drawer} aria-expanded={drawer_open.to_string()}
                    aria-controls="sidebar" data-testid="drawer-toggle">
                    { "☰ Conversations" }
                    if total_unread > 0 {
                        <span class="badge" aria-label={format!("{total_unread} unread")}>{ total_unread }</span>
                    }
                </button>
                <StatusBanner status={s.status.clone()} {on_retry} />
                <SearchBox {on_search} />
                if notifications.permission == Permission::Ask {
                    <button type="button" class="link" onclick={enable_notifications} data-testid="enable-notifications"
                        title="Get a desktop notification for direct messages and mentions of you while this tab is in the background">
                        { "Enable notifications" }
                    </button>
                }
                if let Some(me) = &s.me {
                    <span class="me">{ "Signed in as " }<strong class="name" style={name_color(&me.color)}>{ me.name.clone() }</strong></span>
                }
                <button type="button" class="link sign-out" onclick={sign_out}>{ "Sign out" }</button>
            </header>
            <div class="main">
                <Sidebar {project} {room_unread} {room_mentions} {contacts} active={active.clone()} {on_select} {find_ref} />
                { for search_panel }
                <main class="conversation" aria-labelledby="conversation-title">
                    <h1 class="title" id="conversation-title" data-testid="title">
                        { title.clone() }
                        if peer_offline {
                            <span class="state">{ " (offline: messages are delivered when they are back)" }</span>
                        }
                    </h1>
                    <ul class="notices" aria-label="Notices" aria-live="polite">
                        { for s.notices.iter().map(|n| html! { <li key={n.id}>{ n.text.clone() }</li> }) }
                    </ul>
                    <MessageList key={conv_key.clone()} entries={conv.entries.clone()} has_more={conv.has_more}
                        loading={conv.history_requested} at_start={conv.at_start()} unread={conv.unread}
                        me={s.me.as_ref().map(|m| m.id.clone())} {on_load_older} {on_scrolled_up}
                        on_retry={retry_send} on_discard={discard_send} actions={compose.actions}
                        emoji={s.reactions.clone()} {names} edit_window_secs={s.limits.edit_window_secs}
                        focus={s.focus} {on_load_gap} />
                    <p class="typing" aria-live="polite" data-testid="typing">{ typing_text(&typing_names) }</p>
                    <Composer key={conv_key} max_chars={s.limits.max_body_chars} conversation_label={title}
                        disabled={s.me.is_none()} on_send={compose.on_send} on_input={typing.on_input.clone()}
                        mode={compose.mode} on_cancel={compose.on_cancel} on_edit_last={compose.on_edit_last}
                        on_mention_query={compose.on_mention_query} suggestions={compose.suggestions} />
                </main>
            </div>
        </div>
    }
}
