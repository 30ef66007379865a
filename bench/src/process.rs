//! Child processes under test (the chat server, the reference server) and,
//! when asked, a `perf record` attached to each.

use crate::sys;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the bench starts the chat server.
#[derive(Clone)]
pub struct ServerOptions {
    pub binary: PathBuf,
    /// `--outbox-capacity` for the server, if not its default.
    pub outbox_capacity: Option<usize>,
    /// Passed to the server as they are (`--server-arg`).
    pub extra_args: Vec<String>,
    /// Record a profile of every server started into this directory.
    pub perf_dir: Option<PathBuf>,
    pub perf_args: String,
}

pub struct Proc {
    child: Child,
    pub port: u16,
    perf: Option<Child>,
    /// How the process was started, to start it again (`restart`).
    command: Vec<std::ffi::OsString>,
    dir: Option<tempfile::TempDir>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(perf) = &mut self.perf {
            // perf writes its file on SIGINT; give it a bounded time to.
            let _ = signal(perf.id(), rustix::process::Signal::INT);
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until && matches!(perf.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = perf.kill();
            let _ = perf.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Proc {
    /// The chat server, limits opened up for load, on a fresh data dir.
    /// `label` names its profile, if one is recorded.
    pub async fn chat_server(opts: &ServerOptions, label: &str) -> Result<Self> {
        if !opts.binary.is_file() {
            bail!("no server binary at {} (build it: cargo build --release -p server)", opts.binary.display());
        }
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut command: Vec<std::ffi::OsString> = vec![opts.binary.clone().into()];
        if let Some(capacity) = opts.outbox_capacity {
            command.extend(["--outbox-capacity".into(), capacity.to_string().into()]);
        }
        command.extend(["--listen".into(), format!("127.0.0.1:{port}").into(), "--log".into(), "warn".into()]);
        command.extend(["--data-dir".into(), dir.path().as_os_str().to_owned()]);
        for arg in [
            "--rate-per-sec",
            "1000000",
            "--rate-burst",
            "1000000",
            "--max-connections",
            "20000",
            // The scenarios sign guests into projects of their own.
            "--guest-projects",
            "*",
            "--guest-history",
            "*",
        ] {
            command.push(arg.into());
        }
        // 15,000 hellos queue behind one another while connecting.
        command.extend(["--hello-timeout".into(), "60".into()]);
        command.extend(opts.extra_args.iter().map(Into::into));
        let child = spawn(&command)?;
        let mut proc = Self { child, port, perf: None, command, dir: Some(dir) };
        proc.wait_up().await?;
        if let Some(perf_dir) = &opts.perf_dir {
            proc.perf = Some(start_perf(perf_dir, &opts.perf_args, label, proc.pid())?);
        }
        Ok(proc)
    }

    /// Stops the chat server gracefully (SIGTERM: it drains and exits),
    /// evicts its data directory's files from the OS page cache, and
    /// starts it again on the same port and data: what a resume after a
    /// server restart meets, with nothing of the store in memory. A
    /// profile being recorded is not carried over to the new process.
    pub async fn restart_cold(&mut self) -> Result<()> {
        signal(self.pid(), rustix::process::Signal::TERM).context("stopping the server")?;
        let until = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() >= until {
                bail!("the server did not exit within 20 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        ensure!(status.success(), "the server exited with {status} on SIGTERM");
        if let Some(dir) = &self.dir {
            sys::evict_from_page_cache(dir.path())?;
        }
        self.child = spawn(&self.command)?;
        self.wait_up().await
    }

    /// This binary's `reference` subcommand.
    pub async fn reference_server(style: crate::reference::Style) -> Result<Self> {
        let port = free_port()?;
        let command: Vec<std::ffi::OsString> = vec![
            std::env::current_exe()?.into(),
            "reference".into(),
            "--style".into(),
            style.arg().into(),
            "--listen".into(),
            format!("127.0.0.1:{port}").into(),
        ];
        let child = spawn(&command)?;
        let mut proc = Self { child, port, perf: None, command, dir: None };
        proc.wait_up().await?;
        Ok(proc)
    }

    async fn wait_up(&mut self) -> Result<()> {
        for _ in 0..400 {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("the server exited at start: {status}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("server on port {} did not come up within 10 s", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// Resident set size, in KiB.
    pub fn rss_kib(&self) -> u64 {
        sys::rss_kib(self.pid())
    }

    /// Fails if the server died (a crash is a failure, whatever the figures).
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("the server exited during the scenario: {status}"),
            None => Ok(()),
        }
    }

    /// Reads one value from the chat server's `GET /metrics`.
    pub async fn metric(&self, name: &str) -> Option<u64> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let fetch = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
            s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await.ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).await.ok()?;
            Some(out)
        };
        let out = tokio::time::timeout(Duration::from_secs(5), fetch).await.ok()??;
        out.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

pub fn signal(pid: u32, signal: rustix::process::Signal) -> Result<()> {
    let pid = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw).context("not a process id")?;
    Ok(rustix::process::kill_process(pid, signal)?)
}

fn spawn(command: &[std::ffi::OsString]) -> Result<Child> {
    let (program, args) = command.split_first().context("an empty command")?;
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", Path::new(program).display()))
}

fn start_perf(dir: &Path, args: &str, label: &str, pid: u32) -> Result<Child> {
    std::fs::create_dir_all(dir)?;
    let out = dir.join(format!("{label}.perf.data"));
    let log = std::fs::File::create(dir.join(format!("{label}.perf.log")))?;
    let child = Command::new("perf")
        .arg("record")
        .args(args.split_whitespace())
        .arg("-o")
        .arg(&out)
        .args(["-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting perf (apt-get install linux-perf)")?;
    // Let it attach before the load starts.
    std::thread::sleep(Duration::from_millis(500));
    Ok(child)
}
