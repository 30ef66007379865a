//! The WebSocket upgrade at `GET /ws`, done here rather than by `warp::ws()`
//! so that the socket gets small buffers: tungstenite allocates its read
//! buffer up front (128 KiB by default), which would dominate the memory of
//! an idle connection. Also where `max_connections` is enforced (HTTP 503).

use crate::app::App;
use crate::connection;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Read buffer per connection; grows only while a larger frame is read.
const READ_BUFFER: usize = 4 * 1024;
/// Frames are buffered up to this before being written (a flush writes
/// regardless), so a batch of small frames becomes one write.
const WRITE_BUFFER: usize = 16 * 1024;

pub(crate) fn route(app: Arc<App>) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path("ws")
        .and(warp::path::end())
        .and(warp::get())
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<OnUpgrade>())
        .map(move |headers: HeaderMap, on_upgrade: Option<OnUpgrade>| upgrade(&app, &headers, on_upgrade))
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    warp::reply::with_status(text, status).into_response()
}

fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

/// Whether a page of `origin` may open the socket: the server's own origin
/// (the request's `Host`), or one `--allowed-origins` lists. Browsers always
/// send `Origin` on a WebSocket upgrade; a request without one is not from
/// a web page (a native client, a tool), and is let through.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let Some((scheme, authority)) = origin.split_once("://") else { return false };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(|h| h.trim().to_ascii_lowercase());
    if host.is_some_and(|host| without_default_port(scheme, &host) == without_default_port(scheme, authority)) {
        return true;
    }
    allowed.iter().any(|pattern| origin_matches(&pattern.to_ascii_lowercase(), scheme, authority))
}

fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    match scheme {
        "http" => authority.strip_suffix(":80"),
        "https" => authority.strip_suffix(":443"),
        _ => None,
    }
    .unwrap_or(authority)
}

/// `*`, an exact origin, or one with a `*.` wildcard for subdomains.
fn origin_matches(pattern: &str, scheme: &str, authority: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some((p_scheme, p_authority)) = pattern.split_once("://") else { return false };
    if p_scheme != scheme {
        return false;
    }
    let (p_authority, authority) = (without_default_port(scheme, p_authority), without_default_port(scheme, authority));
    match p_authority.strip_prefix("*.") {
        Some(parent) => authority.strip_suffix(parent).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => p_authority == authority,
    }
}

fn upgrade(app: &Arc<App>, headers: &HeaderMap, on_upgrade: Option<OnUpgrade>) -> Response {
    if !header_has(headers, header::UPGRADE, "websocket") || !header_has(headers, header::CONNECTION, "upgrade") {
        return plain(StatusCode::BAD_REQUEST, "this endpoint speaks WebSocket only\n");
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        let mut response = plain(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 required\n");
        response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return response;
    }
    let (Some(key), Some(on_upgrade)) = (headers.get(header::SEC_WEBSOCKET_KEY), on_upgrade) else {
        return plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
    };
    if !origin_allowed(headers, &app.config.allowed_origins) {
        tracing::info!(origin = ?headers.get(header::ORIGIN), "upgrade refused: origin not allowed");
        return plain(StatusCode::FORBIDDEN, "this page's origin may not open the chat socket\n");
    }
    if app.shutdown.is_cancelled() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down\n");
    }
    let Ok(permit) = app.connections.clone().try_acquire_owned() else {
        app.metrics.inc(&app.metrics.connections_refused);
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "too many connections\n");
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    let accept = derive_accept_key(key.as_bytes());
    let app = app.clone();
    app.tasks.clone().spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => return tracing::debug!(error = %e, "upgrade failed"),
        };
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .write_buffer_size(WRITE_BUFFER)
            // No `max_write_buffer_size`: tungstenite would refuse any frame
            // larger than it (a welcome or `online` list of a very large
            // project, a history page), dropping the client on every retry.
            // Buffering is bounded anyway: `feed` writes out whenever the
            // buffer passes WRITE_BUFFER, so it holds at most that plus one
            // frame, and the outbox bounds what waits above it.
            .max_message_size(Some(app.config.frame_bytes()))
            .max_frame_size(Some(app.config.frame_bytes()));
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
        app.metrics.inc(&app.metrics.connections_total);
        let _open = OpenConnection::count(app.clone());
        connection::run(ws, app.clone()).await;
        drop(permit);
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Counts a connection in `connections_open` for as long as it lives (a
/// session that panics included).
struct OpenConnection(Arc<App>);

impl OpenConnection {
    fn count(app: Arc<App>) -> Self {
        app.metrics.inc(&app.metrics.connections_open);
        Self(app)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics.dec(&self.0.metrics.connections_open);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        h
    }

    #[test]
    fn own_origin_and_no_origin_pass_others_need_the_list() {
        let none: [String; 0] = [];
        assert!(origin_allowed(&headers(None, "chat.example"), &none));
        assert!(origin_allowed(&headers(Some("https://chat.example"), "chat.example"), &none));
        assert!(origin_allowed(&headers(Some("https://Chat.Example:443"), "chat.example"), &none));
        assert!(origin_allowed(&headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"), &none));
        assert!(!origin_allowed(&headers(Some("http://127.0.0.1:8081"), "127.0.0.1:8080"), &none));
        assert!(!origin_allowed(&headers(Some("https://evil.example"), "chat.example"), &none));
        assert!(!origin_allowed(&headers(Some("null"), "chat.example"), &none));
        let list = ["https://app.example".to_string(), "https://*.host.example".to_string()];
        assert!(origin_allowed(&headers(Some("https://app.example"), "chat.example"), &list));
        assert!(!origin_allowed(&headers(Some("http://app.example"), "chat.example"), &list), "scheme counts");
        assert!(origin_allowed(&headers(Some("https://a.host.example"), "chat.example"), &list));
        assert!(!origin_allowed(&headers(Some("https://host.example"), "chat.example"), &list));
        assert!(!origin_allowed(&headers(Some("https://evilhost.example"), "chat.example"), &list));
        assert!(origin_allowed(&headers(Some("https://evil.example"), "chat.example"), &["*".to_string()]));
    }
}
