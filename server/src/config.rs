//! Every setting of the server, from flags or `CHAT_*` environment variables.
//! Defaults run on one machine with nothing else installed.

use clap::Args;
use protocol::limits;
use std::path::PathBuf;
use std::time::Duration;

/// Parses a duration given in seconds (fractions allowed).
/// A duration in (possibly fractional) seconds, more than zero: every
/// duration here is a timeout or an interval, and zero would mean "never
/// wait" (or panic a timer).
fn secs(s: &str) -> Result<Duration, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number of seconds"))?;
    let d = Duration::try_from_secs_f64(v).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than 0 seconds".into());
    }
    Ok(d)
}

/// A duration in seconds where 0 means "off".
fn secs_or_off(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    secs(s)
}

/// A webhook endpoint: an absolute `http://` URL.
fn webhook_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(_)) => Ok(uri),
        (Some("https"), _) => Err(format!(
            "`{s}`: https endpoints need a TLS proxy in front of them (the webhook client speaks plain HTTP; see README)"
        )),
        _ => Err(format!("`{s}` must be an absolute http:// URL")),
    }
}

fn webhook_event(s: &str) -> Result<String, String> {
    if crate::webhooks::EVENT_TYPES.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(format!("`{s}` is not a webhook event; known: {}", crate::webhooks::EVENT_TYPES.join(", ")))
    }
}

/// One `frame-ancestors` source: `*`, or an origin (`https://app.example`,
/// `http://127.0.0.1:8000`, `https://*.example.com`).
fn frame_ancestor(s: &str) -> Result<String, String> {
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
fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

/// The configured reaction emoji, in the order clients show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reactions(pub Vec<String>);

/// Most reaction emoji, and the longest one in bytes (an emoji with
/// modifiers and joiners is a few code points).
const MAX_REACTIONS: usize = 32;
const MAX_REACTION_BYTES: usize = 16;

fn reactions(s: &str) -> Result<Reactions, String> {
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

/// Shortest API key accepted: a key is a password for the whole API.
pub const API_KEY_MIN_LEN: usize = 16;

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

fn api_key(s: &str) -> Result<ApiKey, String> {
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

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory of the built web client (trunk's `dist/`), served at `/`.
    #[arg(long, env = "CHAT_DIST_DIR", default_value = "dist")]
    pub dist_dir: PathBuf,

    /// Directory for the embedded database and the generated token secret.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Secret shared with the host application to sign tokens (HMAC-SHA256).
    /// When unset, one is generated once and kept in `<data-dir>/token.secret`.
    #[arg(long, env = "CHAT_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,

    /// Let clients sign in as guests with a display name (no token).
    #[arg(long, env = "CHAT_GUESTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub guests: bool,

    /// Lifetime of the session tokens the server issues, in seconds.
    #[arg(long, env = "CHAT_SESSION_TTL", default_value = "2592000", value_parser = secs)]
    pub session_ttl: Duration,

    /// Largest WebSocket message or frame read, in bytes; larger closes with
    /// 1009. Raised to at least 12 bytes per `--max-body-chars` plus 2 KiB,
    /// so any body within that limit fits however its JSON is escaped.
    #[arg(long, env = "CHAT_MAX_FRAME_BYTES", default_value_t = limits::DEFAULT_MAX_FRAME_BYTES, value_parser = count)]
    pub max_frame_bytes: usize,

    /// Longest message body, in characters; longer gets an `error` frame.
    #[arg(long, env = "CHAT_MAX_BODY_CHARS", default_value_t = limits::DEFAULT_MAX_BODY_CHARS, value_parser = count)]
    pub max_body_chars: usize,

    /// Sustained frames per second a connection may send.
    #[arg(long, env = "CHAT_RATE_PER_SEC", default_value_t = limits::DEFAULT_RATE_PER_SEC, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_per_sec: u32,

    /// Frames a connection may send in a burst above the sustained rate.
    #[arg(long, env = "CHAT_RATE_BURST", default_value_t = limits::DEFAULT_RATE_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// Frames dropped for rate within 10 s after which the connection is closed (4012).
    #[arg(long, env = "CHAT_RATE_KICK_AFTER", default_value_t = 100)]
    pub rate_kick_after: u32,

    /// Most simultaneous WebSocket connections; more get HTTP 503 at upgrade.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = 20_000, value_parser = count)]
    pub max_connections: usize,

    /// Frames queued per connection before ephemeral events are dropped (at
    /// half) and chat messages close the connection (when full, 4011).
    #[arg(long, env = "CHAT_OUTBOX_CAPACITY", default_value_t = 4096, value_parser = count)]
    pub outbox_capacity: usize,

    /// Unacknowledged sends per connection; at this many, the server stops
    /// reading that socket (but keeps writing to it) until acks go out
    /// (capped at half the outbox).
    #[arg(long, env = "CHAT_MAX_IN_FLIGHT_SENDS", default_value_t = 256, value_parser = count)]
    pub max_in_flight_sends: usize,

    /// Seconds a client has to send its hello (4010).
    #[arg(long, env = "CHAT_HELLO_TIMEOUT", default_value = "10", value_parser = secs)]
    pub hello_timeout: Duration,

    /// Seconds between server pings.
    #[arg(long, env = "CHAT_PING_INTERVAL", default_value = "20", value_parser = secs)]
    pub ping_interval: Duration,

    /// Seconds without any frame from the client (pongs count) before closing (4013).
    #[arg(long, env = "CHAT_IDLE_TIMEOUT", default_value = "60", value_parser = secs)]
    pub idle_timeout: Duration,

    /// Seconds a socket write may take before the client is dropped as stalled.
    #[arg(long, env = "CHAT_WRITE_TIMEOUT", default_value = "10", value_parser = secs)]
    pub write_timeout: Duration,

    /// Seconds to wait on shutdown for queues to drain and sockets to close.
    #[arg(long, env = "CHAT_SHUTDOWN_GRACE", default_value = "5", value_parser = secs)]
    pub shutdown_grace: Duration,

    /// Largest page a `history` request returns.
    #[arg(long, env = "CHAT_HISTORY_PAGE_MAX", default_value_t = limits::DEFAULT_HISTORY_PAGE_MAX, value_parser = clap::value_parser!(u32).range(1..))]
    pub history_page_max: u32,

    /// Largest page of the people directory a `users` request returns.
    #[arg(long, env = "CHAT_USERS_PAGE_MAX", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub users_page_max: u32,

    /// Most messages stored in one group commit (capped at half the outbox:
    /// a committed batch is delivered at once, and a client reading
    /// everything must be able to take a whole batch).
    #[arg(long, env = "CHAT_COMMIT_BATCH", default_value_t = 512, value_parser = count)]
    pub commit_batch: usize,

    /// Size of SQLite's write-ahead log, in MiB, past which the writer
    /// copies it into the database and truncates it (bounds disk and page
    /// cache use under continuous writes).
    #[arg(long, env = "CHAT_WAL_LIMIT_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub wal_limit_mib: u64,

    /// Largest page of search results a `search` request returns.
    #[arg(long, env = "CHAT_SEARCH_PAGE_MAX", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub search_page_max: u32,

    /// Seconds after sending during which a message can be edited (0: no
    /// limit). Deletion is allowed at any time.
    #[arg(long, env = "CHAT_EDIT_WINDOW", default_value_t = 0)]
    pub edit_window: u64,

    /// The emoji a message can be reacted with, comma-separated (at most
    /// 32, each at most 16 bytes).
    #[arg(long, env = "CHAT_REACTIONS", default_value = "👍,❤️,😂,😮,😢,🎉", value_parser = reactions)]
    pub reactions: Reactions,

    /// Most users one message may mention (more gets `too_many_mentions`).
    #[arg(long, env = "CHAT_MAX_MENTIONS", default_value_t = limits::DEFAULT_MAX_MENTIONS)]
    pub max_mentions: u32,

    /// Delete messages older than this many days (0 keeps them forever).
    #[arg(long, env = "CHAT_RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u32,

    /// Keep at most this many messages per conversation (0: no limit).
    #[arg(long, env = "CHAT_RETENTION_PER_CONVERSATION", default_value_t = 0)]
    pub retention_per_conversation: u32,

    /// Seconds between retention passes.
    #[arg(long, env = "CHAT_RETENTION_INTERVAL", default_value = "3600", value_parser = secs)]
    pub retention_interval: Duration,

    /// Keys of the HTTP API (`/api/v1`), repeated or comma-separated:
    /// `KEY` acts on every project, `PROJECT:KEY` on one. Without any, the
    /// API refuses every request (401).
    #[arg(long = "api-key", env = "CHAT_API_KEY", value_delimiter = ',', value_parser = api_key, hide_env_values = true)]
    pub api_keys: Vec<ApiKey>,

    /// Webhook endpoints (`http://` URLs), repeated or comma-separated; each
    /// gets every event, with its own retries.
    #[arg(long = "webhook-url", env = "CHAT_WEBHOOK_URL", value_delimiter = ',', value_parser = webhook_url)]
    pub webhook_urls: Vec<http::Uri>,

    /// Secret that signs webhook deliveries (HMAC-SHA256); required with
    /// `--webhook-url`.
    #[arg(long, env = "CHAT_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,

    /// Webhook events to send, comma-separated: message.missed,
    /// message.created, user.online, user.offline.
    #[arg(long, env = "CHAT_WEBHOOK_EVENTS", value_delimiter = ',', value_parser = webhook_event,
          default_value = "message.missed,user.online,user.offline")]
    pub webhook_events: Vec<String>,

    /// Seconds after which a direct message its (online) recipient has not
    /// read yet is reported as `message.missed` (reason `unread`); 0: never.
    #[arg(long, env = "CHAT_WEBHOOK_UNREAD_DELAY", default_value = "0", value_parser = secs_or_off)]
    pub webhook_unread_delay: Duration,

    /// Seconds a webhook delivery is retried for before it is dropped.
    #[arg(long, env = "CHAT_WEBHOOK_RETRY_FOR", default_value = "86400", value_parser = secs)]
    pub webhook_retry_for: Duration,

    /// Seconds before the first retry of a failed webhook; doubles each time.
    #[arg(long, env = "CHAT_WEBHOOK_BASE_DELAY", default_value = "1", value_parser = secs)]
    pub webhook_base_delay: Duration,

    /// Longest wait between two webhook attempts, in seconds.
    #[arg(long, env = "CHAT_WEBHOOK_MAX_DELAY", default_value = "3600", value_parser = secs)]
    pub webhook_max_delay: Duration,

    /// Seconds a webhook endpoint has to answer one delivery.
    #[arg(long, env = "CHAT_WEBHOOK_TIMEOUT", default_value = "10", value_parser = secs)]
    pub webhook_timeout: Duration,

    /// Seconds between looks at the webhook outbox for due events and
    /// retries (new events go out at once).
    #[arg(long, env = "CHAT_WEBHOOK_POLL", default_value = "1", value_parser = secs)]
    pub webhook_poll: Duration,

    /// Origins that may show the web app in a frame (sent as
    /// `Content-Security-Policy: frame-ancestors 'self' …`), space- or
    /// comma-separated; `*` allows any. The app's own origin always may.
    #[arg(long, env = "CHAT_FRAME_ANCESTORS", value_delimiter = ',', value_parser = frame_ancestor)]
    pub frame_ancestors: Vec<String>,

    /// Origins (`https://app.example`, `*.example.com` patterns as in
    /// `--frame-ancestors`) whose pages may open the chat socket, comma-
    /// separated; `*` allows any page (unsafe: any site could use this
    /// server as its own). The server's own origin (the request's Host) and
    /// clients that send no Origin (native apps, tools) always may; others
    /// get HTTP 403 at the upgrade.
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = frame_ancestor)]
    pub allowed_origins: Vec<String>,

    /// Seconds a client has to send a complete HTTP request head (request
    /// line and headers); a connection that has not is closed. Slow-header
    /// connections would otherwise hold file descriptors for good.
    #[arg(long, env = "CHAT_HEADER_READ_TIMEOUT", default_value = "10", value_parser = secs)]
    pub header_read_timeout: Duration,

    /// Largest HTTP API request body, in bytes (413 above).
    #[arg(long, env = "CHAT_API_MAX_BODY_BYTES", default_value_t = 65_536, value_parser = count)]
    pub api_max_body_bytes: usize,
}

/// A `history` page stops growing at about this many bytes of JSON (it
/// always holds at least one message): a page is one WebSocket frame, which
/// a client must receive whole before it can show any of it.
pub(crate) const HISTORY_PAGE_BYTES: usize = 512 * 1024;

impl Config {
    /// The most frames one burst may push into an outbox: a client that
    /// keeps up must be able to take it on top of what it has queued.
    fn half_outbox(&self) -> usize {
        (self.outbox_capacity / 2).max(1)
    }

    /// Sends a connection may have waiting for their ack.
    pub(crate) fn in_flight_sends(&self) -> usize {
        self.max_in_flight_sends.clamp(1, self.half_outbox())
    }

    /// Messages stored in one group commit, and so delivered in one burst to
    /// every member of a room: at most half an outbox, which leaves a client
    /// that keeps up room for a whole batch on top of what it has queued.
    pub(crate) fn messages_per_commit(&self) -> usize {
        self.commit_batch.clamp(1, self.half_outbox())
    }

    /// The frame limit in force: `--max-frame-bytes`, raised where needed so
    /// that a body of `--max-body-chars` with `--max-mentions` fits in a
    /// frame however a conforming JSON encoder escapes it
    /// ([`limits::frame_bytes_for_send`]).
    pub fn frame_bytes(&self) -> usize {
        self.max_frame_bytes.max(limits::frame_bytes_for_send(self.max_body_chars, self.max_mentions))
    }

    /// The protocol-level limits announced to clients in `welcome`.
    pub(crate) fn limits(&self) -> protocol::Limits {
        protocol::Limits {
            max_frame_bytes: self.frame_bytes(),
            max_body_chars: self.max_body_chars,
            rate_per_sec: self.rate_per_sec,
            rate_burst: self.rate_burst,
            history_page_max: self.history_page_max,
            max_mentions: self.max_mentions,
            edit_window_secs: self.edit_window_millis().map(|_| self.edit_window),
        }
    }

    /// How long after sending a message can be edited, if limited.
    pub(crate) fn edit_window_millis(&self) -> Option<i64> {
        (self.edit_window > 0).then(|| i64::try_from(self.edit_window.saturating_mul(1000)).unwrap_or(i64::MAX))
    }

    /// The `Content-Security-Policy` the web app is served with.
    pub(crate) fn content_security_policy(&self) -> String {
        let mut policy = String::from("frame-ancestors 'self'");
        for origin in &self.frame_ancestors {
            policy.push(' ');
            policy.push_str(origin);
        }
        policy
    }

    /// The webhook settings; `Err` when endpoints are given without a secret.
    pub(crate) fn webhooks(&self) -> Result<Option<crate::webhooks::Settings>, String> {
        if self.webhook_urls.is_empty() {
            return Ok(None);
        }
        let Some(secret) = self.webhook_secret.as_ref().filter(|s| !s.is_empty()) else {
            return Err("--webhook-url needs --webhook-secret (CHAT_WEBHOOK_SECRET) to sign deliveries".into());
        };
        Ok(Some(crate::webhooks::Settings {
            endpoints: self.webhook_urls.clone(),
            secret: secret.as_bytes().to_vec(),
            events: self.webhook_events.clone(),
            unread_delay: (!self.webhook_unread_delay.is_zero()).then_some(self.webhook_unread_delay),
            retry_for: self.webhook_retry_for,
            base_delay: self.webhook_base_delay,
            max_delay: self.webhook_max_delay.max(self.webhook_base_delay),
            timeout: self.webhook_timeout,
            poll: self.webhook_poll,
        }))
    }

    /// A configuration with every default, for tests.
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_tests(data_dir: PathBuf) -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let mut config = <Wrapper as clap::Parser>::parse_from(["server"]).config;
        config.data_dir = data_dir;
        config.token_secret = Some("test-secret".into());
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration the flags `args` give, or clap's error.
    fn parse(args: &[&str]) -> Result<Config, String> {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        <Wrapper as clap::Parser>::try_parse_from(std::iter::once("server").chain(args.iter().copied()))
            .map(|w| w.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_commit_batch_and_the_sends_in_flight_fit_in_half_an_outbox() {
        let mut config = Config::for_tests(PathBuf::from("unused"));
        assert!(config.messages_per_commit() * 2 <= config.outbox_capacity, "the defaults keep the rule");
        assert_eq!(config.messages_per_commit(), config.commit_batch, "and are used as given");
        config.outbox_capacity = 64;
        config.commit_batch = 1000;
        config.max_in_flight_sends = 1000;
        assert_eq!(config.messages_per_commit(), 32);
        assert_eq!(config.in_flight_sends(), 32);
        config.outbox_capacity = 1;
        config.commit_batch = 0;
        assert_eq!(config.messages_per_commit(), 1, "never zero");
    }

    #[test]
    fn zero_durations_and_counts_are_refused_with_a_clear_error() {
        for bad in [
            ["--ping-interval", "0"],
            ["--retention-interval", "0"],
            ["--history-page-max", "0"],
            ["--rate-per-sec", "0"],
            ["--outbox-capacity", "0"],
            ["--max-frame-bytes", "0"],
        ] {
            let error = parse(&bad).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
            assert!(error.contains(bad[0]), "{bad:?}: {error}");
        }
        assert!(parse(&["--ping-interval", "0.5"]).is_ok_and(|c| c.ping_interval == Duration::from_millis(500)));
        assert!(parse(&["--ping-interval", "soon"]).is_err_and(|e| e.contains("not a number of seconds")));
    }

    #[test]
    fn reactions_are_a_short_list_of_emoji() {
        let defaults = Config::for_tests(PathBuf::from("unused"));
        assert_eq!(defaults.reactions.0.len(), 6);
        assert_eq!(reactions(" 👍 ,🎉,👍,"), Ok(Reactions(vec!["👍".into(), "🎉".into()])), "trimmed, once each");
        assert!(reactions("ok").is_err(), "letters are not an emoji");
        assert!(reactions(&"🎉".repeat(5)).is_err(), "over 16 bytes");
        let many: Vec<String> = (0..33).map(|i| char::from_u32(0x1F600 + i).unwrap().to_string()).collect();
        assert!(reactions(&many.join(",")).is_err_and(|e| e.contains("at most 32")));
        assert_eq!(defaults.edit_window_millis(), None, "no edit window by default");
        let limited = Config { edit_window: 900, ..defaults };
        assert_eq!(limited.edit_window_millis(), Some(900_000));
        assert_eq!(limited.limits().edit_window_secs, Some(900));
    }

    #[test]
    fn api_keys_are_global_or_for_one_project() {
        let parse = |args: &[&str]| parse(args).map(|c| c.api_keys);
        let keys = parse(&["--api-key", "0123456789abcdef,p:1:fedcba9876543210", "--api-key", "x@y:zzzzzzzzzzzzzzzz"])
            .unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!((keys[0].project.as_ref(), keys[0].secret.as_str()), (None, "0123456789abcdef"));
        assert_eq!(keys[1].project.as_ref().map(|p| p.as_str()), Some("p:1"), "the key follows the last colon");
        assert_eq!(keys[1].secret, "fedcba9876543210");
        assert_eq!(keys[2].project.as_ref().map(|p| p.as_str()), Some("x@y"));
        assert!(parse(&["--api-key", "short"]).is_err_and(|e| e.contains("at least 16")));
        assert!(parse(&["--api-key", "bad project:0123456789abcdef"]).is_err_and(|e| e.contains("project")));
        assert!(!format!("{:?}", keys[0]).contains("0123456789abcdef"), "Debug hides the secret");
    }

    #[test]
    fn frame_ancestors_are_origins() {
        let config = parse(&["--frame-ancestors", "https://app.example/,http://127.0.0.1:8000"]).unwrap();
        assert_eq!(
            config.content_security_policy(),
            "frame-ancestors 'self' https://app.example http://127.0.0.1:8000"
        );
        assert_eq!(parse(&[]).unwrap().content_security_policy(), "frame-ancestors 'self'");
        for bad in ["javascript:alert(1)", "https://a.example; script-src *", "app.example"] {
            assert!(parse(&["--frame-ancestors", bad]).is_err(), "{bad}");
        }
    }
}
