//! Identifier newtypes. String ids are validated on deserialization so that
//! nothing malformed gets past the socket boundary.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest accepted string id, in bytes.
pub const MAX_ID_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id was empty.
    #[error("id must not be empty")]
    Empty,
    /// The id was longer than [`MAX_ID_LEN`] bytes.
    #[error("id longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// The id had a character outside `A-Z a-z 0-9 _ - . : @`.
    #[error("id may contain only letters, digits and _ - . : @")]
    BadChar,
}

fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@')) {
        return Err(IdError::BadChar);
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `s`.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A user, unique within a project. Host applications choose their own
    /// ids (in tokens); the server assigns `g-…` ids to guests.
    UserId
);
string_id!(
    /// A project (tenant): users see and reach only users of their own project.
    ProjectId
);
string_id!(
    /// Chosen by the client for each `send`; the server acknowledges with it
    /// and deduplicates resends that carry the same one.
    ClientMsgId
);

/// Server-assigned message id: strictly increasing across the whole server
/// (in the store), so it doubles as the resume cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_validated() {
        assert!(UserId::new("7").is_ok());
        assert!(UserId::new("g-abc_DEF.1:x@y").is_ok());
        assert_eq!(UserId::new(""), Err(IdError::Empty));
        assert_eq!(UserId::new("a b"), Err(IdError::BadChar));
        assert_eq!(UserId::new("<script>"), Err(IdError::BadChar));
        assert_eq!(UserId::new("x".repeat(65)), Err(IdError::TooLong));
        assert!(UserId::new("x".repeat(64)).is_ok());
    }

    #[test]
    fn invalid_ids_fail_deserialization() {
        assert!(serde_json::from_str::<ProjectId>("\"2424\"").is_ok());
        assert!(serde_json::from_str::<ProjectId>("\"\"").is_err());
        assert!(serde_json::from_str::<ProjectId>("2424").is_err());
    }
}
