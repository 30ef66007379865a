//! The core's rules, each driven by inputs with explicit times.

use super::*;
use protocol::{Auth, ErrorCode, Limits, Profile, ProjectId, UserId};

fn at(now_ms: f64) -> Moment {
    Moment { now_ms, random: 0.5 }
}

fn me() -> Profile {
    Profile { id: UserId::new("u1").unwrap(), name: "Ann".into(), color: "#123456".into() }
}

fn welcome(limits: Limits) -> ServerMsg {
    ServerMsg::Welcome(Welcome {
        protocol: protocol::PROTOCOL_VERSION,
        me: me(),
        project: ProjectId::new("p").unwrap(),
        session_token: "tok".into(),
        session_expires: 9_999,
        online: vec![me()],
        unread: vec![],
        limits,
        reactions: vec!["👍".into(), "🎉".into()],
    })
}

fn message(id: u64) -> ChatMessage {
    ChatMessage::plain(
        MessageId(id),
        0,
        Profile { id: UserId::new("u2").unwrap(), name: "Bob".into(), color: "#000000".into() },
        Conversation::Room,
        format!("m{id}"),
    )
}

fn guest() -> Auth {
    Auth::Guest { name: "Ann".into(), color: "#123456".into(), project: ProjectId::new("p").unwrap() }
}

/// A test harness: the core plus everything it asked for.
struct Driver {
    core: ClientCore,
    now: f64,
    effects: Vec<Effect>,
    send_times: Vec<f64>,
}

impl Driver {
    fn new() -> Self {
        Self { core: ClientCore::new(guest(), "t"), now: 0.0, effects: Vec::new(), send_times: Vec::new() }
    }

    fn input(&mut self, input: Input) -> Vec<Effect> {
        let out = self.core.handle(input, at(self.now));
        let frames = out.iter().filter(|e| matches!(e, Effect::Send(m) if !matches!(m, ClientMsg::Hello(_))));
        self.send_times.extend(frames.map(|_| self.now));
        self.effects.extend(out.clone());
        out
    }

    fn command(&mut self, command: Command) -> Vec<Effect> {
        self.input(Input::Command(command))
    }

    fn server(&mut self, msg: ServerMsg) -> Vec<Effect> {
        self.input(Input::Frame(msg))
    }

    /// Connected and welcomed with `limits`, the (empty) saved outbox loaded.
    fn online(limits: Limits) -> Self {
        let mut d = Self::new();
        d.input(Input::Start);
        d.input(Input::Opened);
        d.server(welcome(limits));
        d.input(Input::OutboxLoaded(vec![]));
        d.effects.clear();
        d.send_times.clear();
        d
    }

    /// Time passes to `now`, waking the core as it asked.
    fn advance_to(&mut self, now: f64) -> Vec<Effect> {
        self.now = now;
        self.input(Input::Tick)
    }
}

fn sent(effects: &[Effect]) -> Vec<ClientMsg> {
    effects.iter().filter_map(|e| if let Effect::Send(m) = e { Some(m.clone()) } else { None }).collect()
}

fn sent_sends(effects: &[Effect]) -> Vec<ClientMsg> {
    sent(effects).into_iter().filter(|m| matches!(m, ClientMsg::Send { .. })).collect()
}

fn sent_bodies(effects: &[Effect]) -> Vec<String> {
    sent(effects)
        .into_iter()
        .filter_map(|m| if let ClientMsg::Send { body, .. } = m { Some(body) } else { None })
        .collect()
}

fn events(effects: &[Effect]) -> Vec<Event> {
    effects.iter().filter_map(|e| if let Effect::Ui(ev) = e { Some(ev.clone()) } else { None }).collect()
}

fn wake(effects: &[Effect]) -> Option<f64> {
    effects.iter().rev().find_map(|e| if let Effect::WakeAfter(ms) = e { Some(*ms) } else { None })
}

fn client_id_of(msg: &ClientMsg) -> ClientMsgId {
    match msg {
        ClientMsg::Send { client_id, .. } => client_id.clone(),
        other => panic!("not a send: {other:?}"),
    }
}

fn ack(client_id: &ClientMsgId, id: u64) -> ServerMsg {
    ServerMsg::Ack { client_id: client_id.clone(), id: MessageId(id), ts: 0, duplicate: false }
}

fn refusal(code: ErrorCode, client_id: &ClientMsgId) -> ServerMsg {
    ServerMsg::Error { code, message: "no".into(), client_id: Some(client_id.clone()), target: None }
}

// ---------------------------------------------------------------- connecting

#[test]
fn hello_goes_when_the_socket_opens_and_carries_the_cursor_on_reconnect() {
    let mut d = Driver::new();
    assert_eq!(d.input(Input::Start)[..2], [Effect::Ui(Event::Connecting), Effect::Connect]);
    let hello = sent(&d.input(Input::Opened));
    assert!(matches!(&hello[..], [ClientMsg::Hello(h)] if h.cursor.is_none() && h.auth == guest() && h.replay_batches));
    let out = d.server(welcome(Limits::default()));
    assert!(out.contains(&Effect::SaveSession { token: "tok".into(), expires: 9_999, project: "p".into() }));
    assert!(out.contains(&Effect::LoadOutbox { project: "p".into(), me: "u1".into() }));
    assert!(events(&out).contains(&Event::Welcome {
        welcome: match welcome(Limits::default()) {
            ServerMsg::Welcome(w) => w,
            _ => unreachable!(),
        },
        resumed: false
    }));
    d.server(ServerMsg::Message(message(7)));
    d.input(Input::Closed { code: 1006, reason: String::new() });
    d.advance_to(10_000.0);
    let hello = sent(&d.input(Input::Opened));
    match &hello[..] {
        [ClientMsg::Hello(h)] => {
            assert_eq!(h.cursor, Some(MessageId(7)));
            assert_eq!(h.auth, Auth::Token { token: "tok".into(), project: Some(ProjectId::new("p").unwrap()) });
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_close_code_is_followed_or_not_by_a_reconnect() {
    for code in protocol::CloseCode::ALL.map(|c| c.code()).into_iter().chain([1000, 1006, 4999]) {
        let mut d = Driver::online(Limits::default());
        let out = d.input(Input::Closed { code, reason: String::new() });
        let reconnects = events(&out).iter().any(|e| matches!(e, Event::Reconnecting { .. }));
        assert_eq!(reconnects, protocol::close::should_reconnect(code), "{code}");
        assert_eq!(out.contains(&Effect::Stop), !reconnects, "{code}");
        let forgets = out.contains(&Effect::ForgetSession);
        assert_eq!(
            forgets,
            matches!(code, 4001..=4003 | 4006 | 4007),
            "{code}: forget the token on 4001-4003, 4006 and 4007 only"
        );
        if reconnects {
            let after = wake(&out).expect("a wake-up for the retry");
            assert!(d.advance_to(after - 1.0).iter().all(|e| *e != Effect::Connect), "{code}: not before the backoff");
            assert!(d.advance_to(after).contains(&Effect::Connect), "{code}: reconnects after the backoff");
        } else {
            assert!(d.core.is_stopped());
            assert!(d.command(Command::RetryNow).is_empty(), "{code}: nothing after a stop");
        }
    }
}

#[test]
fn a_refused_hello_shows_the_servers_message_with_the_close() {
    let mut d = Driver::new();
    d.input(Input::Start);
    d.input(Input::Opened);
    let detail = "invalid token: signature".to_owned();
    d.server(ServerMsg::Error {
        code: ErrorCode::HelloRefused,
        message: detail.clone(),
        client_id: None,
        target: None,
    });
    let out = d.input(Input::Closed { code: 4001, reason: "authentication failed".into() });
    assert!(events(&out).contains(&Event::SignedOut { reason: detail, code: 4001 }));
    assert!(out.contains(&Effect::ForgetSession));
    // Without a hello_refused, the close reason, else the code's own.
    let mut d = Driver::new();
    d.input(Input::Start);
    let out = d.input(Input::Closed { code: 4005, reason: String::new() });
    assert!(events(&out).contains(&Event::SignedOut { reason: "guest sign-in disabled".into(), code: 4005 }));
    assert!(!out.contains(&Effect::ForgetSession));
}

#[test]
fn backoff_doubles_per_failed_attempt_and_a_welcome_resets_it() {
    let mut d = Driver::new();
    d.input(Input::Start);
    let mut waits = Vec::new();
    for _ in 0..3 {
        let out = d.input(Input::Closed { code: 1006, reason: String::new() });
        let after = wake(&out).unwrap();
        waits.push(after);
        d.advance_to(d.now + after);
    }
    assert_eq!(waits, [backoff_ms(0, 0.5), backoff_ms(1, 0.5), backoff_ms(2, 0.5)]);
    d.input(Input::Opened);
    d.server(welcome(Limits::default()));
    let out = d.input(Input::Closed { code: 1012, reason: String::new() });
    assert_eq!(wake(&out), Some(backoff_ms(0, 0.5)));
    // Retry now skips the wait.
    assert!(d.command(Command::RetryNow).contains(&Effect::Connect));
}

#[test]
fn a_socket_that_brings_no_welcome_is_given_up() {
    let mut d = Driver::new();
    d.input(Input::Start);
    d.input(Input::Opened);
    assert!(!d.advance_to(CONNECT_TIMEOUT_MS - 1.0).contains(&Effect::CloseSocket));
    let out = d.advance_to(CONNECT_TIMEOUT_MS);
    assert!(out.contains(&Effect::CloseSocket));
    assert!(events(&out).iter().any(|e| matches!(e, Event::Reconnecting { .. })));
}

#[test]
fn a_dead_link_is_detected_by_an_unanswered_ping() {
    let mut d = Driver::online(Limits::default());
    assert_eq!(sent(&d.advance_to(PING_EVERY_MS)), [ClientMsg::Ping]);
    d.now += 10.0;
    d.server(ServerMsg::Pong);
    let out = d.advance_to(2.0 * PING_EVERY_MS);
    assert_eq!(sent(&out), [ClientMsg::Ping], "answered: the link is alive");
    let out = d.advance_to(3.0 * PING_EVERY_MS);
    assert!(out.contains(&Effect::CloseSocket), "nothing heard since the last ping");
    assert!(sent(&out).is_empty());
}

#[test]
fn network_lost_drops_the_link_at_once() {
    let mut d = Driver::online(Limits::default());
    let out = d.command(Command::NetworkLost);
    assert!(out.contains(&Effect::CloseSocket));
    assert!(!d.core.is_online());
}

// ---------------------------------------------------------------- receiving

#[test]
fn replayed_messages_before_synced_are_marked_and_duplicates_dropped() {
    let mut d = Driver::online(Limits::default());
    d.server(ServerMsg::Message(message(1)));
    d.input(Input::Closed { code: 1006, reason: String::new() });
    d.command(Command::RetryNow);
    d.input(Input::Opened);
    let out = d.server(welcome(Limits::default()));
    assert!(events(&out).iter().any(|e| matches!(e, Event::Welcome { resumed: true, .. })));
    assert!(!out.iter().any(|e| matches!(e, Effect::LoadOutbox { .. })), "restored once per run");
    let replay = events(&d.server(ServerMsg::Message(message(2))));
    assert_eq!(replay, [Event::Message { message: message(2), replayed: true }]);
    assert!(events(&d.server(ServerMsg::Message(message(1)))).is_empty(), "already seen");
    assert_eq!(events(&d.server(ServerMsg::Synced { cursor: Some(MessageId(2)) })), [Event::Synced]);
    let live = events(&d.server(ServerMsg::Message(message(3))));
    assert_eq!(live, [Event::Message { message: message(3), replayed: false }]);
}

#[test]
fn a_replay_batch_is_each_of_its_messages_in_order_with_duplicates_dropped() {
    let mut d = Driver::online(Limits::default());
    d.server(ServerMsg::Message(message(1)));
    d.input(Input::Closed { code: 1006, reason: String::new() });
    d.command(Command::RetryNow);
    d.input(Input::Opened);
    d.server(welcome(Limits::default()));
    let batch = ServerMsg::Replay { messages: vec![message(1), message(2), message(3)] };
    assert_eq!(
        events(&d.server(batch)),
        [
            Event::Message { message: message(2), replayed: true },
            Event::Message { message: message(3), replayed: true }
        ]
    );
    assert_eq!(d.core.session().cursor(), Some(MessageId(3)));
}

#[test]
fn other_server_frames_pass_through_and_errors_become_notices() {
    let mut d = Driver::online(Limits::default());
    let presence = ServerMsg::Presence { user: me(), online: true };
    assert_eq!(events(&d.server(presence.clone())), [Event::Server(presence)]);
    let err =
        ServerMsg::Error { code: ErrorCode::InvalidMessage, message: "bad".into(), client_id: None, target: None };
    assert_eq!(events(&d.server(err)), [Event::Notice("bad".into())]);
    let limited =
        ServerMsg::Error { code: ErrorCode::RateLimited, message: "dropped".into(), client_id: None, target: None };
    assert!(events(&d.server(limited)).is_empty(), "no notice for a refused typing frame");
}

// ---------------------------------------------------------------- the send queue

#[test]
fn a_send_is_queued_shown_saved_and_sent() {
    let mut d = Driver::online(Limits::default());
    let out = d.command(Command::send(Conversation::Room, "hi".into()));
    let frame = sent(&out).pop().unwrap();
    let client_id = client_id_of(&frame);
    assert!(events(&out).contains(&Event::Queued {
        client_id: client_id.clone(),
        to: Conversation::Room,
        body: "hi".into(),
        reply_to: None,
        mentions: vec![],
    }));
    assert!(out.iter().any(|e| matches!(e, Effect::SaveOutbox { pending, .. } if pending == &vec![frame.clone()])));
    let out = d.server(ack(&client_id, 5));
    assert!(events(&out).contains(&Event::Acked { client_id: client_id.clone(), id: MessageId(5), ts: 0 }));
    assert!(out.iter().any(|e| matches!(e, Effect::SaveOutbox { pending, settled, .. } if pending.is_empty() && settled == &vec![client_id.clone()])));
    assert_eq!(d.core.unacked(), 0);
}

#[test]
fn sends_wait_offline_and_go_in_order_after_the_welcome() {
    let mut d = Driver::online(Limits::default());
    d.input(Input::Closed { code: 1006, reason: String::new() });
    for body in ["a", "b", "c"] {
        assert!(sent(&d.command(Command::send(Conversation::Room, body.into()))).is_empty());
    }
    d.command(Command::Typing { to: Conversation::Room, active: true });
    d.command(Command::RetryNow);
    d.input(Input::Opened);
    let out = d.server(welcome(Limits::default()));
    assert_eq!(sent_bodies(&out), ["a", "b", "c"]);
    assert!(!sent(&out).iter().any(|m| matches!(m, ClientMsg::Typing { .. })), "typing is not kept offline");
}

#[test]
fn a_saved_outbox_goes_before_nothing_else_and_is_sent_in_order() {
    let mut d = Driver::new();
    d.input(Input::Start);
    d.command(Command::send(Conversation::Room, "typed while connecting".into()));
    d.input(Input::Opened);
    let out = d.server(welcome(Limits::default()));
    assert!(sent_bodies(&out).is_empty(), "nothing is sent before the saved outbox is merged");
    let saved = vec![ClientMsg::Send {
        client_id: ClientMsgId::new("old-1").unwrap(),
        to: Conversation::Room,
        body: "from last time".into(),
        reply_to: None,
        mentions: vec![],
    }];
    let out = d.input(Input::OutboxLoaded(saved));
    assert_eq!(sent_bodies(&out), ["typed while connecting", "from last time"]);
    assert!(events(&out).iter().any(|e| matches!(e, Event::Queued { body, .. } if body == "from last time")));
}

#[test]
fn a_hundred_sends_at_once_go_at_most_a_burst_then_paced_from_the_limits() {
    let limits = Limits { rate_per_sec: 20, rate_burst: 40, ..Limits::default() };
    let mut d = Driver::online(limits);
    let mut first = Vec::new();
    for i in 0..100 {
        first.extend(sent_sends(&d.command(Command::send(Conversation::Room, format!("{i}")))));
    }
    assert!(first.len() <= limits.rate_burst as usize, "{} frames at once", first.len());
    assert_eq!(first.len(), MAX_IN_FLIGHT.min(30), "the in-flight bound holds first");
    // The server acks each as it comes; the core wakes when it asked to.
    let mut all = first;
    let mut acked = 0;
    let mut id = 0;
    while acked < 100 {
        let mut out = Vec::new();
        for frame in &all[acked..] {
            id += 1;
            out.extend(d.server(ack(&client_id_of(frame), id)));
            acked += 1;
        }
        let more = sent_sends(&out);
        if more.is_empty() {
            let after = wake(&d.effects).expect("the core asks to be woken while sends wait");
            let next = sent_sends(&d.advance_to(d.now + after));
            all.extend(next);
        } else {
            all.extend(more);
        }
        assert!(d.now < 60_000.0, "stuck");
    }
    let bodies: Vec<String> = all
        .iter()
        .filter_map(|m| if let ClientMsg::Send { body, .. } = m { Some(body.clone()) } else { None })
        .collect();
    assert_eq!(bodies, (0..100).map(|i| i.to_string()).collect::<Vec<_>>(), "each once, in order");
    // Within the server's limit: in any window of t ms at most burst + rate * t frames.
    let per_ms = f64::from(limits.rate_per_sec) / 1000.0;
    let sends_at = frame_times(&d);
    for (i, t0) in sends_at.iter().enumerate() {
        for (j, t1) in sends_at.iter().enumerate().skip(i) {
            let allowed = f64::from(limits.rate_burst) + (t1 - t0) * per_ms;
            assert!(((j - i + 1) as f64) <= allowed, "frames {i}..={j} over {} ms", t1 - t0);
        }
    }
    assert!(d.now >= 4_000.0, "70 frames past the burst at 15/s take over 4 s, took {}", d.now);
}

/// When each frame was sent.
fn frame_times(d: &Driver) -> Vec<f64> {
    d.send_times.clone()
}

#[test]
fn a_rate_refusal_pauses_and_resends_from_the_refused_message_once_in_order() {
    let mut d = Driver::online(Limits::default());
    let mut frames = Vec::new();
    for body in ["a", "b", "c", "d"] {
        frames.extend(sent(&d.command(Command::send(Conversation::Room, body.into()))));
    }
    let ids: Vec<ClientMsgId> = frames.iter().map(client_id_of).collect();
    d.server(ack(&ids[0], 1));
    // b, c and d were refused (the server's bucket ran dry).
    let mut out = Vec::new();
    for id in &ids[1..] {
        out.extend(d.server(refusal(ErrorCode::RateLimited, id)));
    }
    assert!(sent(&out).is_empty(), "paused: no resend storm");
    assert!(events(&out).is_empty(), "no 'dropped' notice for a message that only waits");
    let after = wake(&out).unwrap();
    assert!(after >= RESEND_AFTER_MS);
    let resent = sent_bodies(&d.advance_to(d.now + after));
    assert_eq!(resent, ["b", "c", "d"], "from the refused one, in order, once each");
    // New sends queue behind them.
    let e = sent_bodies(&d.command(Command::send(Conversation::Room, "e".into())));
    assert_eq!(e, ["e"]);
}

#[test]
fn a_refusal_in_the_middle_resends_only_the_refused_and_later_ones() {
    let mut d = Driver::online(Limits::default());
    let mut frames = Vec::new();
    for body in ["a", "b", "c"] {
        frames.extend(sent(&d.command(Command::send(Conversation::Room, body.into()))));
    }
    let ids: Vec<ClientMsgId> = frames.iter().map(client_id_of).collect();
    d.server(refusal(ErrorCode::Unavailable, &ids[1]));
    d.server(ack(&ids[0], 1));
    d.server(ack(&ids[2], 2)); // c got through after all
    let resent = sent_bodies(&d.advance_to(d.now + RESEND_AFTER_MS));
    assert_eq!(resent, ["b"], "a and c are acked: only b goes again");
}

#[test]
fn a_send_refused_for_good_is_failed_and_can_be_retried_or_discarded() {
    let mut d = Driver::online(Limits::default());
    let bad = client_id_of(&sent(&d.command(Command::send(Conversation::Room, "x".into())))[0]);
    let good = client_id_of(&sent(&d.command(Command::send(Conversation::Room, "y".into())))[0]);
    let out = d.server(refusal(ErrorCode::UnknownUser, &bad));
    assert_eq!(events(&out), [Event::SendFailed { client_id: bad.clone(), reason: "no".into() }]);
    assert!(out.iter().any(|e| matches!(e, Effect::SaveOutbox { settled, .. } if settled == &vec![bad.clone()])));
    d.server(ack(&good, 1));
    assert_eq!(d.core.unacked(), 0);
    let out = d.command(Command::Retry(bad.clone()));
    assert!(events(&out).contains(&Event::Retrying { client_id: bad.clone() }));
    assert_eq!(sent(&out).iter().map(client_id_of).collect::<Vec<_>>(), std::slice::from_ref(&bad), "same client id");
    d.server(refusal(ErrorCode::BodyTooLong, &bad));
    let out = d.command(Command::Discard(bad.clone()));
    assert_eq!(events(&out), [Event::Discarded { client_id: bad.clone() }]);
    let out = d.command(Command::Retry(bad));
    assert!(events(&out).is_empty() && sent(&out).is_empty(), "discarded for good");
}

#[test]
fn a_body_over_the_limits_fails_at_once_and_does_not_block_the_queue() {
    let limits = Limits { max_body_chars: 5, ..Limits::default() };
    let mut d = Driver::online(limits);
    let out = d.command(Command::send(Conversation::Room, "too long".into()));
    assert!(sent(&out).is_empty());
    assert!(events(&out).iter().any(|e| matches!(e, Event::SendFailed { reason, .. } if reason == "too long to send")));
    assert_eq!(sent_bodies(&d.command(Command::send(Conversation::Room, "ok".into()))), ["ok"]);
    // Escaping: within the chars but over the frame.
    let limits = Limits { max_frame_bytes: 200, ..Limits::default() };
    let mut d = Driver::online(limits);
    let out = d.command(Command::send(Conversation::Room, "\u{1}".repeat(60)));
    assert!(sent(&out).is_empty());
}

#[test]
fn typing_read_and_pings_share_the_rate_budget_with_sends() {
    let limits = Limits { rate_per_sec: 4, rate_burst: 4, ..Limits::default() };
    let mut d = Driver::online(limits); // 3 tokens, 3 per second
    let mut out = Vec::new();
    out.extend(d.command(Command::Typing { to: Conversation::Room, active: true }));
    out.extend(d.command(Command::Read { conversation: Conversation::Room, up_to: MessageId(1) }));
    out.extend(d.command(Command::send(Conversation::Room, "a".into())));
    out.extend(d.command(Command::send(Conversation::Room, "b".into())));
    out.extend(d.command(Command::Typing { to: Conversation::Room, active: false }));
    out.extend(d.command(Command::Typing { to: Conversation::Room, active: true }));
    assert_eq!(sent(&out).len(), 3, "three tokens");
    let later = sent(&d.advance_to(d.now + 2_000.0));
    // The newest typing state only, then the waiting send.
    assert!(matches!(&later[..], [ClientMsg::Typing { active: true, .. }, ClientMsg::Send { .. }]), "{later:?}");
}

#[test]
fn a_directory_page_is_asked_for_when_online_and_not_queued_offline() {
    let mut d = Driver::new();
    d.input(Input::Start);
    let users = || Command::Users { query: None, after: None, limit: Some(200) };
    assert!(sent(&d.command(users())).is_empty(), "no socket yet");
    d.input(Input::Opened);
    d.server(welcome(Limits::default()));
    d.input(Input::OutboxLoaded(vec![]));
    let out = sent(&d.command(users()));
    assert_eq!(out, [ClientMsg::Users { query: None, after: None, limit: Some(200) }]);
}

#[test]
fn signing_out_closes_and_stops() {
    let mut d = Driver::online(Limits::default());
    let out = d.command(Command::SignOut);
    assert_eq!(out, [Effect::CloseSocket, Effect::Stop]);
    assert!(d.input(Input::Closed { code: 1000, reason: String::new() }).is_empty());
}

mod life;
