//! The embedded default store: one SQLite file in WAL mode (`pool.rs`: its
//! connections and checkpoints; `schema.rs`: its migrations; `messages.rs`,
//! `changes.rs`, `search.rs`, `users.rs`, `markers.rs` and `webhooks.rs`:
//! the `Store` operations as SQL; `rows.rs`: reading messages in their
//! current state; here: the trait, delegating to them).

mod changes;
mod markers;
mod messages;
mod pool;
mod rows;
mod schema;
mod search;
mod users;
mod webhooks;

pub use pool::SqliteStore;

use super::*;

#[async_trait]
impl Store for SqliteStore {
    async fn append(&self, batch: Vec<Write>) -> Result<Vec<Written>, StoreError> {
        messages::append(self, batch).await
    }

    async fn upsert_user(&self, project: &ProjectId, profile: &Profile) -> Result<(), StoreError> {
        users::upsert_user(self, project, profile).await
    }

    async fn users(
        &self,
        project: &ProjectId,
        query: Option<&str>,
        after: Option<&UserId>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        users::users(self, project, query, after, limit).await
    }

    async fn user_exists(&self, project: &ProjectId, user: &UserId) -> Result<bool, StoreError> {
        users::user_exists(self, project, user).await
    }

    async fn messages_after(
        &self,
        project: &ProjectId,
        user: &UserId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        messages::messages_after(self, project, user, after, limit).await
    }

    async fn project_messages_after(
        &self,
        project: &ProjectId,
        after: MessageId,
        limit: u32,
    ) -> Result<Vec<LogEntry>, StoreError> {
        messages::project_messages_after(self, project, after, limit).await
    }

    async fn history(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        messages::history(self, project, user, conversation, before, limit).await
    }

    async fn mark_read(
        &self,
        project: &ProjectId,
        user: &UserId,
        conversation: &Conversation,
        up_to: MessageId,
    ) -> Result<UnreadCount, StoreError> {
        markers::mark_read(self, project, user, conversation, up_to).await
    }

    async fn unread(&self, project: &ProjectId, user: &UserId) -> Result<Vec<UnreadCount>, StoreError> {
        markers::unread(self, project, user).await
    }

    async fn search(
        &self,
        project: &ProjectId,
        user: &UserId,
        query: &str,
        before: Option<MessageId>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        // Everything committed before this search is found: index what is
        // pending first, a chunk per transaction so commits go on between.
        while self.write(|conn| search::index_pending(conn, search::INDEX_CHUNK)).await? == search::INDEX_CHUNK {}
        let (project, user, query) = (project.clone(), user.clone(), query.to_owned());
        self.read(move |conn| search::search(conn, &project, &user, &query, before, limit)).await
    }

    async fn sign_in_state(&self, project: &ProjectId, user: &UserId) -> Result<SignInState, StoreError> {
        users::sign_in_state(self, project, user).await
    }

    async fn set_profile(&self, project: &ProjectId, profile: &Profile, at: Millis) -> Result<(), StoreError> {
        users::set_profile(self, project, profile, at).await
    }

    async fn sign_out(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<(), StoreError> {
        users::sign_out(self, project, user, not_before).await
    }

    async fn erase_user(&self, project: &ProjectId, user: &UserId, not_before: Millis) -> Result<Erased, StoreError> {
        users::erase_user(self, project, user, not_before).await
    }

    async fn erasures_since(&self, project: &ProjectId, cursor: MessageId) -> Result<Vec<UserId>, StoreError> {
        users::erasures_since(self, project, cursor).await
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
        messages::prune(self, retention).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conformance::MessageStore;
    use rusqlite::Connection;

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
        store.append_messages(batch).await.unwrap();
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
            store.append_messages(batch).await.unwrap();
            n += 1;
            if started.elapsed() > std::time::Duration::from_secs(2) {
                largest_late = largest_late.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            }
        }
        let written = std::fs::metadata(&path).unwrap().len();
        eprintln!("{n} batches; database {written} bytes; largest WAL in the last 2 s: {largest_late} bytes");
        assert!(largest_late < 4 * 1024 * 1024, "the WAL kept growing past its 1 MiB limit: {largest_late} bytes");
    }

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
        // Searching indexes them: the deletion and the edit below must take
        // the words out of the index, not only out of `messages`.
        let (p, a) = (ProjectId::new("p").unwrap(), UserId::new("a").unwrap());
        for word in ["xylophonequartz", "zanzibarplaza"] {
            assert_eq!(store.search(&p, &a, word, None, 10).await.unwrap().messages.len(), 1, "{word}");
        }
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

    /// New messages are indexed by the background thread once the writer is
    /// idle, without a search asking for it.
    #[tokio::test]
    async fn the_background_indexer_catches_up_once_the_writer_is_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let store = SqliteStore::open(&path).unwrap();
        let batch =
            (0..500).map(|i| conformance::new_message("p", "a", Conversation::Room, &format!("i{i}"))).collect();
        store.append_messages(batch).await.unwrap();
        let check = Connection::open(&path).unwrap();
        let indexed =
            || -> i64 { check.query_row("SELECT indexed_up_to FROM search_index", [], |r| r.get(0)).unwrap() };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while indexed() < 500 {
            assert!(std::time::Instant::now() < deadline, "the index stayed at {} of 500", indexed());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let hits: i64 = check
            .query_row("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'i499'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hits, 1);
    }

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let first = {
            let store = SqliteStore::open(&path).unwrap();
            store.append_messages(vec![conformance::new_message("p", "a", Conversation::Room, "c1")]).await.unwrap()
        };
        let store = SqliteStore::open(&path).unwrap();
        let again =
            store.append_messages(vec![conformance::new_message("p", "a", Conversation::Room, "c1")]).await.unwrap();
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
        let bodies = |m: Vec<ChatMessage>| m.into_iter().map(|m| m.body).collect::<Vec<_>>();
        assert_eq!(
            bodies(store.messages_only_after(&p, &b, MessageId(0), 10).await.unwrap()),
            ["to b", "to all", "c to b"]
        );
        assert_eq!(bodies(store.messages_only_after(&p, &a, MessageId(0), 10).await.unwrap()), ["to b", "to all"]);
        let mut unread: Vec<_> = store.unread(&p, &b).await.unwrap().into_iter().map(|u| u.conversation).collect();
        unread.sort_by_key(|c| format!("{c:?}"));
        let direct = |u: &str| Conversation::Direct { user: UserId::new(u).unwrap() };
        assert_eq!(unread, [direct("a"), direct("c"), Conversation::Room]);
        // New direct messages after the migration are found too.
        store.append_messages(vec![conformance::new_message("p", "a", direct("b"), "c5")]).await.unwrap();
        assert_eq!(store.messages_only_after(&p, &b, MessageId(4), 10).await.unwrap().len(), 1);
    }
}
