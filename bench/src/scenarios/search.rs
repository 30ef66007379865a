//! Scenario 9: search. `stored` DMs (bodies "stored N") are written
//! through the server by `CLIENTS` pairs of one project, so the search
//! index holds them all; then one user of the project searches, one query
//! at a time, alternately for a word every message has ("stored": the
//! newest page of matches it may see) and for a word a handful have (a
//! number, found in one of its conversations). The time is from the
//! request to its answer, which is checked.

use super::{pipeline, Latencies, Latency};
use crate::conn::{self, FRAME_TIMEOUT};
use crate::process::Proc;
use anyhow::{bail, ensure, Result};
use protocol::{ClientMsg, ServerMsg};
use std::time::Instant;

/// Sending pairs filling the store (at once, as the durable scenario does).
const CLIENTS: usize = 8;
/// Unacknowledged sends per client while filling.
const WINDOW: u64 = 512;
/// Results asked per query.
const PAGE: u32 = 20;

pub struct SearchResult {
    pub stored: u64,
    pub fill_secs: f64,
    pub common: Latency,
    pub rare: Latency,
}

pub async fn run(server: &mut Proc, stored: u64, queries: usize) -> Result<SearchResult> {
    let url = server.url();
    let per_client = stored.div_ceil(CLIENTS as u64);
    let mut senders = Vec::new();
    let mut searcher_token = None;
    for i in 0..CLIENTS {
        let (ws, _) = conn::guest(&url, &format!("writer{i}"), "search").await?;
        // Offline while the store fills (its outbox would overflow).
        let (_, reader) = conn::guest(&url, &format!("reader{i}"), "search").await?;
        searcher_token.get_or_insert(reader.session_token);
        senders.push((ws, reader.me.id));
    }
    let Some(searcher_token) = searcher_token else { bail!("no searcher") };
    let started = Instant::now();
    let fills = senders.iter_mut().enumerate().map(|(i, (ws, to))| {
        let prefix = format!("s{i}-");
        async move { pipeline(ws, &prefix, to, per_client, WINDOW, None).await }
    });
    let acked: u64 = futures_util::future::try_join_all(fills).await?.iter().map(|ids| ids.len() as u64).sum();
    let fill_secs = started.elapsed().as_secs_f64();
    ensure!(acked == per_client * CLIENTS as u64, "only {acked} of the messages were acknowledged");
    drop(senders);
    let (mut searcher, _) = conn::hello(&url, conn::token(&searcher_token), None).await?;

    // Numbers with as many digits as the largest: the last word of a query
    // is also a prefix, and no other number sent starts with one of these.
    let largest = per_client.saturating_sub(1).max(1);
    let shortest_rare = 10u64.pow(largest.ilog10());
    let (mut common, mut rare) = (Latencies::default(), Latencies::default());
    for q in 0..queries {
        let is_common = q % 2 == 0;
        // A number some message of every writer has: "stored N".
        let rare_number = shortest_rare + (q as u64 * 7919) % (per_client - shortest_rare).max(1);
        let query = if is_common { "stored".to_owned() } else { rare_number.to_string() };
        let started = Instant::now();
        conn::send(&mut searcher, &ClientMsg::Search { query: query.clone(), before: None, limit: Some(PAGE) }).await?;
        let results = loop {
            match conn::next(&mut searcher, FRAME_TIMEOUT).await? {
                ServerMsg::Search { results, .. } => break results,
                ServerMsg::Error { message, .. } => bail!("search {query:?} refused: {message}"),
                _ => {}
            }
        };
        let us = started.elapsed().as_micros() as u64;
        if is_common {
            ensure!(results.len() == PAGE as usize, "\"stored\" found {} messages, not a full page", results.len());
            common.record(us);
        } else {
            ensure!(results.len() == 1, "{query:?} found {} messages, not the one it may see", results.len());
            ensure!(results[0].body == format!("stored {query}"), "{query:?} found {:?}", results[0].body);
            rare.record(us);
        }
    }
    server.check_alive()?;
    Ok(SearchResult { stored: acked, fill_secs, common: common.summary(), rare: rare.summary() })
}
