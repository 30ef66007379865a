//! `bench`: the chat server's load test. Starts the server binary (and the
//! reference server, for fan-out) itself, runs five scenarios over loopback
//! and prints a table. `--smoke` runs each with tiny numbers as a functional
//! check (CI); it never judges timings.

mod conn;
mod process;
mod reference;
mod scenarios;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use process::Proc;
use scenarios::{FanoutConfig, Step, Target};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Load test for the chat server (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The chat server binary.
    #[arg(long, default_value = "target/release/server")]
    server: PathBuf,
    /// Seconds-long functional run with tiny numbers.
    #[arg(long)]
    smoke: bool,
    /// Run only the fan-out scenario (both servers).
    #[arg(long)]
    fanout_only: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Run the reference broadcast server (used by the bench itself).
    Reference {
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
}

struct Sizes {
    fanout: FanoutConfig,
    dm_pairs: usize,
    dm_time: Duration,
    idle: usize,
    durable_clients: usize,
    durable_time: Duration,
    resume: u64,
}

fn sizes(smoke: bool) -> Sizes {
    if smoke {
        Sizes {
            fanout: FanoutConfig { clients: 20, senders: 2, rates: vec![5, 10], step: Duration::from_millis(500) },
            dm_pairs: 10,
            dm_time: Duration::from_secs(1),
            idle: 200,
            durable_clients: 2,
            durable_time: Duration::from_millis(500),
            resume: 500,
        }
    } else {
        Sizes {
            fanout: FanoutConfig {
                clients: 200,
                senders: 10,
                rates: vec![50, 200, 600, 1000, 1200, 1400, 1600, 2000, 2500, 3000, 4000],
                step: Duration::from_secs(3),
            },
            dm_pairs: 1000,
            dm_time: Duration::from_secs(5),
            idle: 15_000,
            durable_clients: 8,
            durable_time: Duration::from_secs(5),
            resume: 10_000,
        }
    }
}

fn best(steps: &[Step]) -> f64 {
    steps.iter().filter(|s| s.sustained()).map(|s| s.per_sec).fold(0.0, f64::max)
}

fn print_steps(name: &str, steps: &[Step]) {
    println!("\n{name}: room fan-out steps");
    println!("| msgs/s per sender | deliveries expected | delivered | deliveries/s | p50 ms | p99 ms | max ms | server RSS MiB | sustained |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|:-:|");
    for s in steps {
        println!(
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            s.rate_per_sender, s.expected, s.delivered, s.per_sec, s.p50_ms, s.p99_ms, s.max_ms, s.rss_mib,
            match (&s.cut_off, s.sustained()) {
                (Some(_), _) => "no (a sender was cut off)",
                (None, true) => "yes",
                (None, false) => "no",
            }
        );
    }
}

async fn run(cli: Cli) -> Result<()> {
    // Thousands of sockets: lift the soft file limit to the hard one.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let sz = sizes(cli.smoke);
    let server = |_: ()| Proc::chat_server(&cli.server);

    let chat = server(()).await?;
    let chat_steps = scenarios::fanout(&chat, Target::Chat, &sz.fanout).await.context("fan-out (chat)")?;
    drop(chat);
    let reference = Proc::reference_server().await?;
    let ref_steps = scenarios::fanout(&reference, Target::Reference, &sz.fanout).await.context("fan-out (reference)")?;
    drop(reference);
    print_steps("chat server", &chat_steps);
    print_steps("reference (bare broadcast)", &ref_steps);
    if cli.fanout_only {
        let (ours, theirs) = (best(&chat_steps), best(&ref_steps));
        println!("\nfan-out: {ours:.0} vs reference {theirs:.0} deliveries/s sustained; ratio {:.2}x", ours / theirs.max(1.0));
        return Ok(());
    }
    if cli.smoke {
        anyhow::ensure!(chat_steps.first().is_some_and(|s| s.delivered == s.expected), "fan-out lost messages: {:?}", chat_steps.first());
    }

    let chat = server(()).await?;
    let dm = scenarios::dm_pairs(&chat, sz.dm_pairs, sz.dm_time).await.context("direct messages")?;
    drop(chat);
    let chat = server(()).await?;
    let idle = scenarios::idle(&chat, sz.idle).await.context("idle connections")?;
    drop(chat);
    let chat = server(()).await?;
    let durable = scenarios::durable(&chat, sz.durable_clients, sz.durable_time).await.context("durable throughput")?;
    drop(chat);
    let chat = server(()).await?;
    let resume = scenarios::resume(&chat, sz.resume).await.context("resume")?;
    drop(chat);

    let (ours, theirs) = (best(&chat_steps), best(&ref_steps));
    println!("\n| scenario | result | target |");
    println!("|---|---|---|");
    println!(
        "| 1. room fan-out, {} clients, {} senders | {ours:.0} deliveries/s sustained at p99 ≤ 50 ms; reference {theirs:.0}/s; ratio {:.2}x | ≥ 1.2x reference |",
        sz.fanout.clients, sz.fanout.senders, if theirs > 0.0 { ours / theirs } else { 0.0 }
    );
    println!(
        "| 2. direct messages, {} pairs | {:.0} DMs/s, p50 {:.1} ms, p99 {:.1} ms; RSS {:.1} → {:.1} MiB | |",
        dm.pairs, dm.per_sec, dm.p50_ms, dm.p99_ms, dm.rss_before_mib, dm.rss_after_mib
    );
    println!(
        "| 3. idle connections | {} held, {:.1} KiB RSS each, {:.0} opened/s; RSS {:.1} → {:.1} → {:.1} MiB after closing | ≤ 16 KB each |",
        idle.connections, idle.kib_per_conn, idle.opened_per_sec, idle.rss_before_mib, idle.rss_held_mib, idle.rss_after_close_mib
    );
    println!(
        "| 4. durable DMs, {} clients | {:.0} acknowledged/s ({} in {} commits) | ≥ 50,000/s |",
        durable.clients, durable.per_sec, durable.acked, durable.commits
    );
    println!("| 5. resume | {} missed messages in {:.0} ms | ≤ 200 ms |", resume.missed, resume.millis);
    if cli.smoke {
        println!("bench smoke: 5 passed, 0 failed");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Some(Command::Reference { listen }) => runtime.block_on(reference::run(listen)),
        None => runtime.block_on(run(cli)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
