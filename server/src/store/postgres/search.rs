//! Full-text search with PostgreSQL's own text search, over the search
//! index `message_words` (a GIN index on each message's words as a
//! `tsvector`, schema.rs). New messages are indexed after their commit
//! (index.rs); a search first indexes what its project has pending, so it
//! finds every message committed before it. The user's text never reaches
//! the tsquery syntax: it is cut into words of letters and digits (as
//! SQLite's `fts_query` does), and the words, joined by spaces, are a bound
//! parameter of `plainto_tsquery`, which ANDs them and knows no operators.
//! Whole words only, as on SQLite (no prefixes).

use super::index;
use super::rows::{decorated, message_from_row, sql_id, NOT_EVENT};
use crate::store::*;
use deadpool_postgres::Object;

/// Most words of a query used (the rest are ignored), as on SQLite.
const MAX_QUERY_WORDS: usize = 8;

/// The words of what a user typed, joined by spaces; `None` when it has
/// no word at all.
fn query_words(text: &str) -> Option<String> {
    let words: Vec<&str> =
        text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(MAX_QUERY_WORDS).collect();
    (!words.is_empty()).then(|| words.join(" "))
}

pub(super) async fn search(
    client: &mut Object,
    project: &ProjectId,
    user: &UserId,
    text: &str,
    before: Option<MessageId>,
    limit: u32,
) -> Result<Page, StoreError> {
    let Some(words) = query_words(text) else { return Ok(Page { messages: Vec::new(), has_more: false }) };
    // Everything committed before this search is found: the project's
    // newest id is read now, and indexed up to if it is not yet. Without
    // pending messages (the mark already there) no lock is taken.
    let (newest, indexed) = index::lag(client, project.as_str()).await?;
    if indexed < newest {
        index::catch_up(client, project.as_str(), newest, true).await?;
    }
    // The page's ids, visibility included, from the index alone (it holds
    // the current words of messages not deleted, and their conversation);
    // then `messages` for those rows only (schema.rs says why).
    let page = format!(
        "SELECT m.*, {NOT_EVENT} FROM (
             SELECT w.project, w.id FROM message_words w
             WHERE w.words @@ plainto_tsquery('simple', $1) AND w.project = $2 AND w.id < $3
               AND (w.conv = 'room' OR w.conv IN (SELECT conv FROM conversations WHERE project = $2 AND user_id = $4))
             ORDER BY w.id DESC LIMIT $5) hit
         JOIN messages m ON m.project = hit.project AND m.id = hit.id"
    );
    let stmt = client.prepare_cached(&decorated(&page, "DESC")).await?;
    let before = before.map_or(i64::MAX, sql_id);
    let rows =
        client.query(&stmt, &[&words, &project.as_str(), &before, &user.as_str(), &(i64::from(limit) + 1)]).await?;
    let mut messages = rows.iter().map(message_from_row).collect::<Result<Vec<_>, _>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    Ok(Page { messages, has_more })
}

#[cfg(test)]
mod tests {
    use super::query_words;

    #[test]
    fn user_text_becomes_plain_words_never_tsquery_syntax() {
        assert_eq!(query_words("lunch"), Some("lunch".into()));
        assert_eq!(query_words("  Lunch, at NOON "), Some("Lunch at NOON".into()));
        assert_eq!(query_words("a & b | !c <-> d:*"), Some("a b c d".into()));
        assert_eq!(query_words("'x' (y) \\z"), Some("x y z".into()));
        assert_eq!(query_words("héllo wörld"), Some("héllo wörld".into()));
        assert_eq!(query_words(" *** "), None);
        assert_eq!(query_words(""), None);
        assert_eq!(query_words(&"w ".repeat(50)).map(|q| q.split(' ').count()), Some(8), "at most 8 words");
    }
}
