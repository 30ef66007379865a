//! The chat web app. `App` lives here (not in main.rs) so tests can render it.
//!
//! Layout: `state.rs` is the pure reducer; `services/` does the socket and
//! storage; `hooks/` joins them to the reducer and owns every effect;
//! `components/` only render and call back.

pub mod components;
pub mod hooks;
pub mod services;
pub mod state;

use components::chat_screen::ChatScreen;
use components::join_form::{JoinForm, JoinRequest};
use hooks::use_chat::use_chat;
use hooks::use_embed::use_embed;
use protocol::{Auth, ProjectId};
use state::Status;
use yew::prelude::*;

#[function_component(App)]
pub fn app() -> Html {
    let chat = use_chat();
    use_embed(chat.clone());
    if let Status::SignedOut { reason } = &chat.state.status {
        let on_join = {
            let chat = chat.clone();
            Callback::from(move |r: JoinRequest| {
                // The form only emits a valid project id.
                let Ok(project) = ProjectId::new(r.project) else { return };
                chat.sign_in(Auth::Guest { name: r.name, color: r.color, project });
            })
        };
        let default_project = (*chat.default_project).clone();
        return html! { <JoinForm {default_project} reason={reason.clone()} {on_join} /> };
    }
    html! { <ChatScreen {chat} /> }
}
