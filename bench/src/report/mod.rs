//! The printed results: a section per scenario as it finishes, then a
//! summary table with each target and whether it was met. Markdown, so a
//! run can be pasted into BENCHMARKS.md as is.

use crate::reference::Style;
use crate::scenarios::direct::DirectResult;
use crate::scenarios::durable::DurableResult;
use crate::scenarios::fanout::{FanoutResult, Step, P99_TARGET_MS};
use crate::scenarios::idle::IdleResult;
use crate::scenarios::resume::{median, ResumeResult};
use crate::scenarios::stalled::StalledResult;
use crate::sys::{self, Memory};
use crate::Sizes;
use anyhow::{ensure, Result};

mod nodes;
mod search;
pub use nodes::check_nodes;

const FANOUT_RATIO_TARGET: f64 = 1.2;
const IDLE_KIB_TARGET: f64 = 16.0;
const DURABLE_TARGET: f64 = 50_000.0;
const RESUME_MS_TARGET: f64 = 200.0;
/// RSS rise for 1,000 resumers that never read (issue 11), MB.
const STALLED_RISE_MB_TARGET: f64 = 100.0;

struct Row {
    scenario: String,
    result: String,
    memory: String,
    target: &'static str,
    verdict: String,
}

pub struct Report {
    smoke: bool,
    fanout_shape: (usize, usize),
    /// Seconds each fan-out step sends for.
    fanout_step_secs: f64,
    rows: Vec<Row>,
    passed: usize,
    failed: usize,
}

/// A count with thousands separators: 2,568,545.
fn n(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// RSS in MiB for the summary: before → peak → after the clients closed.
fn rss(m: &Memory) -> String {
    format!("{:.1} → {:.1} → {:.1}", mib(m.before_kib), mib(m.peak_kib), mib(m.after_kib))
}

/// Whether `value` reached at least `goal`, and by how much it missed.
fn at_least(value: f64, goal: f64) -> String {
    if value >= goal {
        format!("**met** (+{:.0}%)", (value / goal - 1.0) * 100.0)
    } else {
        format!("**missed** by {:.0}% ({:.2}x of the target)", (1.0 - value / goal) * 100.0, value / goal)
    }
}

/// Whether `value` stayed at or under `goal`, and by how much it missed.
fn at_most(value: f64, goal: f64) -> String {
    if value <= goal {
        format!("**met** ({:.0}% under)", (1.0 - value / goal) * 100.0)
    } else {
        format!("**missed** by {:.0}% ({:.1}x the limit)", (value / goal - 1.0) * 100.0, value / goal)
    }
}

/// In `--smoke`, every step that ran must have delivered every message.
/// Scenario 1's three runs: the chat server and both references.
pub struct FanoutRuns {
    pub chat: FanoutResult,
    pub bare: FanoutResult,
    /// Which bare reference ran (`--bare-nodelay`).
    pub bare_style: Style,
    pub tuned: FanoutResult,
}

pub fn check_complete(r: &FanoutResult, who: &str) -> Result<()> {
    ensure!(!r.steps.is_empty(), "{who}: no fan-out step ran");
    for s in &r.steps {
        ensure!(s.failure.is_none(), "{who}: {}", s.failure.as_deref().unwrap_or_default());
        ensure!(
            s.complete(),
            "{who}: {} of {} deliveries arrived ({} lost, {} duplicated)",
            s.delivered,
            s.expected,
            s.lost,
            s.duplicates
        );
    }
    Ok(())
}

fn steps_table(name: &str, clients: usize, r: &FanoutResult) {
    println!(
        "\n**{name}**: {clients} clients connected in {:.1} s; server RSS MiB {}; mean delivered frame {} bytes\n",
        r.connect_secs, r.memory, r.frame_len
    );
    // PostgreSQL's CPU, when the bench started it (scenario 7).
    let helpers = r.steps.iter().any(|s| s.cpu.helpers > 0.0);
    let (cpu_head, cpu) =
        if helpers { ("server, PostgreSQL, bench, other", true) } else { ("server, bench, other", false) };
    println!("| msgs/s per sender | offered deliveries/s | delivered / expected | deliveries/s | p50 ms | p99 ms | max ms | server RSS MiB | CPU cores: {cpu_head} | sustained |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---|:-:|");
    for s in &r.steps {
        let cores = if cpu {
            format!("{:.2}, {:.2}, {:.2}, {:.2}", s.cpu.server, s.cpu.helpers, s.cpu.bench, s.cpu.other)
        } else {
            format!("{:.2}, {:.2}, {:.2}", s.cpu.server, s.cpu.bench, s.cpu.other)
        };
        println!(
            "| {}{} | {} | {} / {}{} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {cores} | {} |",
            s.rate_per_sender,
            if s.retry { " (retry)" } else { "" },
            n(s.offered),
            n(s.delivered as f64),
            n(s.expected as f64),
            lost_and_duplicated(s).map_or(String::new(), |l| format!(" ({l})")),
            n(s.per_sec),
            s.latency.p50_ms,
            s.latency.p99_ms,
            s.latency.max_ms,
            mib(s.rss_kib),
            verdict(s)
        );
    }
}

/// "3 lost, 1 duplicated", or `None` when neither happened.
fn lost_and_duplicated(s: &Step) -> Option<String> {
    let parts: Vec<String> = [(s.lost, "lost"), (s.duplicates, "duplicated"), (s.echoes, "echoed to their sender")]
        .into_iter()
        .filter(|&(count, _)| count > 0)
        .map(|(count, what)| format!("{} {what}", n(count as f64)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

pub fn verdict(s: &Step) -> String {
    match &s.failure {
        Some(f) => format!("no: {f}"),
        None if !s.complete() => {
            format!("no: {}", lost_and_duplicated(s).unwrap_or_else(|| "not all delivered".into()))
        }
        None if s.latency.p99_ms > P99_TARGET_MS => "no: p99 over 50 ms".into(),
        None => "yes".into(),
    }
}

impl Report {
    pub fn new(smoke: bool, sizes: &Sizes) -> Self {
        println!("# bench {}\n", if smoke { "--smoke (functional check; timings are not judged)" } else { "results" });
        println!("- machine: {}", sys::describe_machine());
        println!("- command: `{}`", std::env::args().collect::<Vec<_>>().join(" "));
        Self {
            smoke,
            fanout_shape: (sizes.fanout.clients, sizes.fanout.senders),
            fanout_step_secs: sizes.fanout.step.as_secs_f64(),
            rows: Vec::new(),
            passed: 0,
            failed: 0,
        }
    }

    fn judged(&self, verdict: String) -> String {
        if self.smoke {
            "not judged (smoke)".into()
        } else {
            verdict
        }
    }

    fn failure(&mut self, scenario: String, target: &'static str, e: anyhow::Error) {
        println!("\n**{scenario}: FAILED**: {e:#}");
        self.failed += 1;
        self.rows.push(Row {
            scenario,
            result: format!("FAILED: {e:#}"),
            memory: "—".into(),
            target,
            verdict: "—".into(),
        });
    }

    pub fn fanout(&mut self, result: Result<FanoutRuns>) {
        let (clients, senders) = self.fanout_shape;
        let scenario = format!("1. room fan-out, {clients} clients, {senders} senders");
        let target = "≥ 1.2x the bare reference's sustained deliveries/s";
        let runs = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        println!("\n## {scenario}\n");
        println!(
            "The send rate steps up until p99 exceeds {P99_TARGET_MS} ms or a delivery is lost or duplicated; a p99 miss is retried once. \
             Each step sends for {:.1} s; latency counts from the time each message was due to be sent, so a load client behind its schedule shows as latency.",
            self.fanout_step_secs
        );
        steps_table("chat server", clients, &runs.chat);
        steps_table(runs.bare_style.label(), clients, &runs.bare);
        steps_table(Style::Tuned.label(), clients, &runs.tuned);
        let best = |r: &FanoutResult| r.best().map_or(0.0, |s| s.per_sec);
        let (ours, bare, tuned) = (best(&runs.chat), best(&runs.bare), best(&runs.tuned));
        let ratio = |theirs: f64| if theirs > 0.0 { ours / theirs } else { 0.0 };
        let p99 = runs.chat.best().map_or(String::new(), |s| format!(" (p99 {:.1} ms)", s.latency.p99_ms));
        let result = format!(
            "{} deliveries/s sustained{p99}; bare reference {}/s, ratio **{:.2}x**; tuned reference {}/s, ratio {:.2}x",
            n(ours),
            n(bare),
            ratio(bare),
            n(tuned),
            ratio(tuned)
        );
        println!("\n{result}");
        self.passed += 1;
        self.rows.push(Row {
            scenario,
            result,
            memory: format!(
                "chat {}; bare {}; tuned {}",
                rss(&runs.chat.memory),
                rss(&runs.bare.memory),
                rss(&runs.tuned.memory)
            ),
            target,
            verdict: self.judged(at_least(ratio(bare), FANOUT_RATIO_TARGET)),
        });
    }

    pub fn direct(&mut self, result: Result<DirectResult>) {
        let scenario = "2. direct messages".to_string();
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, "—", e),
        };
        let scenario = format!("2. direct messages, {} pairs", r.pairs);
        let result = format!(
            "{} DMs/s delivered; {}; {} clients signed in in {:.1} s",
            n(r.per_sec),
            r.latency,
            r.pairs * 2,
            r.connect_secs
        );
        println!(
            "\n## {scenario}\n\n{result}; {} delivered; CPU cores {}; server RSS MiB {}",
            n(r.delivered as f64),
            r.cpu,
            r.memory
        );
        self.passed += 1;
        self.rows.push(Row { scenario, result, memory: rss(&r.memory), target: "— (report)", verdict: "—".into() });
    }

    pub fn idle(&mut self, result: Result<IdleResult>) {
        let scenario = "3. idle connections".to_string();
        let target = "≤ 16 KiB RSS each";
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        let result = format!(
            "{} held; **{:.1} KiB** RSS each ({:.1} → {:.1} MiB); opened {}/s ({:.1} s)",
            n(r.connections as f64),
            r.kib_per_conn,
            mib(r.memory.before_kib),
            mib(r.held_kib),
            n(r.opened_per_sec),
            r.open_secs
        );
        let waves: Vec<String> = r
            .waves
            .iter()
            .enumerate()
            .map(|(i, w)| format!("wave {}: {:.1} held, {:.1} after close", i + 1, mib(w.held_kib), mib(w.after_kib)))
            .collect();
        println!(
            "\n## {scenario}\n\n{result}; {} users; all closed on the server {:.1} s after the clients closed; server RSS MiB {}; {}",
            r.users,
            r.close_secs,
            r.memory,
            waves.join("; ")
        );
        self.passed += 1;
        let verdict = self.judged(at_most(r.kib_per_conn, IDLE_KIB_TARGET));
        self.rows.push(Row { scenario, result, memory: rss(&r.memory), target, verdict });
    }

    pub fn durable(&mut self, result: Result<DurableResult>) {
        let scenario = "4. durable DMs".to_string();
        let target = "≥ 50,000 acked/s";
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        let scenario = match r.projects {
            1 => format!("4. durable DMs, {} clients", r.clients),
            p => format!("4. durable DMs, {} clients in {p} projects", r.clients),
        };
        let commits = r.commits.map_or(String::new(), |c| {
            format!(", {} group commits of {:.0} on average", n(c as f64), r.acked as f64 / c.max(1) as f64)
        });
        let result = format!("**{} acked/s** ({} in {:.2} s{commits})", n(r.per_sec), n(r.acked as f64), r.secs);
        println!("\n## {scenario}\n\n{result}; CPU cores {}; server RSS MiB {}", r.cpu, r.memory);
        self.passed += 1;
        let verdict = self.judged(at_least(r.per_sec, DURABLE_TARGET));
        self.rows.push(Row { scenario, result, memory: rss(&r.memory), target, verdict });
    }

    pub fn resume(&mut self, result: Result<ResumeResult>) {
        let scenario = "5. resume".to_string();
        let target = "≤ 200 ms for 10,000";
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        let ms_list = |runs: &[f64]| runs.iter().map(|ms| format!("{ms:.0}")).collect::<Vec<_>>().join(", ");
        let (warm, cold) = (median(&r.runs_ms), median(&r.cold_runs_ms));
        let result = format!(
            "{} missed messages until `synced` in **{cold:.0} ms** after a server restart with a cold page cache \
             (median; runs: {} ms), {warm:.0} ms on a running server (median; runs: {} ms)",
            n(r.missed as f64),
            ms_list(&r.cold_runs_ms),
            ms_list(&r.runs_ms),
        );
        println!("\n## {scenario}\n\n{result}; server RSS MiB before the restarts {}", r.memory);
        self.passed += 1;
        // Judged on the slower case: a redeploy makes every client resume
        // against a cold server at once.
        let verdict = self.judged(at_most(cold.max(warm), RESUME_MS_TARGET));
        self.rows.push(Row { scenario, result, memory: rss(&r.memory), target, verdict });
    }

    pub fn stalled(&mut self, result: Result<StalledResult>) {
        let scenario = "6. resumers that never read".to_string();
        let target = "RSS rise < 100 MB for 1,000, back after close";
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        let m = &r.memory;
        let rise_mb = m.peak_kib.saturating_sub(m.before_kib) as f64 * 1024.0 / 1e6;
        let left_mib = mib(m.after_kib.saturating_sub(m.before_kib));
        let result = format!(
            "{} tabs each asking for {} messages ({:.1} MB of JSON each, {:.0} MB in all): RSS rose **{rise_mb:.1} MB** \
             ({:.1} KiB a tab), {left_mib:.1} MiB above the start after close; {} replays running and {} waiting \
             while held; machine TCP buffers {:.1} → {:.1} MiB",
            n(r.connections as f64),
            n(r.backlog as f64),
            r.backlog_bytes as f64 / 1e6,
            r.backlog_bytes as f64 * r.connections as f64 / 1e6,
            m.peak_kib.saturating_sub(m.before_kib) as f64 / r.connections.max(1) as f64,
            r.running,
            r.queued,
            mib(r.tcp_kib_before),
            mib(r.tcp_kib_held),
        );
        println!("\n## {scenario}\n\n{result}; server RSS MiB {m}");
        self.passed += 1;
        // Judged on the rise, scaled to 1,000 tabs, and on memory coming back
        // (within 10 MiB of where it started: caches such as the store's
        // readers may keep a little).
        let per_thousand = rise_mb * 1000.0 / r.connections.max(1) as f64;
        let returned = left_mib <= 10.0;
        let verdict = match (at_most(per_thousand, STALLED_RISE_MB_TARGET), returned) {
            (v, true) => v,
            (v, false) => format!("{v}; **missed**: memory did not come back"),
        };
        let verdict = self.judged(verdict);
        self.rows.push(Row { scenario, result, memory: rss(m), target, verdict });
    }

    /// Prints the summary; true when every scenario ran to completion.
    pub fn finish(self) -> bool {
        println!("\n## Summary\n");
        println!("| scenario | result | server RSS MiB: before → peak → after close | target | verdict |");
        println!("|---|---|---|---|---|");
        for r in &self.rows {
            println!("| {} | {} | {} | {} | {} |", r.scenario, r.result, r.memory, r.target, r.verdict);
        }
        println!();
        if self.smoke {
            println!("bench smoke: {} passed, {} failed", self.passed, self.failed);
        } else {
            println!("bench: {} scenarios completed, {} failed", self.passed, self.failed);
        }
        self.failed == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(n(0.0), "0");
        assert_eq!(n(999.4), "999");
        assert_eq!(n(2_568_545.0), "2,568,545");
    }

    #[test]
    fn a_step_row_names_losses_and_duplicates_apart() {
        let step = |lost, duplicates| Step {
            rate_per_sender: 10,
            offered: 100.0,
            expected: 1_000,
            delivered: 1_000 - lost,
            lost,
            duplicates,
            echoes: 0,
            per_sec: 100.0,
            latency: Default::default(),
            local: Default::default(),
            cross: Default::default(),
            rss_kib: 0,
            cpu: Default::default(),
            retry: false,
            failure: None,
        };
        assert_eq!(lost_and_duplicated(&step(0, 0)), None);
        assert_eq!(verdict(&step(0, 0)), "yes");
        // Three lost and three duplicated: a count would have seen 1,000.
        assert_eq!(verdict(&step(3, 3)), "no: 3 lost, 3 duplicated");
        assert_eq!(verdict(&step(0, 1_200)), "no: 1,200 duplicated");
    }

    #[test]
    fn verdicts_say_by_how_much() {
        assert_eq!(at_least(60.0, 50.0), "**met** (+20%)");
        assert_eq!(at_least(0.78, 1.2), "**missed** by 35% (0.65x of the target)");
        assert_eq!(at_most(12.0, 16.0), "**met** (25% under)");
        assert_eq!(at_most(300.0, 200.0), "**missed** by 50% (1.5x the limit)");
    }
}
