//! The accept loop and the shutdown sequence.

use crate::app::App;
use crate::auth::{load_or_create_secret, Authenticator};
use crate::bus::{Bus, LocalBus, RedisBus, RedisOptions};
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::replay_budget::ReplayBudget;
use crate::store::{PostgresOptions, PostgresStore, Retention, SqliteStore, Store, StoreError};
use crate::{retention, routes, sequencer, trim, webhooks};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The token secret could not be read or created.
    #[error("token secret: {0}")]
    Secret(std::io::Error),
    /// A shared database without an explicit token secret: each node would
    /// generate its own and refuse the others' tokens.
    #[error("--database-url needs --token-secret (CHAT_TOKEN_SECRET): every node must share the token secret")]
    SecretRequired,
    /// A Redis bus without a shared database: gaps could not be filled.
    #[error("--redis-url needs --database-url: nodes fill what Redis loses from the shared database")]
    RedisNeedsDatabase,
    /// Nodes would count each other dead between two heartbeats.
    #[error("--node-ttl must be longer than --node-heartbeat")]
    NodeTtl,
    /// The Redis URL does not parse.
    #[error("--redis-url: {0}")]
    Redis(String),
    /// The store could not be opened.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Settings that do not fit together.
    #[error("configuration: {0}")]
    Config(String),
}

/// Opens the store: PostgreSQL when `--database-url` is given, else the
/// embedded SQLite file in the data directory.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, ServerError> {
    if let Some(url) = &config.database_url {
        let options = PostgresOptions { pool_size: config.database_pool, timeout: config.database_timeout };
        return Ok(Arc::new(PostgresStore::connect(url, options).await?));
    }
    Ok(Arc::new(SqliteStore::open_with_wal_limit(
        config.data_dir.join("chat.db"),
        config.wal_limit_mib.saturating_mul(1024 * 1024),
    )?))
}

/// Refuses settings that would let nodes disagree: nodes sharing a database
/// must verify each other's tokens, so none may generate a secret of its own.
fn check_shared_settings(config: &Config) -> Result<(), ServerError> {
    if config.database_url.is_some() && config.token_secret.is_none() {
        return Err(ServerError::SecretRequired);
    }
    if config.redis_url.is_some() && config.database_url.is_none() {
        return Err(ServerError::RedisNeedsDatabase);
    }
    if config.node_ttl <= config.node_heartbeat {
        return Err(ServerError::NodeTtl);
    }
    Ok(())
}

/// Serves on an already-bound listener until `shutdown` resolves, then
/// closes every socket with 1012 and waits (at most `shutdown_grace`) for
/// queues to drain and every accepted message to be stored.
pub async fn run(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
    check_shared_settings(&config)?;
    let store = open_store(&config).await?;
    run_with_store(listener, config, store, shutdown).await
}

pub async fn run_with_store(
    listener: TcpListener,
    config: Config,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let secret =
        load_or_create_secret(config.token_secret.as_deref(), &config.data_dir).map_err(ServerError::Secret)?;
    let metrics = Arc::new(Metrics::default());
    let hub = Arc::new(Hub::new(metrics.clone()));
    let bus: Arc<dyn Bus> = match &config.redis_url {
        Some(url) => {
            let options = RedisOptions {
                url: url.clone(),
                channel: config.redis_channel.clone(),
                queue: config.redis_queue,
                heartbeat: config.node_heartbeat,
                node_ttl: config.node_ttl,
            };
            let bus = RedisBus::start(options, hub.clone(), store.clone(), metrics.clone())
                .map_err(|e| ServerError::Redis(e.to_string()))?;
            Arc::new(bus)
        }
        None => Arc::new(LocalBus::new(hub.clone())),
    };
    let stop_sequencer = CancellationToken::new();
    let stop_webhooks = CancellationToken::new();
    let webhook_settings = config.webhooks().map_err(ServerError::Config)?;
    let hooks = webhooks::start(webhook_settings, store.clone(), hub.clone(), metrics.clone(), stop_webhooks.clone());
    if let Some(presence) = hooks.presence {
        hub.report_presence_to(presence);
    }
    let pipeline = sequencer::Pipeline {
        store: store.clone(),
        bus: bus.clone(),
        metrics: metrics.clone(),
        batch_max: config.messages_per_commit(),
        webhooks: hooks.policy,
        wake_webhooks: hooks.wake,
    };
    let (sends, sequencer) = sequencer::spawn(pipeline, config.commit_lanes(), stop_sequencer.clone());
    let app = Arc::new(App {
        auth: Authenticator::new(&secret, config.session_ttl),
        connections: Arc::new(Semaphore::new(config.max_connections)),
        replay_budget: ReplayBudget::new(config.max_replay_bytes),
        config,
        hub,
        bus,
        store,
        metrics,
        sends,
        shutdown: CancellationToken::new(),
        tasks: TaskTracker::new(),
    });
    let retention = Retention {
        older_than: None,
        max_per_conversation: (app.config.retention_per_conversation > 0)
            .then_some(app.config.retention_per_conversation),
    };
    if app.config.retention_days > 0 || retention.max_per_conversation.is_some() {
        tokio::spawn(retention::run(app.clone(), retention));
    }

    tokio::spawn(trim::run(app.clone()));

    let service = TowerToHyperService::new(warp::service(routes::routes(app.clone())));
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "listening");
    }
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, usually: back off instead of spinning.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Chat frames are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let stop = app.shutdown.clone();
        let header_read_timeout = app.config.header_read_timeout;
        app.tasks.spawn(async move {
            // A connection that never completes its request head holds a
            // file descriptor; without a timer hyper would wait for good.
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }

    info!("shutting down: closing connections");
    drop(listener);
    app.shutdown.cancel();
    app.tasks.close();
    let grace = app.config.shutdown_grace;
    if tokio::time::timeout(grace, app.tasks.wait()).await.is_err() {
        warn!(open = app.tasks.len(), "connections still open after the grace period");
    }
    stop_sequencer.cancel();
    if tokio::time::timeout(grace, sequencer).await.is_err() {
        warn!("messages still being stored after the grace period");
    }
    // Last: deliveries not yet settled stay in the store for the next start.
    stop_webhooks.cancel();
    info!("stopped");
    Ok(())
}

/// The open-file limits of this process, before and after
/// [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimits {
    pub soft_before: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft limit on open files to the hard limit: every connection
/// is a file descriptor, and a service's default soft limit (often 1,024)
/// would let a thousand idle sockets lock every other client out
/// (`accept` failing with "Too many open files").
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform
pub fn raise_fd_limit() -> std::io::Result<FdLimits> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let soft_before = limit.rlim_cur as u64;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(FdLimits { soft_before, soft: limit.rlim_cur as u64, hard: limit.rlim_max as u64 })
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("SIGINT received"),
        () = term => info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_settings_that_would_let_nodes_disagree_are_refused() {
        let mut config = Config::for_tests("unused".into());
        assert!(check_shared_settings(&config).is_ok(), "the defaults (one node, SQLite) pass");
        config.database_url = Some("postgres://db/chat".into());
        config.token_secret = None;
        assert!(matches!(check_shared_settings(&config), Err(ServerError::SecretRequired)));
        config.token_secret = Some("shared".into());
        assert!(check_shared_settings(&config).is_ok());
        config.database_url = None;
        config.redis_url = Some("redis://cache".into());
        assert!(matches!(check_shared_settings(&config), Err(ServerError::RedisNeedsDatabase)));
        config.database_url = Some("postgres://db/chat".into());
        config.node_ttl = config.node_heartbeat;
        assert!(matches!(check_shared_settings(&config), Err(ServerError::NodeTtl)));
    }
}
