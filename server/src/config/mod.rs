//! Every setting of the server, from flags or `CHAT_*` environment variables.
//! Defaults run on one machine with nothing else installed.
mod derived;
mod parse;
#[cfg(test)]
mod tests;

pub use parse::ApiKey;

use clap::Args;
pub use parse::Reactions;
use parse::{api_key, count, frame_ancestor, reactions, secs, secs_or_off, webhook_event, webhook_url};
use protocol::limits;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Directory of the built web client (trunk's `dist/`), served at `/`.
    #[arg(long, env = "CHAT_DIST_DIR", default_value = "dist")]
    pub dist_dir: PathBuf,

    /// Directory for the embedded database and the generated token secret.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// PostgreSQL to keep messages in instead of the embedded SQLite file
    /// (`postgres://user:password@host:port/database`): the store several
    /// nodes share. Requires `--token-secret`.
    #[arg(long, env = "CHAT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Most connections this node opens to PostgreSQL.
    #[arg(long, env = "CHAT_DATABASE_POOL", default_value_t = 24, value_parser = count)]
    pub database_pool: usize,

    /// Seconds a store call waits for a PostgreSQL connection (opened or
    /// free) before it fails (a send then gets `unavailable`).
    #[arg(long, env = "CHAT_DATABASE_TIMEOUT", default_value = "5", value_parser = secs)]
    pub database_timeout: Duration,

    /// Redis for live delivery between nodes (`redis://host:port`); needs
    /// `--database-url` (the shared store fills what pub/sub loses).
    #[arg(long, env = "CHAT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Redis pub/sub channel of this cluster (several clusters can share one Redis).
    #[arg(long, env = "CHAT_REDIS_CHANNEL", default_value = "chat")]
    pub redis_channel: String,

    /// Events waiting for Redis before new ones are dropped (the other nodes
    /// then read missed messages from the store).
    #[arg(long, env = "CHAT_REDIS_QUEUE", default_value_t = 10_000, value_parser = count)]
    pub redis_queue: usize,

    /// Seconds between a node's heartbeats in Redis (and its checks of the
    /// other nodes' heartbeats).
    #[arg(long, env = "CHAT_NODE_HEARTBEAT", default_value = "3", value_parser = secs)]
    pub node_heartbeat: Duration,

    /// Seconds after its last heartbeat at which a node counts as dead: its
    /// users go offline on the other nodes (within this plus two heartbeats).
    #[arg(long, env = "CHAT_NODE_TTL", default_value = "10", value_parser = secs)]
    pub node_ttl: Duration,

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

    /// Bytes of replay pages all resuming connections may hold at once; each
    /// replay reserves a page (256 KiB) until `synced`, and replays beyond
    /// the budget wait for one to end (see PROTOCOL.md, "Resume").
    #[arg(long, env = "CHAT_MAX_REPLAY_BYTES", default_value_t = 32 * 1024 * 1024, value_parser = count)]
    pub max_replay_bytes: usize,

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

    /// Commit lanes on PostgreSQL: sequencer pipelines that store batches
    /// in parallel, each project always in the same lane (its ids, acks and
    /// deliveries keep their order; different projects commit at once).
    /// At most `--database-pool`. SQLite has one writer and uses one lane.
    #[arg(long, env = "CHAT_COMMIT_LANES", default_value_t = 8, value_parser = count)]
    pub commit_lanes: usize,

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

    /// Projects guests may join, comma-separated; `*` opens every project
    /// to guests (unsafe: anyone who knows or guesses a project's name can
    /// then read it and reach its members). Others close 4007.
    #[arg(long, env = "CHAT_GUEST_PROJECTS", value_delimiter = ',', default_value = "lobby")]
    pub guest_projects: Vec<String>,

    /// Projects (comma-separated, `*` for all) whose history guests may
    /// read from before they joined; elsewhere a guest sees only messages
    /// newer than its join.
    #[arg(long, env = "CHAT_GUEST_HISTORY", value_delimiter = ',')]
    pub guest_history: Vec<String>,

    /// Largest HTTP API request body, in bytes (413 above).
    #[arg(long, env = "CHAT_API_MAX_BODY_BYTES", default_value_t = 65_536, value_parser = count)]
    pub api_max_body_bytes: usize,
}

/// A `history` page stops growing at about this many bytes of JSON (it
/// always holds at least one message): a page is one WebSocket frame, which
/// a client must receive whole before it can show any of it.
pub(crate) const HISTORY_PAGE_BYTES: usize = 512 * 1024;
