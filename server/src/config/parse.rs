//! The value parsers of the flags: durations, counts, URLs, origins, API
//! keys.

use std::time::Duration;

/// Parses a duration given in seconds (fractions allowed).
/// A duration in (possibly fractional) seconds, more than zero: every
/// duration here is a timeout or an interval, and zero would mean "never
/// wait" (or panic a timer).
pub(super) fn secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    let d = Duration::try_from_secs_f64(v).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than 0 seconds".into());
    }
    Ok(d)
}

/// A duration in seconds where 0 means "off".
pub(super) fn secs_or_off(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    secs(s)
}

/// A webhook endpoint: an absolute `http://` URL.
pub(super) fn webhook_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(uri),
        (Some("https"), _) => Err(format!(
            "`{s}`: https endpoints need a TLS proxy in front of them (the webhook client speaks plain HTTP; see README)"
        )),
        _ => Err(format!("`{s}` must be an absolute http:// URL")),
    }
}

pub(super) fn webhook_event(s: &str) -> Result<String, String> {
    if crate::webhooks::EVENT_TYPES.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not a webhook event; known: {}", crate::webhooks::EVENT_TYPES.join(", ")))
    }
}

/// One `frame-ancestors` source: `*`, or an origin (`https://app.example`,
/// `http://127.0.0.1:8000`, `https://*.example.com`).
pub(super) fn frame_ancestor(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let valid = s == "*"
        || s.split_once("://").is_some_and(|(scheme, host)| {
            matches!(scheme, "http" | "https")
                && !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'*' | b'[' | b']'))
        });
    if valid {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not an origin like https://app.example (or *)"))
    }
}

/// A size or count of at least one.
/// The configured reaction emoji, in the order clients show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reactions(pub Vec<String>);

/// Most reaction emoji, and the longest one in bytes (an emoji with
/// modifiers and joiners is a few code points).
const MAX_REACTIONS: usize = 32;
const MAX_REACTION_BYTES: usize = 16;

pub(super) fn reactions(s: &str) -> Result<Reactions, String> {
    let mut list: Vec<String> = Vec::new();
    for emoji in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if emoji.len() > MAX_REACTION_BYTES || emoji.chars().any(|c| c.is_alphanumeric() || c.is_control()) {
            return Err(format!("`{emoji}` is not an emoji of at most {MAX_REACTION_BYTES} bytes"));
        }
        if !list.iter().any(|e| e == emoji) {
            list.push(emoji.to_owned());
        }
    }
    if list.len() > MAX_REACTIONS {
        return Err(format!("at most {MAX_REACTIONS} reactions"));
    }
    Ok(Reactions(list))
}

pub(super) fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// Shortest API key accepted: a key is a password for the whole API.
const API_KEY_MIN_LEN: usize = 16;

/// A key for the HTTP API, given as `KEY` (every project) or `PROJECT:KEY`
/// (one project; the key is what follows the last `:`).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The only project this key may act on; `None`: every project.
    pub project: Option<protocol::ProjectId>,
    pub secret: String,
}

impl std::fmt::Debug for ApiKey {
    // Never print the secret (`--help`, logs of the configuration).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("project", &self.project).finish_non_exhaustive()
    }
}

pub(super) fn api_key(s: &str) -> Result<ApiKey, String> {
    let (project, secret) = match s.rsplit_once(':') {
        Some((project, secret)) => {
            let project = protocol::ProjectId::new(project).map_err(|e| format!("project of an API key: {e}"))?;
            (Some(project), secret)
        }
        None => (None, s),
    };
    if secret.len() < API_KEY_MIN_LEN {
        return Err(format!("an API key must be at least {API_KEY_MIN_LEN} characters"));
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("an API key may contain only visible ASCII characters".into());
    }
    Ok(ApiKey { project, secret: secret.to_owned() })
}
