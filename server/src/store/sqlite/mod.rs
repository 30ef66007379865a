//! The embedded default store: one SQLite file in WAL mode (`pool.rs`: its
//! connections and checkpoints; `schema.rs`: its migrations; here: the
//! `Store` operations as SQL).

mod changes;
mod pool;
mod rows;
mod schema;
mod search;
mod webhooks;

pub use pool::SqliteStore;

use super::*;
use rows::{read_messages, COLUMNS, FROM};
use rusqlite::{params, Connection, OptionalExtension};

/// A message id as SQLite stores it. Ids come from SQLite (at most
/// `i64::MAX`), but clients can name any `u64`: a larger one means "after
/// every message", not a negative number.
fn sql_id(id: MessageId) -> i64 {
    i64::try_from(id.0).unwrap_or(i64::MAX)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> rusqlite::Error {
    let detail: Box<dyn std::error::Error + Send + Sync> = format!("{what}: {e}").into();
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, detail)
}

/// Stores one message (or finds the original of a resend).
fn append_message(tx: &rusqlite::Transaction<'_>, m: NewMessage) -> Result<Appended, StoreError> {
    let recipient = match &m.to {
        Conversation::Room => None,
        Conversation::Direct { user } => Some(user.as_str()),
    };
    let conv = conversation_key(&m.from.id, &m.to);
    let project = m.project.as_str();
    let reply_to = changes::reply_in(tx, project, &conv, m.reply_to)?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (project, conv, sender, sender_name, sender_color, recipient, body, ts, client_id, reply_to)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (project, sender, client_id) DO NOTHING",
        )?
        .execute(params![
            project,
            conv,
            m.from.id.as_str(),
            m.from.name,
            m.from.color,
            recipient,
            m.body,
            m.ts,
            m.client_id.as_str(),
            reply_to
        ])?;
    if inserted == 0 {
        let sql = format!("SELECT {COLUMNS} FROM {FROM} WHERE m.project = ?1 AND m.sender = ?2 AND m.client_id = ?3");
        let original = read_messages(tx, &sql, params![project, m.from.id.as_str(), m.client_id.as_str()])?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a duplicate send without its original".into()))?;
        return Ok(Appended { message: original, duplicate: true });
    }
    let id = MessageId(tx.last_insert_rowid() as u64);
    webhooks::record_message_events(tx, &m, id)?;
    if let Some(recipient) = recipient {
        let mut member =
            tx.prepare_cached("INSERT OR IGNORE INTO conversations (project, user, conv) VALUES (?1, ?2, ?3)")?;
        member.execute(params![project, m.from.id.as_str(), conv])?;
        member.execute(params![project, recipient, conv])?;
    }
    let mentions = changes::mentioned(&m.from.id, &m.to, &m.mentions);
    for user in &mentions {
        tx.prepare_cached("INSERT OR IGNORE INTO mentions (project, user, conv, id) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![project, user.as_str(), conv, sql_id(id)])?;
    }
    let quote = match reply_to {
        Some(_) => rows::message_by_id(tx, project, id)?.and_then(|stored| stored.reply_to),
        None => None,
    };
    let mut message = ChatMessage::plain(id, m.ts, m.from, m.to, m.body);
    message.client_id = Some(m.client_id);
    message.reply_to = quote;
    message.mentions = mentions;
    Ok(Appended { message, duplicate: false })
}

/// Unread messages, how many of them mention `user`, and the marker.
fn unread_in(
    conn: &Connection,
    project: &str,
    user: &str,
    conv: &str,
) -> Result<(u32, u32, Option<MessageId>), StoreError> {
    let up_to: Option<i64> = conn
        .prepare_cached("SELECT up_to FROM read_markers WHERE project = ?1 AND user = ?2 AND conv = ?3")?
        .query_row(params![project, user, conv], |r| r.get(0))
        .optional()?;
    let count: u32 = conn
        .prepare_cached("SELECT COUNT(*) FROM messages WHERE project = ?1 AND conv = ?2 AND id > ?3 AND sender != ?4")?
        .query_row(params![project, conv, up_to.unwrap_or(0), user], |r| r.get(0))?;
    let mentions: u32 = if count == 0 {
        0
    } else {
        conn.prepare_cached("SELECT COUNT(*) FROM mentions WHERE project = ?1 AND user = ?2 AND conv = ?3 AND id > ?4")?
            .query_row(params![project, user, conv, up_to.unwrap_or(0)], |r| r.get(0))?
    };
    Ok((count, mentions, up_to.map(|u| MessageId(u as u64))))
}

/// A new user's room marker starts at the newest room message, so older
/// room history is not "unread".
fn start_room_marker(conn: &Connection, project: &str, user: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO read_markers (project, user, conv, up_to)
         SELECT ?1, ?2, 'room', COALESCE(MAX(id), 0) FROM messages WHERE project = ?1 AND conv = 'room'",
        params![project, user],
    )?;
    Ok(())
}

fn record_sign_out(conn: &Connection, project: &str, user: &str, not_before: Millis) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sign_outs (project, user, not_before) VALUES (?1, ?2, ?3)
         ON CONFLICT (project, user) DO UPDATE SET not_before = MAX(not_before, excluded.not_before)",
        params![project, user, not_before],
    )?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn append(&self, batch: Vec<Write>) -> Result<Vec<Written>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let mut out = Vec::with_capacity(batch.len());
            for write in batch {
                out.push(match write {
                    Write::Message(m) => Written::Message(append_message(&tx, m)?),
                    Write::Change(c) => Written::Change(changes::apply(&tx, c)?),
                });
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    async fn upsert_user(&self, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
        // Most hellos are reconnects of a known, unchanged user: answer them
        // with a read, so a reconnect storm after a restart costs no fsyncs.
        let (p, u) = (project.clone(), profile.clone());
        let unchanged = self
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT 1 FROM users WHERE project = ?1 AND id = ?2 AND name = ?3 AND color = ?4")?
                    .exists(params![p.as_str(), u.id.as_str(), u.name, u.color])?)
            })
            .await?;
        if unchanged {
            return Ok(());
        }
        let (project, profile) = (project.clone(), profile.clone());
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let new = tx.execute(
                "INSERT INTO users (project, id, name, color) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project, id) DO NOTHING",
                params![project.as_str(), profile.id.as_str(), profile.name, profile.color],
            )? == 1;
            if new {
                start_room_marker(&tx, project.as_str(), profile.id.as_str())?;
            } else {
                tx.execute(
                    "UPDATE users SET name = ?3, color = ?4 WHERE project = ?1 AND id = ?2",
                    params![project.as_str(), profile.id.as_str(), profile.name, profile.color],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn users(
        &self,
        project: &ProjectId,
        query: Option<&str>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        let (project, after) = (project.clone(), after.cloned());
        // LIKE is case-insensitive for ASCII only; lower() on both sides
        // and instr() cover the rest and need no escaping of `%` and `_`.
        let query = query.map(str::to_owned);
        self.read(move |conn| {
            let mut users = conn
                .prepare_cached(
                    "SELECT id, name, color FROM users
                     WHERE project = ?1
                       AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0 OR substr(id, 1, length(?2)) = ?2)
                       AND (?3 IS NULL OR (name COLLATE NOCASE, id) >
                            (SELECT name COLLATE NOCASE, id FROM users WHERE project = ?1 AND id = ?3))
                     ORDER BY name COLLATE NOCASE, id
                     LIMIT ?4",
                )?
                .query_map(
                    params![project.as_str(), query, after.as_ref().map(UserId::as_str), i64::from(limit) + 1],
                    |row| {
                        let id: String = row.get(0)?;
                        Ok(Profile {
                            id: UserId::new(id).map_err(|e| corrupt("user id", e))?,
                            name: row.get(1)?,
                            color: row.get(2)?,
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let has_more = users.len() > limit as usize;
            users.truncate(limit as usize);
            Ok(UserPage { users, has_more })
        })
        .await
    }

    async fn user_exists(&self, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
        let (project, user) = (project.clone(), user.clone());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM users WHERE project = ?1 AND id = ?2")?
                .exists(params![project.as_str(), user.as_str()])?)
        })
        .await
    }

    async fn messages_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let (project, user) = (project.clone(), user.clone());
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM {FROM}
                 WHERE m.project = ?2 AND m.id > ?1 AND m.conv IN (
                     SELECT 'room' UNION ALL SELECT conv FROM conversations WHERE project = ?2 AND user = ?3)
                 ORDER BY m.id LIMIT ?4"
            );
            let messages = read_messages(conn, &sql, params![sql_id(after), project.as_str(), user.as_str(), limit])?;
            let updates = changes::events_after(conn, project.as_str(), &user, after, limit)?;
            // Both are in id order: merge them, and keep the first `limit`.
            let mut entries: Vec<LogEntry> =
                messages.into_iter().map(LogEntry::Message).chain(updates.into_iter().map(LogEntry::Update)).collect();
            entries.sort_by_key(LogEntry::id);
            entries.truncate(limit as usize);
            Ok(entries)
        })
        .await
    }

    async fn history(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let conv = conversation_key(user, conversation);
        let project = project.clone();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM {FROM} WHERE m.project = ?1 AND m.conv = ?2 AND m.id < ?3
                 ORDER BY m.id DESC LIMIT ?4"
            );
            let before = before.map_or(i64::MAX, sql_id);
            let mut messages = read_messages(conn, &sql, params![project.as_str(), conv, before, limit as i64 + 1])?;
            let has_more = messages.len() > limit as usize;
            messages.truncate(limit as usize);
            messages.reverse();
            Ok(Page { messages, has_more })
        })
        .await
    }

    async fn search(
        &self,
        project: &ProjectId,
        user: &UserId,
        query: &str,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        let (project, user, query) = (project.clone(), user.clone(), query.to_owned());
        self.read(move |conn| search::search(conn, &project, &user, &query, before, limit)).await
    }

    async fn mark_read(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        up_to: MessageId,
    ) -> Result<UnreadCount, StoreError> {
        let conv = conversation_key(user, conversation);
        let (project, user, conversation) = (project.clone(), user.clone(), conversation.clone());
        self.write(move |conn| {
            // Clamped to the conversation's newest message: a marker beyond
            // it (a timestamp sent as an id, say) would keep every later
            // message from ever counting as unread.
            conn.prepare_cached(
                "INSERT INTO read_markers (project, user, conv, up_to)
                 SELECT ?1, ?2, ?3, MIN(?4, COALESCE(MAX(id), 0)) FROM messages WHERE project = ?1 AND conv = ?3
                 ON CONFLICT (project, user, conv) DO UPDATE SET up_to = MAX(up_to, excluded.up_to)",
            )?
            .execute(params![project.as_str(), user.as_str(), conv, sql_id(up_to)])?;
            let (count, mentions, read_up_to) = unread_in(conn, project.as_str(), user.as_str(), &conv)?;
            Ok(UnreadCount { conversation, count, read_up_to, mentions })
        })
        .await
    }

    async fn unread(&self, project: &ProjectId, user: &UserId) -> Result<Vec<UnreadCount>, StoreError> {
        let (project, user) = (project.clone(), user.clone());
        self.read(move |conn| {
            // Every conversation the user is in: the room, and each direct one
            // with a message to or from them.
            let mut convs: Vec<String> = conn
                .prepare_cached("SELECT conv FROM conversations WHERE project = ?1 AND user = ?2")?
                .query_map(params![project.as_str(), user.as_str()], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            convs.push("room".into());
            let mut out = Vec::new();
            for conv in convs {
                let (count, mentions, read_up_to) = unread_in(conn, project.as_str(), user.as_str(), &conv)?;
                if count > 0 {
                    let conversation = conversation_from_key(&user, &conv)?;
                    out.push(UnreadCount { conversation, count, read_up_to, mentions });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn sign_in_state(&self, project: &ProjectId, user: &UserId) -> Result<SignInState, StoreError> {
        let (project, user) = (project.clone(), user.clone());
        self.read(move |conn| {
            let profile = conn
                .prepare_cached("SELECT name, color, profile_at FROM users WHERE project = ?1 AND id = ?2")?
                .query_row(params![project.as_str(), user.as_str()], |row| {
                    Ok((Profile { id: user.clone(), name: row.get(0)?, color: row.get(1)? }, row.get(2)?))
                })
                .optional()?;
            let not_before = conn
                .prepare_cached("SELECT not_before FROM sign_outs WHERE project = ?1 AND user = ?2")?
                .query_row(params![project.as_str(), user.as_str()], |row| row.get(0))
                .optional()?;
            Ok(SignInState { profile, not_before })
        })
        .await
    }

    async fn set_profile(&self, project: &ProjectId, profile: &Profile, at: Millis) -> Result<(), StoreError> {
        let (project, profile) = (project.clone(), profile.clone());
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let new = tx.execute(
                "INSERT INTO users (project, id, name, color, profile_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project, id) DO NOTHING",
                params![project.as_str(), profile.id.as_str(), profile.name, profile.color, at],
            )? == 1;
            if new {
                start_room_marker(&tx, project.as_str(), profile.id.as_str())?;
            } else {
                tx.execute(
                    "UPDATE users SET name = ?3, color = ?4, profile_at = MAX(COALESCE(profile_at, 0), ?5)
                     WHERE project = ?1 AND id = ?2",
                    params![project.as_str(), profile.id.as_str(), profile.name, profile.color, at],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn sign_out(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<(), StoreError> {
        let (project, user) = (project.clone(), user.clone());
        self.write(move |conn| {
            record_sign_out(conn, project.as_str(), user.as_str(), not_before)?;
            Ok(())
        })
        .await
    }

    async fn erase_user(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<Erased, StoreError> {
        let (project, user) = (project.clone(), user.clone());
        self.write(move |conn| {
            let tx = conn.transaction()?;
            let (p, u) = (project.as_str(), user.as_str());
            record_sign_out(&tx, p, u, not_before)?;
            let messages = tx.execute("DELETE FROM messages WHERE project = ?1 AND sender = ?2", params![p, u])? as u64;
            let existed = tx.execute("DELETE FROM users WHERE project = ?1 AND id = ?2", params![p, u])? == 1;
            tx.execute("DELETE FROM read_markers WHERE project = ?1 AND user = ?2", params![p, u])?;
            tx.execute("DELETE FROM conversations WHERE project = ?1 AND user = ?2", params![p, u])?;
            // Their reactions and the changes they made to others' messages
            // (their own messages took theirs with them: `messages_delete`).
            tx.execute(
                "DELETE FROM reactions WHERE user = ?2 AND target IN (SELECT id FROM messages WHERE project = ?1)",
                params![p, u],
            )?;
            tx.execute("DELETE FROM events WHERE project = ?1 AND by_user = ?2", params![p, u])?;
            tx.execute("DELETE FROM mentions WHERE project = ?1 AND user = ?2", params![p, u])?;
            // The newest id ever assigned (deleted ones included): what a
            // client that saw everything before the erasure has as cursor.
            let at_id: i64 = tx
                .query_row("SELECT seq FROM sqlite_sequence WHERE name = 'messages'", [], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            tx.execute(
                "INSERT OR IGNORE INTO erasures (project, user, at_id) VALUES (?1, ?2, ?3)",
                params![p, u, at_id],
            )?;
            tx.commit()?;
            Ok(Erased { messages, existed })
        })
        .await
    }

    async fn erasures_since(&self, project: &ProjectId, cursor: MessageId) -> Result<Vec<UserId>, StoreError> {
        let project = project.clone();
        self.read(move |conn| {
            let rows = conn
                .prepare_cached("SELECT DISTINCT user FROM erasures WHERE project = ?1 AND at_id >= ?2")?
                .query_map(params![project.as_str(), sql_id(cursor)], |row| {
                    let id: String = row.get(0)?;
                    UserId::new(id).map_err(|e| corrupt("erased user", e))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn add_events(&self, events: Vec<NewEvent>) -> Result<(), StoreError> {
        self.write(move |conn| Ok(webhooks::add_events(conn, events)?)).await
    }

    async fn expand_due_events(&self, now: Millis, endpoints: &[String]) -> Result<u64, StoreError> {
        let endpoints = endpoints.to_vec();
        self.write(move |conn| Ok(webhooks::expand_due(conn, now, &endpoints)?)).await
    }

    async fn due_deliveries(&self, endpoint: &str, now: Millis, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let endpoint = endpoint.to_owned();
        self.read(move |conn| Ok(webhooks::due_deliveries(conn, &endpoint, now, limit)?)).await
    }

    async fn settle_deliveries(&self, outcomes: Vec<(i64, Settle)>) -> Result<(), StoreError> {
        self.write(move |conn| Ok(webhooks::settle(conn, outcomes)?)).await
    }

    async fn webhook_backlog(&self) -> Result<u64, StoreError> {
        self.read(move |conn| Ok(webhooks::backlog(conn)?)).await
    }

    async fn drop_deliveries_except(&self, endpoints: &[String]) -> Result<u64, StoreError> {
        let endpoints = endpoints.to_vec();
        self.write(move |conn| Ok(webhooks::drop_except(conn, &endpoints)?)).await
    }

    async fn prune(&self, retention: Retention) -> Result<u64, StoreError> {
        self.write(move |conn| {
            let mut deleted = 0;
            if let Some(cutoff) = retention.older_than {
                deleted += conn.execute("DELETE FROM messages WHERE ts < ?1", params![cutoff])? as u64;
            }
            if let Some(keep) = retention.max_per_conversation {
                deleted += conn.execute(
                    "DELETE FROM messages WHERE id IN (
                        SELECT id FROM (
                            SELECT id, ROW_NUMBER() OVER (PARTITION BY project, conv ORDER BY id DESC) AS n
                            FROM messages)
                        WHERE n > ?1)",
                    params![keep],
                )? as u64;
            }
            Ok(deleted)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_passes_the_store_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("chat.db")).unwrap();
        conformance::run_all(&store).await;
    }

    #[tokio::test]
    async fn the_background_checkpointer_moves_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let store = SqliteStore::open(&path).unwrap();
        let schema_only = std::fs::metadata(&path).unwrap().len();
        let batch =
            (0..200).map(|i| conformance::new_message("p", "a", Conversation::Room, &format!("w{i}"))).collect();
        conformance::append_messages(&store, batch).await;
        let mut grown = false;
        for _ in 0..30 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            if std::fs::metadata(&path).unwrap().len() > schema_only {
                grown = true;
                break;
            }
        }
        assert!(grown, "the database file never received the WAL's pages");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_bounded_under_continuous_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let store = SqliteStore::open_with_wal_limit(&path, 1024 * 1024).unwrap();
        let wal = dir.path().join("chat.db-wal");
        let started = std::time::Instant::now();
        let (mut n, mut largest_late) = (0, 0);
        // Commits back to back for 4 s: a checkpoint never finds the log idle.
        while started.elapsed() < std::time::Duration::from_secs(4) {
            let batch = (0..200)
                .map(|i| conformance::new_message("p", "a", Conversation::Room, &format!("b{n}-{i}")))
                .collect();
            conformance::append_messages(&store, batch).await;
            n += 1;
            if started.elapsed() > std::time::Duration::from_secs(2) {
                largest_late = largest_late.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            }
        }
        let written = std::fs::metadata(&path).unwrap().len();
        eprintln!("{n} batches; database {written} bytes; largest WAL in the last 2 s: {largest_late} bytes");
        assert!(largest_late < 4 * 1024 * 1024, "the WAL kept growing past its 1 MiB limit: {largest_late} bytes");
    }

    /// Deleting a message must take its text out of the file: the table,
    /// the search index, the write-ahead log, freed pages. So must editing.
    #[tokio::test]
    async fn a_deleted_or_edited_body_is_gone_from_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("chat.db")).unwrap();
        let secret = |body: &str, cid: &str| NewMessage {
            body: body.into(),
            ..conformance::new_message("p", "a", Conversation::Room, cid)
        };
        let filler: Vec<NewMessage> =
            (0..300).map(|i| secret(&format!("filler message {i}"), &format!("f{i}"))).collect();
        conformance::append_messages(&store, filler).await;
        let sent = conformance::append_messages(
            &store,
            vec![secret("the xylophonequartz launch code", "s1"), secret("meet at zanzibarplaza", "s2")],
        )
        .await;
        let bytes_of = |name: &str| std::fs::read(dir.path().join(name)).unwrap_or_default();
        let in_file = |word: &str| {
            let hay = [bytes_of("chat.db"), bytes_of("chat.db-wal")].concat();
            hay.windows(word.len()).any(|w| w == word.as_bytes())
        };
        assert!(in_file("xylophonequartz"), "the check must be able to see a stored body");
        conformance::apply_changes(
            &store,
            vec![
                conformance::change("p", "a", sent[0].message.id, ChangeKind::Delete),
                conformance::change(
                    "p",
                    "a",
                    sent[1].message.id,
                    ChangeKind::Edit { body: "meet at the station".into(), window: None },
                ),
            ],
        )
        .await;
        let checkpoint = Connection::open(store.path()).unwrap();
        checkpoint.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        for word in ["xylophonequartz", "zanzibarplaza"] {
            assert!(!in_file(word), "{word} is still in the database file");
        }
        let fts_rows: i64 = checkpoint
            .query_row("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'xylophonequartz'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fts_rows, 0);
        assert!(in_file("station"), "the edited text is there");
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let first = {
            let store = SqliteStore::open(&path).unwrap();
            conformance::append_messages(&store, vec![conformance::new_message("p", "a", Conversation::Room, "c1")])
                .await
        };
        let store = SqliteStore::open(&path).unwrap();
        let again =
            conformance::append_messages(&store, vec![conformance::new_message("p", "a", Conversation::Room, "c1")])
                .await;
        assert!(again[0].duplicate);
        assert_eq!(again[0].message.id, first[0].message.id);
    }

    /// A database written by the first schema (before `conversations`)
    /// still answers resume and unread counts for its direct messages.
    #[tokio::test]
    async fn the_conversations_migration_backfills_existing_direct_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "INSERT INTO messages (project, conv, sender, sender_name, sender_color, recipient, body, ts, client_id)
                 VALUES ('p', 'd:a|b', 'a', 'A', '#000000', 'b', 'to b', 1, 'c1'),
                        ('p', 'room', 'c', 'C', '#000000', NULL, 'to all', 2, 'c2'),
                        ('p', 'd:b|c', 'c', 'C', '#000000', 'b', 'c to b', 3, 'c3'),
                        ('q', 'd:a|b', 'a', 'A', '#000000', 'b', 'other project', 4, 'c4');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let (p, a, b) = (ProjectId::new("p").unwrap(), UserId::new("a").unwrap(), UserId::new("b").unwrap());
        let bodies = |entries: Vec<LogEntry>| {
            entries
                .into_iter()
                .map(|e| match e {
                    LogEntry::Message(m) => m.body,
                    LogEntry::Update(u) => panic!("no changes were made: {u:?}"),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(bodies(store.messages_after(&p, &b, MessageId(0), 10).await.unwrap()), ["to b", "to all", "c to b"]);
        assert_eq!(bodies(store.messages_after(&p, &a, MessageId(0), 10).await.unwrap()), ["to b", "to all"]);
        let mut unread: Vec<_> = store.unread(&p, &b).await.unwrap().into_iter().map(|u| u.conversation).collect();
        unread.sort_by_key(|c| format!("{c:?}"));
        let direct = |u: &str| Conversation::Direct { user: UserId::new(u).unwrap() };
        assert_eq!(unread, [direct("a"), direct("c"), Conversation::Room]);
        // New direct messages after the migration are found too.
        conformance::append_messages(&store, vec![conformance::new_message("p", "a", direct("b"), "c5")]).await;
        assert_eq!(store.messages_after(&p, &b, MessageId(4), 10).await.unwrap().len(), 1);
    }
}
