//! The chat web app. `App` lives here (not in main.rs) so tests can render it.
//!
//! Layout: `state.rs` is the pure reducer; `services/` does the socket and
//! storage; `hooks/use_chat.rs` joins them; `components/` only render and
//! call back.

pub mod components;
pub mod hooks;
pub mod services;
pub mod state;

use components::chat_screen::ChatScreen;
use components::join_form::{JoinForm, JoinRequest};
use hooks::use_chat::use_chat;
use protocol::{Auth, ProjectId};
use state::Status;
use yew::prelude::*;

/// The project offered on the join form when the URL names none.
pub const DEFAULT_PROJECT: &str = "lobby";

#[function_component(App)]
pub fn app() -> Html {
    let chat = use_chat();
    if let Status::SignedOut { reason } = &chat.state.status {
        let on_join = {
            let chat = chat.clone();
            Callback::from(move |r: JoinRequest| {
                let Ok(project) = ProjectId::new(r.project) else { return };
                chat.sign_in(Auth::Guest { name: r.name, color: r.color, project });
            })
        };
        let default_project = services::storage::url_project()
            .or_else(services::storage::load_project)
            .unwrap_or_else(|| DEFAULT_PROJECT.into());
        return html! { <JoinForm {default_project} reason={reason.clone()} {on_join} /> };
    }
    html! { <ChatScreen {chat} /> }
}
