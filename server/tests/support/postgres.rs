//! PostgreSQL for the tests: the one named by `CHAT_TEST_DATABASE_URL`
//! (scripts/test.sh starts one), or else a private server this module starts
//! itself, so `cargo test` alone runs every test. A missing PostgreSQL is a
//! failure with instructions, never a skipped test.
//!
//! Debian's PostgreSQL refuses to run as root: as root, `initdb` and
//! `postgres` run as the `postgres` user (`runuser`) on a directory it owns.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The server every test of this binary shares (each gets its own database).
static SHARED: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// A URL of a new, empty database, for one test.
pub async fn fresh_database() -> String {
    let admin = SHARED
        .get_or_init(|| async {
            if let Ok(url) = std::env::var("CHAT_TEST_DATABASE_URL") {
                return url;
            }
            // Never dropped: the server stops (and removes its directory)
            // when this process exits and closes the wrapper's stdin.
            let server = Box::leak(Box::new(PgServer::start(Cleanup::OnExit)));
            server.wait_ready().await;
            server.url("postgres")
        })
        .await
        .clone();
    let name = format!("chat_test_{}_{}", std::process::id(), NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL at {admin}: {e}"));
    let connection = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
    drop(client);
    let _ = connection.await;
    with_database(&admin, &name)
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.split_once('?').unwrap_or((url, ""));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    match base[scheme_end..].find('/') {
        Some(slash) => format!("{}/{name}", &base[..scheme_end + slash]),
        None => format!("{base}/{name}"),
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum Cleanup {
    /// The wrapper removes the data directory when this process exits.
    OnExit,
    /// [`PgServer`]'s `Drop` removes it (it can be stopped and started again).
    OnDrop,
}

/// A private PostgreSQL server on a free port, with its data in a temp dir.
pub struct PgServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    cleanup: Cleanup,
    running: Option<(Child, ChildStdin)>,
}

impl PgServer {
    /// initdb and start; panics (with what to install) when PostgreSQL is absent.
    pub fn start(cleanup: Cleanup) -> Self {
        let bin = find_bindir();
        let as_postgres = unsafe { libc::geteuid() } == 0;
        let dir = std::env::temp_dir().join(format!(
            "chat-pg-{}-{}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(&dir));
        }
        let mut initdb = command(as_postgres, &bin.join("initdb"));
        initdb.args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"]).arg(&dir);
        run(&mut initdb);
        let port = free_port();
        let mut server = Self { port, dir, bin, as_postgres, cleanup, running: None };
        server.spawn();
        server
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the server again on the same port and data (after [`stop`](Self::stop)).
    pub async fn restart(&mut self) {
        assert!(self.running.is_none(), "already running");
        self.spawn();
        self.wait_ready().await;
    }

    /// A fast shutdown (SIGINT: clients are disconnected, committed data kept).
    pub fn stop(&mut self) {
        if let Some((mut child, mut stdin)) = self.running.take() {
            let _ = writeln!(stdin, "stop");
            drop(stdin);
            let _ = child.wait();
        }
    }

    fn spawn(&mut self) {
        // The wrapper runs postgres in the background and stops it when told
        // to ("stop") or when its stdin closes, which also happens when this
        // process dies: no server outlives the tests.
        let script = r#"
            "$1/postgres" -D "$2" -p "$3" -h 127.0.0.1 -k "$2" -c fsync=off -c max_connections=200 \
                2>>"$2.log" &
            pid=$!
            read -r command
            kill -INT "$pid"
            wait "$pid"
            [ "$command" = stop ] || [ "$4" = keep ] || rm -rf "$2" "$2.log"
        "#;
        let keep = if self.cleanup == Cleanup::OnExit { "remove" } else { "keep" };
        let mut wrapper = command(self.as_postgres, Path::new("sh"));
        wrapper
            .args(["-c", script, "sh"])
            .arg(&self.bin)
            .arg(&self.dir)
            .arg(self.port.to_string())
            .arg(keep)
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let mut child = wrapper.spawn().expect("starting postgres");
        let stdin = child.stdin.take().unwrap();
        self.running = Some((child, stdin));
    }

    /// The server's log (beside its data directory, which must stay empty for initdb).
    fn log(&self) -> PathBuf {
        let mut name = self.dir.clone().into_os_string();
        name.push(".log");
        PathBuf::from(name)
    }

    /// Polls until the server accepts a session (a generous deadline).
    pub async fn wait_ready(&self) {
        let url = self.url("postgres");
        let started = Instant::now();
        loop {
            match tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                Ok(_) => return,
                Err(e) if started.elapsed() > START_DEADLINE => {
                    let log = std::fs::read_to_string(self.log()).unwrap_or_default();
                    panic!("PostgreSQL never became ready at {url}: {e}\n{log}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
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

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The newest installed PostgreSQL's binaries.
fn find_bindir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `bash scripts/test.sh`, \
             which installs it, or `apt-get install postgresql`, or set CHAT_TEST_DATABASE_URL"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
