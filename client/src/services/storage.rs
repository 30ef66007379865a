//! What survives a reload: the session token (identity), the last project,
//! DM contacts and unacknowledged sends, in localStorage; and a token handed
//! over in the URL by a host application.

use protocol::{ClientMsg, Millis, Profile};

const TOKEN_KEY: &str = "chat.session_token";
const EXPIRES_KEY: &str = "chat.session_expires";
const PROJECT_KEY: &str = "chat.project";
/// How long before its expiry a stored token is no longer tried, in ms.
const EXPIRY_MARGIN_MS: Millis = 60_000;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn get(key: &str) -> Option<String> {
    storage()?.get_item(key).ok()?.filter(|v| !v.is_empty())
}

fn set(key: &str, value: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(key, value);
    }
}

/// The stored session token, unless it has expired (then the join form
/// shows instead of a doomed attempt).
pub fn load_token() -> Option<String> {
    let token = get(TOKEN_KEY)?;
    let expires: Option<Millis> = get(EXPIRES_KEY).and_then(|e| e.parse().ok());
    if expires.is_some_and(|e| e - EXPIRY_MARGIN_MS < js_sys::Date::now() as Millis) {
        clear_session();
        return None;
    }
    Some(token)
}

/// Keeps what a `welcome` said for the next reload.
pub fn save_session(token: &str, expires: Millis, project: &str) {
    set(TOKEN_KEY, token);
    set(EXPIRES_KEY, &expires.to_string());
    set(PROJECT_KEY, project);
}

/// Forgets the identity (the last project stays as the form's default).
pub fn clear_session() {
    if let Some(s) = storage() {
        let _ = s.remove_item(TOKEN_KEY);
        let _ = s.remove_item(EXPIRES_KEY);
    }
}

pub fn load_project() -> Option<String> {
    get(PROJECT_KEY)
}

fn contacts_key(project: &str, me: &str) -> String {
    format!("chat.contacts.{project}.{me}")
}

/// The people `me` had direct conversations with, so they stay in the
/// sidebar (offline) after a reload.
pub fn load_contacts(project: &str, me: &str) -> Vec<Profile> {
    get(&contacts_key(project, me)).and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default()
}

pub fn save_contacts(project: &str, me: &str, contacts: &[Profile]) {
    if let Ok(json) = serde_json::to_string(contacts) {
        set(&contacts_key(project, me), &json);
    }
}

fn outbox_key(project: &str, me: &str) -> String {
    format!("chat.outbox.{project}.{me}")
}

/// Sends `me` had not seen acknowledged when the page went away: restored
/// and resent after the next welcome (the server stores each `client_id`
/// once, so a send that did arrive is not stored twice).
pub fn load_outbox(project: &str, me: &str) -> Vec<ClientMsg> {
    get(&outbox_key(project, me)).and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default()
}

/// Saved after every change, since a page can go away at any moment.
pub fn save_outbox(project: &str, me: &str, pending: &[ClientMsg]) {
    let key = outbox_key(project, me);
    if pending.is_empty() {
        if let Some(s) = storage() {
            let _ = s.remove_item(&key);
        }
    } else if let Ok(json) = serde_json::to_string(pending) {
        set(&key, &json);
    }
}

/// `key=value` pairs of a query string or fragment (without `?`/`#`).
pub fn parse_params(raw: &str) -> Vec<(String, String)> {
    raw.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_owned(), decode(v))).collect()
}

fn decode(v: &str) -> String {
    let v = v.replace('+', " ");
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::decode_uri_component(&v).map(String::from).unwrap_or(v)
    }
    #[cfg(not(target_arch = "wasm32"))]
    v
}

fn location_params() -> Vec<(String, String)> {
    let Some(location) = web_sys::window().map(|w| w.location()) else { return Vec::new() };
    let search = location.search().unwrap_or_default();
    let hash = location.hash().unwrap_or_default();
    let mut params = parse_params(search.trim_start_matches('?'));
    params.extend(parse_params(hash.trim_start_matches('#')));
    params
}

/// A token (and project) in `?token=…` or `#token=…`, as a host application
/// links to the chat. The token is removed from the address bar so it does
/// not linger in history or get copied along with the link.
pub fn take_url_token() -> Option<(String, Option<String>)> {
    let params = location_params();
    let token = params.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone())?;
    let project = params.iter().find(|(k, _)| k == "project").map(|(_, v)| v.clone());
    if let Some(window) = web_sys::window() {
        if let Ok(history) = window.history() {
            let path = window.location().pathname().unwrap_or_else(|_| "/".into());
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
        }
    }
    Some((token, project))
}

/// The project named in the URL, if any (`?project=…`).
pub fn url_project() -> Option<String> {
    location_params().into_iter().find(|(k, _)| k == "project").map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::parse_params;

    #[test]
    fn params() {
        assert_eq!(
            parse_params("token=abc.def&project=2424&junk"),
            vec![("token".into(), "abc.def".into()), ("project".into(), "2424".into())]
        );
        assert!(parse_params("").is_empty());
    }
}
