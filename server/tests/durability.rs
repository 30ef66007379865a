//! Nothing lost: offline delivery, idempotent resend, history, read markers,
//! resume without gap or duplicate, and crash safety.

mod support;

use protocol::{ClientMsg, Conversation, MessageId, ServerMsg};
use std::time::Duration;
use support::*;

async fn ack_id(c: &mut Client) -> (MessageId, bool) {
    match c.recv_chat().await {
        ServerMsg::Ack { id, duplicate, .. } => (id, duplicate),
        other => panic!("expected ack, got {other:?}"),
    }
}

#[tokio::test]
async fn a_dm_to_an_offline_user_is_delivered_when_they_come_back() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "off").await;
    let (b, wb) = server.guest("bob", "off").await;
    drop(b);
    a.say("o-1", dm(&wb.me.id), "while you were out").await;
    let (id, _) = ack_id(&mut a).await;

    // Back with a cursor from before: replayed, then synced.
    let mut b = server.connect().await;
    let w = b.hello(token(&wb.session_token), Some(MessageId(0))).await;
    assert_eq!(w.unread.len(), 1);
    assert_eq!(
        (w.unread[0].conversation.clone(), w.unread[0].count),
        (dm(&w.online.iter().find(|p| p.name == "alice").unwrap().id), 1)
    );
    match b.recv_chat().await {
        ServerMsg::Message(m) => assert_eq!((m.id, m.body.as_str()), (id, "while you were out")),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.recv_chat().await, ServerMsg::Synced { cursor: Some(id) });
}

#[tokio::test]
async fn a_resend_with_the_same_client_id_returns_the_original_id() {
    let server = TestServer::start().await;
    let (mut a, wa) = server.guest("alice", "idem").await;
    let (mut b, _) = server.guest("bob", "idem").await;
    a.say("same", Conversation::Room, "once").await;
    let (first, dup) = ack_id(&mut a).await;
    assert!(!dup);
    a.say("same", Conversation::Room, "once").await;
    assert_eq!(ack_id(&mut a).await, (first, true), "same connection");
    // As after a reconnect: a new connection of the same user.
    drop(a);
    let (mut a2, _) = server.tab(&wa).await;
    a2.say("same", Conversation::Room, "once").await;
    assert_eq!(ack_id(&mut a2).await, (first, true), "new connection");
    match b.recv_chat().await {
        ServerMsg::Message(m) => assert_eq!(m.id, first),
        other => panic!("{other:?}"),
    }
    b.alive().await;
    b.quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn history_pages_back_through_a_conversation() {
    let server = TestServer::start_with(|c| c.rate_burst = 1000).await;
    let (mut a, _) = server.guest("alice", "hist").await;
    let (_b, wb) = server.guest("bob", "hist").await;
    for i in 0..120 {
        a.say(&format!("h-{i}"), dm(&wb.me.id), &format!("message {i}")).await;
    }
    for _ in 0..120 {
        ack_id(&mut a).await;
    }
    let mut bodies = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        a.send(&ClientMsg::History { conversation: dm(&wb.me.id), before, limit: Some(50) }).await;
        let (messages, has_more) = match a.recv_chat().await {
            ServerMsg::History { messages, has_more, .. } => (messages, has_more),
            other => panic!("{other:?}"),
        };
        pages += 1;
        before = messages.first().map(|m| m.id);
        let mut page: Vec<String> = messages.into_iter().map(|m| m.body).collect();
        page.extend(bodies);
        bodies = page;
        if !has_more {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(bodies, (0..120).map(|i| format!("message {i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn read_markers_follow_the_user_across_tabs_and_reloads() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "read").await;
    let (mut b1, wb) = server.guest("bob", "read").await;
    let (mut b2, _) = server.tab(&wb).await;
    let mut last = MessageId(0);
    for i in 0..3 {
        a.say(&format!("r-{i}"), Conversation::Room, "news").await;
        last = ack_id(&mut a).await.0;
    }
    b1.send(&ClientMsg::Read { conversation: Conversation::Room, up_to: last }).await;
    for tab in [&mut b1, &mut b2] {
        loop {
            match tab.recv_chat().await {
                ServerMsg::Message(_) => continue,
                ServerMsg::Read { conversation, up_to, unread, .. } => {
                    assert_eq!((conversation, up_to, unread), (Conversation::Room, last, 0));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
    }
    a.say("r-new", Conversation::Room, "one more").await;
    ack_id(&mut a).await;
    drop((b1, b2));
    // A reload: the welcome carries the unread count.
    let (_b3, w) = server.tab(&wb).await;
    assert_eq!(w.unread.len(), 1);
    assert_eq!(
        (w.unread[0].conversation.clone(), w.unread[0].count, w.unread[0].read_up_to),
        (Conversation::Room, 1, Some(last))
    );
}

#[tokio::test]
async fn resume_has_no_gap_and_no_duplicate_while_messages_keep_coming() {
    const TOTAL: usize = 400;
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 100_000;
        c.rate_burst = 100_000;
    })
    .await;
    let (mut a, _) = server.guest("alice", "resume").await;
    let (b, wb) = server.guest("bob", "resume").await;
    drop(b);
    let bob = wb.me.id.clone();
    let sending = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..TOTAL {
            let to = if i % 3 == 0 { Conversation::Room } else { dm(&bob) };
            a.say(&format!("s-{i}"), to, &format!("{i}")).await;
            ids.push(ack_id(&mut a).await.0);
            if i % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        ids
    });
    let mut got: Vec<MessageId> = Vec::new();
    let mut reconnects = 0;
    let mut cursor = MessageId(0);
    while got.len() < TOTAL {
        let mut b = server.connect().await;
        b.hello(token(&wb.session_token), Some(cursor)).await;
        reconnects += 1;
        // Read a few messages (replayed or live), then drop the connection.
        let mut taken = 0;
        while taken < 37 && got.len() < TOTAL {
            match b.event_within(Duration::from_secs(5)).await {
                Some(Event::Msg(ServerMsg::Message(m))) => {
                    got.push(m.id);
                    cursor = m.id;
                    taken += 1;
                }
                Some(Event::Msg(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    let sent = sending.await.unwrap();
    assert!(reconnects > 5, "{reconnects}");
    assert_eq!(got, sent, "every message exactly once, in order");
}

#[tokio::test]
async fn a_resume_that_asks_for_batches_gets_the_backlog_in_a_few_replay_frames() {
    // More than one store page (1,000), so the batching spans pages.
    const TOTAL: usize = 2_500;
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let (mut a, _) = server.guest("alice", "batch").await;
    let (b, wb) = server.guest("bob", "batch").await;
    drop(b);
    let mut sent = Vec::new();
    for i in 0..TOTAL {
        a.say(&format!("s-{i}"), Conversation::Room, &format!("{i}")).await;
        sent.push(ack_id(&mut a).await.0);
    }
    let mut b = server.connect().await;
    let hello = protocol::Hello {
        protocol: 1,
        auth: token(&wb.session_token),
        cursor: Some(MessageId(0)),
        replay_batches: true,
    };
    b.send(&ClientMsg::Hello(hello)).await;
    let (mut got, mut frames) = (Vec::new(), 0);
    loop {
        match b.recv_chat().await {
            ServerMsg::Welcome(_) => {}
            ServerMsg::Replay { messages } => {
                frames += 1;
                got.extend(messages.into_iter().map(|m| m.id));
            }
            ServerMsg::Synced { cursor } => {
                assert_eq!(cursor, sent.last().copied());
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, sent, "every message exactly once, in order");
    assert!(frames < TOTAL / 50, "{frames} frames for {TOTAL} messages");
}

#[tokio::test]
async fn retention_prunes_in_the_background() {
    let server = TestServer::start_with(|c| {
        c.retention_per_conversation = 3;
        c.retention_interval = Duration::from_millis(100);
    })
    .await;
    let (mut a, _) = server.guest("alice", "ret").await;
    for i in 0..6 {
        a.say(&format!("k-{i}"), Conversation::Room, &format!("m{i}")).await;
        ack_id(&mut a).await;
    }
    let mut bodies = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.send(&ClientMsg::History { conversation: Conversation::Room, before: None, limit: Some(50) }).await;
        let ServerMsg::History { messages, .. } = a.recv_chat().await else { panic!("expected history") };
        bodies = messages.into_iter().map(|m| m.body).collect::<Vec<_>>();
        if bodies.len() == 3 {
            break;
        }
    }
    assert_eq!(bodies, ["m3", "m4", "m5"], "the newest three are kept");
}

#[tokio::test]
async fn the_write_ahead_log_stays_under_its_configured_limit() {
    // 3,000 sends of 2,000 characters (about 6 MB) against a 1 MiB limit:
    // the WAL is truncated after the transaction that crosses the limit, so
    // at rest it holds at most the limit and one batch.
    const SENDS: usize = 3000;
    let server = TestServer::start_with(|c| {
        c.wal_limit_mib = 1;
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let wal = server.config.data_dir.join("chat.db-wal");
    let (mut c, _) = server.guest("writer", "wal").await;
    let body = "w".repeat(2000);
    let mut largest = 0;
    for round in 0..SENDS / 100 {
        for i in 0..100 {
            c.say(&format!("{round}-{i}"), Conversation::Room, &body).await;
        }
        for _ in 0..100 {
            ack_id(&mut c).await;
        }
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    assert!(largest > 0, "the store writes through a WAL");
    let bound = 1024 * 1024 + 100 * 2 * 2000;
    assert!(
        largest <= bound,
        "the WAL reached {largest} bytes (limit 1 MiB, one batch at most {} more)",
        bound - 1024 * 1024
    );
}

#[tokio::test]
async fn ids_above_what_the_store_can_hold_mean_after_everything() {
    // Ids are u64 on the wire and i64 in SQLite: a huge cursor must replay
    // nothing (not everything), and a huge `before` must page from the end.
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "huge").await;
    let (b, wb) = server.guest("bob", "huge").await;
    drop(b);
    for i in 0..5 {
        a.say(&format!("h-{i}"), Conversation::Room, "old").await;
        ack_id(&mut a).await;
    }
    let mut b = server.connect().await;
    b.hello(token(&wb.session_token), Some(MessageId(u64::MAX))).await;
    match b.recv_chat().await {
        ServerMsg::Synced { .. } => {}
        other => panic!("expected synced with nothing replayed, got {other:?}"),
    }
    a.send(&ClientMsg::History { conversation: Conversation::Room, before: Some(MessageId(u64::MAX)), limit: None })
        .await;
    match a.recv_chat().await {
        ServerMsg::History { messages, .. } => assert_eq!(messages.len(), 5, "every message is older than u64::MAX"),
        other => panic!("expected history, got {other:?}"),
    }
}

/// A client resuming with a long backlog while the room stays busy reads as
/// fast as it can: it must not be cut off as too slow because live traffic
/// piled up in its queue during the replay, and it must get everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_reader_resuming_in_a_busy_room_is_not_cut_off_and_misses_nothing() {
    const OUTBOX: usize = 1024;
    const BACKLOG: usize = 10_000;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let server = TestServer::start_with(|c| {
        c.outbox_capacity = OUTBOX;
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let (mut sender, _) = server.guest("sender", "replay").await;
    let (victim, welcome) = server.guest("victim", "replay").await;
    drop(victim);
    let body = "z".repeat(2000);
    let mut n = 0;
    for _ in 0..BACKLOG / 50 {
        for _ in 0..50 {
            sender.say(&format!("r-{n}"), Conversation::Room, &body).await;
            n += 1;
        }
        for _ in 0..50 {
            ack_id(&mut sender).await;
        }
    }
    // The room stays busy: about 5,000 messages a second (250 people at
    // the default rate limit), 20 in flight.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut acked = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(4));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                for _ in 0..20 {
                    sender.say(&format!("r-{n}"), Conversation::Room, "live").await;
                    n += 1;
                }
                for _ in 0..20 {
                    acked.push(ack_id(&mut sender).await.0);
                }
            }
            acked
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut victim = server.connect().await;
    victim.hello(token(&welcome.session_token), Some(MessageId(0))).await;
    let (mut received, mut synced_at) = (Vec::new(), None);
    while synced_at.is_none() || received.len() < synced_at.unwrap_or(0) + 200 {
        match victim.event().await {
            Event::Msg(ServerMsg::Message(m)) => received.push(m.id),
            Event::Msg(ServerMsg::Synced { .. }) => synced_at = Some(received.len()),
            Event::Msg(_) => {}
            Event::Closed(code) => {
                panic!("closed ({code:?}) after {} messages (synced after {synced_at:?})", received.len())
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let live = busy.await.unwrap();
    assert!(received.windows(2).all(|w| w[0] < w[1]), "in id order, no duplicate");
    let last = *received.last().unwrap();
    let missing: Vec<_> = live.iter().filter(|id| **id <= last && !received.contains(id)).collect();
    assert!(missing.is_empty(), "live messages missed: {missing:?}");
    assert!(received.len() >= BACKLOG + 200, "the backlog and live traffic: {}", received.len());
}

#[tokio::test]
async fn a_history_of_long_messages_comes_in_pages_that_fit_a_frame() {
    // 70 messages of 4,000 emoji (16 KB each, 1.1 MB in all): one page of
    // them would be a frame the socket cannot take.
    let server = TestServer::start_with(|c| {
        c.rate_per_sec = 1_000_000;
        c.rate_burst = 1_000_000;
    })
    .await;
    let (mut a, _) = server.guest("alice", "long").await;
    let body = "\u{1F600}".repeat(server.config.max_body_chars);
    for i in 0..70 {
        a.say(&format!("b-{i}"), Conversation::Room, &body).await;
        ack_id(&mut a).await;
    }
    let (mut b, _) = server.guest("bob", "long").await;
    let (mut before, mut pages, mut got) = (None, 0, Vec::new());
    loop {
        b.send(&ClientMsg::History { conversation: Conversation::Room, before, limit: Some(200) }).await;
        let ServerMsg::History { messages, has_more, .. } = b.recv_chat().await else { panic!("expected history") };
        pages += 1;
        before = messages.first().map(|m| m.id);
        got.splice(0..0, messages.into_iter().map(|m| m.id));
        if !has_more {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    assert!(pages > 1, "1.1 MB does not come in one page");
    assert_eq!(got.len(), 70, "every message, once");
    assert!(got.windows(2).all(|w| w[0] < w[1]), "oldest first, across pages");
}
