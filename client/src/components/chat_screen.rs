use crate::components::composer::Composer;
use crate::components::message_list::MessageList;
use crate::components::name_color;
use crate::components::sidebar::{Contact, Sidebar};
use crate::components::status_banner::StatusBanner;
use crate::hooks::use_chat::Chat;
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
        .map(|(p, online)| Contact {
            profile: p.clone(),
            online,
            unread: s.conversation(&Conversation::Direct { user: p.id.clone() }).map_or(0, |c| c.unread),
        })
        .collect();
    let room_unread = s.conversation(&Conversation::Room).map_or(0, |c| c.unread);
    let on_select = {
        let chat = chat.clone();
        Callback::from(move |c| chat.select(c))
    };
    let on_retry = {
        let chat = chat.clone();
        Callback::from(move |()| chat.retry_now())
    };
    let on_send = {
        let (chat, to, on_sent) = (chat.clone(), active.clone(), typing.on_sent.clone());
        Callback::from(move |body| {
            chat.send(to.clone(), body);
            on_sent.emit(());
        })
    };
    let on_load_older = {
        let (chat, c) = (chat.clone(), active.clone());
        Callback::from(move |()| chat.load_older(&c))
    };
    let on_scrolled_up = {
        let chat = chat.clone();
        Callback::from(move |up| chat.scrolled_up(up))
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
        <div class="app">
            <header class="topbar">
                <StatusBanner status={s.status.clone()} {on_retry} />
                if let Some(me) = &s.me {
                    <span class="me">{ "Signed in as " }<strong class="name" style={name_color(&me.color)}>{ me.name.clone() }</strong></span>
                }
                <button type="button" class="link" onclick={sign_out}>{ "Sign out" }</button>
            </header>
            <div class="main">
                <Sidebar {project} {room_unread} {contacts} active={active.clone()} {on_select} />
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
                        me={s.me.as_ref().map(|m| m.id.clone())} {on_load_older} {on_scrolled_up} />
                    <p class="typing" aria-live="polite" data-testid="typing">{ typing_text(&typing_names) }</p>
                    <Composer key={conv_key} max_chars={s.limits.max_body_chars} conversation_label={title}
                        disabled={s.me.is_none()} {on_send} on_input={typing.on_input.clone()} />
                </main>
            </div>
        </div>
    }
}
