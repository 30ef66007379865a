//! A real server on a store whose `history` is slow or panics, or whose
//! replay reads come back late: a condemned slow consumer gets nothing past
//! the message it lost, a session that panics still leaves the hub, and a
//! resume ends (with `synced`) however the room talks meanwhile.

mod support;

use protocol::{ClientMsg, Conversation, MessageId, ServerMsg};
use std::sync::Arc;
use std::time::Duration;
use support::faulty::*;
use support::*;
use tokio::sync::Semaphore;

#[tokio::test]
async fn a_session_that_panics_leaves_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::Config::for_tests(dir.path().to_path_buf());
    let (_, url) = serve(config, FaultyStore { history_panics: true, ..FaultyStore::open(dir.path()) }).await;
    let mut bob = Client::connect(&url).await;
    bob.hello(guest("bob", "ghost"), None).await;
    let mut alice = Client::connect(&url).await;
    let alice_id = alice.hello(guest("alice", "ghost"), None).await.me.id;
    alice.send(&ClientMsg::History { conversation: Conversation::Room, before: None, limit: None }).await;
    let left = loop {
        match bob.event().await {
            Event::Msg(ServerMsg::Presence { user, online: false }) => break user.id,
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("bob was closed ({code:?})"),
        }
    };
    assert_eq!(left, alice_id, "everyone sees alice leave");
    let mut carol = Client::connect(&url).await;
    let online = carol.hello(guest("carol", "ghost"), None).await.online;
    assert!(!online.iter().any(|p| p.id == alice_id), "alice is not listed online: {online:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_condemned_slow_consumer_receives_messages_past_the_dropped_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::Config::for_tests(dir.path().to_path_buf());
    config.outbox_capacity = 16;
    config.rate_per_sec = 1_000_000;
    config.rate_burst = 1_000_000;
    config.write_timeout = Duration::from_secs(30);
    let store = FaultyStore::open(dir.path());
    let gate = store.gate.clone();
    let (addr, url) = serve(config, store).await;

    let mut sender = Client::connect(&url).await;
    sender.hello(guest("sender", "gap"), None).await;
    let mut victim = Client::connect(&url).await;
    victim.hello(guest("victim", "gap"), None).await;
    // The victim asks for history (its session now waits on the store,
    // draining its outbox meanwhile) and does not read for a while.
    victim.send(&ClientMsg::History { conversation: Conversation::Room, before: None, limit: None }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let body = "y".repeat(3000);
    let mut sent: Vec<MessageId> = Vec::new();
    let mut n = 0;
    // Phase 1: fill the victim's socket and outbox until it overflows.
    while metric(addr, "chat_outbox_overflows").await == 0 {
        for _ in 0..50 {
            sender.say(&format!("g-{n}"), Conversation::Room, &body).await;
            n += 1;
        }
        while sent.len() < n {
            if let ServerMsg::Ack { id, .. } = sender.recv_chat().await {
                sent.push(id);
            }
        }
        assert!(n < 100_000, "never overflowed");
    }
    // Phase 2: the victim reads everything that reached it so far.
    let mut received: Vec<MessageId> = Vec::new();
    while let Some(ev) = victim.event_within(Duration::from_millis(500)).await {
        match ev {
            Event::Msg(ServerMsg::Message(m)) => received.push(m.id),
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed early: {code:?}"),
        }
    }
    // Phase 3: more room traffic, then the store read finishes.
    for _ in 0..20 {
        sender.say(&format!("g-{n}"), Conversation::Room, "after").await;
        n += 1;
    }
    while sent.len() < n {
        if let ServerMsg::Ack { id, .. } = sender.recv_chat().await {
            sent.push(id);
        }
    }
    gate.add_permits(1000);
    let code = loop {
        match victim.event().await {
            Event::Msg(ServerMsg::Message(m)) => received.push(m.id),
            Event::Msg(_) => {}
            Event::Closed(code) => break code,
        }
    };
    eprintln!("sent {} received {} code {code:?}", sent.len(), received.len());
    assert_eq!(code, Some(4011), "the victim was condemned as too slow");
    let at = received.iter().zip(&sent).position(|(a, b)| a != b);
    assert_eq!(
        at,
        None,
        "the victim got {:?} right after {:?}, skipping {:?}..: its cursor now jumps the dropped messages",
        at.map(|i| received[i]),
        at.and_then(|i| i.checked_sub(1)).map(|i| received[i]),
        at.map(|i| sent[i]),
    );
}

/// A server whose replay reads take `delay`, rate limits opened up.
/// Sends room messages one at a time until `stop`, every `pause`.
fn talk(mut alice: Client, pause: Duration, stop: Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            alice.say(&format!("live-{i}"), Conversation::Room, "live").await;
            ack_id(&mut alice).await;
            i += 1;
            tokio::time::sleep(pause).await;
        }
    })
}

/// Found in review (driven through the store's replay gate, not by sleeps):
/// a caught-up client (its cursor is the newest message)
/// resumes while someone posts in the room. The message is stored after the
/// replay's read took its snapshot but reaches the outbox before the read
/// returns, so it is set aside while the page comes back empty; the replay
/// closed with 1011 instead of sending `synced` and the message.
#[tokio::test]
async fn a_caught_up_client_resuming_while_the_room_talks_gets_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::Config::for_tests(dir.path().to_path_buf());
    config.rate_per_sec = 1_000_000;
    config.rate_burst = 1_000_000;
    let (read_started, mut reads) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let store = FaultyStore { replay_gate: Some((read_started, release.clone())), ..FaultyStore::open(dir.path()) };
    let (_, url) = serve(config, store).await;
    let (mut alice, bob_welcome) = alice_and_absent_bob(&url).await;
    alice.say("a-1", Conversation::Room, "before").await;
    let head = ack_id(&mut alice).await;

    let mut bob = Client::connect(&url).await;
    bob.hello(token(&bob_welcome.session_token), Some(head)).await;
    // The replay's (empty) page has been read and not yet returned; alice
    // talks meanwhile (acked: so queued to bob).
    reads.recv().await.expect("a replay read");
    alice.say("a-2", Conversation::Room, "during the replay").await;
    let live = ack_id(&mut alice).await;
    release.add_permits(1_000);

    let mut seen = Vec::new();
    loop {
        match bob.event().await {
            Event::Msg(ServerMsg::Message(m)) => seen.push(m.id),
            Event::Msg(ServerMsg::Synced { .. }) => break,
            Event::Msg(_) => {}
            Event::Closed(code) => panic!("closed with {code:?} (saw {seen:?}); expected message {live:?}"),
        }
    }
    assert_eq!(seen, [live], "the live message, replayed, then synced");
    bob.quiet(Duration::from_millis(300)).await;
}

/// Found in review: with replay reads slower than the room's pace (100 ms
/// against a message every 40 ms) every page set aside a live message newer
/// than itself, so the replay never ended: no `synced`, and the client's own
/// frames were not read (a ping got no pong) for as long as the room talked.
#[tokio::test]
async fn a_resume_in_a_room_with_steady_traffic_ends() {
    let dir = tempfile::tempdir().unwrap();
    let url = serve_slow_replay(dir.path(), Duration::from_millis(100)).await;
    let (mut alice, bob_welcome) = alice_and_absent_bob(&url).await;
    for i in 0..5 {
        alice.say(&format!("old-{i}"), Conversation::Room, "backlog").await;
        ack_id(&mut alice).await;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let talking = talk(alice, Duration::from_millis(40), stop.clone());

    let mut bob = Client::connect(&url).await;
    bob.hello(token(&bob_welcome.session_token), Some(MessageId(0))).await;
    bob.send(&ClientMsg::Ping).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    let (mut synced, mut pong, mut received) = (false, false, Vec::new());
    while !(synced && pong) {
        match bob.event_within(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            Some(Event::Msg(ServerMsg::Synced { .. })) => synced = true,
            Some(Event::Msg(ServerMsg::Pong)) => pong = true,
            Some(Event::Msg(ServerMsg::Message(m))) => received.push(m.id),
            Some(Event::Msg(_)) => {}
            Some(Event::Closed(code)) => panic!("closed with {code:?}"),
            None => break,
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    talking.await.unwrap();
    assert!(synced && pong, "after 4 s: synced {synced}, pong {pong}, {} messages received", received.len());
    assert!(received.len() >= 5, "the backlog was replayed: {received:?}");
    assert!(received.windows(2).all(|w| w[0] < w[1]), "in id order, no duplicate: {received:?}");
}

/// Sends `n` room messages numbered from `from`, 100 in flight at a time
/// (under the in-flight limit), and waits for every ack: each is then
/// queued to every other member of the room.
/// A resuming client that the room outruns page after page is closed as
/// too slow (4011), as it would be were its outbox to overflow, instead of
/// replaying forever without `synced`. Driven through the store, not by
/// speed: while each replay page is being read, the room gets a page's
/// worth of new messages (each acked, so already queued to bob).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_the_room_outruns_is_closed_as_too_slow() {
    const PAGE: usize = 1000; // the replay's page (connection/replay.rs)
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::Config::for_tests(dir.path().to_path_buf());
    config.rate_per_sec = 1_000_000;
    config.rate_burst = 1_000_000;
    let (read_started, mut reads) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(Semaphore::new(0));
    let store = FaultyStore { replay_gate: Some((read_started, release.clone())), ..FaultyStore::open(dir.path()) };
    let (_, url) = serve(config, store).await;
    let (mut alice, bob_welcome) = alice_and_absent_bob(&url).await;
    let mut sent = 0;
    // A backlog of more than a page, so the first page is full.
    sent += flood(&mut alice, sent, PAGE + 1).await;
    let mut bob = Client::connect(&url).await;
    bob.hello(token(&bob_welcome.session_token), Some(MessageId(0))).await;
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        let code = loop {
            match bob.event_within(Duration::from_secs(60)).await {
                Some(Event::Msg(ServerMsg::Message(m))) => received.push(m.id),
                Some(Event::Msg(ServerMsg::Synced { .. })) => panic!("synced while the room outran the replay"),
                Some(Event::Msg(_)) => {}
                Some(Event::Closed(code)) => break code,
                None => panic!("neither synced nor closed after 60 s ({} messages)", received.len()),
            }
        };
        (code, received)
    });
    // Three full pages, and during each read the room sends a page more.
    for _ in 0..3 {
        reads.recv().await.expect("a replay read");
        sent += flood(&mut alice, sent, PAGE).await;
        release.add_permits(1);
    }
    release.add_permits(1_000); // whatever else reads, let it through
    let (code, received) = reader.await.unwrap();
    assert_eq!(code, Some(4011), "closed as too slow after {} of {sent} messages", received.len());
    assert!(received.len() >= 3 * PAGE, "three full pages came first: {}", received.len());
    assert!(received.windows(2).all(|w| w[0] < w[1]), "in id order, no duplicate");
}
