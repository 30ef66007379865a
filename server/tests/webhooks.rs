//! Webhooks against a local receiver: retried with growing delays until
//! accepted, signed, delivered after a SIGKILL, and a receiver that never
//! answers does not hold up chat traffic.

mod support;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use protocol::{Conversation, ServerMsg};
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;
use tokio::net::TcpListener;

const SECRET: &str = "webhook-secret-for-tests";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    at: Instant,
    headers: HashMap<String, String>,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers 500 to the first `n` attempts at each event, then 200.
    FailFirst(usize),
    /// Reads the request and never answers.
    Silent,
}

/// A tiny HTTP server recording what it receives.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start(behaviour: Behaviour) -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), behaviour)
    }

    fn start_on(listener: TcpListener, behaviour: Behaviour) -> Self {
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let record = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let record = record.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let record = record.clone();
                        async move {
                            let headers = request
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect::<HashMap<_, _>>();
                            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let received =
                                Received { at: Instant::now(), headers, body: String::from_utf8_lossy(&body).into() };
                            let event = received.headers.get("chat-event-id").cloned();
                            let attempts = {
                                let mut got = record.lock().unwrap();
                                got.push(received);
                                got.iter().filter(|r| r.headers.get("chat-event-id") == event.as_ref()).count()
                            };
                            let status = match behaviour {
                                Behaviour::FailFirst(n) if attempts <= n => 500,
                                Behaviour::FailFirst(_) => 200,
                                Behaviour::Silent => std::future::pending().await,
                            };
                            let mut response = Response::new(Full::new(Bytes::from_static(b"")));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { port, got, task }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (with a generous deadline) until `done` holds for what arrived.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "no {what} in time; received {got:#?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The receiver's check, written from API.md: HMAC-SHA256 of `t.body`,
/// compared in constant time, `t` within five minutes.
fn signature_verifies(header: &str, body: &str) -> bool {
    let fields: HashMap<&str, &str> = header.split(',').filter_map(|p| p.split_once('=')).collect();
    let (Some(t), Some(v1)) = (fields.get("t"), fields.get("v1")) else { return false };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    if t.parse::<u64>().map_or(true, |t| t.abs_diff(now) > 300) {
        return false;
    }
    let given: Vec<u8> = (0..v1.len()).step_by(2).filter_map(|i| u8::from_str_radix(&v1[i..i + 2], 16).ok()).collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&given).is_ok()
}

fn hooks_to(url: &str, config: &mut server::Config) {
    config.webhook_urls = vec![url.parse().unwrap()];
    config.webhook_secret = Some(SECRET.into());
    config.webhook_base_delay = Duration::from_millis(100);
    config.webhook_poll = Duration::from_millis(50);
}

#[tokio::test]
async fn a_missed_dm_is_retried_with_growing_delays_until_accepted_and_signed() {
    const FAILURES: usize = 3;
    let receiver = Receiver::start(Behaviour::FailFirst(FAILURES)).await;
    let server = TestServer::start_with(|c| hooks_to(&receiver.url(), c)).await;
    let (mut ann, _) = server.guest("ann", "w").await;
    let (bob, wb) = server.guest("bob", "w").await;
    drop(bob);
    ann.say("m1", dm(&wb.me.id), "are you there?").await;
    let ServerMsg::Ack { id, .. } = ann.recv_chat().await else { panic!("expected the ack") };

    let missed = |r: &Received| r.headers.get("chat-event-type").map(String::as_str) == Some("message.missed");
    let got =
        receiver.until("accepted message.missed", |got| got.iter().filter(|r| missed(r)).count() > FAILURES).await;
    let attempts: Vec<&Received> = got.iter().filter(|r| missed(r)).collect();
    assert_eq!(attempts.len(), FAILURES + 1, "retried until accepted, then not again");
    let event = attempts[0].json();
    assert_eq!(event["type"], "message.missed");
    assert_eq!(event["project"], "w");
    assert!(event["time"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(event["payload"]["recipient"], wb.me.id.as_str());
    assert_eq!(event["payload"]["reason"], "offline");
    assert_eq!(event["payload"]["message"]["id"], id.0);
    assert_eq!(event["payload"]["message"]["body"], "are you there?");
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.body, attempts[0].body, "every attempt sends the same event");
        assert_eq!(attempt.headers["chat-event-id"], event["id"].as_str().unwrap());
        assert_eq!(attempt.headers["chat-attempt"], (n + 1).to_string());
        assert!(signature_verifies(&attempt.headers["chat-signature"], &attempt.body), "attempt {n} is signed");
        assert!(!signature_verifies(&attempt.headers["chat-signature"], &attempt.body.replace("are", "ARE")));
    }
    // Each wait is at least half its scheduled 100 ms × 2^n (the jitter's
    // floor): the schedule doubles. Lower bounds only: a slow machine
    // makes the waits longer, never shorter.
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (n, gap) in gaps.iter().enumerate() {
        let floor = Duration::from_millis(50 << n);
        assert!(*gap >= floor, "wait {n} was {gap:?}, under its floor {floor:?}; waits: {gaps:?}");
    }
    eprintln!("waits between attempts: {gaps:?}");
    // Presence events arrived as well (bob came and went).
    let kinds: Vec<String> = got.iter().filter_map(|r| r.headers.get("chat-event-type").cloned()).collect();
    assert!(kinds.iter().any(|k| k == "user.online") && kinds.iter().any(|k| k == "user.offline"), "{kinds:?}");
    let delivered = async { metric(server.addr, "chat_webhook_delivered").await };
    let mut n = delivered.await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while n < 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        n = metric(server.addr, "chat_webhook_delivered").await;
    }
    assert!(n >= 1);
    assert!(metric(server.addr, "chat_webhook_retried").await >= FAILURES as u64);
    assert_eq!(metric(server.addr, "chat_webhook_dropped").await, 0);
}

#[tokio::test]
async fn a_delivery_that_runs_out_of_retries_is_dropped_and_counted() {
    let receiver = Receiver::start(Behaviour::FailFirst(usize::MAX)).await;
    let server = TestServer::start_with(|c| {
        hooks_to(&receiver.url(), c);
        c.webhook_retry_for = Duration::from_millis(300);
        c.webhook_events = vec!["message.missed".into()];
    })
    .await;
    let (mut ann, _) = server.guest("ann", "drop").await;
    let (bob, wb) = server.guest("bob", "drop").await;
    drop(bob);
    ann.say("m1", dm(&wb.me.id), "lost cause").await;
    ann.recv_chat().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(server.addr, "chat_webhook_dropped").await < 1 {
        assert!(Instant::now() < deadline, "never dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let attempts = receiver.received().len();
    assert!(attempts >= 2, "retried before giving up ({attempts})");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), attempts, "not retried once dropped");
}

#[tokio::test]
async fn a_receiver_that_never_answers_does_not_hold_up_chat_fan_out() {
    const MESSAGES: usize = 300;
    let receiver = Receiver::start(Behaviour::Silent).await;
    let server = TestServer::start_with(|c| {
        hooks_to(&receiver.url(), c);
        c.webhook_timeout = Duration::from_secs(60);
        c.webhook_events = vec!["message.created".into(), "message.missed".into()];
        c.rate_burst = 10_000;
        c.rate_per_sec = 10_000;
    })
    .await;
    let baseline = TestServer::start_with(|c| {
        c.rate_burst = 10_000;
        c.rate_per_sec = 10_000;
    })
    .await;
    let (mut a, mut b) = (baseline.guest("ann", "base").await.0, baseline.guest("bob", "base").await.0);
    let without = fan_out(&mut a, &mut b, "base", MESSAGES).await;
    let (mut ann, mut bob) = (server.guest("ann", "stuck").await.0, server.guest("bob", "stuck").await.0);
    // The first event's delivery gets stuck in the receiver.
    ann.say("first", Conversation::Room, "first").await;
    bob.recv_chat().await;
    receiver.until("a first, unanswered delivery", |got| !got.is_empty()).await;
    let elapsed = fan_out(&mut ann, &mut bob, "stuck", MESSAGES).await;
    eprintln!("fan-out of {MESSAGES} room messages: {without:?} without webhooks, {elapsed:?} with the endpoint stuck");
    assert_eq!(receiver.received().len(), 1, "the stuck endpoint holds its one delivery, in order");
    assert!(metric(server.addr, "chat_webhook_queued").await > 0, "the rest waits in the store");
}

/// Sends `n` room messages from one client and waits until another has them all.
async fn fan_out(ann: &mut Client, bob: &mut Client, tag: &str, n: usize) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        ann.say(&format!("{tag}-{i}"), Conversation::Room, &format!("message {i}")).await;
    }
    let mut seen = 0;
    while seen < n {
        if let ServerMsg::Message(_) = bob.recv_chat().await {
            seen += 1;
        }
    }
    started.elapsed()
}

fn spawn_server(port: u16, data_dir: &std::path::Path, hook: &str) -> ServerProcess {
    ServerProcess(
        std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log", "warn"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--webhook-url", hook, "--webhook-secret", SECRET, "--webhook-events", "message.missed"])
            .args(["--webhook-base-delay", "0.1", "--webhook-max-delay", "0.2", "--webhook-poll", "0.05"])
            .env_remove("CHAT_TOKEN_SECRET")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the server binary"),
    )
}

/// The event is committed with its message; the server is SIGKILLed while
/// the endpoint is down (nothing could be delivered), and the restarted
/// server delivers it.
#[tokio::test]
async fn an_event_committed_before_a_sigkill_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The receiver's port, free: connections are refused until it starts.
    let hook_port = free_port();
    let hook = format!("http://127.0.0.1:{hook_port}/hook");
    let child = spawn_server(port, dir.path(), &hook);
    let mut ann = connect_when_up(port).await;
    ann.hello(guest("ann", "crash"), None).await;
    let mut bob = connect_when_up(port).await;
    let wb = bob.hello(guest("bob", "crash"), None).await;
    drop(bob);
    // Bob's leave reaches the hub before the DM is checked: wait for ann to see it.
    loop {
        if let ServerMsg::Presence { online: false, .. } = ann.recv().await {
            break;
        }
    }
    ann.say("m1", dm(&wb.me.id), "while you were out").await;
    let ServerMsg::Ack { id, .. } = ann.recv_chat().await else { panic!("expected the ack") };
    drop(child); // SIGKILL

    let receiver =
        Receiver::start_on(TcpListener::bind(("127.0.0.1", hook_port)).await.unwrap(), Behaviour::FailFirst(0));
    let _child = spawn_server(port, dir.path(), &hook);
    let got = receiver.until("the event after the restart", |got| !got.is_empty()).await;
    let event = got[0].json();
    assert_eq!(event["type"], "message.missed");
    assert_eq!(event["payload"]["message"]["id"], id.0);
    assert!(signature_verifies(&got[0].headers["chat-signature"], &got[0].body));
}

/// A DM its online recipient has not read after `--webhook-unread-delay`
/// is reported (reason `unread`); one they read in time is not.
#[tokio::test]
async fn a_dm_left_unread_is_reported_after_the_delay_and_a_read_one_is_not() {
    let receiver = Receiver::start(Behaviour::FailFirst(0)).await;
    let server = TestServer::start_with(|c| {
        hooks_to(&receiver.url(), c);
        c.webhook_events = vec!["message.missed".into()];
        // Generous: bob's read marker (a few ms) must be stored before the
        // first check is due.
        c.webhook_unread_delay = Duration::from_secs(3);
    })
    .await;
    let (mut ann, _) = server.guest("ann", "unread").await;
    let (mut bob, wb) = server.guest("bob", "unread").await;
    ann.say("m1", dm(&wb.me.id), "read me").await;
    let ServerMsg::Message(first) = bob.recv_chat().await else { panic!("bob gets the first DM") };
    bob.send(&protocol::ClientMsg::Read { conversation: dm(&first.from.id), up_to: first.id }).await;
    let ServerMsg::Read { up_to, .. } = bob.recv_chat().await else { panic!("the read marker is stored") };
    assert_eq!(up_to, first.id);
    ann.say("m2", dm(&wb.me.id), "ignore me").await;
    let ServerMsg::Message(second) = bob.recv_chat().await else { panic!("bob gets the second DM") };
    let got = receiver.until("the unread report", |got| !got.is_empty()).await;
    // Checks are due in id order and one endpoint gets them in order: had
    // the first been reported, it would have come first.
    let event = got[0].json();
    assert_eq!((event["type"].as_str(), event["payload"]["reason"].as_str()), (Some("message.missed"), Some("unread")));
    assert_eq!(event["payload"]["message"]["id"], second.id.0, "only the unread one: {got:#?}");
    assert_eq!(event["payload"]["recipient"], wb.me.id.as_str());
}
