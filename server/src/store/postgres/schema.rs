//! The PostgreSQL schema and its migrations.
//!
//! Several nodes may start at once against one database: each migrates
//! inside one transaction that first takes an advisory lock, so exactly one
//! of them applies a migration and the others find it done.

use super::StoreError;
use tokio_postgres::Client;

/// Schema migrations, applied in order; `chat_schema.version` says how many ran.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
-- The id counter of each project. The row is updated inside every
-- transaction that stores messages of the project and stays locked until it
-- commits: a project's commits are serial, in id order, with no gap, so a
-- reader that has seen id N has seen every id below N (the resume cursor).
CREATE TABLE project_counters (
    project TEXT PRIMARY KEY,
    last_id BIGINT NOT NULL
);
CREATE TABLE messages (
    project      TEXT NOT NULL,
    id           BIGINT NOT NULL,
    conv         TEXT NOT NULL,
    sender       TEXT NOT NULL,
    sender_name  TEXT NOT NULL,
    sender_color TEXT NOT NULL,
    recipient    TEXT,
    body         TEXT NOT NULL,
    ts           BIGINT NOT NULL,
    client_id    TEXT NOT NULL,
    PRIMARY KEY (project, id)
);
CREATE UNIQUE INDEX messages_dedupe ON messages (project, sender, client_id);
CREATE INDEX messages_conv ON messages (project, conv, id);
CREATE INDEX messages_ts ON messages (ts);
CREATE TABLE users (
    project TEXT NOT NULL,
    id      TEXT NOT NULL,
    name    TEXT NOT NULL,
    color   TEXT NOT NULL,
    -- When the host application's API last set the profile (ms): it wins
    -- over the profile in any token issued before then.
    profile_at BIGINT,
    PRIMARY KEY (project, id)
);
-- Session tokens issued before `not_before` (ms) are refused: sign-out
-- everywhere and erasure. Apart from `users` so that it outlives erasure.
CREATE TABLE sign_outs (
    project    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    PRIMARY KEY (project, user_id)
);
-- Erased users, with the project's newest id when they were erased: a
-- client resuming from a cursor at or below it is told to forget them.
CREATE TABLE erasures (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    at_id   BIGINT NOT NULL,
    PRIMARY KEY (project, at_id, user_id)
);
-- The people directory pages through a project's users by name, folded to
-- lower case and compared byte-wise (the same order on every node).
CREATE INDEX users_by_name ON users (project, (lower(name) COLLATE "C"), id);
CREATE TABLE read_markers (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    conv    TEXT NOT NULL,
    up_to   BIGINT NOT NULL,
    PRIMARY KEY (project, user_id, conv)
);
-- The webhook outbox (as SQLite's): an event is written in the transaction
-- of what caused it (a message's in `append`), then, once due, turned into
-- one delivery per endpoint with its body fixed; a delivery row lives until
-- the endpoint accepts it or its retries run out.
CREATE TABLE webhook_events (
    seq        BIGSERIAL PRIMARY KEY, -- the event id, never reused
    kind       TEXT NOT NULL,
    project    TEXT NOT NULL,
    message_id BIGINT,
    recipient  TEXT,
    payload    TEXT,
    created_at BIGINT NOT NULL,
    due_at     BIGINT NOT NULL
);
CREATE INDEX webhook_events_due ON webhook_events (due_at);
CREATE TABLE webhook_deliveries (
    id         BIGSERIAL PRIMARY KEY,
    endpoint   TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_at    BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint, next_at, id);
-- Who is in which direct conversation (written once per pair).
CREATE TABLE conversations (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    conv    TEXT NOT NULL,
    PRIMARY KEY (project, user_id, conv)
);
"#,
    r#"
-- A message's life after it is sent (as SQLite's). The body is edited in
-- place; a deletion empties it and keeps a tombstone, so ids and replies
-- stay meaningful. Nullable columns without a default: no table rewrite.
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
ALTER TABLE messages ADD COLUMN deleted_at BIGINT;
ALTER TABLE messages ADD COLUMN reply_to  BIGINT;
-- Edits, deletions and reaction changes, for resume. Ids come from the
-- project's counter, like messages', so messages and events of a project
-- share one id order (and its cursor rule). A row holds no text: a replay
-- reads the target's current state. Replays read by (project, id); the
-- second index serves pruning and erasure (the trigger below).
CREATE TABLE events (
    project TEXT NOT NULL,
    id      BIGINT NOT NULL,
    conv    TEXT NOT NULL,
    target  BIGINT NOT NULL,
    by_user TEXT NOT NULL,
    kind    TEXT NOT NULL, -- 'edited', 'deleted' or 'reactions'
    ts      BIGINT NOT NULL,
    PRIMARY KEY (project, id)
);
CREATE INDEX events_target ON events (project, target);
-- One per user per emoji; `seq` (the id of the event that added it) orders
-- them. A message's reactions are one range of the primary key.
CREATE TABLE reactions (
    project TEXT NOT NULL,
    target  BIGINT NOT NULL,
    emoji   TEXT NOT NULL,
    user_id TEXT NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (project, target, emoji, user_id)
);
-- Who a message mentions: unread mention counts read it by user (the
-- primary key), a message's mentions by id (the index). Written only for
-- messages that mention someone.
CREATE TABLE mentions (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    conv    TEXT NOT NULL,
    id      BIGINT NOT NULL,
    PRIMARY KEY (project, user_id, conv, id)
);
CREATE INDEX mentions_by_message ON mentions (project, id);
-- Search: whole words of the current body, any case ('simple': lower case,
-- no stemming, no stop words). Words are runs of letters and digits, as on
-- SQLite and in a query (search.rs): the text search parser alone would
-- keep `bob@example.com`, `example.com/path` or `1.5` as one token that no
-- query of words ever matches, so the characters that glue such tokens
-- become spaces first. The single definition of a body's words, for the
-- indexer and for an edit alike.
CREATE FUNCTION message_words(body TEXT) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_tsvector('simple'::regconfig, translate(body, '@./-_+:~<>&', '           ')) $$;
-- The search index: the words of each message that is not deleted, apart
-- from `messages` and written after a message's commit, never by it
-- (index.rs). A GIN index on `messages` itself was maintained by every
-- insert: about 20% of durable sends per second with two-word bodies, and
-- 2 to 3 times the insert time with twelve-word ones, on the database CPU
-- that durable sends are bound by. Indexed in bulk instead, up to each
-- project's high-water mark in `search_indexed`: everything of the project
-- with an id at or below `up_to` is here (the cursor rule of
-- `project_counters`: ids are contiguous and commit in order), nothing
-- above it is. An edit or deletion of a message at or below it changes its
-- row in the same transaction (changes.rs), and pruning and erasure delete
-- rows (the trigger below); a message above it is indexed later in its
-- current state, a deleted one never.
--
-- `conv` (a message's conversation never changes) lets a search find its
-- page, visibility included, in this table alone and join `messages` for
-- that page's rows only: joined before the LIMIT, the plan depended on
-- `messages`' statistics too, and with those from before a fill of
-- 1,000,000 messages a word in every message took 0.7 to 1.1 s a page
-- (2 ms once autovacuum had analyzed it).
CREATE TABLE message_words (
    project TEXT NOT NULL,
    id      BIGINT NOT NULL,
    conv    TEXT NOT NULL,
    words   tsvector NOT NULL,
    PRIMARY KEY (project, id)
);
-- Not scoped by project (that needs the btree_gin extension): a search
-- filters the matches by project. fastupdate (the default) queues a
-- chunk's words in the pending list; moving them into the posting trees
-- now costs an indexing transaction or autovacuum, never a send's commit.
CREATE INDEX message_words_gin ON message_words USING gin (words);
CREATE TABLE search_indexed (
    project TEXT PRIMARY KEY,
    up_to   BIGINT NOT NULL
);
-- Who may write index rows. Indexing a chunk takes its project's lock
-- exclusively (waiting for it in a search, trying it in the background); a
-- change to indexed text takes it shared, so it never runs beside a chunk
-- being indexed (whose snapshot would hold the text from before the
-- change, committed after it). Deleting messages (retention, erasure) may
-- touch thousands of projects at once, more locks than PostgreSQL's lock
-- table holds: it takes one lock for all instead, `gone`, exclusively,
-- which every chunk takes shared after its project's. Advisory locks, not
-- row locks: nothing is written to take them, and they need no row to
-- exist. A project's is keyed by a hash of its name: a collision only makes
-- two projects wait for each other.
CREATE FUNCTION search_lock(project TEXT) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(1936876904, hashtext(project));
    SELECT pg_advisory_xact_lock_shared(1936876905, 0);
$$;
CREATE FUNCTION search_try_lock(project TEXT) RETURNS boolean LANGUAGE sql AS $$
    SELECT pg_try_advisory_xact_lock(1936876904, hashtext(project))
       AND pg_try_advisory_xact_lock_shared(1936876905, 0);
$$;
CREATE FUNCTION search_lock_shared(project TEXT) RETURNS void LANGUAGE sql
    AS $$ SELECT pg_advisory_xact_lock_shared(1936876904, hashtext(project)) $$;
CREATE FUNCTION search_lock_gone() RETURNS void LANGUAGE sql
    AS $$ SELECT pg_advisory_xact_lock(1936876905, 0) $$;
-- Whatever deletes messages (retention, erasure) takes their reactions,
-- mentions, events and indexed words with them, as SQLite's triggers do:
-- once per statement, over the deleted rows, not once per row. The `gone`
-- lock first: a chunk being indexed may hold some of these messages, read
-- before they were deleted; it commits before this goes on, and each
-- statement of a function takes a new snapshot, so the DELETE after the
-- lock sees its rows. Taken only once the rows are deleted, so chunks wait
-- for it only from here to the commit.
CREATE FUNCTION messages_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM gone) THEN
        PERFORM search_lock_gone();
    END IF;
    DELETE FROM message_words w USING gone g WHERE w.project = g.project AND w.id = g.id;
    DELETE FROM reactions r USING gone g WHERE r.project = g.project AND r.target = g.id;
    DELETE FROM mentions n USING gone g WHERE n.project = g.project AND n.id = g.id;
    DELETE FROM events e USING gone g WHERE e.project = g.project AND e.target = g.id;
    RETURN NULL;
END $$;
CREATE TRIGGER messages_gone AFTER DELETE ON messages
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION messages_gone();
"#,
    r#"
-- Identifiers compare as bytes (collation "C"), as on SQLite (BINARY):
-- projects, user ids, conversation keys, client ids, emoji and endpoints
-- are opaque strings that nobody reads in alphabetical order. The
-- database's default collation (say en_US.UTF-8) made every comparison in
-- every index on them a strcoll: with C.UTF-8, comparing text was about a
-- tenth of the database CPU of durable sends, most of it in the inserts
-- into the indexes of `messages`. Byte order is also the same on every
-- machine, where a glibc upgrade can change a locale's order under an
-- index built with it. Names
-- keep the default: `lower()` folds case by the column's collation, and
-- the directory orders by `lower(name) COLLATE "C"` already. Every column
-- of a table and its joins changes together: an index serves only
-- comparisons in its own collation. Only the indexes are rebuilt; text to
-- text is no table rewrite.
ALTER TABLE project_counters ALTER COLUMN project TYPE TEXT COLLATE "C";
ALTER TABLE messages
    ALTER COLUMN project   TYPE TEXT COLLATE "C",
    ALTER COLUMN conv      TYPE TEXT COLLATE "C",
    ALTER COLUMN sender    TYPE TEXT COLLATE "C",
    ALTER COLUMN recipient TYPE TEXT COLLATE "C",
    ALTER COLUMN client_id TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN project TYPE TEXT COLLATE "C", ALTER COLUMN id TYPE TEXT COLLATE "C";
ALTER TABLE sign_outs ALTER COLUMN project TYPE TEXT COLLATE "C", ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE erasures ALTER COLUMN project TYPE TEXT COLLATE "C", ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE read_markers
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN user_id TYPE TEXT COLLATE "C",
    ALTER COLUMN conv    TYPE TEXT COLLATE "C";
ALTER TABLE webhook_events
    ALTER COLUMN project   TYPE TEXT COLLATE "C",
    ALTER COLUMN recipient TYPE TEXT COLLATE "C";
ALTER TABLE webhook_deliveries
    ALTER COLUMN endpoint TYPE TEXT COLLATE "C",
    ALTER COLUMN event_id TYPE TEXT COLLATE "C";
ALTER TABLE conversations
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN user_id TYPE TEXT COLLATE "C",
    ALTER COLUMN conv    TYPE TEXT COLLATE "C";
ALTER TABLE events
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN conv    TYPE TEXT COLLATE "C",
    ALTER COLUMN by_user TYPE TEXT COLLATE "C";
ALTER TABLE reactions
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN emoji   TYPE TEXT COLLATE "C",
    ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE mentions
    ALTER COLUMN project TYPE TEXT COLLATE "C",
    ALTER COLUMN user_id TYPE TEXT COLLATE "C",
    ALTER COLUMN conv    TYPE TEXT COLLATE "C";
ALTER TABLE message_words ALTER COLUMN project TYPE TEXT COLLATE "C", ALTER COLUMN conv TYPE TEXT COLLATE "C";
ALTER TABLE search_indexed ALTER COLUMN project TYPE TEXT COLLATE "C";
-- Retention deletes by age, and rows arrive in about the order of their
-- `ts`: a BRIN index (a min and max per range of table pages) finds them
-- as well as the B-tree did, for a fraction of its cost per insert (one
-- B-tree descent and leaf write less per message). Summarized as each
-- range fills; ranges not yet summarized are scanned.
DROP INDEX messages_ts;
CREATE INDEX messages_ts ON messages USING brin (ts) WITH (autosummarize = on);
"#,
];

/// Any constant works; it only has to be the same on every node.
const MIGRATION_LOCK: i64 = 0x6368_6174_5f6d_6967; // "chat_mig"

/// Applies the migrations that have not run yet; returns the schema version.
pub(crate) async fn migrate(client: &mut Client) -> Result<usize, StoreError> {
    migrate_to(client, MIGRATIONS.len()).await
}

/// Applies the migrations that have not run yet up to version `target` (a
/// test builds a database as an older server left it).
pub(crate) async fn migrate_to(client: &mut Client, target: usize) -> Result<usize, StoreError> {
    let target = target.min(MIGRATIONS.len());
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS chat_schema (version INTEGER NOT NULL)").await?;
    let version: i32 = match tx.query_opt("SELECT version FROM chat_schema", &[]).await? {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO chat_schema (version) VALUES (0)", &[]).await?;
            0
        }
    };
    let done = usize::try_from(version).map_err(|_| StoreError::Corrupt(format!("schema version {version}")))?;
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {done}, newer than this server's {}",
            MIGRATIONS.len()
        )));
    }
    if done >= target {
        tx.commit().await?;
        return Ok(done);
    }
    for sql in &MIGRATIONS[done..target] {
        tx.batch_execute(sql).await?;
    }
    tx.execute("UPDATE chat_schema SET version = $1", &[&(target as i32)]).await?;
    tx.commit().await?;
    Ok(target)
}
