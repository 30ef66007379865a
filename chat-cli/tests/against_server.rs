//! Two terminal clients against the real server: room messages, a direct
//! message, and a resume after one client's connection is cut while the
//! other keeps talking. The cut goes through a TCP proxy the test controls,
//! so "away" is a fact, not a timing.

use chat_cli::Args;
use clap::Parser;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// Generous: only reached when something is broken.
const DEADLINE: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

async fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let config = server::Config::for_tests(dir.path().to_path_buf());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::run(listener, config, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop: Some(stop), _dir: dir }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A TCP proxy to `upstream` whose connections the test can cut, and keep
/// refusing until it lets them through again.
struct Proxy {
    addr: SocketAddr,
    blocked: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let blocked = Arc::new(AtomicBool::new(false));
        let (cut, _) = broadcast::channel(1);
        let (flag, cuts) = (blocked.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees a failed connect
                }
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        Self { addr, blocked, cut }
    }

    fn cut_and_block(&self) {
        self.blocked.store(true, Ordering::SeqCst);
        let _ = self.cut.send(());
    }

    fn unblock(&self) {
        self.blocked.store(false, Ordering::SeqCst);
    }
}

/// A running `chat_cli::run` with its stdin and stdout in the test's hands.
struct Cli {
    stdin: Option<DuplexStream>,
    stdout: Lines<BufReader<DuplexStream>>,
    task: tokio::task::JoinHandle<Result<(), chat_cli::CliError>>,
    seen: Vec<String>,
}

impl Cli {
    fn start(addr: SocketAddr, name: &str, to: &str) -> Self {
        let url = format!("ws://{addr}/ws");
        let args =
            Args::try_parse_from(["chat-cli", "--url", &url, "--guest", name, "--project", "p", "--to", to]).unwrap();
        let (stdin, cli_in) = tokio::io::duplex(64 * 1024);
        let (cli_out, stdout) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(chat_cli::run(args, cli_in, cli_out));
        Self { stdin: Some(stdin), stdout: BufReader::new(stdout).lines(), task, seen: Vec::new() }
    }

    async fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }

    /// Reads output until a line ends with `suffix`; returns that line.
    async fn expect(&mut self, suffix: &str) -> String {
        let found = tokio::time::timeout(DEADLINE, async {
            loop {
                let line = self.stdout.next_line().await.unwrap().expect("the client ended early");
                self.seen.push(line.clone());
                if line.ends_with(suffix) {
                    return line;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no line ending with {suffix:?}; saw {:#?}", self.seen))
    }

    /// The user id from the sign-in line.
    async fn user_id(&mut self) -> String {
        let line = self.expect(")").await;
        line.rsplit_once('(').unwrap().1.trim_end_matches(')').to_owned()
    }

    /// Closes stdin and waits for the client to end by itself.
    async fn finish(mut self) -> Vec<String> {
        self.stdin.take();
        let result = tokio::time::timeout(DEADLINE, self.task).await.expect("exits after EOF").unwrap();
        result.expect("a clean exit");
        while let Ok(Some(line)) = self.stdout.next_line().await {
            self.seen.push(line);
        }
        self.seen
    }
}

fn bodies(lines: &[String]) -> Vec<&str> {
    lines.iter().filter(|l| l.starts_with('#')).filter_map(|l| l.split_once(": ").map(|(_, body)| body)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_talk_in_the_room_and_directly_and_one_resumes_what_it_missed_once() {
    let server = start_server().await;
    let proxy = Proxy::start(server.addr).await;
    let mut ann = Cli::start(server.addr, "Ann", "room");
    ann.user_id().await;
    let mut bob = Cli::start(proxy.addr, "Bob", "room");
    bob.user_id().await;
    ann.say("hello room").await;
    bob.expect("Ann: hello room").await;
    bob.say("hi Ann").await;
    ann.expect("Bob: hi Ann").await;

    // Bob is away: his connection is cut and new ones refused while Ann talks.
    proxy.cut_and_block();
    for i in 1..=5 {
        ann.say(&format!("missed {i}")).await;
    }
    ann.say("after the cut").await;
    ann.expect("Ann: after the cut").await; // stored: Ann's own echo came back
    proxy.unblock();
    bob.expect("Ann: after the cut").await;
    bob.say("back").await;
    ann.expect("Bob: back").await;

    let bob_lines = bob.finish().await;
    let room = bodies(&bob_lines);
    let expected =
        ["hello room", "hi Ann", "missed 1", "missed 2", "missed 3", "missed 4", "missed 5", "after the cut", "back"];
    assert_eq!(room, expected, "each message once, in order, none missed");
    let ann_lines = ann.finish().await;
    assert_eq!(bodies(&ann_lines), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_reaches_only_the_addressee_conversation() {
    let server = start_server().await;
    let mut ann = Cli::start(server.addr, "Ann", "room");
    let ann_id = ann.user_id().await;
    let mut bob = Cli::start(server.addr, "Bob", &format!("user:{ann_id}"));
    let bob_id = bob.user_id().await;
    // A second guest following its (empty) conversation with Bob.
    let mut other = Cli::start(server.addr, "Cyd", &format!("user:{bob_id}"));
    other.user_id().await;
    // Bob, following his conversation with Ann, writes to her.
    bob.say("just for you").await;
    bob.expect("Bob: just for you").await;
    ann.say("to the room").await;
    ann.expect("Ann: to the room").await;
    let bob_lines = bob.finish().await;
    assert_eq!(bodies(&bob_lines), ["just for you"], "the room message is not in the DM");
    let ann_lines = ann.finish().await;
    assert_eq!(bodies(&ann_lines), ["to the room"], "the DM is not in the room");
    assert!(bodies(&other.finish().await).is_empty(), "nobody else sees the DM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletions_and_reactions_are_commands_and_shown_to_the_other_side() {
    let server = start_server().await;
    let mut ann = Cli::start(server.addr, "Ann", "room");
    ann.user_id().await;
    let mut bob = Cli::start(server.addr, "Bob", "room");
    bob.user_id().await;
    ann.say("typo mesage").await;
    let line = bob.expect("Ann: typo mesage").await;
    let id = line.trim_start_matches('#').split_once(' ').unwrap().0.to_owned();

    ann.say(&format!("/edit {id} typo message")).await;
    bob.expect(&format!("* #{id} edited: typo message")).await;
    bob.say(&format!("/react #{id} 👍")).await;
    ann.expect(&format!("* #{id} reactions: 👍 1")).await;
    bob.say(&format!("/unreact {id} 👍")).await;
    ann.expect(&format!("* #{id} reactions: none")).await;
    bob.say(&format!("/delete {id}")).await;
    bob.expect(&format!("! Not deleted: only its author can change message {id}")).await;
    ann.say(&format!("/delete {id}")).await;
    bob.expect(&format!("* #{id} deleted")).await;
    bob.say("/shout hello").await;
    bob.expect("(// sends a line starting with /)").await;
    bob.say("//shrug").await;
    ann.expect("Bob: /shrug").await;

    let ann_lines = ann.finish().await;
    assert_eq!(bodies(&ann_lines), ["typo mesage", "/shrug"], "changes are not new messages");
    let edited = ann_lines.iter().filter(|l| l.contains("edited:")).count();
    assert_eq!(edited, 1, "the edit is shown once to its author too: {ann_lines:#?}");
    bob.finish().await;
}
