//! The report of scenarios 7 and 8: fan-out on several nodes, and memory
//! while Redis is away.

use super::{at_most, lost_and_duplicated, mib, n, rss, steps_table, verdict, Report, Row};
use crate::scenarios::fanout::{FanoutResult, Step};
use crate::scenarios::nodes::{NodesResult, NODES};
use crate::scenarios::outage::OutageResult;
use crate::scenarios::Latency;
use anyhow::Result;

/// Cross-node delivery may add this much at p50, at a tenth of the single
/// node's sustained rate (issue 15).
const CROSS_ADDED_P50_MS: f64 = 5.0;

fn p50_p99(l: &Latency) -> String {
    format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms)
}

/// A ladder on several nodes: scenario 1's table with latency split by
/// whether sender and receiver shared a node.
fn cluster_table(name: &str, clients: usize, r: &FanoutResult) {
    println!(
        "\n**{name}**: {clients} clients connected in {:.1} s (client i on node i mod {NODES}); RSS MiB of all nodes together {}\n",
        r.connect_secs, r.memory
    );
    println!("| msgs/s per sender | offered deliveries/s | delivered / expected | deliveries/s | p50 ms | p99 ms | max ms | same node p50 / p99 ms | cross-node p50 / p99 ms | RSS MiB (all nodes) | CPU cores: nodes, PostgreSQL + Redis, bench, other | sustained |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|:-:|");
    for s in &r.steps {
        println!(
            "| {}{} | {} | {} / {}{} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {:.1} | {:.2}, {:.2}, {:.2}, {:.2} | {} |",
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
            p50_p99(&s.local),
            p50_p99(&s.cross),
            mib(s.rss_kib),
            s.cpu.server,
            s.cpu.helpers,
            s.cpu.bench,
            s.cpu.other,
            verdict(s)
        );
    }
}

fn one_step(who: &str, s: &Step) -> String {
    format!(
        "| {who} | {} | {} / {}{} | {:.1} / {:.1} / {:.1} | {} | {} | {:.2}, {:.2}, {:.2}, {:.2} |",
        n(s.offered),
        n(s.delivered as f64),
        n(s.expected as f64),
        lost_and_duplicated(s).map_or(String::new(), |l| format!(" ({l})")),
        s.latency.p50_ms,
        s.latency.p99_ms,
        s.latency.max_ms,
        p50_p99(&s.local),
        p50_p99(&s.cross),
        s.cpu.server,
        s.cpu.helpers,
        s.cpu.bench,
        s.cpu.other
    )
}

/// In `--smoke`: every step of the scenario delivered everything.
pub fn check_nodes(r: &NodesResult) -> Result<()> {
    super::check_complete(&r.single, "one node on PostgreSQL")?;
    super::check_complete(&r.cluster, "three nodes")?;
    for (s, who) in [(&r.tenth_single, "one node, a tenth"), (&r.tenth_cluster, "three nodes, a tenth")] {
        anyhow::ensure!(s.complete(), "{who}: {}", verdict(s));
    }
    Ok(())
}

impl Report {
    pub fn nodes(&mut self, result: Result<NodesResult>) {
        let (clients, senders) = self.fanout_shape;
        let scenario = format!("7. room fan-out over {NODES} nodes, {clients} clients, {senders} senders");
        let target = "cross-node adds ≤ 5 ms at p50 at a tenth of one node's sustained rate";
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        println!("\n## {scenario}\n");
        println!(
            "Scenario 1's ladder on {}: one node alone, then {NODES} nodes sharing it and one Redis. \
             On {NODES} nodes one warm-up message reaches every client before the ladder. \
             Then both again at a tenth of the single node's best sustained rate, for {:.1} s.",
            r.database, r.tenth_secs
        );
        steps_table("one node on PostgreSQL", clients, &r.single);
        cluster_table(&format!("{NODES} nodes, PostgreSQL and Redis"), clients, &r.cluster);
        println!(
            "\n**At a tenth of the single node's sustained rate** ({} msgs/s per sender)\n",
            r.tenth_single.rate_per_sender
        );
        println!("| run | offered deliveries/s | delivered / expected | p50 / p99 / max ms | same node p50 / p99 ms | cross-node p50 / p99 ms | CPU cores: nodes, PostgreSQL + Redis, bench, other |");
        println!("|---|---:|---:|---:|---:|---:|---|");
        println!("{}", one_step("one node", &r.tenth_single));
        println!("{}", one_step(&format!("{NODES} nodes"), &r.tenth_cluster));
        let best = |f: &FanoutResult| f.best().map_or((0.0, 0.0), |s| (s.per_sec, s.latency.p99_ms));
        let ((one, one_p99), (three, three_p99)) = (best(&r.single), best(&r.cluster));
        let added = r.tenth_cluster.cross.p50_ms - r.tenth_single.latency.p50_ms;
        let complete = r.tenth_single.complete() && r.tenth_cluster.complete();
        let result = format!(
            "sustained: one node {}/s (p99 {one_p99:.1} ms), {NODES} nodes **{}/s** (p99 {three_p99:.1} ms), {:.2}x; \
             at a tenth ({} offered/s): cross-node p50 {:.1} ms vs one node {:.1} ms, **{added:+.1} ms**{}",
            n(one),
            n(three),
            if one > 0.0 { three / one } else { 0.0 },
            n(r.tenth_single.offered),
            r.tenth_cluster.cross.p50_ms,
            r.tenth_single.latency.p50_ms,
            if complete { "" } else { " (a tenth-rate step lost or duplicated messages)" }
        );
        println!("\n{result}");
        self.passed += 1;
        let verdict =
            if complete { at_most(added.max(0.0), CROSS_ADDED_P50_MS) } else { "**missed**: not all delivered".into() };
        let verdict = self.judged(verdict);
        let memory = format!("one node {}; {NODES} nodes {}", rss(&r.single.memory), rss(&r.cluster.memory));
        self.rows.push(Row { scenario, result, memory, target, verdict });
    }

    pub fn outage(&mut self, result: Result<OutageResult>) {
        let scenario = format!("8. Redis away under load, {NODES} nodes");
        let target = "memory bounded while Redis is away; nothing acked lost";
        let r = match result {
            Ok(r) => r,
            Err(e) => return self.failure(scenario, target, e),
        };
        let scenario = format!("8. Redis away for {:.0} s under load, {NODES} nodes", r.outage_secs);
        println!("\n## {scenario}\n");
        let s = &r.step;
        println!(
            "{} clients on {NODES} nodes, {} senders at {} msgs/s each ({} offered deliveries/s) for one step of {:.1} s; \
             {:.1} s in, Redis is {} {:.1} s later; sending goes on {:.1} s past that. Store: {}. \
             Latency counts from when each message was due.\n",
            r.clients,
            r.senders,
            r.rate,
            n(s.offered),
            r.before_secs + r.outage_secs + r.after_secs,
            r.before_secs,
            r.kind.describe(),
            r.outage_secs,
            r.after_secs,
            r.database
        );
        println!("| node | RSS MiB before | peak during | end of outage | after | bus events dropped | gap fills | ephemeral dropped |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let opt = |v: Option<u64>| v.map_or("?".into(), |v| n(v as f64));
        for (i, node) in r.nodes.iter().enumerate() {
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
                i + 1,
                mib(node.before_kib),
                mib(node.peak_kib),
                mib(node.end_kib),
                mib(node.after_kib),
                opt(node.dropped),
                opt(node.gap_fills),
                opt(node.ephemeral_dropped)
            );
        }
        let growth = r.nodes.iter().map(|m| m.peak_kib.saturating_sub(m.before_kib)).max().unwrap_or(0);
        let result = format!(
            "{} / {} delivered{}; same node p50 / p99 {} ms, cross-node p50 / p99 {} ms (max {:.0} ms); \
             largest RSS growth of a node during the outage {:.1} MiB",
            n(s.delivered as f64),
            n(s.expected as f64),
            lost_and_duplicated(s).map_or(String::new(), |l| format!(" ({l})")),
            p50_p99(&s.local),
            p50_p99(&s.cross),
            s.cross.max_ms,
            mib(growth)
        );
        // p99 misses are expected (cross-node messages wait for Redis);
        // what counts is that everything arrived once.
        let complete = if s.complete() { "every message delivered exactly once".into() } else { verdict(s) };
        println!("\n{result}; {complete}");
        let memory = r
            .nodes
            .iter()
            .map(|m| format!("{:.1} → {:.1} → {:.1}", mib(m.before_kib), mib(m.peak_kib), mib(m.after_kib)))
            .collect::<Vec<_>>()
            .join("; ");
        let verdict = match &s.failure {
            Some(f) => format!("**missed**: {f}"),
            None if !s.complete() => format!("**missed**: {}", lost_and_duplicated(s).unwrap_or_default()),
            None => format!("every message delivered once; RSS grew at most {:.1} MiB", mib(growth)),
        };
        let verdict = self.judged(verdict);
        self.passed += 1;
        self.rows.push(Row { scenario, result, memory, target, verdict });
    }
}
