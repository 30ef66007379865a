use anyhow::Context;
use clap::{Parser, Subcommand};
use protocol::{validate, Profile, ProjectId, UserId};
use server::auth::{color_for, load_or_create_secret, Authenticator, Identity};
use server::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Self-hosted real-time chat server.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "CHAT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Log filter (tracing EnvFilter syntax), e.g. `info,server=debug`.
    #[arg(long, env = "CHAT_LOG", default_value = "info")]
    log: String,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Mint a token for a user, as the host application would.
    Token {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        project: String,
        /// `#rrggbb`; derived from the user id when absent.
        #[arg(long)]
        color: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
        #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
        data_dir: PathBuf,
        #[arg(long, env = "CHAT_TOKEN_SECRET", hide_env_values = true)]
        token_secret: Option<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(real_main(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain on one line, without a backtrace: these are
            // the user's mistakes (a bad flag value, a busy port), not bugs.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn real_main(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Token { user, name, project, color, ttl, data_dir, token_secret }) = cli.command {
        let secret = load_or_create_secret(token_secret.as_deref(), &data_dir).context("reading the token secret")?;
        let id = UserId::new(user).context("--user")?;
        let color = match color {
            Some(c) => validate::color(&c).context("--color")?,
            None => color_for(&id),
        };
        let identity = Identity {
            project: ProjectId::new(project).context("--project")?,
            profile: Profile { id, name: validate::display_name(&name).context("--name")?, color },
        };
        let auth = Authenticator::new(&secret, Duration::from_secs(ttl));
        let (token, _) = auth.session_token(&identity).context("signing")?;
        println!("{token}");
        return Ok(());
    }
    tracing_subscriber::fmt().with_env_filter(EnvFilter::try_new(&cli.log).context("--log")?).init();
    #[cfg(unix)]
    match server::raise_fd_limit() {
        Ok(l) => tracing::info!(soft_before = l.soft_before, soft = l.soft, hard = l.hard, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
    let listener =
        tokio::net::TcpListener::bind(cli.listen).await.with_context(|| format!("binding {}", cli.listen))?;
    server::run(listener, cli.config, server::shutdown_signal()).await?;
    Ok(())
}
