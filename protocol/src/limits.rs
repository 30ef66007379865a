//! Default limits. The server may be configured with others; the effective
//! values are sent to every client in `welcome.limits`.

use serde::{Deserialize, Serialize};

/// Largest WebSocket message (and frame) the server reads; larger closes the
/// socket with 1009.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024;
/// Longest message body, in Unicode scalar values (chars).
pub const DEFAULT_MAX_BODY_CHARS: usize = 4000;
/// Messages a connection may send per second, sustained.
pub const DEFAULT_RATE_PER_SEC: u32 = 20;
/// Extra messages a connection may send in a burst above the sustained rate.
pub const DEFAULT_RATE_BURST: u32 = 40;
/// Largest page a `history` request returns.
pub const DEFAULT_HISTORY_PAGE_MAX: u32 = 200;
/// Most users one message may mention.
pub const DEFAULT_MAX_MENTIONS: u32 = 20;
/// Longest quote of a replied-to message, in chars.
pub const QUOTE_CHARS: usize = 100;
/// Longest search query, in chars.
pub const MAX_SEARCH_QUERY_CHARS: usize = 200;
/// Longest display name, in chars.
pub const MAX_NAME_CHARS: usize = 32;

/// The limits in force on this connection, as sent in `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_frame_bytes: usize,
    pub max_body_chars: usize,
    pub rate_per_sec: u32,
    pub rate_burst: u32,
    pub history_page_max: u32,
    /// Most users one message may mention.
    #[serde(default = "default_max_mentions")]
    pub max_mentions: u32,
    /// Seconds after sending during which a message can be edited; absent
    /// when there is no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_window_secs: Option<u64>,
}

fn default_max_mentions() -> u32 {
    DEFAULT_MAX_MENTIONS
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_body_chars: DEFAULT_MAX_BODY_CHARS,
            rate_per_sec: DEFAULT_RATE_PER_SEC,
            rate_burst: DEFAULT_RATE_BURST,
            history_page_max: DEFAULT_HISTORY_PAGE_MAX,
            max_mentions: DEFAULT_MAX_MENTIONS,
            edit_window_secs: None,
        }
    }
}
