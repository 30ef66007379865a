//! Reading rows: messages in their current state (the row, the quote of
//! the message it answers, its reactions and mentions, in one statement),
//! and ids as PostgreSQL stores them.

use crate::store::*;
use protocol::limits::QUOTE_CHARS;
use protocol::{Quote, Reaction};
use tokio_postgres::Row;

/// The page columns of a row that is a message (not an event, see
/// `messages.rs`), after `m.*` of `messages m`.
pub(super) const NOT_EVENT: &str =
    "m.id AS log_id, NULL::bigint AS event_ts, NULL::text AS event_by, NULL::text AS event_kind";

/// Reads a page of messages in current state, in one statement. `page`
/// selects the rows, `m.*` of `messages m` then [`NOT_EVENT`] (or an
/// event's id, time, author and kind: the row is then the event's
/// target); the result has the columns [`message_from_row`] reads, then
/// those four ([`EVENT_COLUMNS`]) and the project, ordered by `log_id` in
/// `order` (`ASC` or `DESC`).
///
/// A page's reactions and mentions are read as one index range per
/// project, over the span of its message ids (as SQLite's `rows.rs` does),
/// not a probe per message: over 500 rows the probes made a page 5 to 10
/// times slower (10 ms against 1.3 ms on 500,000 messages), and
/// PostgreSQL's CPU is what the chat's throughput is bound by. An event's
/// target can be far older than the page, so the reactions an update
/// carries are probed for its row alone, and only for a reaction event.
pub(super) fn decorated(page: &str, order: &str) -> String {
    format!(
        r#"WITH page AS ({page}),
        span AS (SELECT project, min(id) AS lo, max(id) AS hi FROM page WHERE event_kind IS NULL GROUP BY project),
        rx AS (SELECT r.project, r.target,
                      array_agg(r.emoji ORDER BY r.seq) AS emoji, array_agg(r.user_id ORDER BY r.seq) AS users
               FROM span JOIN reactions r ON r.project = span.project AND r.target BETWEEN span.lo AND span.hi
               GROUP BY r.project, r.target),
        mx AS (SELECT n.project, n.id, array_agg(n.user_id ORDER BY n.user_id COLLATE "C") AS users
               FROM span JOIN mentions n ON n.project = span.project AND n.id BETWEEN span.lo AND span.hi
               GROUP BY n.project, n.id)
        SELECT m.id, m.ts, m.sender, m.sender_name, m.sender_color, m.recipient, m.conv, m.body,
               m.client_id, m.edited_at, m.deleted_at, m.reply_to,
               q.sender, q.sender_name, q.sender_color, q.body, q.deleted_at,
               CASE WHEN m.event_kind = 'reactions' THEN (
                   SELECT array_agg(r.emoji ORDER BY r.seq) FROM reactions r
                   WHERE r.project = m.project AND r.target = m.id) ELSE rx.emoji END,
               CASE WHEN m.event_kind = 'reactions' THEN (
                   SELECT array_agg(r.user_id ORDER BY r.seq) FROM reactions r
                   WHERE r.project = m.project AND r.target = m.id) ELSE rx.users END,
               mx.users,
               m.log_id, m.event_ts, m.event_by, m.event_kind, m.project
        FROM page m
        LEFT JOIN messages q ON q.project = m.project AND q.id = m.reply_to AND q.conv = m.conv
        LEFT JOIN rx ON m.event_kind IS NULL AND rx.project = m.project AND rx.target = m.id
        LEFT JOIN mx ON m.event_kind IS NULL AND mx.project = m.project AND mx.id = m.id
        ORDER BY m.log_id {order}"#
    )
}

/// Where the columns of an event follow a message's in a [`decorated`]
/// row: its id, time, author and kind (`NULL` for a message), then the
/// project.
pub(super) const EVENT_COLUMNS: usize = 20;
pub(super) const PROJECT_COLUMN: usize = EVENT_COLUMNS + 4;

/// A message id as PostgreSQL stores it (`BIGINT`). Clients can name any
/// `u64`: a larger one means "after every message", not a negative number.
pub(super) fn sql_id(id: MessageId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

pub(super) fn corrupt(what: &str, e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn user_id(s: String, what: &str) -> Result<UserId, StoreError> {
    UserId::new(s).map_err(|e| corrupt(what, &e))
}

/// The conversation of a message whose `recipient` column is this.
pub(super) fn conversation(recipient: Option<String>) -> Result<Conversation, StoreError> {
    Ok(match recipient {
        None => Conversation::Room,
        Some(r) => Conversation::Direct { user: user_id(r, "recipient")? },
    })
}

/// What a reply shows of the message it answers.
pub(super) fn quote(id: MessageId, from: Profile, body: &str, deleted: bool) -> Quote {
    Quote { id, from, body: body.chars().take(QUOTE_CHARS).collect(), deleted }
}

/// Reactions from (emoji, user) pairs in the order they were added: emoji
/// by first use, each emoji's users oldest first.
pub(super) fn group_reactions(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Vec<Reaction>, StoreError> {
    let mut reactions: Vec<Reaction> = Vec::new();
    for (emoji, user) in pairs {
        let user = user_id(user, "reaction user")?;
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => reaction.users.push(user),
            None => reactions.push(Reaction { emoji, users: vec![user] }),
        }
    }
    Ok(reactions)
}

/// (emoji, user) pairs from two parallel arrays, as `array_agg` gives
/// them (`NULL` for none).
pub(super) fn reaction_pairs(
    emoji: Option<Vec<String>>,
    users: Option<Vec<String>>,
) -> Result<Vec<(String, String)>, StoreError> {
    let (emoji, users) = (emoji.unwrap_or_default(), users.unwrap_or_default());
    if emoji.len() != users.len() {
        return Err(StoreError::Corrupt("reactions: emoji and users differ in number".into()));
    }
    Ok(emoji.into_iter().zip(users).collect())
}

/// Reactions from two parallel arrays (see [`reaction_pairs`]).
pub(super) fn reactions_from(
    emoji: Option<Vec<String>>,
    users: Option<Vec<String>>,
) -> Result<Vec<Reaction>, StoreError> {
    group_reactions(reaction_pairs(emoji, users)?)
}

/// Reads a message from a [`decorated`] row.
pub(super) fn message_from_row(row: &Row) -> Result<ChatMessage, StoreError> {
    let id: i64 = row.try_get(0)?;
    let client_id: String = row.try_get(8)?;
    let reply_to: Option<i64> = row.try_get(11)?;
    let quoted: Option<String> = row.try_get(12)?;
    let reply_to = match (reply_to, quoted) {
        (Some(id), Some(sender)) => {
            let from =
                Profile { id: user_id(sender, "quoted sender")?, name: row.try_get(13)?, color: row.try_get(14)? };
            let body: String = row.try_get(15)?;
            Some(quote(MessageId(id as u64), from, &body, row.try_get::<_, Option<i64>>(16)?.is_some()))
        }
        // The quoted message was pruned or erased.
        _ => None,
    };
    let mentions: Option<Vec<String>> = row.try_get(19)?;
    Ok(ChatMessage {
        id: MessageId(u64::try_from(id).map_err(|e| corrupt("id", &e))?),
        ts: row.try_get(1)?,
        from: Profile { id: user_id(row.try_get(2)?, "sender")?, name: row.try_get(3)?, color: row.try_get(4)? },
        to: conversation(row.try_get(5)?)?,
        body: row.try_get(7)?,
        client_id: Some(ClientMsgId::new(client_id).map_err(|e| corrupt("client_id", &e))?),
        edited_at: row.try_get(9)?,
        deleted: row.try_get::<_, Option<i64>>(10)?.is_some(),
        reply_to,
        reactions: reactions_from(row.try_get(17)?, row.try_get(18)?)?,
        mentions: mentions
            .unwrap_or_default()
            .into_iter()
            .map(|u| user_id(u, "mentioned user"))
            .collect::<Result<_, _>>()?,
    })
}
