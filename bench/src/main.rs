//! `bench`: the chat server's load test. It starts the server binary (and,
//! for the fan-out, the reference server: this binary's `reference`
//! subcommand) itself, one fresh process and data directory per scenario,
//! runs nine scenarios with real WebSocket clients over loopback, and
//! prints Markdown tables (see BENCHMARKS.md). The last two run three
//! nodes on one PostgreSQL (`--database-url`, or a private one the bench
//! starts) and a `redis-server` the bench starts.
//!
//! `--smoke` runs every scenario with tiny numbers as a functional check
//! for CI: it exits non-zero when a scenario breaks (a message never
//! arrives, a connection is refused, the server dies), never on a timing.

mod cluster;
mod conn;
mod process;
mod reference;
mod report;
mod scenarios;
mod sys;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use process::{Proc, ServerOptions};
use scenarios::fanout::{FanoutConfig, Target};
use scenarios::outage::{OutageConfig, OutageKind};
use std::path::PathBuf;
use std::time::Duration;

/// The longest `--secs` and `--wait-quiet`: a bound, so that adding them
/// to an `Instant` cannot overflow.
const DAY_SECS: u64 = 86_400;

#[derive(Parser)]
#[command(about = "Load test for the chat server (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The chat server binary (build it first: cargo build --release -p server).
    #[arg(long, default_value = "target/release/server")]
    server: PathBuf,
    /// A seconds-long functional run of every scenario with tiny numbers.
    #[arg(long)]
    smoke: bool,
    /// Scenarios to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "fanout,dm,idle,durable,resume,stalled,nodes,outage,search"
    )]
    only: Vec<Scenario>,
    /// Fan-out ladder: messages per second per sender, one step each
    /// (default: 50 to 2,500).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    rates: Vec<u32>,
    /// The several-nodes ladder (scenario 7): messages per second per
    /// sender (default: 1 to 1,500; each commit on PostgreSQL waits for an
    /// fsync, so it starts lower than scenario 1's).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    node_rates: Vec<u32>,
    /// Seconds each fan-out step sends for (default: 2.5; 0.5 with
    /// --smoke). A longer step gives p99 more samples.
    #[arg(long, value_parser = step_secs)]
    step_secs: Option<Duration>,
    /// Seconds the timed scenarios (direct messages, durable) run, instead
    /// of 5 (a longer run shows whether memory levels off). At most a day.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=DAY_SECS))]
    secs: Option<u64>,
    /// The server's --outbox-capacity (frames queued per connection;
    /// default: the server's own).
    #[arg(long)]
    outbox_capacity: Option<usize>,
    /// Projects the durable scenario's clients are spread over (at least
    /// one client each); 1 is one busy project.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    durable_projects: u32,
    /// An extra argument for every chat server started, repeatable, e.g.
    /// `--server-arg=--database-url=postgres://…` to measure on PostgreSQL.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    server_args: Vec<String>,
    /// PostgreSQL for the several-nodes scenarios (a database the bench can
    /// connect to and run CREATE DATABASE on; each run gets a fresh
    /// database). Without it the bench starts a private PostgreSQL (as the
    /// `postgres` user when root) on a temporary directory.
    #[arg(long, env = "CHAT_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Seconds Redis stays away in the outage scenario (default: 30; 2
    /// with --smoke).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=3600))]
    outage_secs: Option<u64>,
    /// How Redis goes away in the outage scenario.
    #[arg(long, value_enum, default_value = "stop")]
    outage_kind: OutageKind,
    /// Messages per second per sender during the outage scenario.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    outage_rate: u32,
    /// Record a `perf` profile of each chat server process into this directory.
    #[arg(long)]
    perf: Option<PathBuf>,
    /// Arguments for `perf record` (with --perf).
    #[arg(long, default_value = "-F 999 -g", allow_hyphen_values = true)]
    perf_args: String,
    /// Run the bare reference with TCP_NODELAY (warp's example leaves Nagle
    /// on; with it off the reference sustains less, see BENCHMARKS.md).
    #[arg(long)]
    bare_nodelay: bool,
    /// Wait up to this many seconds for other processes to use less than a
    /// quarter of a core before starting (the cores are shared). At most a
    /// day.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=DAY_SECS))]
    wait_quiet: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Run the reference broadcast server (the bench starts it itself).
    Reference {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long, value_enum, default_value = "bare")]
        style: reference::Style,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Fanout,
    Dm,
    Idle,
    Durable,
    Resume,
    /// Resumers from cursor 0 that never read (replay memory).
    Stalled,
    /// Room fan-out on one node on PostgreSQL and on three nodes.
    Nodes,
    /// Memory of three nodes while Redis is away under load.
    Outage,
    /// Full-text search latency over many stored messages.
    Search,
}

/// Parses `--step-secs`: more than 0 and at most an hour (so that it is a
/// valid `Duration` and a run still ends).
fn step_secs(arg: &str) -> Result<Duration, String> {
    let secs: f64 = arg.parse().map_err(|e| format!("{e}"))?;
    if secs > 0.0 && secs <= 3600.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err("must be more than 0 and at most 3600 seconds".into())
    }
}

/// How big each scenario is.
pub struct Sizes {
    pub fanout: FanoutConfig,
    /// Scenario 7's ladder (the rest of its shape is `fanout`'s).
    pub node_rates: Vec<u32>,
    pub dm_pairs: usize,
    pub dm_time: Duration,
    pub idle: usize,
    pub durable_clients: usize,
    pub durable_time: Duration,
    pub resume: u64,
    pub resume_runs: usize,
    /// Resumers from cursor 0 that never read, the backlog each asks for,
    /// and how long they are held.
    pub stalled: usize,
    pub stalled_backlog: usize,
    pub stalled_hold: Duration,
    /// How long the several-nodes scenario's tenth-rate steps send.
    pub tenth_step: Duration,
    /// The outage scenario's load before and after Redis is away.
    pub outage_before: Duration,
    pub outage_after: Duration,
    pub outage: Duration,
    /// Messages stored before searching, and the queries timed.
    pub search_stored: u64,
    pub search_queries: usize,
    /// The pause before memory is read once clients have closed.
    pub settle: Duration,
}

fn sizes(smoke: bool) -> Sizes {
    if smoke {
        Sizes {
            fanout: FanoutConfig {
                clients: 20,
                senders: 2,
                rates: vec![5, 10],
                step: Duration::from_millis(500),
                settle: scenarios::SMOKE_SETTLE,
                retry: true,
                helpers: Vec::new(),
                step_started: None,
            },
            node_rates: vec![5, 10],
            dm_pairs: 10,
            dm_time: Duration::from_secs(1),
            idle: 200,
            durable_clients: 2,
            durable_time: Duration::from_millis(500),
            resume: 500,
            resume_runs: 2,
            stalled: 50,
            stalled_backlog: 500,
            stalled_hold: Duration::from_millis(500),
            tenth_step: Duration::from_millis(500),
            outage_before: Duration::from_millis(500),
            outage_after: Duration::from_secs(2),
            outage: Duration::from_secs(2),
            search_stored: 2_000,
            search_queries: 20,
            settle: scenarios::SMOKE_SETTLE,
        }
    } else {
        Sizes {
            // One message per sender per second is 1,990 deliveries/s; the
            // steps are finer where the servers top out on 2 cores (the bare
            // reference near 500, the chat server and the tuned one past 1,000).
            fanout: FanoutConfig {
                clients: 200,
                senders: 10,
                rates: vec![
                    50, 200, 300, 400, 450, 500, 550, 600, 800, 1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800,
                    2000, 2200, 2500,
                ],
                step: Duration::from_millis(2500),
                settle: scenarios::SETTLE,
                retry: true,
                helpers: Vec::new(),
                step_started: None,
            },
            node_rates: vec![1, 2, 5, 10, 20, 50, 100, 150, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500],
            dm_pairs: 1000,
            dm_time: Duration::from_secs(5),
            idle: 15_000,
            durable_clients: 8,
            durable_time: Duration::from_secs(5),
            resume: 10_000,
            resume_runs: 3,
            stalled: 1000,
            stalled_backlog: 5000,
            stalled_hold: Duration::from_secs(5),
            tenth_step: Duration::from_secs(10),
            outage_before: Duration::from_secs(10),
            outage_after: Duration::from_secs(15),
            outage: Duration::from_secs(30),
            search_stored: 1_000_000,
            search_queries: 400,
            settle: scenarios::SETTLE,
        }
    }
}

async fn run(cli: &Cli) -> Result<bool> {
    // Thousands of sockets: lift the soft file limit to the hard one.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("warning: could not raise the open-file limit: {e}");
    }
    let mut sz = sizes(cli.smoke);
    if !cli.rates.is_empty() {
        sz.fanout.rates = cli.rates.clone();
    }
    if !cli.node_rates.is_empty() {
        sz.node_rates = cli.node_rates.clone();
    }
    if let Some(step) = cli.step_secs {
        sz.fanout.step = step;
    }
    if let Some(secs) = cli.outage_secs {
        sz.outage = Duration::from_secs(secs);
    }
    if let Some(secs) = cli.secs {
        sz.dm_time = Duration::from_secs(secs);
        sz.durable_time = Duration::from_secs(secs);
    }
    let opts = ServerOptions {
        binary: cli.server.clone(),
        outbox_capacity: cli.outbox_capacity,
        extra_args: cli.server_args.clone(),
        perf_dir: cli.perf.clone(),
        perf_args: cli.perf_args.clone(),
    };
    let mut out = report::Report::new(cli.smoke, &sz);
    let wants = |s: Scenario| cli.only.contains(&s);

    if wants(Scenario::Fanout) {
        let result = async {
            let mut chat = Proc::chat_server(&opts, "1-fanout").await?;
            let ours = scenarios::fanout::run(std::slice::from_mut(&mut chat), Target::Chat, &sz.fanout).await?;
            drop(chat);
            let target = Target::Reference { frame_len: ours.frame_len };
            let bare_style = if cli.bare_nodelay { reference::Style::BareNodelay } else { reference::Style::Bare };
            let mut bare = Proc::reference_server(bare_style).await?;
            let bare_result = scenarios::fanout::run(std::slice::from_mut(&mut bare), target, &sz.fanout).await?;
            drop(bare);
            let mut tuned = Proc::reference_server(reference::Style::Tuned).await?;
            let tuned_result = scenarios::fanout::run(std::slice::from_mut(&mut tuned), target, &sz.fanout).await?;
            if cli.smoke {
                report::check_complete(&ours, "chat server")?;
                report::check_complete(&bare_result, bare_style.label())?;
                report::check_complete(&tuned_result, reference::Style::Tuned.label())?;
            }
            anyhow::Ok(report::FanoutRuns { chat: ours, bare: bare_result, bare_style, tuned: tuned_result })
        }
        .await;
        out.fanout(result);
    }
    if wants(Scenario::Dm) {
        let result = on_chat_server(&opts, "2-dm", async |chat| {
            scenarios::direct::run(chat, sz.dm_pairs, sz.dm_time, sz.settle).await
        });
        out.direct(result.await);
    }
    if wants(Scenario::Idle) {
        let result = on_chat_server(&opts, "3-idle", async |chat| scenarios::idle::run(chat, sz.idle, sz.settle).await);
        out.idle(result.await);
    }
    if wants(Scenario::Durable) {
        let result = on_chat_server(&opts, "4-durable", async |chat| {
            scenarios::durable::run(chat, sz.durable_clients, cli.durable_projects as usize, sz.durable_time, sz.settle)
                .await
        });
        out.durable(result.await);
    }
    if wants(Scenario::Resume) {
        let result = on_chat_server(&opts, "5-resume", async |chat| {
            scenarios::resume::run(chat, sz.resume, sz.resume_runs, sz.settle).await
        });
        out.resume(result.await);
    }
    if wants(Scenario::Stalled) {
        let result = on_chat_server(&opts, "6-stalled", async |chat| {
            scenarios::stalled::run(chat, sz.stalled, sz.stalled_backlog, sz.stalled_hold, sz.settle).await
        });
        out.stalled(result.await);
    }
    if wants(Scenario::Search) {
        let result = on_chat_server(&opts, "9-search", async |chat| {
            scenarios::search::run(chat, sz.search_stored, sz.search_queries).await
        });
        out.search(result.await);
    }
    if wants(Scenario::Nodes) || wants(Scenario::Outage) {
        match cluster::Postgres::open(cli.database_url.as_deref()).await {
            Ok(pg) => {
                several_nodes(cli, &opts, &sz, &pg, &mut out).await;
                pg.drop_databases().await;
            }
            Err(e) => {
                if wants(Scenario::Nodes) {
                    out.nodes(Err(anyhow::anyhow!("{e:#}")));
                }
                if wants(Scenario::Outage) {
                    out.outage(Err(e));
                }
            }
        }
    }
    Ok(out.finish())
}

/// Scenarios 7 and 8, on one PostgreSQL.
async fn several_nodes(cli: &Cli, opts: &ServerOptions, sz: &Sizes, pg: &cluster::Postgres, out: &mut report::Report) {
    if cli.only.contains(&Scenario::Nodes) {
        let ladder = FanoutConfig { rates: sz.node_rates.clone(), ..sz.fanout.clone() };
        let result = scenarios::nodes::run(opts, pg, &ladder, sz.tenth_step).await;
        let result = result.and_then(|r| {
            if cli.smoke {
                report::check_nodes(&r)?;
            }
            Ok(r)
        });
        out.nodes(result);
    }
    if cli.only.contains(&Scenario::Outage) {
        let cfg = OutageConfig {
            fanout: sz.fanout.clone(),
            rate: if cli.smoke { 10 } else { cli.outage_rate },
            before: sz.outage_before,
            outage: sz.outage,
            after: sz.outage_after,
            kind: cli.outage_kind,
        };
        let result = scenarios::outage::run(opts, pg, &cfg).await.and_then(|r| {
            if cli.smoke {
                anyhow::ensure!(r.step.complete(), "Redis outage: {}", report::verdict(&r.step));
            }
            Ok(r)
        });
        out.outage(result);
    }
}

/// Runs one scenario against a fresh chat server process (stopped when
/// this returns).
async fn on_chat_server<T>(
    opts: &ServerOptions,
    label: &str,
    scenario: impl AsyncFnOnce(&mut Proc) -> Result<T>,
) -> Result<T> {
    let mut chat = Proc::chat_server(opts, label).await?;
    scenario(&mut chat).await
}

/// Waits (bounded) until other processes leave the cores mostly idle.
fn wait_quiet(limit: u64) {
    let until = std::time::Instant::now() + Duration::from_secs(limit);
    loop {
        let load = sys::machine_load(Duration::from_secs(1));
        if load < 0.25 || std::time::Instant::now() >= until {
            eprintln!("machine load before starting: {load:.2} cores busy");
            return;
        }
    }
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
        Some(Command::Reference { listen, style }) => runtime.block_on(reference::run(style, listen)).map(|()| true),
        None => {
            if cli.wait_quiet > 0 {
                wait_quiet(cli.wait_quiet);
            }
            // On Ctrl-C the run is dropped, and with it the server
            // processes it started (`Proc` kills its child on drop).
            runtime.block_on(async {
                tokio::select! {
                    result = run(&cli) => result,
                    _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
                }
            })
        }
    };
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
