use crate::components::composer::Composer;
use crate::components::message_list::MessageList;
use crate::components::sidebar::Sidebar;
use crate::components::status_banner::StatusBanner;
use crate::hooks::use_chat::Chat;
use protocol::Conversation;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ChatScreenProps {
    pub chat: Chat,
}

#[function_component(ChatScreen)]
pub fn chat_screen(props: &ChatScreenProps) -> Html {
    let chat = &props.chat;
    let s = chat.state.clone();
    let active = s.active.clone();
    let conv = s.conversation(&active).cloned().unwrap_or_default();
    let title = match &active {
        Conversation::Room => format!("# {}", s.project.as_ref().map(|p| p.to_string()).unwrap_or_default()),
        Conversation::Direct { user } => s.people.get(user).map_or_else(|| user.to_string(), |p| p.name.clone()),
    };
    let typing: Vec<String> = s.typing_in(&active).into_iter().map(|p| p.name.clone()).collect();
    let typing_text = match typing.len() {
        0 => String::new(),
        1 => format!("{} is typing…", typing[0]),
        _ => format!("{} are typing…", typing.join(", ")),
    };
    let on_select = { let chat = chat.clone(); Callback::from(move |c| chat.select(c)) };
    let on_retry = { let chat = chat.clone(); Callback::from(move |()| chat.retry_now()) };
    let on_send = { let (chat, to) = (chat.clone(), active.clone()); Callback::from(move |body| chat.send(to.clone(), body)) };
    let on_typing = { let (chat, to) = (chat.clone(), active.clone()); Callback::from(move |on| chat.typing(to.clone(), on)) };
    let on_load_older = { let (chat, c) = (chat.clone(), active.clone()); Callback::from(move |()| chat.load_older(&c)) };
    let sign_out = { let chat = chat.clone(); Callback::from(move |_| chat.sign_out()) };
    let me = s.me.clone();
    html! {
        <div class="app">
            <header class="topbar">
                <StatusBanner status={s.status.clone()} {on_retry} />
                if let Some(me) = me {
                    <span class="me">{ "Signed in as " }<strong style={format!("color: {}", me.color)}>{ me.name }</strong></span>
                }
                <button type="button" class="link" onclick={sign_out}>{ "Sign out" }</button>
            </header>
            <div class="main">
                <Sidebar state={s.clone()} {on_select} />
                <main class="conversation" aria-label={title.clone()}>
                    <h1 class="title" data-testid="title">{ title.clone() }</h1>
                    <ul class="notices" aria-label="Notices">
                        { for s.notices.iter().map(|n| html! { <li key={n.id}>{ n.text.clone() }</li> }) }
                    </ul>
                    <MessageList entries={conv.entries.clone()} has_more={conv.has_more} loading={conv.history_requested} {on_load_older} />
                    <p class="typing" aria-live="polite">{ typing_text }</p>
                    <Composer max_chars={s.limits.max_body_chars} conversation_label={title} {on_send} {on_typing} />
                </main>
            </div>
        </div>
    }
}
