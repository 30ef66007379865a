//! Default limits. The server may be configured with others; the effective
//! values are sent to every client in `welcome.limits`.

use serde::{Deserialize, Serialize};

/// Largest WebSocket message (and frame) the server reads; larger closes the
/// socket with 1009. At least [`frame_bytes_for_body`] of the body limit.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 64 * 1024;
/// The most bytes one body char can take in JSON: a char outside the Basic
/// Multilingual Plane written as an escaped surrogate pair (`\ud83d\ude00`),
/// as encoders that escape non-ASCII (Python's default) do.
pub const MAX_ESCAPED_CHAR_BYTES: usize = 12;
/// Room for the rest of a `send` frame besides the body: its keys, `type`,
/// and the client id and addressee (64-byte ids, even with every byte
/// escaped as `\u0041`).
pub const SEND_ENVELOPE_BYTES: usize = 2048;

/// The smallest frame limit under which every body of up to
/// `max_body_chars` fits in a `send` frame however a conforming JSON encoder
/// escapes it. The server raises a smaller frame limit to this, so a body
/// within the limit never gets close 1009, and one a little over it gets
/// `body_too_long`.
pub fn frame_bytes_for_body(max_body_chars: usize) -> usize {
    max_body_chars.saturating_mul(MAX_ESCAPED_CHAR_BYTES).saturating_add(SEND_ENVELOPE_BYTES)
}

/// The most bytes one entry of `send.mentions` takes: a 64-byte id, every
/// byte escaped (`\u0041`), its quotes and a comma.
pub const MENTION_BYTES: usize = crate::ids::MAX_ID_LEN * 6 + 3;

/// As [`frame_bytes_for_body`], for a `send` that also mentions up to
/// `max_mentions` users (and answers a message: its id fits the envelope).
pub fn frame_bytes_for_send(max_body_chars: usize, max_mentions: u32) -> usize {
    frame_bytes_for_body(max_body_chars).saturating_add((max_mentions as usize).saturating_mul(MENTION_BYTES))
}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientMsg, ClientMsgId, Conversation, UserId};

    /// Every char escaped as `\uXXXX` (a surrogate pair outside the BMP),
    /// ids included: the largest a conforming encoder makes a frame.
    fn escape_everything(msg: &ClientMsg) -> String {
        let json = serde_json::to_string(msg).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        fn esc(v: &serde_json::Value, out: &mut String) {
            match v {
                serde_json::Value::String(s) => {
                    out.push('"');
                    for unit in s.encode_utf16() {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                    out.push('"');
                }
                serde_json::Value::Object(map) => {
                    out.push('{');
                    for (i, (k, v)) in map.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        esc(&serde_json::Value::String(k.clone()), out);
                        out.push(':');
                        esc(v, out);
                    }
                    out.push('}');
                }
                other => out.push_str(&other.to_string()),
            }
        }
        let mut out = String::new();
        esc(&value, &mut out);
        out
    }

    #[test]
    fn the_longest_body_fits_the_frame_however_it_is_escaped() {
        let (max, mentions) = (DEFAULT_MAX_BODY_CHARS, DEFAULT_MAX_MENTIONS);
        assert!(DEFAULT_MAX_FRAME_BYTES >= frame_bytes_for_send(max, mentions), "the defaults keep the rule");
        for ch in ["\u{1F600}", "é", "\u{7}", "x"] {
            let msg = ClientMsg::Send {
                client_id: ClientMsgId::new("c".repeat(64)).unwrap(),
                to: Conversation::Direct { user: UserId::new("u".repeat(64)).unwrap() },
                body: ch.repeat(max),
                reply_to: Some(crate::MessageId(u64::MAX)),
                mentions: (0..mentions).map(|i| UserId::new(format!("{i:0>64}")).unwrap()).collect(),
            };
            let escaped = escape_everything(&msg);
            assert_eq!(ClientMsg::parse(&escaped).as_ref(), Ok(&msg), "a conforming encoding");
            assert!(escaped.len() <= frame_bytes_for_send(max, mentions), "{ch:?}: {} bytes", escaped.len());
        }
    }
}
