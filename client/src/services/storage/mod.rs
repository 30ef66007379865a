//! What survives a reload: the session token (identity), the last project,
//! DM contacts and unacknowledged sends, in localStorage (gloo-storage);
//! and a token handed over in the URL by a host application
//! (`UrlSearchParams`). Keys and formats are in [`format`], versioned.

pub mod format;

use format::{FormatError, VERSION};
use gloo_storage::{LocalStorage, Storage};
use protocol::{ClientMsg, ClientMsgId, Millis, Profile};

/// How long before its expiry a stored token is no longer tried, in ms.
const EXPIRY_MARGIN_MS: Millis = 60_000;

fn get(key: &str) -> Option<String> {
    LocalStorage::raw().get_item(key).ok()?.filter(|v| !v.is_empty())
}

fn set(key: &str, value: &str) {
    let _ = LocalStorage::raw().set_item(key, value);
}

fn log(text: &str) {
    web_sys::console::warn_1(&text.into());
}

/// Moves a value from its v1 key to its v2 key once (never over a v2
/// value), with a log line, and deletes the v1 key.
fn migrate_key(old: &str, new: &str, convert: impl FnOnce(&str) -> Result<String, FormatError>) {
    let Some(value) = get(old) else { return };
    if get(new).is_some() {
        log(&format!("chat: {old} dropped: {new} (format v{VERSION}) is already there"));
    } else {
        match convert(&value) {
            Ok(value) => {
                set(new, &value);
                log(&format!("chat: {old} migrated to {new}"));
            }
            Err(e) => {
                // Kept under its old key for a person to recover.
                log(&format!("chat: {old} not migrated ({e}); left as it was"));
                return;
            }
        }
    }
    LocalStorage::delete(old);
}

fn migrate_session() {
    for (old, new) in format::v1_session_keys() {
        migrate_key(old, &new, |v| Ok(v.to_owned()));
    }
}

fn migrate_user(project: &str, me: &str) {
    let [outbox, contacts] = format::v1_keys(project, me);
    migrate_key(&outbox.0, &outbox.1, format::migrate_v1_outbox);
    migrate_key(&contacts.0, &contacts.1, |v| Ok(v.to_owned()));
}

/// The stored session token, unless it has expired (then the join form
/// shows instead of a doomed attempt).
pub fn load_token() -> Option<String> {
    migrate_session();
    let token = get(&format::token_key())?;
    let expires: Option<Millis> = get(&format::expires_key()).and_then(|e| e.parse().ok());
    if expires.is_some_and(|e| e - EXPIRY_MARGIN_MS < js_sys::Date::now() as Millis) {
        clear_session();
        return None;
    }
    Some(token)
}

/// Keeps what a `welcome` said for the next reload.
pub fn save_session(token: &str, expires: Millis, project: &str) {
    set(&format::token_key(), token);
    set(&format::expires_key(), &expires.to_string());
    set(&format::project_key(), project);
}

/// Forgets the identity (the last project stays as the form's default).
pub fn clear_session() {
    LocalStorage::delete(format::token_key());
    LocalStorage::delete(format::expires_key());
}

pub fn load_project() -> Option<String> {
    migrate_session();
    get(&format::project_key())
}

/// The people `me` had direct conversations with, so they stay in the
/// sidebar (offline) after a reload.
pub fn load_contacts(project: &str, me: &str) -> Vec<Profile> {
    migrate_user(project, me);
    LocalStorage::get(format::contacts_key(project, me)).unwrap_or_default()
}

pub fn save_contacts(project: &str, me: &str, contacts: &[Profile]) {
    let _ = LocalStorage::set(format::contacts_key(project, me), contacts);
}

/// The saved outbox, or why it cannot be read.
fn read_outbox(project: &str, me: &str) -> Result<Vec<ClientMsg>, FormatError> {
    migrate_user(project, me);
    get(&format::outbox_key(project, me)).map_or(Ok(Vec::new()), |json| format::decode_outbox(&json))
}

/// Sends `me` had not seen acknowledged when the page went away: restored
/// and resent after the next welcome (the server stores each `client_id`
/// once, so a send that did arrive is not stored twice).
pub fn load_outbox(project: &str, me: &str) -> Vec<ClientMsg> {
    read_outbox(project, me).unwrap_or_else(|e| {
        log(&format!("chat: saved unsent messages not restored: {e}"));
        Vec::new()
    })
}

/// Saves one tab's change to the outbox (after every change, since a page
/// can go away at any moment). The key is shared by the user's tabs, so
/// this is a read-modify-write (see [`format::merge_outbox`]). A saved
/// value this version cannot read (another version's tab wrote it) is
/// left alone rather than overwritten.
pub fn save_outbox(
    project: &str,
    me: &str,
    pending: &[ClientMsg],
    settled: &[ClientMsgId],
    settled_changes: &[ClientMsg],
) {
    let key = format::outbox_key(project, me);
    let saved = match read_outbox(project, me) {
        Ok(saved) => saved,
        Err(e) => return log(&format!("chat: {key} not updated: {e}")),
    };
    let merged = format::merge_outbox(saved, pending, settled, settled_changes);
    if merged.is_empty() {
        LocalStorage::delete(&key);
    } else {
        set(&key, &format::encode_outbox(&merged));
    }
}

/// Forgets every unsent message of `me` (signing out gives them up).
pub fn clear_outbox(project: &str, me: &str) {
    LocalStorage::delete(format::outbox_key(project, me));
}

/// The page's query string and fragment, as parameters.
fn location_params() -> Vec<web_sys::UrlSearchParams> {
    let Some(location) = web_sys::window().map(|w| w.location()) else { return Vec::new() };
    let search = location.search().unwrap_or_default();
    let hash = location.hash().unwrap_or_default();
    [search.trim_start_matches('?').to_owned(), hash.trim_start_matches('#').to_owned()]
        .iter()
        .filter_map(|raw| web_sys::UrlSearchParams::new_with_str(raw).ok())
        .collect()
}

fn param(name: &str) -> Option<String> {
    location_params().iter().find_map(|p| p.get(name)).filter(|v| !v.is_empty())
}

/// A token (and project) in `?token=…` or `#token=…`, as a host application
/// links to the chat. The token is removed from the address bar so it does
/// not linger in history or get copied along with the link.
pub fn take_url_token() -> Option<(String, Option<String>)> {
    let token = param("token")?;
    let project = param("project");
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
    param("project")
}
