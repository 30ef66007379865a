//! Embedding in a host application's page: inside an iframe, the app
//! tells its parent it is ready (`{"type":"chat-ready"}`), then accepts,
//! from the origins `<meta name="chat-embed-origins">` lists and from no
//! others:
//!
//! - `{"type":"chat-token","token":"eyJ…","project":"2424"}`: signs in with
//!   the token (`project` optional). The token never goes into a URL, so
//!   it ends up in no server log, history entry or `Referer`.
//! - `{"type":"chat-theme","scheme":"dark"}` (or `"light"`, or `"auto"` to
//!   follow the system again): the app's colour scheme follows the host's.
//!
//! Messages from any other origin, or of another form, are ignored.

use crate::hooks::use_chat::Chat;
use crate::services::config::embed_origins;
use protocol::{Auth, ProjectId};
use serde_json::Value;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// What a parent page may say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedMessage {
    Token { token: String, project: Option<ProjectId> },
    Theme(String),
}

/// Reads a message's data (already JSON) if it has one of the known forms.
pub fn parse_embed_message(data: &Value) -> Option<EmbedMessage> {
    match data.get("type")?.as_str()? {
        "chat-token" => {
            let token = data.get("token")?.as_str()?.to_owned();
            let project = match data.get("project") {
                None | Some(Value::Null) => None,
                Some(p) => Some(ProjectId::new(p.as_str()?).ok()?),
            };
            (!token.is_empty()).then_some(EmbedMessage::Token { token, project })
        }
        "chat-theme" => match data.get("scheme")?.as_str()? {
            scheme @ ("dark" | "light" | "auto") => Some(EmbedMessage::Theme(scheme.to_owned())),
            _ => None,
        },
        _ => None,
    }
}

fn set_theme(scheme: &str) {
    let Some(root) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.document_element()) else { return };
    let _ =
        if scheme == "auto" { root.remove_attribute("data-theme") } else { root.set_attribute("data-theme", scheme) };
}

#[hook]
pub fn use_embed(chat: Chat) {
    use_effect_with((), move |_| {
        let listener = web_sys::window().and_then(|window| {
            let parent = window.parent().ok().flatten()?;
            if parent == window {
                return None; // not in a frame
            }
            if let Some(root) = window.document().and_then(|d| d.document_element()) {
                let _ = root.set_attribute("data-embedded", "");
            }
            let allowed = embed_origins();
            let listener = gloo_events::EventListener::new(&window, "message", move |event| {
                let Some(event) = event.dyn_ref::<web_sys::MessageEvent>() else { return };
                if !allowed.iter().any(|o| *o == event.origin()) {
                    return;
                }
                let json = js_sys::JSON::stringify(&event.data()).ok().and_then(|s| s.as_string());
                let Some(data) = json.and_then(|s| serde_json::from_str::<Value>(&s).ok()) else { return };
                match parse_embed_message(&data) {
                    Some(EmbedMessage::Token { token, project }) => chat.sign_in(Auth::Token { token, project }),
                    Some(EmbedMessage::Theme(scheme)) => set_theme(&scheme),
                    None => {}
                }
            });
            // Nothing secret in it: any parent may learn the app is ready.
            let ready = js_sys::JSON::parse(r#"{"type":"chat-ready"}"#).ok()?;
            let _ = parent.post_message(&ready, "*");
            Some(listener)
        });
        move || drop(listener)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_known_forms_are_understood() {
        assert_eq!(
            parse_embed_message(&json!({"type": "chat-token", "token": "t.k.n", "project": "2424"})),
            Some(EmbedMessage::Token { token: "t.k.n".into(), project: Some(ProjectId::new("2424").unwrap()) })
        );
        assert_eq!(
            parse_embed_message(&json!({"type": "chat-token", "token": "t"})),
            Some(EmbedMessage::Token { token: "t".into(), project: None })
        );
        assert_eq!(
            parse_embed_message(&json!({"type": "chat-theme", "scheme": "dark"})),
            Some(EmbedMessage::Theme("dark".into()))
        );
        for bad in [
            json!({"type": "chat-token", "token": ""}),
            json!({"type": "chat-token", "token": "t", "project": "bad id"}),
            json!({"type": "chat-theme", "scheme": "red"}),
            json!({"type": "other"}),
            json!("chat-token"),
        ] {
            assert_eq!(parse_embed_message(&bad), None, "{bad}");
        }
    }
}
