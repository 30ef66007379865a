//! Configuration read at startup from `index.html`, so the built app
//! (dist/) can be served by any static host on another origin:
//!
//! - `<meta name="chat-server" content="https://chat.example.com">`: the
//!   chat server's address (`http(s)://` or `ws(s)://`, with or without a
//!   path prefix); absent or empty, the page's own origin, as before.
//! - `<meta name="chat-embed-origins" content="https://app.example.com …">`:
//!   the parent pages (space-separated origins) that may hand the app a
//!   token and a colour scheme by `postMessage` when it is embedded in an
//!   iframe (see `hooks/use_embed.rs`); absent, none may.

/// The content of `<meta name="{name}">`, when present and not blank.
fn meta(name: &str) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let element = document.query_selector(&format!("meta[name=\"{name}\"]")).ok()??;
    element.get_attribute("content").map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
}

/// The chat server's address from `<meta name="chat-server">`, if any
/// (`services/socket.rs` turns it into the socket's URL with
/// [`socket_url_for`]).
pub fn chat_server() -> Option<String> {
    meta("chat-server")
}

/// The origins allowed to embed the app and hand it a token.
pub fn embed_origins() -> Vec<String> {
    parse_origins(meta("chat-embed-origins").as_deref().unwrap_or(""))
}

/// `server` (from the meta tag) as a WebSocket URL ending in `/ws`; without
/// one, the page's origin (`page_protocol` is `location.protocol`, e.g.
/// `https:`).
pub fn socket_url_for(server: Option<&str>, page_protocol: &str, page_host: &str) -> String {
    let Some(server) = server else {
        let scheme = if page_protocol == "https:" { "wss:" } else { "ws:" };
        return format!("{scheme}//{page_host}/ws");
    };
    let (scheme, rest) = match server.split_once("://") {
        Some(("https" | "wss", rest)) => ("wss", rest),
        Some((_, rest)) => ("ws", rest),
        // A bare host: the page's scheme.
        None => (if page_protocol == "https:" { "wss" } else { "ws" }, server),
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/ws").unwrap_or(rest);
    format!("{scheme}://{rest}/ws")
}

/// Space- or comma-separated origins, without trailing slashes.
pub fn parse_origins(raw: &str) -> Vec<String> {
    raw.split([' ', ',']).map(|o| o.trim().trim_end_matches('/')).filter(|o| !o.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_follows_the_page_unless_configured() {
        assert_eq!(socket_url_for(None, "http:", "127.0.0.1:8080"), "ws://127.0.0.1:8080/ws");
        assert_eq!(socket_url_for(None, "https:", "chat.example.com"), "wss://chat.example.com/ws");
        assert_eq!(socket_url_for(Some("https://chat.example.com"), "http:", "cdn"), "wss://chat.example.com/ws");
        assert_eq!(socket_url_for(Some("http://127.0.0.1:9000/"), "https:", "cdn"), "ws://127.0.0.1:9000/ws");
        assert_eq!(socket_url_for(Some("wss://c.example/chat/ws"), "http:", "cdn"), "wss://c.example/chat/ws");
        assert_eq!(socket_url_for(Some("c.example:8080"), "https:", "cdn"), "wss://c.example:8080/ws");
    }

    #[test]
    fn origins_are_listed_with_spaces_or_commas() {
        assert_eq!(
            parse_origins(" https://a.example/ http://b:8000,https://c "),
            ["https://a.example", "http://b:8000", "https://c"]
        );
        assert!(parse_origins("").is_empty());
    }
}
