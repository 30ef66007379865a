//! The SQLite schema: migrations numbered by `PRAGMA user_version`.

use crate::store::StoreError;
use rusqlite::Connection;

/// Schema migrations, applied in order; `PRAGMA user_version` says how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after pruning
    project      TEXT NOT NULL,
    conv         TEXT NOT NULL,
    sender       TEXT NOT NULL,
    sender_name  TEXT NOT NULL,
    sender_color TEXT NOT NULL,
    recipient    TEXT,
    body         TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    client_id    TEXT NOT NULL
);
CREATE UNIQUE INDEX messages_dedupe ON messages(project, sender, client_id);
CREATE INDEX messages_conv ON messages(project, conv, id);
CREATE INDEX messages_recipient ON messages(project, recipient, id);
CREATE INDEX messages_sender ON messages(project, sender, id);
CREATE INDEX messages_ts ON messages(ts);
CREATE TABLE users (
    project TEXT NOT NULL,
    id      TEXT NOT NULL,
    name    TEXT NOT NULL,
    color   TEXT NOT NULL,
    PRIMARY KEY (project, id)
) WITHOUT ROWID;
CREATE TABLE read_markers (
    project TEXT NOT NULL,
    user    TEXT NOT NULL,
    conv    TEXT NOT NULL,
    up_to   INTEGER NOT NULL,
    PRIMARY KEY (project, user, conv)
) WITHOUT ROWID;
"#,
    r#"
-- Who is in which direct conversation. It replaces two indexes on
-- `messages` (by sender, by recipient): every DM dirtied a page of each, at
-- scattered places once users are many, and the WAL traffic that caused
-- halved DM throughput over a minute. A row here is written once per pair.
CREATE TABLE conversations (
    project TEXT NOT NULL,
    user    TEXT NOT NULL,
    conv    TEXT NOT NULL,
    PRIMARY KEY (project, user, conv)
) WITHOUT ROWID;
INSERT OR IGNORE INTO conversations (project, user, conv)
    SELECT project, sender, conv FROM messages WHERE recipient IS NOT NULL
    UNION SELECT project, recipient, conv FROM messages WHERE recipient IS NOT NULL;
DROP INDEX messages_sender;
DROP INDEX messages_recipient;
"#,
    r#"
-- The people directory pages through a project's users by name.
CREATE INDEX users_by_name ON users(project, name COLLATE NOCASE, id);
"#,
    r#"
-- The host application's side (the HTTP API).
-- When the API last set a user's profile (ms): it wins over the profile in
-- any token issued before then.
ALTER TABLE users ADD COLUMN profile_at INTEGER;
-- Session tokens issued before `not_before` (ms) are refused: sign-out
-- everywhere and erasure. Kept apart from `users` so it outlives erasure.
CREATE TABLE sign_outs (
    project    TEXT NOT NULL,
    user       TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    PRIMARY KEY (project, user)
) WITHOUT ROWID;
-- Erased users, with the newest message id when they were erased: a client
-- resuming from a cursor at or below it is told to forget their messages.
CREATE TABLE erasures (
    project TEXT NOT NULL,
    user    TEXT NOT NULL,
    at_id   INTEGER NOT NULL,
    PRIMARY KEY (project, at_id, user)
) WITHOUT ROWID;
"#,
    r#"
-- The webhook outbox. An event is written in the transaction of what
-- caused it (a message's in `append`), then, once due, turned into one
-- delivery per endpoint with its body fixed; a delivery row lives until the
-- endpoint accepts it or its retries run out.
CREATE TABLE webhook_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT, -- the event id, never reused
    kind       TEXT NOT NULL,    -- message.created, message.missed, message.unread, user.online, user.offline
    project    TEXT NOT NULL,
    message_id INTEGER,          -- message events
    recipient  TEXT,             -- message.missed / message.unread: who missed it
    payload    TEXT,             -- presence events: the user, as JSON
    created_at INTEGER NOT NULL,
    due_at     INTEGER NOT NULL
);
CREATE INDEX webhook_events_due ON webhook_events(due_at);
CREATE TABLE webhook_deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint   TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    next_at    INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(endpoint, next_at, id);
"#,
    r#"
-- A message's life after it is sent. The body is edited in place; a
-- deletion empties it (secure_delete zeroes the freed bytes) and keeps a
-- tombstone, so ids and replies stay meaningful.
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
-- Edits, deletions and reaction changes, for resume. Ids come from the
-- messages' AUTOINCREMENT sequence (sqlite_sequence), so messages and
-- events share one id order. A row holds no text: a replay reads the
-- target's current state.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    conv    TEXT NOT NULL,
    target  INTEGER NOT NULL,
    by_user TEXT NOT NULL,
    kind    TEXT NOT NULL, -- 'edited', 'deleted' or 'reactions'
    ts      INTEGER NOT NULL
);
CREATE INDEX events_conv ON events(project, conv, id);
CREATE INDEX events_target ON events(target);
-- One per user per emoji; `seq` (the event id that added it) orders them.
CREATE TABLE reactions (
    target INTEGER NOT NULL,
    emoji  TEXT NOT NULL,
    user   TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (target, emoji, user)
) WITHOUT ROWID;
-- Who a message mentions: unread mention counts read it by user, a
-- message's mentions by id.
CREATE TABLE mentions (
    project TEXT NOT NULL,
    user    TEXT NOT NULL,
    conv    TEXT NOT NULL,
    id      INTEGER NOT NULL,
    PRIMARY KEY (project, user, conv, id)
) WITHOUT ROWID;
CREATE INDEX mentions_by_message ON mentions(id);
-- Full-text search over the bodies. External content: the text is not
-- stored twice. secure-delete: a removed body's terms leave the index's
-- b-tree instead of being masked by delete markers. detail=none: no
-- positions are kept (a query is a set of whole words, never a phrase).
--
-- New messages are indexed in bulk after their commit, not by it
-- (`search.rs`: `index_pending`, run by a background thread when the writer
-- is idle, and by every search before it queries), up to
-- `search_index.indexed_up_to`: indexing inside each group commit cost
-- about 45% of durable sends per second. A change to a message already
-- indexed (edit, deletion, pruning, erasure) updates the index in its own
-- transaction, by the triggers below; one not yet indexed is indexed later
-- in its current state. Either way no search ever finds text that was
-- edited away or deleted.
CREATE VIRTUAL TABLE messages_fts USING fts5(body, content='messages', content_rowid='id', detail=none);
INSERT INTO messages_fts(messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts(messages_fts) VALUES ('rebuild');
CREATE TABLE search_index (
    one           INTEGER PRIMARY KEY CHECK (one = 1),
    indexed_up_to INTEGER NOT NULL
);
INSERT INTO search_index (one, indexed_up_to) SELECT 1, COALESCE(MAX(id), 0) FROM messages;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.id <= (SELECT indexed_up_to FROM search_index) BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT indexed_up_to FROM search_index) BEGIN
    INSERT INTO messages_fts(messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
CREATE TRIGGER messages_delete AFTER DELETE ON messages BEGIN
    DELETE FROM reactions WHERE target = old.id;
    DELETE FROM mentions WHERE id = old.id;
    DELETE FROM events WHERE target = old.id;
END;
"#,
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}
