//! Full-text search with FTS5 (`messages_fts`). New messages are indexed
//! in bulk after they are committed ([`index_pending`]; see the schema's
//! comment for why and for how edits and deletions stay in step), and a
//! search first indexes whatever is pending, so it sees every message
//! committed before it. The user's text never reaches FTS5's query
//! language: it is cut into words, each quoted. Whole words only: a prefix
//! query makes FTS5 build the whole doclist of every matching term before
//! it can return the newest match (110 ms at p99 over 1,000,000 messages,
//! against a few ms for a word, see BENCHMARKS.md).

use super::rows::{read_messages, sql_id, COLUMNS, QUOTE_JOIN};
use crate::store::{Page, StoreError};
use protocol::{MessageId, ProjectId, UserId};
use rusqlite::{params, Connection};

/// Most messages indexed in one transaction: the writer is held this long.
pub(super) const INDEX_CHUNK: u32 = 20_000;

/// Indexes up to `limit` messages committed since the last call (in id
/// order; deleted ones have no text to index) in one transaction; returns
/// how many ids it covered (fewer than `limit`: nothing is left).
pub(super) fn index_pending(conn: &mut Connection, limit: u32) -> Result<u32, StoreError> {
    // Without its own fsync: the index is derived data, and its rows and
    // `indexed_up_to` commit together, so a crash that loses this
    // transaction loses both and the messages are indexed again. The next
    // group commit's fsync makes it durable anyway (the WAL is sequential).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let indexed = index_chunk(conn, limit);
    conn.pragma_update(None, "synchronous", "FULL")?;
    indexed
}

fn index_chunk(conn: &mut Connection, limit: u32) -> Result<u32, StoreError> {
    let tx = conn.transaction()?;
    let done: i64 = tx.prepare_cached("SELECT indexed_up_to FROM search_index")?.query_row([], |r| r.get(0))?;
    let (covered, up_to): (u32, Option<i64>) = tx
        .prepare_cached("SELECT COUNT(*), MAX(id) FROM (SELECT id FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2)")?
        .query_row(params![done, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let Some(up_to) = up_to else { return Ok(0) };
    tx.prepare_cached(
        "INSERT INTO messages_fts (rowid, body)
         SELECT id, body FROM messages WHERE id > ?1 AND id <= ?2 AND deleted_at IS NULL",
    )?
    .execute(params![done, up_to])?;
    tx.prepare_cached("UPDATE search_index SET indexed_up_to = ?1")?.execute(params![up_to])?;
    tx.commit()?;
    Ok(covered)
}

/// How many ids the index is behind the newest (an estimate: ids of
/// changes count too), for deciding when to index on a busy writer.
pub(super) fn lag(conn: &Connection) -> Result<u64, StoreError> {
    let done: i64 = conn.prepare_cached("SELECT indexed_up_to FROM search_index")?.query_row([], |r| r.get(0))?;
    let newest: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'messages'")?
        .query_row([], |r| r.get(0))?;
    Ok(newest.saturating_sub(done).max(0) as u64)
}

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
    use super::{fts_query, index_pending};
    use rusqlite::Connection;

    #[test]
    fn indexing_skips_its_own_fsync_and_leaves_the_writer_at_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("chat.db")).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.pragma_update(None, "synchronous", "FULL").unwrap();
        super::super::schema::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO messages (project, conv, sender, sender_name, sender_color, body, ts, client_id)
             VALUES ('p', 'room', 'u', 'U', '#000', 'lunch at noon', 1, 'c1')",
            [],
        )
        .unwrap();
        assert_eq!(index_pending(&mut conn, 10).unwrap(), 1);
        let found: i64 = conn
            .query_row("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH '\"lunch\"'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(found, 1);
        // 2 is FULL: the next group commit must fsync again.
        let synchronous: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(synchronous, 2);
        assert_eq!(index_pending(&mut conn, 10).unwrap(), 0, "nothing left to index");
    }

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
