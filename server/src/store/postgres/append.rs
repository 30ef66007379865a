//! Storing a batch: the cursor rule for several writers.
//!
//! A plain sequence hands out ids at insert time, but transactions commit in
//! any order: id 11 can become visible before id 10, and a reader following
//! `id > cursor` that saw 11 skips 10 forever. Here each transaction first
//! locks the counter row of every project it writes (in project order, so
//! two batches never deadlock), checks duplicates, takes its ids from the
//! counters and holds the locks until it commits. A project's transactions
//! therefore commit one after another in id order, and the ids they commit
//! are contiguous: whoever sees id N can already see every id below it.
//!
//! Duplicates are found under the lock, before ids are taken, so a resend
//! never consumes an id and leaves no hole. A run of messages takes a fixed
//! number of round trips, however many messages and projects it holds.
//!
//! Resends are rare (a client resends only what a reconnect left
//! unanswered), and looking for them cost a probe of the dedupe index per
//! message: about a sixth of the statement time of durable sends. So a batch is
//! first stored without looking; the dedupe index's own uniqueness check,
//! which the insert makes anyway, catches a resend. That aborts the
//! transaction before it commits (no id is seen, no hole), and the batch is
//! stored again, looking ([`Resends`]).
//!
//! A batch may interleave messages and changes (edits, deletions,
//! reactions) of several projects. The counters of all of them are locked
//! first; then the batch is stored in order, in runs: consecutive messages
//! through the bulk path here, each change on its own (`changes.rs`: it may
//! target a message stored earlier in the batch). Both take their ids from
//! the same locked counters, so within a project ids increase in batch
//! order, and a refused change takes none: still no gap. A batch of
//! messages only is one run, stored exactly as before changes existed;
//! replies and mentions cost a statement more in a pipeline only when a
//! run has some.

use super::changes;
use super::rows::{decorated, message_from_row, quote, sql_id, user_id, NOT_EVENT, PROJECT_COLUMN};
use super::webhooks::MessageEvents;
use crate::store::{conversation_key, Appended, NewMessage, StoreError, Write, Written};
use deadpool_postgres::{Object, Transaction};
use protocol::{ChatMessage, Conversation, MessageId, Profile, Quote, UserId};
use std::collections::{BTreeSet, HashMap};

/// The identity a resend shares with the original: project, sender and
/// client id (borrowed from the batch: no copy per message).
type DedupeKey<'a> = (&'a str, &'a str, &'a str);

fn dedupe_key(m: &NewMessage) -> DedupeKey<'_> {
    (m.project.as_str(), m.from.id.as_str(), m.client_id.as_str())
}

/// The originals a resend may be answered with, so that a resend in the
/// same batch or a later run is: messages stored before (found under the
/// lock when looking for resends; rare) and the batch's new ones, by their
/// place in the batch's answers (not a copy each).
#[derive(Default)]
struct Seen<'a> {
    stored: HashMap<(String, String, String), ChatMessage>,
    new: HashMap<DedupeKey<'a>, usize>,
}

impl Seen<'_> {
    /// The original of `key`, if the batch has one so far.
    fn original(&self, key: DedupeKey<'_>, out: &[Written]) -> Option<ChatMessage> {
        if let Some(Written::Message(first)) = self.new.get(&key).map(|at| &out[*at]) {
            return Some(first.message.clone());
        }
        if self.stored.is_empty() {
            return None;
        }
        self.stored.get(&(key.0.to_owned(), key.1.to_owned(), key.2.to_owned())).cloned()
    }
}

/// Columns of the rows to insert, one vector per column (sent as arrays and
/// expanded by `unnest`: one statement for the whole run).
#[derive(Default)]
struct NewRows<'a> {
    project: Vec<&'a str>,
    id: Vec<i64>,
    conv: Vec<&'a str>,
    sender: Vec<&'a str>,
    sender_name: Vec<&'a str>,
    sender_color: Vec<&'a str>,
    recipient: Vec<Option<&'a str>>,
    body: Vec<&'a str>,
    ts: Vec<i64>,
    client_id: Vec<&'a str>,
    reply_to: Vec<Option<i64>>,
}

/// The `mentions` rows of a run, as columns.
#[derive(Default)]
struct Mentions<'a> {
    project: Vec<&'a str>,
    user: Vec<&'a str>,
    conv: Vec<&'a str>,
    id: Vec<i64>,
}

/// Whether a batch looks for resends of stored messages before it takes ids.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Resends {
    /// Not looked for: a resend fails the insert on the dedupe index.
    Unlooked,
    /// Looked for under the counter locks, and answered with the original.
    LookedFor,
}

/// The unique index that makes a resend fail an insert that did not look.
const DEDUPE_INDEX: &str = "messages_dedupe";

pub(super) async fn append(client: &mut Object, batch: Vec<Write>) -> Result<Vec<Written>, StoreError> {
    match store_batch(client, &batch, Resends::Unlooked).await {
        Err(e) if is_resend(&e) => {
            tracing::debug!(writes = batch.len(), "a batch held a resend: storing it again, looking for resends");
            store_batch(client, &batch, Resends::LookedFor).await
        }
        other => other,
    }
}

/// True for the error of an insert that met a message stored before with
/// the same (project, sender, client id).
fn is_resend(e: &StoreError) -> bool {
    let StoreError::Postgres(e) = e else { return false };
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
        && e.as_db_error().and_then(|db| db.constraint()) == Some(DEDUPE_INDEX)
}

/// One attempt at storing `batch`, in one transaction: dropped (rolled
/// back) on any error.
async fn store_batch(client: &mut Object, batch: &[Write], resends: Resends) -> Result<Vec<Written>, StoreError> {
    let tx = client.transaction().await?;

    // 1. Lock (creating if needed) each project's counter, in project order.
    let projects: Vec<&str> = batch
        .iter()
        .map(|w| match w {
            Write::Message(m) => m.project.as_str(),
            Write::Change(c) => c.project.as_str(),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let lock = tx
        .prepare_cached(
            "INSERT INTO project_counters (project, last_id)
             SELECT p, 0 FROM unnest($1::text[]) AS p ORDER BY p
             ON CONFLICT (project) DO UPDATE SET last_id = project_counters.last_id
             RETURNING project, last_id",
        )
        .await?;
    let mut last: HashMap<String, i64> = HashMap::with_capacity(projects.len());
    for row in tx.query(&lock, &[&projects]).await? {
        last.insert(row.try_get(0)?, row.try_get(1)?);
    }

    // 2. Store the batch in order: runs of messages, changes one by one.
    let mut out = Vec::with_capacity(batch.len());
    let mut seen = Seen::default();
    let mut events = MessageEvents::default();
    let mut rest = batch;
    while let Some(first) = rest.first() {
        if let Write::Change(change) = first {
            out.push(Written::Change(changes::apply(&tx, change, &mut last).await?));
            rest = &rest[1..];
            continue;
        }
        let end = rest.iter().position(|w| matches!(w, Write::Change(_))).unwrap_or(rest.len());
        let run: Vec<&NewMessage> = rest[..end]
            .iter()
            .filter_map(|w| match w {
                Write::Message(m) => Some(m),
                Write::Change(_) => None,
            })
            .collect();
        store_messages(&tx, &run, resends, &mut last, &mut seen, &mut events, &mut out).await?;
        rest = &rest[end..];
    }
    // After the messages: an event never exists without its message.
    events.write(&tx).await?;
    tx.commit().await?;
    Ok(out)
}

/// Stores a run of messages (the batch's counters already locked):
/// duplicates found, ids taken in order, the rows written in one pipeline;
/// their answers are pushed to `out`, the batch's answers so far.
async fn store_messages<'a>(
    tx: &Transaction<'_>,
    run: &[&'a NewMessage],
    resends: Resends,
    last: &mut HashMap<String, i64>,
    seen: &mut Seen<'a>,
    events: &mut MessageEvents<'a>,
    out: &mut Vec<Written>,
) -> Result<(), StoreError> {
    // 2. Under the locks nobody else inserts into these projects: what is
    //    stored now is exactly what a message here would duplicate. The
    //    messages that replies answer are read in the same round trip.
    //    Only ids here: the originals' current state (a rare read, for
    //    resends) is read apart, so the query stays small.
    let duplicates = async {
        if resends == Resends::Unlooked {
            return Ok(Vec::new());
        }
        let mut project = Vec::with_capacity(run.len());
        let mut sender = Vec::with_capacity(run.len());
        let mut client_id = Vec::with_capacity(run.len());
        for m in run {
            project.push(m.project.as_str());
            sender.push(m.from.id.as_str());
            client_id.push(m.client_id.as_str());
        }
        let existing = tx
            .prepare_cached(
                "SELECT project, id FROM messages
                 WHERE (project, sender, client_id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))",
            )
            .await?;
        tx.query(&existing, &[&project, &sender, &client_id]).await
    };
    let (answered_project, answered_id): (Vec<&str>, Vec<i64>) =
        run.iter().filter_map(|m| Some((m.project.as_str(), sql_id(m.reply_to?)))).unzip();
    let (duplicates, answered) = if answered_id.is_empty() {
        (duplicates.await?, Vec::new())
    } else {
        let quoted = tx
            .prepare_cached(
                "SELECT q.project, q.id, q.conv, q.sender, q.sender_name, q.sender_color, q.body, q.deleted_at
                 FROM messages q WHERE (q.project, q.id) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))",
            )
            .await?;
        futures_util::future::try_join(duplicates, tx.query(&quoted, &[&answered_project, &answered_id])).await?
    };
    if !duplicates.is_empty() {
        let (mut projects, mut ids): (Vec<String>, Vec<i64>) = (Vec::new(), Vec::new());
        for row in &duplicates {
            projects.push(row.try_get(0)?);
            ids.push(row.try_get(1)?);
        }
        let originals = tx
            .prepare_cached(&decorated(
                &format!(
                    "SELECT m.*, {NOT_EVENT} FROM messages m
                     WHERE (m.project, m.id) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))"
                ),
                "ASC",
            ))
            .await?;
        for row in tx.query(&originals, &[&projects, &ids]).await? {
            let message = message_from_row(&row)?;
            let project: String = row.try_get(PROJECT_COLUMN)?;
            let client_id = message.client_id.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
            seen.stored.insert((project, message.from.id.as_str().to_owned(), client_id), message);
        }
    }
    let mut quotes = quotes_of(&answered)?;

    // 3. Take ids, in batch order, for what is new.
    // Conversation keys first, so that the rows, memberships and mentions
    // below borrow them rather than copy one each.
    let convs: Vec<String> = run.iter().map(|m| conversation_key(&m.from.id, &m.to)).collect();
    let mut rows = NewRows::default();
    let mut members: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut mentions = Mentions::default();
    let mut advanced: BTreeSet<&str> = BTreeSet::new();
    for (m, conv) in run.iter().zip(&convs) {
        let key = dedupe_key(m);
        if let Some(original) = seen.original(key, out) {
            out.push(Written::Message(Appended { message: original, duplicate: true }));
            continue;
        }
        let project = m.project.as_str();
        let counter = last
            .get_mut(project)
            .ok_or_else(|| StoreError::Corrupt(format!("no counter locked for project {project}")))?;
        *counter += 1;
        let id = *counter;
        advanced.insert(project);
        let recipient = match &m.to {
            Conversation::Room => None,
            Conversation::Direct { user } => Some(user.as_str()),
        };
        if let Some(recipient) = recipient {
            members.insert((project, m.from.id.as_str(), conv));
            members.insert((project, recipient, conv));
        }
        // A reply keeps its target only within its conversation.
        let reply = m.reply_to.and_then(|r| quotes.get(&(project.to_owned(), sql_id(r))));
        let reply = reply.filter(|(c, _)| c == conv).map(|(_, q)| q.clone());
        let mentioned = mentioned(&m.from.id, &m.to, &m.mentions);
        for user in &mentioned {
            mentions.project.push(project);
            mentions.user.push(user.as_str());
            mentions.conv.push(conv);
            mentions.id.push(id);
        }
        if !answered_id.is_empty() {
            // A later reply of this run may answer this message.
            let this = quote(MessageId(id as u64), m.from.clone(), &m.body, false);
            quotes.insert((project.to_owned(), id), (conv.clone(), this));
        }
        rows.project.push(project);
        rows.id.push(id);
        rows.conv.push(conv);
        rows.sender.push(m.from.id.as_str());
        rows.sender_name.push(&m.from.name);
        rows.sender_color.push(&m.from.color);
        rows.recipient.push(recipient);
        rows.body.push(&m.body);
        rows.ts.push(m.ts);
        rows.client_id.push(m.client_id.as_str());
        rows.reply_to.push(reply.as_ref().map(|q| sql_id(q.id)));
        events.add(m, id);
        let mut message = ChatMessage::plain(MessageId(id as u64), m.ts, m.from.clone(), m.to.clone(), m.body.clone());
        message.client_id = Some(m.client_id.clone());
        message.reply_to = reply;
        message.mentions = mentioned.into_iter().cloned().collect();
        seen.new.insert(key, out.len());
        out.push(Written::Message(Appended { message, duplicate: false }));
    }

    // 4. Write the rows, the counters, the memberships and the mentions
    //    (pipelined: one round trip).
    if !rows.id.is_empty() {
        let (counter_projects, counter_values): (Vec<&str>, Vec<i64>) = advanced.iter().map(|p| (*p, last[*p])).unzip();
        let (member_project, member_user, member_conv) = {
            let mut p = Vec::with_capacity(members.len());
            let mut u = Vec::with_capacity(members.len());
            let mut c = Vec::with_capacity(members.len());
            for (project, user, conv) in &members {
                p.push(*project);
                u.push(*user);
                c.push(*conv);
            }
            (p, u, c)
        };
        let insert = tx
            .prepare_cached(
                "INSERT INTO messages (project, id, conv, sender, sender_name, sender_color, recipient, body, ts, client_id,
                                       reply_to)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::text[], $8::text[], $9::bigint[], $10::text[], $11::bigint[])",
            )
            .await?;
        let counters = tx
            .prepare_cached(
                "UPDATE project_counters AS c SET last_id = v.last_id
                 FROM unnest($1::text[], $2::bigint[]) AS v(project, last_id)
                 WHERE c.project = v.project",
            )
            .await?;
        let membership = tx
            .prepare_cached(
                "INSERT INTO conversations (project, user_id, conv)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
                 ON CONFLICT DO NOTHING",
            )
            .await?;
        let mention = async {
            if mentions.id.is_empty() {
                return Ok(0);
            }
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO mentions (project, user_id, conv, id)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
                     ON CONFLICT DO NOTHING",
                )
                .await?;
            tx.execute(&stmt, &[&mentions.project, &mentions.user, &mentions.conv, &mentions.id]).await
        };
        // Joined, not tried: a resend fails the insert, which aborts the
        // transaction, and the statements after it fail for that; the
        // insert's own error is the one that says why.
        let (inserted, counted, joined, mentioned) = futures_util::future::join4(
            tx.execute(
                &insert,
                &[
                    &rows.project,
                    &rows.id,
                    &rows.conv,
                    &rows.sender,
                    &rows.sender_name,
                    &rows.sender_color,
                    &rows.recipient,
                    &rows.body,
                    &rows.ts,
                    &rows.client_id,
                    &rows.reply_to,
                ],
            ),
            tx.execute(&counters, &[&counter_projects, &counter_values]),
            tx.execute(&membership, &[&member_project, &member_user, &member_conv]),
            mention,
        )
        .await;
        inserted?;
        counted?;
        joined?;
        mentioned?;
    }
    Ok(())
}

/// The messages replies answer, by (project, id): their conversation and
/// their quote as stored now.
type Quotes = HashMap<(String, i64), (String, Quote)>;

/// The [`Quotes`] of the rows of the replies' lookup.
fn quotes_of(rows: &[tokio_postgres::Row]) -> Result<Quotes, StoreError> {
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let from =
            Profile { id: user_id(row.try_get(3)?, "quoted sender")?, name: row.try_get(4)?, color: row.try_get(5)? };
        let id: i64 = row.try_get(1)?;
        let body: String = row.try_get(6)?;
        let deleted = row.try_get::<_, Option<i64>>(7)?.is_some();
        out.insert((row.try_get(0)?, id), (row.try_get(2)?, quote(MessageId(id as u64), from, &body, deleted)));
    }
    Ok(out)
}

/// Drops from `mentions` the sender, repeats and (for a direct message)
/// anyone outside the conversation; returns who stays. The same rule as
/// `sqlite/changes.rs::mentioned`.
fn mentioned<'m>(from: &UserId, to: &Conversation, mentions: &'m [UserId]) -> Vec<&'m UserId> {
    let mut out: Vec<&UserId> = Vec::new();
    for user in mentions {
        let in_conversation = match to {
            Conversation::Room => true,
            Conversation::Direct { user: other } => other == user,
        };
        if user != from && in_conversation && !out.contains(&user) {
            out.push(user);
        }
    }
    out
}
