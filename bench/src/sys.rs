//! What the bench reads from `/proc`: a process's memory and CPU time, the
//! machine's CPU use (to tell how much of it other processes took while a
//! scenario ran), and a description of the machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clock ticks per second in `/proc` (USER_HZ, 100 on every Linux target).
const HZ: f64 = 100.0;

/// A `Name:   123 kB` line of a `/proc` file, in KiB.
fn kib_field(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(field))?.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Resident set size of `pid`, in KiB (0 if it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    kib_field(&format!("/proc/{pid}/status"), "VmRSS:").unwrap_or(0)
}

/// User plus system CPU ticks of a process, all threads.
fn process_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the parenthesized command name; utime and stime are the
    // 14th and 15th fields of the line, so the 12th and 13th after ")".
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// `roots` and every process descended from them (a PostgreSQL's
/// backends come and go under its postmaster).
fn with_descendants(roots: &[u32]) -> Vec<String> {
    if roots.is_empty() {
        return Vec::new();
    }
    let mut children: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The parent is the second field after the parenthesized name.
        let ppid = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut todo = roots.to_vec();
    while let Some(pid) = todo.pop() {
        out.push(pid.to_string());
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    out
}

fn helper_ticks(roots: &[u32]) -> u64 {
    with_descendants(roots).iter().map(|p| process_ticks(p)).sum()
}

/// Busy ticks of the whole machine, summed over CPUs.
fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum()
}

/// CPU used during a window, in cores (1.0 = one core busy throughout).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub server: f64,
    pub bench: f64,
    /// The processes the servers depend on, when the bench started them
    /// (PostgreSQL, Redis); 0 otherwise, and then inside `other`.
    pub helpers: f64,
    /// Everything else on the machine: other people's builds and tests
    /// share these cores, and this says how much they took.
    pub other: f64,
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server {:.2}, bench {:.2}, other {:.2}", self.server, self.bench, self.other)
    }
}

pub struct CpuMeter {
    /// The server processes ("server" is their sum: every node of a cluster).
    pids: Vec<String>,
    helper_roots: Vec<u32>,
    helper: u64,
    at: Instant,
    server: u64,
    bench: u64,
    busy: u64,
}

impl CpuMeter {
    pub fn start(server_pids: &[u32]) -> Self {
        Self::with_helpers(server_pids, &[])
    }

    /// Also counts `helper_roots` and their descendants, apart.
    pub fn with_helpers(server_pids: &[u32], helper_roots: &[u32]) -> Self {
        let pids: Vec<String> = server_pids.iter().map(u32::to_string).collect();
        Self {
            helper_roots: helper_roots.to_vec(),
            helper: helper_ticks(helper_roots),
            server: pids.iter().map(|p| process_ticks(p)).sum(),
            bench: process_ticks("self"),
            busy: machine_busy_ticks(),
            at: Instant::now(),
            pids,
        }
    }

    pub fn read(&self) -> CpuUse {
        let secs = self.at.elapsed().as_secs_f64().max(0.01) * HZ;
        let server = self.pids.iter().map(|p| process_ticks(p)).sum::<u64>().saturating_sub(self.server) as f64;
        let bench = process_ticks("self").saturating_sub(self.bench) as f64;
        let busy = machine_busy_ticks().saturating_sub(self.busy) as f64;
        // Backends that exited meanwhile are missed: an underestimate.
        let helpers = helper_ticks(&self.helper_roots).saturating_sub(self.helper) as f64;
        CpuUse {
            server: server / secs,
            bench: bench / secs,
            helpers: helpers / secs,
            other: (busy - server - bench - helpers).max(0.0) / secs,
        }
    }
}

/// Server RSS over a scenario: before it, sampled under load, after it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub before_kib: u64,
    pub peak_kib: u64,
    /// Halfway through the load and at its end: growth between the two
    /// under a steady load is what "unbounded" would look like.
    pub mid_kib: u64,
    pub end_kib: u64,
    /// After every client closed and a short pause.
    pub after_kib: u64,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} → peak {:.1} (mid {:.1}, end {:.1}) → {:.1} after close",
            mib(self.before_kib),
            mib(self.peak_kib),
            mib(self.mid_kib),
            mib(self.end_kib),
            mib(self.after_kib)
        )
    }
}

/// Samples the RSS of a process (or the sum over several: every node of a
/// cluster) every 100 ms in a background thread.
pub struct RssWatch {
    before: u64,
    samples: Arc<Mutex<Vec<u64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssWatch {
    /// `before` is the baseline, taken by the caller at the right moment.
    pub fn start(pids: &[u32], before: u64) -> Self {
        let pids = pids.to_vec();
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: at most an hour of samples.
            for _ in 0..36_000 {
                if st.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok(mut v) = s.lock() {
                    v.push(pids.iter().map(|&p| rss_kib(p)).sum());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Self { before, samples, stop, thread: Some(thread) }
    }

    /// Ends the load phase; `after` is measured by the caller once clients closed.
    pub fn finish(mut self, after: u64) -> Memory {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let v = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        Memory {
            before_kib: self.before,
            peak_kib: v.iter().copied().max().unwrap_or(0).max(self.before),
            mid_kib: v.get(v.len() / 2).copied().unwrap_or(0),
            end_kib: v.last().copied().unwrap_or(0),
            after_kib: after,
        }
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Busy fraction of the machine over `window`, in cores: used to wait for
/// a quiet machine before measuring.
pub fn machine_load(window: Duration) -> f64 {
    let busy = machine_busy_ticks();
    std::thread::sleep(window);
    machine_busy_ticks().saturating_sub(busy) as f64 / (window.as_secs_f64() * HZ)
}

/// One paragraph describing the machine, for the report.
pub fn describe_machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem =
        kib_field("/proc/meminfo", "MemTotal:").map_or("?".into(), |k| format!("{:.1} GiB", k as f64 / 1048576.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=")).map(|v| v.trim_matches('"').to_string()))
        .unwrap_or_else(|| "Linux".into());
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((0, 0));
    format!(
        "{cores} cores ({model}), {mem} RAM, {os}, kernel {kernel}; open-file limit {soft} (hard {hard}) per process"
    )
}

/// Asks the kernel to drop the page cache of every file in `dir`
/// (`posix_fadvise(DONTNEED)`; clean pages only, so each file is synced
/// first), so that the next reader of them goes to the disk.
pub fn evict_from_page_cache(dir: &std::path::Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let file = std::fs::File::open(entry.path())?;
        file.sync_all()?;
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
    }
    Ok(())
}
