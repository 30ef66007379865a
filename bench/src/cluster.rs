//! What several chat nodes share: a PostgreSQL (one the bench is pointed
//! at with `--database-url`, or a private one it starts) and a private
//! `redis-server` it starts, so that it can stop and resume it (the Redis
//! outage scenario).

use crate::process::{Proc, ServerOptions};
use anyhow::{bail, ensure, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a starting PostgreSQL or Redis may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Every node of a bench cluster signs tokens with this (cluster mode
/// refuses to start without an explicit secret).
const TOKEN_SECRET: &str = "bench-cluster-secret";
/// The pub/sub channel the nodes use (the server's default).
const CHANNEL: &str = "chat";

static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// A PostgreSQL server to create the scenarios' databases on.
pub struct Postgres {
    /// A URL of a database to connect to for `CREATE DATABASE`.
    admin: String,
    /// Set when the bench started the server itself.
    private: Option<PrivatePostgres>,
    /// The databases [`fresh_database`](Self::fresh_database) made, dropped
    /// by [`drop_databases`](Self::drop_databases).
    created: std::sync::Mutex<Vec<String>>,
}

impl Postgres {
    /// The server `admin_url` names, or (with `None`) a private one on a
    /// fresh data directory, stopped when this is dropped.
    pub async fn open(admin_url: Option<&str>) -> Result<Self> {
        let (admin, private) = match admin_url {
            Some(url) => (url.to_string(), None),
            None => {
                let server = PrivatePostgres::start()?;
                (format!("postgres://postgres@127.0.0.1:{}/postgres", server.port), Some(server))
            }
        };
        let started = Instant::now();
        loop {
            match tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
                Ok(_) => break,
                Err(e) if started.elapsed() > START_DEADLINE => {
                    let log = private.as_ref().and_then(|p| std::fs::read_to_string(p.log()).ok());
                    bail!("PostgreSQL at {admin} did not answer: {e}\n{}", log.unwrap_or_default())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Ok(Self { admin, private, created: Default::default() })
    }

    /// The process the bench started, if it did (its backends descend from it).
    pub fn pid(&self) -> Option<u32> {
        self.private.as_ref().and_then(|p| p.running.as_ref()).map(|(child, _)| child.id())
    }

    /// Where the server is (for the report).
    pub fn describe(&self) -> &'static str {
        if self.private.is_some() {
            "a private PostgreSQL 15+ the bench started, with its defaults (fsync and synchronous_commit on)"
        } else {
            "the PostgreSQL of --database-url"
        }
    }

    /// A URL of a new, empty database.
    pub async fn fresh_database(&self) -> Result<String> {
        let name = format!("chat_bench_{}_{}", std::process::id(), NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let (client, connection) =
            tokio_postgres::connect(&self.admin, tokio_postgres::NoTls).await.context("connecting to PostgreSQL")?;
        let connection = tokio::spawn(connection);
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.context("CREATE DATABASE")?;
        drop(client);
        let _ = connection.await;
        self.created.lock().unwrap_or_else(|e| e.into_inner()).push(name.clone());
        Ok(with_database(&self.admin, &name))
    }

    /// Drops the databases this bench made, so that a PostgreSQL of
    /// `--database-url` is left as it was (a private one goes with its
    /// data directory anyway). Best effort: a failure is reported, not fatal.
    pub async fn drop_databases(&self) {
        let names = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        if names.is_empty() {
            return;
        }
        let dropped = async {
            let (client, connection) = tokio_postgres::connect(&self.admin, tokio_postgres::NoTls).await?;
            let connection = tokio::spawn(connection);
            for name in &names {
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await?;
            }
            drop(client);
            let _ = connection.await;
            Ok::<_, tokio_postgres::Error>(())
        };
        if let Err(e) = dropped.await {
            eprintln!("bench: could not drop the databases {names:?}: {e}");
        }
    }
}

/// `url` with its database replaced by `name` (query parameters dropped).
fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.split_once('?').unwrap_or((url, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{name}", &base[..scheme_end + slash]),
        None => format!("{base}/{name}"),
    }
}

/// A PostgreSQL on a temporary data directory, with its defaults (fsync on):
/// the durable figures are what a real deployment would get.
struct PrivatePostgres {
    port: u16,
    dir: PathBuf,
    /// The wrapper stops the server when its stdin closes, which also
    /// happens when the bench dies: no server outlives the bench.
    running: Option<(Child, ChildStdin)>,
}

impl PrivatePostgres {
    fn start() -> Result<Self> {
        let bin = postgres_bindir()?;
        // Debian's PostgreSQL refuses to run as root: then it runs as the
        // `postgres` user, on a directory it owns.
        let as_postgres = rustix::process::geteuid().is_root();
        let dir = std::env::temp_dir().join(format!("chat-bench-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir))?;
        }
        let mut initdb = command(as_postgres, &bin.join("initdb"));
        initdb.args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"]).arg(&dir);
        run(&mut initdb)?;
        let port = crate::process::free_port()?;
        let script = r#"
            "$1/postgres" -D "$2" -p "$3" -h 127.0.0.1 -k "$2" -c max_connections=300 2>>"$2.log" &
            pid=$!
            read -r _
            kill -INT "$pid"
            wait "$pid"
        "#;
        let mut wrapper = command(as_postgres, Path::new("sh"));
        wrapper
            .args(["-c", script, "sh"])
            .arg(&bin)
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let mut child = wrapper.spawn().context("starting postgres")?;
        let stdin = child.stdin.take().context("no stdin for postgres")?;
        Ok(Self { port, dir, running: Some((child, stdin)) })
    }

    fn log(&self) -> PathBuf {
        let mut name = self.dir.clone().into_os_string();
        name.push(".log");
        PathBuf::from(name)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if let Some((mut child, mut stdin)) = self.running.take() {
            let _ = writeln!(stdin, "stop");
            drop(stdin);
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.log());
    }
}

fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> Result<()> {
    let out = command.output().with_context(|| format!("running {command:?}"))?;
    ensure!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The newest installed PostgreSQL's binaries.
fn postgres_bindir() -> Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql, \
         or pass --database-url",
    )
}

/// A private `redis-server` without persistence, started directly (not
/// through a shell) so that its process can be stopped and resumed.
pub struct Redis {
    pub port: u16,
    child: Child,
}

impl Redis {
    pub async fn start() -> Result<Self> {
        let port = crate::process::free_port()?;
        let child = Self::spawn(port)?;
        let redis = Self { port, child };
        redis.wait_ready().await?;
        Ok(redis)
    }

    fn spawn(port: u16) -> Result<Child> {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--loglevel", "warning"])
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server (apt-get install redis-server)")
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGSTOP: the process stays, its sockets stay open and fill up, and
    /// nothing answers (a hung Redis, the harder case for the nodes).
    pub fn pause(&self) -> Result<()> {
        crate::process::signal(self.pid(), rustix::process::Signal::STOP)
    }

    pub fn resume(&self) -> Result<()> {
        crate::process::signal(self.pid(), rustix::process::Signal::CONT)
    }

    /// Kills it (connections are refused at once; its data is gone).
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts it again on the same port, empty, after [`kill`](Self::kill).
    pub async fn restart(&mut self) -> Result<()> {
        self.child = Self::spawn(self.port)?;
        self.wait_ready().await
    }

    async fn query(&self, command: &[&str]) -> Result<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let mut cmd = redis::cmd(command[0]);
        for arg in &command[1..] {
            cmd.arg(*arg);
        }
        Ok(cmd.query_async(&mut conn).await?)
    }

    async fn wait_ready(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(2), self.query(&["PING"])).await {
                Ok(Ok(_)) => return Ok(()),
                _ if started.elapsed() > START_DEADLINE => bail!("redis on {} never answered", self.url()),
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Waits until `n` nodes subscribe: pub/sub drops what is published
    /// before a node subscribes.
    pub async fn wait_for_subscribers(&self, n: usize) -> Result<()> {
        let started = Instant::now();
        loop {
            let count = match self.query(&["PUBSUB", "NUMSUB", CHANNEL]).await {
                Ok(redis::Value::Array(v)) => match v.get(1) {
                    Some(redis::Value::Int(c)) => *c as usize,
                    _ => 0,
                },
                _ => 0,
            };
            if count >= n {
                return Ok(());
            }
            ensure!(started.elapsed() < START_DEADLINE, "{count} of {n} nodes subscribed to Redis");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // A stopped process dies of SIGKILL too; resume it anyway so that
        // nothing is left stopped if the kill fails.
        let _ = self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nodes` chat servers on one fresh database; with `redis`, joined by it
/// (and each subscribed before this returns); without, one node alone on
/// PostgreSQL (the single-node baseline).
pub async fn start_nodes(
    opts: &ServerOptions,
    label: &str,
    database_url: &str,
    redis: Option<&Redis>,
    nodes: usize,
) -> Result<Vec<Proc>> {
    let mut node_opts = opts.clone();
    node_opts.extra_args.extend([format!("--database-url={database_url}"), format!("--token-secret={TOKEN_SECRET}")]);
    if let Some(redis) = redis {
        node_opts.extra_args.push(format!("--redis-url={}", redis.url()));
    }
    let mut procs = Vec::with_capacity(nodes);
    for i in 0..nodes {
        procs.push(Proc::chat_server(&node_opts, &format!("{label}-node{}", i + 1)).await?);
    }
    if let Some(redis) = redis {
        redis.wait_for_subscribers(nodes).await?;
    }
    Ok(procs)
}
