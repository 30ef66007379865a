//! The report of scenario 9: search latency over stored messages.

use super::{at_most, n, Report, Row};
use crate::scenarios::search::SearchResult;
use anyhow::Result;

/// Slowest p99 of a one-word search over 1,000,000 stored messages (issue 14).
const SEARCH_P99_MS_TARGET: f64 = 50.0;

impl Report {
    pub fn search(&mut self, result: Result<SearchResult>) {
        let scenario = "9. search".to_string();
        let target = "p99 ≤ 50 ms, one word, 1,000,000 stored";
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        let scenario = format!("9. search over {} stored", n(r.stored as f64));
        let result = format!(
            "a word in every message (newest page of 20): **{}**; a rare word: {} (stored in {:.1} s)",
            r.common, r.rare, r.fill_secs
        );
        println!("\n## {scenario}\n\n{result}");
        self.passed += 1;
        let verdict = self.judged(at_most(r.common.p99_ms.max(r.rare.p99_ms), SEARCH_P99_MS_TARGET));
        self.rows.push(Row { scenario, result, memory: "—".into(), target, verdict });
    }
}
