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
    /// The display name contained a control character, a line or
    /// paragraph separator.
    #[error("name must not contain control characters")]
    NameControlChar,
    /// The display name contained a bidirectional override or isolate
    /// (U+202A–U+202E, U+2066–U+2069), which can make it display as
    /// something else (`"\u{202e}gnp.exe"` shows as "exe.png").
    #[error("name must not contain bidirectional overrides or isolates")]
    NameBidiControl,
    /// The display name had nothing visible once invisible and format
    /// characters were left out (only a zero-width space, say).
    #[error("name must contain a visible character")]
    NameInvisible,
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
    if name.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) {
        return Err(FieldError::NameControlChar);
    }
    if name.chars().any(is_bidi_control) {
        return Err(FieldError::NameBidiControl);
    }
    if name.chars().all(|c| c.is_whitespace() || is_format(c)) {
        return Err(FieldError::NameInvisible);
    }
    Ok(name.to_owned())
}

/// Bidirectional embeddings, overrides (U+202A–U+202E) and isolates
/// (U+2066–U+2069): they reorder the text around them when displayed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Unicode general category Cf (format characters: invisible, such as
/// zero-width spaces and joiners, the BOM, soft hyphens), as of Unicode 16.
/// Kept as a table here because `protocol` depends on nothing but serde
/// and thiserror.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
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
    fn names_that_display_as_something_else_are_refused() {
        assert_eq!(display_name("\u{202e}gnp.exe"), Err(FieldError::NameBidiControl));
        for bidi in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert_eq!(display_name(&format!("ann{bidi}x")), Err(FieldError::NameBidiControl), "{bidi:?}");
        }
        for invisible in ["\u{200b}", "\u{feff}", "\u{200b}\u{200d}\u{feff}", " \u{00ad} ", "\u{2060}", "\u{e0041}"] {
            assert_eq!(display_name(invisible), Err(FieldError::NameInvisible), "{invisible:?}");
        }
        assert_eq!(display_name("ann\u{2028}bob"), Err(FieldError::NameControlChar));
        assert_eq!(display_name("ann\u{2029}bob"), Err(FieldError::NameControlChar));
        // Format characters inside a visible name are the author's (joiners in emoji, scripts that need them).
        assert_eq!(display_name("👩\u{200d}💻 ann"), Ok("👩\u{200d}💻 ann".into()));
        assert_eq!(display_name("مريم"), Ok("مريم".into()));
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
