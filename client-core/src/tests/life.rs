//! The core's rules for edits, deletions, reactions, replies, mentions and
//! search: what goes out when, and what comes back to the user.

use super::*;

fn update(id: u64, target: u64, by: &str, change: protocol::Change) -> ServerMsg {
    ServerMsg::Update(protocol::Update {
        id: MessageId(id),
        ts: 0,
        target: MessageId(target),
        author: UserId::new("u1").unwrap(),
        to: Conversation::Room,
        by: UserId::new(by).unwrap(),
        change,
    })
}

fn edited(body: &str) -> protocol::Change {
    protocol::Change::Edited { body: body.into(), edited_at: 1 }
}

/// Reconnects after a drop; the welcome resumes (a cursor was held).
fn reconnect(d: &mut Driver) -> Vec<Effect> {
    d.input(Input::Closed { code: 1006, reason: String::new() });
    d.command(Command::RetryNow);
    d.input(Input::Opened);
    d.server(welcome(Limits::default()))
}

#[test]
fn a_reply_with_mentions_is_sent_queued_and_restored_with_both() {
    let mut d = Driver::online(Limits::default());
    let ann = UserId::new("ann").unwrap();
    let out = d.command(Command::Send {
        to: Conversation::Room,
        body: "@Ann yes".into(),
        reply_to: Some(MessageId(4)),
        mentions: vec![ann.clone()],
    });
    let frame = sent(&out).pop().unwrap();
    assert!(
        matches!(&frame, ClientMsg::Send { reply_to: Some(MessageId(4)), mentions, .. } if *mentions == [ann.clone()])
    );
    assert!(events(&out).iter().any(
        |e| matches!(e, Event::Queued { reply_to: Some(MessageId(4)), mentions, .. } if *mentions == [ann.clone()])
    ));
    // A later page load restores it as it was.
    let mut later = Driver::new();
    later.input(Input::Start);
    later.input(Input::Opened);
    later.server(welcome(Limits::default()));
    let out = later.input(Input::OutboxLoaded(vec![frame.clone()]));
    assert_eq!(sent(&out), [frame]);
    assert!(events(&out).iter().any(|e| matches!(e, Event::Queued { reply_to: Some(MessageId(4)), .. })));
}

#[test]
fn a_failed_reply_is_retried_with_its_reply_and_mentions() {
    let mut d = Driver::online(Limits::default());
    let ann = UserId::new("ann").unwrap();
    let cmd =
        Command::Send { to: Conversation::Room, body: "x".into(), reply_to: Some(MessageId(2)), mentions: vec![ann] };
    let frame = sent(&d.command(cmd)).pop().unwrap();
    d.server(refusal(ErrorCode::TooManyMentions, &client_id_of(&frame)));
    assert_eq!(sent(&d.command(Command::Retry(client_id_of(&frame)))), [frame]);
}

#[test]
fn updates_are_passed_on_once_and_marked_when_replayed() {
    let mut d = Driver::online(Limits::default());
    d.server(ServerMsg::Message(message(1)));
    let live = events(&d.server(update(2, 1, "u2", edited("x"))));
    assert!(matches!(&live[..], [Event::Update { replayed: false, update }] if update.id == MessageId(2)));
    assert!(events(&d.server(update(2, 1, "u2", edited("x")))).is_empty(), "a duplicate");
    reconnect(&mut d);
    let replayed = events(&d.server(update(3, 1, "u2", protocol::Change::Deleted)));
    assert!(matches!(&replayed[..], [Event::Update { replayed: true, .. }]));
    assert_eq!(d.core.session().cursor(), Some(MessageId(3)), "an update moves the cursor");
}

#[test]
fn changes_made_offline_go_after_the_welcome_in_order() {
    let mut d = Driver::online(Limits::default());
    d.input(Input::Closed { code: 1006, reason: String::new() });
    d.command(Command::Edit { id: MessageId(5), body: "fixed".into() });
    d.command(Command::React { id: MessageId(6), emoji: "👍".into(), on: true });
    d.command(Command::Delete { id: MessageId(7) });
    d.command(Command::Search { query: "lunch".into(), before: None, limit: None });
    d.command(Command::RetryNow);
    d.input(Input::Opened);
    let out = d.server(welcome(Limits::default())); // no cursor yet: nothing is replayed
    assert_eq!(
        sent(&out),
        [
            ClientMsg::Edit { id: MessageId(5), body: "fixed".into() },
            ClientMsg::React { id: MessageId(6), emoji: "👍".into(), on: true },
            ClientMsg::Delete { id: MessageId(7) },
        ],
        "a search means something only online"
    );
}

#[test]
fn a_change_answered_by_its_update_is_not_sent_again() {
    let mut d = Driver::online(Limits::default());
    d.server(ServerMsg::Message(message(1)));
    d.command(Command::Edit { id: MessageId(1), body: "one".into() });
    d.command(Command::Delete { id: MessageId(1) });
    d.server(update(2, 1, "u1", edited("one")));
    // The link drops before the deletion's update.
    let out = reconnect(&mut d);
    assert!(sent(&out).iter().all(|m| !matches!(m, ClientMsg::Delete { .. })), "not before the replay is over");
    let out = d.server(ServerMsg::Synced { cursor: Some(MessageId(2)) });
    assert_eq!(sent(&out), [ClientMsg::Delete { id: MessageId(1) }], "only the unanswered one, once");
    // The replay can answer it instead: then nothing goes again.
    d.server(update(3, 1, "u1", protocol::Change::Deleted));
    let out = reconnect(&mut d);
    let out = [out, d.server(ServerMsg::Synced { cursor: Some(MessageId(3)) })].concat();
    assert!(sent(&out).is_empty(), "{out:?}");
}

#[test]
fn a_replayed_update_settles_the_change_the_link_lost() {
    let mut d = Driver::online(Limits::default());
    d.server(ServerMsg::Message(message(1)));
    d.command(Command::React { id: MessageId(1), emoji: "👍".into(), on: true });
    reconnect(&mut d);
    let reactions = vec![protocol::Reaction { emoji: "👍".into(), users: vec![UserId::new("u1").unwrap()] }];
    d.server(update(2, 1, "u1", protocol::Change::Reactions { reactions }));
    let out = d.server(ServerMsg::Synced { cursor: Some(MessageId(2)) });
    assert!(sent(&out).is_empty(), "the server had done it: {out:?}");
}

#[test]
fn a_refused_change_is_dropped_and_told_but_a_second_deletion_is_not() {
    let mut d = Driver::online(Limits::default());
    d.command(Command::Edit { id: MessageId(4), body: "x".into() });
    let err = |code, target| ServerMsg::Error {
        code,
        message: "too late".into(),
        client_id: None,
        target: Some(MessageId(target)),
    };
    let out = d.server(err(ErrorCode::EditWindowClosed, 4));
    assert_eq!(events(&out), [Event::Notice("Not edited: too late".into())]);
    d.command(Command::Delete { id: MessageId(5) });
    assert!(events(&d.server(err(ErrorCode::MessageDeleted, 5))).is_empty(), "it is deleted: what was wanted");
    let out = reconnect(&mut d);
    assert!(sent(&out).is_empty(), "neither is sent again");
}

#[test]
fn a_change_the_server_could_not_take_now_goes_again_after_the_pause() {
    for code in [ErrorCode::Unavailable, ErrorCode::RateLimited] {
        let mut d = Driver::online(Limits::default());
        d.command(Command::React { id: MessageId(4), emoji: "🎉".into(), on: false });
        let out =
            d.server(ServerMsg::Error { code, message: "busy".into(), client_id: None, target: Some(MessageId(4)) });
        assert!(events(&out).is_empty() && sent(&out).is_empty(), "{code:?}");
        // Past the pause (and, after rate_limited, past the emptied bucket).
        let resent = sent(&d.advance_to(d.now + RESEND_AFTER_MS + 1_000.0));
        assert_eq!(resent, [ClientMsg::React { id: MessageId(4), emoji: "🎉".into(), on: false }], "{code:?}");
    }
}

#[test]
fn a_search_page_is_asked_for_when_online() {
    let mut d = Driver::online(Limits::default());
    let out = d.command(Command::Search { query: "lunch".into(), before: Some(MessageId(9)), limit: Some(20) });
    assert_eq!(sent(&out), [ClientMsg::Search { query: "lunch".into(), before: Some(MessageId(9)), limit: Some(20) }]);
    let answer = ServerMsg::Search {
        query: "lunch".into(),
        before: Some(MessageId(9)),
        results: vec![message(3)],
        has_more: false,
    };
    assert_eq!(events(&d.server(answer.clone())), [Event::Server(answer)]);
}

fn saved(effects: &[Effect]) -> Option<(Vec<ClientMsg>, Vec<ClientMsg>)> {
    effects.iter().rev().find_map(|e| match e {
        Effect::SaveOutbox { pending, settled_changes, .. } => Some((pending.clone(), settled_changes.clone())),
        _ => None,
    })
}

#[test]
fn a_change_made_offline_survives_a_reload_and_is_dropped_from_storage_once_answered() {
    let mut d = Driver::online(Limits::default());
    d.server(ServerMsg::Message(message(1)));
    d.input(Input::Closed { code: 1006, reason: String::new() });
    let fix = ClientMsg::Edit { id: MessageId(1), body: "fixed".into() };
    let out = d.command(Command::Edit { id: MessageId(1), body: "fixed".into() });
    assert!(sent(&out).is_empty(), "offline");
    assert_eq!(saved(&out), Some((vec![fix.clone()], vec![])), "saved with the outbox");

    // The page is reloaded: a new core gets what was saved.
    let mut later = Driver::new();
    later.input(Input::Start);
    later.input(Input::Opened);
    later.server(welcome(Limits::default()));
    let out = later.input(Input::OutboxLoaded(vec![fix.clone()]));
    let out = [out, later.server(ServerMsg::Synced { cursor: None })].concat();
    assert_eq!(sent(&out), std::slice::from_ref(&fix), "sent once the replay is over");
    // Its update settles it, and the saved outbox lets it go.
    let out = later.server(update(2, 1, "u1", edited("fixed")));
    assert_eq!(saved(&out), Some((vec![], vec![fix])));
}

#[test]
fn a_refused_change_leaves_the_saved_outbox() {
    let mut d = Driver::online(Limits::default());
    d.command(Command::Delete { id: MessageId(4) });
    let out = d.server(ServerMsg::Error {
        code: ErrorCode::NotAuthor,
        message: "not yours".into(),
        client_id: None,
        target: Some(MessageId(4)),
    });
    assert_eq!(saved(&out), Some((vec![], vec![ClientMsg::Delete { id: MessageId(4) }])));
}
