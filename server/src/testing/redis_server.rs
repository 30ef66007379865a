//! A private `redis-server` on a free port, without persistence.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(30);

pub struct RedisServer {
    pub port: u16,
    running: Option<(Child, ChildStdin)>,
}

impl RedisServer {
    /// Starts one and waits until it answers; panics, saying what to
    /// install, when `redis-server` is absent.
    pub async fn start() -> Self {
        let mut server = Self { port: super::free_port(), running: None };
        server.spawn();
        server.wait_ready().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (its data goes with it: nothing is persisted).
    pub fn stop(&mut self) {
        if let Some((mut child, mut stdin)) = self.running.take() {
            let _ = writeln!(stdin, "stop");
            drop(stdin);
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        assert!(self.running.is_none(), "already running");
        self.spawn();
        self.wait_ready().await;
    }

    /// Waits until `n` clients subscribe to `channel` (pub/sub drops what is
    /// published before a node subscribes; a generous deadline, no sleep).
    pub async fn wait_for_subscribers(&self, channel: &str, n: usize) {
        let started = Instant::now();
        loop {
            let counted = async {
                let client = redis::Client::open(self.url())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PUBSUB").arg("NUMSUB").arg(channel).query_async::<(String, usize)>(&mut conn).await
            };
            let count = counted.await.map_or(0, |(_, count)| count);
            if count >= n {
                return;
            }
            assert!(started.elapsed() < START_DEADLINE, "{count} of {n} subscribers on {channel}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn spawn(&mut self) {
        // The wrapper stops redis when told to or when its stdin closes,
        // which also happens when the test process dies.
        let script = r#"
            redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning >/dev/null &
            pid=$!
            read -r _
            kill -TERM "$pid"
            wait "$pid"
        "#;
        if Command::new("redis-server").arg("--version").output().is_err() {
            panic!("redis-server is not installed: run `bash scripts/test.sh`, which installs it, or `apt-get install redis-server`");
        }
        let mut child = Command::new("sh")
            .args(["-c", script, "sh", &self.port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting redis-server: {e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        self.running = Some((child, stdin));
    }

    async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let answered = async {
                let client = redis::Client::open(self.url())?;
                let mut conn = client.get_multiplexed_async_connection().await?;
                redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            match answered.await {
                Ok(_) => return,
                Err(e) if started.elapsed() > START_DEADLINE => panic!("redis never answered on {}: {e}", self.url()),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
