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
//! never consumes an id and leaves no hole. The whole batch takes a fixed
//! number of round trips, however many messages and projects it holds.

use super::rows::{message_from_row, COLUMNS};
use super::webhooks::MessageEvents;
use super::{Appended, ChatMessage, NewMessage, StoreError};
use crate::store::conversation_key;
use deadpool_postgres::Object;
use protocol::{Conversation, MessageId};
use std::collections::{BTreeSet, HashMap};

/// The identity a resend shares with the original.
type DedupeKey = (String, String, String);

fn dedupe_key(m: &NewMessage) -> DedupeKey {
    (m.project.as_str().to_owned(), m.from.id.as_str().to_owned(), m.client_id.as_str().to_owned())
}

/// Columns of the rows to insert, one vector per column (sent as arrays and
/// expanded by `unnest`: one statement for the whole batch).
#[derive(Default)]
struct NewRows<'a> {
    project: Vec<&'a str>,
    id: Vec<i64>,
    conv: Vec<String>,
    sender: Vec<&'a str>,
    sender_name: Vec<&'a str>,
    sender_color: Vec<&'a str>,
    recipient: Vec<Option<&'a str>>,
    body: Vec<&'a str>,
    ts: Vec<i64>,
    client_id: Vec<&'a str>,
}

pub(super) async fn append(client: &mut Object, batch: Vec<NewMessage>) -> Result<Vec<Appended>, StoreError> {
    let tx = client.transaction().await?;

    // 1. Lock (creating if needed) each project's counter, in project order.
    let projects: Vec<&str> = batch.iter().map(|m| m.project.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
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

    // 2. Under those locks nobody else inserts into these projects: what is
    //    stored now is exactly what a message here would duplicate.
    let (keys_project, keys_sender, keys_client): (Vec<&str>, Vec<&str>, Vec<&str>) = {
        let mut p = Vec::with_capacity(batch.len());
        let mut s = Vec::with_capacity(batch.len());
        let mut c = Vec::with_capacity(batch.len());
        for m in &batch {
            p.push(m.project.as_str());
            s.push(m.from.id.as_str());
            c.push(m.client_id.as_str());
        }
        (p, s, c)
    };
    let existing = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, project FROM messages
             WHERE (project, sender, client_id) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))"
        ))
        .await?;
    let mut stored: HashMap<DedupeKey, ChatMessage> = HashMap::new();
    for row in tx.query(&existing, &[&keys_project, &keys_sender, &keys_client]).await? {
        let message = message_from_row(&row)?;
        let project: String = row.try_get(9)?;
        let client_id = message.client_id.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
        stored.insert((project, message.from.id.as_str().to_owned(), client_id), message);
    }

    // 3. Take ids, in batch order, for what is new.
    let mut out = Vec::with_capacity(batch.len());
    let mut rows = NewRows::default();
    let mut members: BTreeSet<(&str, &str, String)> = BTreeSet::new();
    let mut events = MessageEvents::default();
    for m in &batch {
        let key = dedupe_key(m);
        if let Some(original) = stored.get(&key) {
            out.push(Appended { message: original.clone(), duplicate: true });
            continue;
        }
        let counter = last
            .get_mut(m.project.as_str())
            .ok_or_else(|| StoreError::Corrupt(format!("no counter locked for project {}", m.project)))?;
        *counter += 1;
        let id = *counter;
        let conv = conversation_key(&m.from.id, &m.to);
        let recipient = match &m.to {
            Conversation::Room => None,
            Conversation::Direct { user } => Some(user.as_str()),
        };
        if let Some(recipient) = recipient {
            members.insert((m.project.as_str(), m.from.id.as_str(), conv.clone()));
            members.insert((m.project.as_str(), recipient, conv.clone()));
        }
        rows.project.push(m.project.as_str());
        rows.id.push(id);
        rows.conv.push(conv);
        rows.sender.push(m.from.id.as_str());
        rows.sender_name.push(&m.from.name);
        rows.sender_color.push(&m.from.color);
        rows.recipient.push(recipient);
        rows.body.push(&m.body);
        rows.ts.push(m.ts);
        rows.client_id.push(m.client_id.as_str());
        events.add(m, id);
        let mut message = ChatMessage::plain(MessageId(id as u64), m.ts, m.from.clone(), m.to.clone(), m.body.clone());
        message.client_id = Some(m.client_id.clone());
        stored.insert(key, message.clone());
        out.push(Appended { message, duplicate: false });
    }

    // 4. Write the rows, the counters and the memberships (pipelined).
    if !rows.id.is_empty() {
        let (counter_projects, counter_values): (Vec<&str>, Vec<i64>) = projects.iter().map(|p| (*p, last[*p])).unzip();
        let (member_project, member_user, member_conv) = {
            let mut p = Vec::with_capacity(members.len());
            let mut u = Vec::with_capacity(members.len());
            let mut c = Vec::with_capacity(members.len());
            for (project, user, conv) in &members {
                p.push(*project);
                u.push(*user);
                c.push(conv.as_str());
            }
            (p, u, c)
        };
        let insert = tx
            .prepare_cached(
                "INSERT INTO messages (project, id, conv, sender, sender_name, sender_color, recipient, body, ts, client_id)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::text[], $8::text[], $9::bigint[], $10::text[])",
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
        futures_util::future::try_join3(
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
                ],
            ),
            tx.execute(&counters, &[&counter_projects, &counter_values]),
            tx.execute(&membership, &[&member_project, &member_user, &member_conv]),
        )
        .await?;
        // After the messages: an event never exists without its message.
        events.write(&tx).await?;
    }
    tx.commit().await?;
    Ok(out)
}
