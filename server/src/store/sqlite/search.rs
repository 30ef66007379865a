//! Full-text search with FTS5 (`messages_fts`, kept in step with
//! `messages` by triggers). The user's text never reaches FTS5's query
//! language: it is cut into words, each quoted. Whole words only: a
//! prefix query makes FTS5 build the whole doclist of every matching term
//! before it can return the newest match (110 ms at p99 over 1,000,000
//! messages, against a few ms for a word, see BENCHMARKS.md).

use super::rows::{read_messages, sql_id, COLUMNS, QUOTE_JOIN};
use crate::store::{Page, StoreError};
use protocol::{MessageId, ProjectId, UserId};
use rusqlite::{params, Connection};

/// Most words of a query used (the rest are ignored): each is a doclist
/// FTS5 must intersect.
const MAX_QUERY_WORDS: usize = 8;

/// The FTS5 query for what a user typed: every word must appear; `None`
/// when it has no word at all.
pub(super) fn fts_query(text: &str) -> Option<String> {
    let words: Vec<&str> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(MAX_QUERY_WORDS).collect();
    if words.is_empty() {
        return None;
    }
    // A word is letters and digits only, so quoting it needs no escaping.
    Some(words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" "))
}

pub(super) fn search(
    conn: &Connection,
    project: &ProjectId,
    user: &UserId,
    text: &str,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Page, StoreError> {
    let Some(query) = fts_query(text) else { return Ok(Page { messages: Vec::new(), has_more: false }) };
    // Newest first straight from the index (FTS5 walks its doclists by
    // rowid in either direction), filtered to what the user can see.
    let sql = format!(
        "SELECT {COLUMNS} FROM messages_fts f JOIN messages m ON m.id = f.rowid {QUOTE_JOIN}
         WHERE messages_fts MATCH ?1 AND f.rowid < ?2 AND m.project = ?3 AND m.deleted_at IS NULL
           AND (m.conv = 'room' OR m.conv IN (SELECT conv FROM conversations WHERE project = ?3 AND user = ?4))
         ORDER BY f.rowid DESC LIMIT ?5"
    );
    let before = before.map_or(i64::MAX, sql_id);
    let mut messages =
        read_messages(conn, &sql, params![query, before, project.as_str(), user.as_str(), i64::from(limit) + 1])?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    Ok(Page { messages, has_more })
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn user_text_becomes_quoted_words_never_fts_syntax() {
        assert_eq!(fts_query("lunch"), Some("\"lunch\"".into()));
        assert_eq!(fts_query("  Lunch, at NOON "), Some("\"Lunch\" \"at\" \"NOON\"".into()));
        assert_eq!(fts_query("a OR b NOT c"), Some("\"a\" \"OR\" \"b\" \"NOT\" \"c\"".into()));
        assert_eq!(fts_query("\"x\" * (y) ^z: -w"), Some("\"x\" \"y\" \"z\" \"w\"".into()));
        assert_eq!(fts_query("héllo wörld"), Some("\"héllo\" \"wörld\"".into()));
        assert_eq!(fts_query(" *** "), None);
        assert_eq!(fts_query(""), None);
        assert_eq!(fts_query(&"w ".repeat(50)).map(|q| q.matches('"').count()), Some(16), "at most 8 words");
    }
}
