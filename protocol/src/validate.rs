//! Validation of free-text fields, shared so the client can refuse early what
//! the server would refuse anyway.

use crate::limits::MAX_NAME_CHARS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The display name was empty after trimming.
    #[error("name must not be empty")]
    NameEmpty,
    /// The display name was longer than [`MAX_NAME_CHARS`].
    #[error("name longer than {MAX_NAME_CHARS} characters")]
    NameTooLong,
    /// The display name contained a control character.
    #[error("name must not contain control characters")]
    NameControlChar,
    /// The colour was not of the form `#rrggbb`.
    #[error("colour must look like #1a2b3c")]
    BadColor,
    /// The message body was empty or only white space.
    #[error("message body must not be empty")]
    BodyEmpty,
    /// The message body was longer than the limit.
    #[error("message body longer than {0} characters")]
    BodyTooLong(usize),
}

/// Returns the trimmed display name, or why it is refused.
pub fn display_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(FieldError::NameEmpty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::NameTooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::NameControlChar);
    }
    Ok(name.to_owned())
}

/// Returns the colour in lower case, or why it is refused.
pub fn color(raw: &str) -> Result<String, FieldError> {
    let ok = raw.len() == 7 && raw.starts_with('#') && raw[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(FieldError::BadColor)
    }
}

/// Checks a message body against the char limit. The body is kept as sent
/// (white space and newlines are the author's), but must not be blank.
pub fn body(raw: &str, max_chars: usize) -> Result<(), FieldError> {
    if raw.trim().is_empty() {
        return Err(FieldError::BodyEmpty);
    }
    if raw.chars().count() > max_chars {
        return Err(FieldError::BodyTooLong(max_chars));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(display_name("  mks "), Ok("mks".into()));
        assert_eq!(display_name("   "), Err(FieldError::NameEmpty));
        assert_eq!(display_name(&"é".repeat(32)).map(|n| n.chars().count()), Ok(32));
        assert_eq!(display_name(&"é".repeat(33)), Err(FieldError::NameTooLong));
        assert_eq!(display_name("a\u{7}b"), Err(FieldError::NameControlChar));
    }

    #[test]
    fn colors() {
        assert_eq!(color("#FF00aa"), Ok("#ff00aa".into()));
        for bad in ["red", "#ff00a", "#ff00aag", "ff00aa0", "#ff00a\u{e9}"] {
            assert_eq!(color(bad), Err(FieldError::BadColor), "{bad}");
        }
    }

    #[test]
    fn bodies() {
        assert_eq!(body("hi", 4), Ok(()));
        assert_eq!(body(" \n\t", 4), Err(FieldError::BodyEmpty));
        assert_eq!(body("héllo", 4), Err(FieldError::BodyTooLong(4)));
        assert_eq!(body("héll", 4), Ok(()));
    }
}
