//! What survives a reload: the session token (identity) and the last
//! project, in localStorage; and a token handed over in the URL by a host
//! application.

const TOKEN_KEY: &str = "chat.session_token";
const PROJECT_KEY: &str = "chat.project";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

pub fn load_token() -> Option<String> {
    storage()?.get_item(TOKEN_KEY).ok()?.filter(|t| !t.is_empty())
}

pub fn save_token(token: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(TOKEN_KEY, token);
    }
}

pub fn clear_token() {
    if let Some(s) = storage() {
        let _ = s.remove_item(TOKEN_KEY);
    }
}

pub fn load_project() -> Option<String> {
    storage()?.get_item(PROJECT_KEY).ok()?
}

pub fn save_project(project: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(PROJECT_KEY, project);
    }
}

/// `key=value` pairs of a query string or fragment (without `?`/`#`).
pub fn parse_params(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect()
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
