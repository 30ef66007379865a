//! What survives a reload: the session token (identity), the last project,
//! DM contacts and unacknowledged sends, in localStorage; and a token handed
//! over in the URL by a host application.

use protocol::{ClientMsg, ClientMsgId, Millis, Profile};

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

/// Saves one tab's change to the outbox (after every change, since a page
/// can go away at any moment). The key is shared by the user's tabs, so
/// this is a read-modify-write (see [`merge_outbox`]): writing only this
/// tab's list would erase another tab's unsent messages.
pub fn save_outbox(project: &str, me: &str, pending: &[ClientMsg], settled: &[ClientMsgId]) {
    let key = outbox_key(project, me);
    let merged = merge_outbox(load_outbox(project, me), pending, settled);
    if merged.is_empty() {
        if let Some(s) = storage() {
            let _ = s.remove_item(&key);
        }
    } else if let Ok(json) = serde_json::to_string(&merged) {
        set(&key, &json);
    }
}

/// Forgets every unsent message of `me` (signing out gives them up).
pub fn clear_outbox(project: &str, me: &str) {
    if let Some(s) = storage() {
        let _ = s.remove_item(&outbox_key(project, me));
    }
}

/// The saved outbox after one tab's change: what the user's other tabs
/// saved stays, except the sends this tab has settled (acknowledged or
/// refused for good); this tab's pending sends are added, each once.
pub fn merge_outbox(saved: Vec<ClientMsg>, pending: &[ClientMsg], settled: &[ClientMsgId]) -> Vec<ClientMsg> {
    let id = |msg: &ClientMsg| match msg {
        ClientMsg::Send { client_id, .. } => Some(client_id.clone()),
        _ => None,
    };
    let mine: Vec<ClientMsgId> = pending.iter().filter_map(id).collect();
    let mut merged: Vec<ClientMsg> =
        saved.into_iter().filter(|msg| id(msg).is_some_and(|c| !settled.contains(&c) && !mine.contains(&c))).collect();
    merged.extend(pending.iter().cloned());
    merged
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
    use super::{merge_outbox, parse_params};
    use protocol::{ClientMsg, ClientMsgId, Conversation};

    fn send(id: &str) -> ClientMsg {
        ClientMsg::Send {
            client_id: ClientMsgId::new(id).unwrap(),
            to: Conversation::Room,
            body: id.into(),
            reply_to: None,
            mentions: Vec::new(),
        }
    }
    fn id(s: &str) -> ClientMsgId {
        ClientMsgId::new(s).unwrap()
    }

    /// Found in review: each tab wrote its own list over the shared key, so
    /// tab B saving erased tab A's unsent message.
    #[test]
    fn a_tab_saving_keeps_the_other_tabs_unsent_messages() {
        let saved_by_a = merge_outbox(vec![], &[send("a1")], &[]);
        let saved_by_b = merge_outbox(saved_by_a, &[send("b1")], &[]);
        assert_eq!(saved_by_b, vec![send("a1"), send("b1")]);
        // B's ack of b1 leaves a1 for A (or the next page load) to send.
        assert_eq!(merge_outbox(saved_by_b.clone(), &[], &[id("b1")]), vec![send("a1")]);
        // A's ack of a1, with b1 still pending in B.
        assert_eq!(merge_outbox(saved_by_b, &[], &[id("a1")]), vec![send("b1")]);
    }

    #[test]
    fn a_send_pending_in_two_tabs_is_saved_once_and_settled_by_either() {
        let saved = merge_outbox(vec![send("x")], &[send("x"), send("y")], &[]);
        assert_eq!(saved, vec![send("x"), send("y")]);
        assert!(merge_outbox(saved, &[], &[id("x"), id("y")]).is_empty());
    }

    #[test]
    fn params() {
        assert_eq!(
            parse_params("token=abc.def&project=2424&junk"),
            vec![("token".into(), "abc.def".into()), ("project".into(), "2424".into())]
        );
        assert!(parse_params("").is_empty());
    }
}
