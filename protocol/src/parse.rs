//! Turning a client's text frame into a [`ClientMsg`], with an error code
//! that tells the client what exactly was wrong.

use crate::messages::{ClientMsg, ErrorCode};

/// The `type` values a client may send.
pub const CLIENT_TYPES: [&str; 11] =
    ["hello", "send", "typing", "history", "read", "users", "edit", "delete", "react", "search", "ping"];

/// Why a frame could not be parsed: a code for the `error` frame and a
/// human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub code: ErrorCode,
    pub message: String,
    /// The frame's `type` when it is one of [`CLIENT_TYPES`] (the fields
    /// were wrong): a server refuses an invalid `hello` as a bad hello.
    pub of_type: Option<&'static str>,
}

impl ClientMsg {
    /// Parses one text frame. The happy path parses once; only a failure is
    /// looked at a second time to classify it.
    pub fn parse(text: &str) -> Result<ClientMsg, ParseError> {
        let err = match serde_json::from_str::<ClientMsg>(text) {
            Ok(msg) => return Ok(msg),
            Err(err) => err,
        };
        let value = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => value,
            Err(syntax) => {
                return Err(ParseError {
                    code: ErrorCode::Malformed,
                    message: format!("not valid JSON: {syntax}"),
                    of_type: None,
                })
            }
        };
        let t = value.get("type").and_then(|t| t.as_str());
        match t.and_then(|t| CLIENT_TYPES.iter().find(|known| **known == t)) {
            Some(known) => Err(ParseError {
                code: ErrorCode::InvalidMessage,
                message: format!("invalid `{known}` message: {err}"),
                of_type: Some(known),
            }),
            None => Err(ParseError {
                code: ErrorCode::UnknownType,
                message: match t {
                    Some(t) => format!("unknown message type `{}`", t.chars().take(40).collect::<String>()),
                    None => "a message must be a JSON object with a string `type`".into(),
                },
                of_type: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> ErrorCode {
        ClientMsg::parse(text).unwrap_err().code
    }

    #[test]
    fn classifies_failures() {
        assert_eq!(ClientMsg::parse(r#"{"type":"ping"}"#), Ok(ClientMsg::Ping));
        assert_eq!(code("{nope"), ErrorCode::Malformed);
        assert_eq!(code(""), ErrorCode::Malformed);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"to_id":5}"#), ErrorCode::UnknownType);
        assert_eq!(code("[1,2]"), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"send","body":"x"}"#), ErrorCode::InvalidMessage);
        assert_eq!(code(r#"{"type":"users","limit":"x"}"#), ErrorCode::InvalidMessage);
        let bad_hello =
            r##"{"type":"hello","protocol":1,"auth":{"kind":"guest","name":"a","color":"#000000","project":"a b"}}"##;
        assert_eq!(ClientMsg::parse(bad_hello).unwrap_err().of_type, Some("hello"));
        assert_eq!(ClientMsg::parse(r#"{"type":"dance"}"#).unwrap_err().of_type, None);
        assert_eq!(code(r#"{"type":"typing","to":{"kind":"room"},"active":"yes"}"#), ErrorCode::InvalidMessage);
    }

    #[test]
    fn every_client_type_is_listed() {
        for json in [
            r#"{"type":"send","client_id":"a","to":{"kind":"room"},"body":"x"}"#,
            r#"{"type":"typing","to":{"kind":"room"},"active":true}"#,
            r#"{"type":"history","conversation":{"kind":"room"}}"#,
            r#"{"type":"read","conversation":{"kind":"room"},"up_to":1}"#,
            r#"{"type":"users"}"#,
            r#"{"type":"edit","id":1,"body":"x"}"#,
            r#"{"type":"delete","id":1}"#,
            r#"{"type":"react","id":1,"emoji":"👍","on":true}"#,
            r#"{"type":"search","query":"x"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"hello","protocol":1,"auth":{"kind":"token","token":"t"}}"#,
        ] {
            let t: serde_json::Value = serde_json::from_str(json).unwrap();
            assert!(CLIENT_TYPES.contains(&t["type"].as_str().unwrap()));
            assert!(ClientMsg::parse(json).is_ok(), "{json}");
        }
    }
}

#[cfg(test)]
mod server_frames {
    use crate::messages::{ChatMessage, ServerMsg};

    #[test]
    fn a_replay_element_a_client_cannot_read_skips_that_element_only() {
        let good = |id: u64| {
            format!(
                r##"{{"id":{id},"ts":1,"from":{{"id":"7","name":"mks","color":"#e0245e"}},"to":{{"kind":"room"}},"body":"hi"}}"##
            )
        };
        let newer = r##"{"id":2,"ts":1,"from":{"id":"7","name":"mks","color":"#e0245e"},"to":{"kind":"thread","root":1},"body":"hi"}"##;
        let text = format!(r#"{{"type":"replay","messages":[{},{newer},{}]}}"#, good(1), good(3));
        let Some(ServerMsg::Replay { messages }) = ServerMsg::from_frame(&text) else { panic!("not read: {text}") };
        let ids: Vec<u64> = messages.iter().map(|m: &ChatMessage| m.id.0).collect();
        assert_eq!(ids, [1, 3]);
        assert!(ServerMsg::from_frame(r#"{"type":"from_the_future","x":1}"#).is_none());
        assert!(ServerMsg::from_frame("not json").is_none());
        let whole = format!(r#"{{"type":"replay","messages":[{}]}}"#, good(5));
        assert!(matches!(ServerMsg::from_frame(&whole), Some(ServerMsg::Replay { messages }) if messages.len() == 1));
    }
}
