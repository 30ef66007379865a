//! The reducer's rules for a message's life: updates, mentions, replies,
//! history copies, jumps with the holes they leave, and search.

use super::fixtures::{self, dm, msg, profile, uid};
use super::*;
use protocol::{Change, Reaction, UnreadCount};
use yew::Reducible;

fn welcome(unread: Vec<UnreadCount>) -> Welcome {
    Welcome { unread, ..fixtures::welcome("me", &["me", "ann"]) }
}
fn mentioning(mut m: ChatMessage, who: &str) -> ChatMessage {
    m.mentions = vec![uid(who)];
    m
}
fn update(id: u64, target: u64, change: Change) -> Action {
    Action::Update(Update {
        id: MessageId(id),
        ts: 5,
        target: MessageId(target),
        author: uid("ann"),
        to: Conversation::Room,
        by: uid("ann"),
        change,
    })
}
fn edited(body: &str, at: Millis) -> Change {
    Change::Edited { body: body.into(), edited_at: at }
}
fn start() -> Rc<State> {
    Rc::new(State::default()).reduce(Action::Welcome { welcome: welcome(vec![]), resumed: false })
}
fn run_from(s: Rc<State>, actions: Vec<Action>) -> Rc<State> {
    actions.into_iter().fold(s, |s, a| s.reduce(a))
}
fn room(s: &State) -> &ConversationState {
    s.conversation(&Conversation::Room).unwrap()
}
fn entry(s: &State, c: &Conversation, id: u64) -> Rc<Entry> {
    s.conversation(c).unwrap().entries.get(MessageId(id)).unwrap().clone()
}
fn gaps(s: &State, c: &Conversation) -> Vec<u64> {
    let entries = &s.conversation(c).unwrap().entries;
    entries.iter().filter(|e| e.gap_before).filter_map(|e| e.id.map(|i| i.0)).collect()
}

#[test]
fn an_update_shows_once_and_again_changes_nothing() {
    let s = run_from(start(), vec![Action::Message(msg(1, "ann", Conversation::Room))]);
    let s = s.reduce(update(2, 1, edited("fixed", 7)));
    let e = entry(&s, &Conversation::Room, 1);
    assert_eq!((e.life.body.as_str(), e.life.edited_at), ("fixed", Some(7)));
    let again = s.clone().reduce(update(2, 1, edited("fixed", 7)));
    assert!(Rc::ptr_eq(&s, &again), "the same update twice: no new state, no render");
    let reactions = vec![Reaction { emoji: "👍".into(), users: vec![uid("me"), uid("ann")] }];
    let s = s.reduce(update(3, 1, Change::Reactions { reactions: reactions.clone() }));
    assert_eq!(entry(&s, &Conversation::Room, 1).life.reactions, reactions);
    let s = s.reduce(update(4, 1, Change::Deleted));
    let e = entry(&s, &Conversation::Room, 1);
    assert!(e.life.deleted && e.life.body.is_empty() && e.life.reactions.is_empty(), "a tombstone");
    let s = s.reduce(update(3, 1, Change::Reactions { reactions }));
    assert!(entry(&s, &Conversation::Room, 1).life.reactions.is_empty(), "an older update is old news");
}

#[test]
fn an_update_for_a_message_nobody_shows_changes_nothing() {
    let s = run_from(start(), vec![Action::Message(msg(1, "ann", Conversation::Room))]);
    for u in [update(9, 5, edited("x", 1)), update(10, 5, Change::Deleted)] {
        let next = s.clone().reduce(u);
        assert!(Rc::ptr_eq(&s, &next), "history brings it in its current state when it is shown");
    }
}

#[test]
fn an_update_for_a_message_not_loaded_still_refreshes_replies_quoting_it() {
    let mut reply = msg(5, "me", Conversation::Room);
    reply.reply_to =
        Some(protocol::Quote { id: MessageId(1), from: profile("ann"), body: "old".into(), deleted: false });
    let s = run_from(start(), vec![Action::Message(reply), update(6, 1, edited("new text", 9))]);
    assert_eq!(entry(&s, &Conversation::Room, 5).life.reply_to.as_ref().unwrap().body, "new text");
    let reacted = s.clone().reduce(update(7, 1, Change::Reactions { reactions: vec![] }));
    assert!(Rc::ptr_eq(&s, &reacted), "a quote does not show reactions: nothing to change");
    let s = s.reduce(update(8, 1, Change::Deleted));
    let quote = entry(&s, &Conversation::Room, 5).life.reply_to.clone().unwrap();
    assert!(quote.deleted && quote.body.is_empty());
}

#[test]
fn my_reply_shows_a_quote_of_the_stored_original_at_once() {
    let s = run_from(
        start(),
        vec![
            Action::Message(msg(1, "ann", Conversation::Room)),
            update(2, 1, edited("lunch at noon?", 3)),
            Action::Queued {
                client_id: ClientMsgId::new("c1").unwrap(),
                to: Conversation::Room,
                body: "yes".into(),
                reply_to: Some(MessageId(1)),
                mentions: vec![uid("ann")],
                now: 0.0,
            },
        ],
    );
    let pending = room(&s).entries.last().unwrap().clone();
    let quote = pending.life.reply_to.clone().unwrap();
    assert_eq!((quote.id, quote.body.as_str()), (MessageId(1), "lunch at noon?"), "its state now, not as sent");
}

#[test]
fn mentions_of_me_are_counted_apart_from_unread_and_cleared_with_them() {
    let s = run_from(
        start(),
        vec![
            Action::Message(mentioning(msg(1, "ann", dm("me")), "me")),
            Action::Message(msg(2, "ann", dm("me"))),
            Action::Message(mentioning(msg(3, "ann", Conversation::Room), "me")), // the room is open: seen
            Action::Message(mentioning(msg(4, "ann", dm("me")), "bob")),
        ],
    );
    assert_eq!(s.unread_in(&dm("ann")), (3, 1));
    assert_eq!(s.unread_in(&Conversation::Room), (0, 0));
    let s = s.reduce(Action::Read { conversation: dm("ann"), up_to: MessageId(2), unread: 1, mentions: 0 });
    assert_eq!(s.unread_in(&dm("ann")), (1, 0), "another tab read up to 2");
    let s = s.reduce(Action::ReadSent { conversation: dm("ann"), up_to: MessageId(4) });
    assert_eq!(s.unread_in(&dm("ann")), (0, 0));
}

#[test]
fn the_welcome_counts_mentions_and_replayed_ones_are_not_counted_again() {
    let unread = vec![UnreadCount { conversation: Conversation::Room, count: 2, read_up_to: None, mentions: 1 }];
    let s = run_from(
        start(),
        vec![
            Action::Select(dm("ann")),
            Action::Welcome { welcome: welcome(unread), resumed: true },
            Action::Replayed(mentioning(msg(8, "ann", Conversation::Room), "me")),
            Action::Replayed(msg(9, "ann", Conversation::Room)),
        ],
    );
    assert_eq!(s.unread_in(&Conversation::Room), (2, 1));
    assert!(entry(&s, &Conversation::Room, 8).life.mentions(&uid("me")));
}

#[test]
fn a_history_copy_brings_what_changed_meanwhile_but_never_undoes_an_update() {
    // Shown, then a reconnect without replay: history brings the current state.
    let s = run_from(start(), vec![Action::Message(msg(1, "ann", Conversation::Room))]);
    let mut edited_copy = msg(1, "ann", Conversation::Room);
    edited_copy.body = "edited while away".into();
    edited_copy.edited_at = Some(50);
    let s =
        s.reduce(Action::History { conversation: Conversation::Room, messages: vec![edited_copy], has_more: false });
    assert_eq!(entry(&s, &Conversation::Room, 1).life.body, "edited while away");
    // A copy read before a later edit arrives after it.
    let s = s.reduce(update(5, 1, edited("latest", 90)));
    let mut stale = msg(1, "ann", Conversation::Room);
    stale.body = "edited while away".into();
    stale.edited_at = Some(50);
    let s = s.reduce(Action::History { conversation: Conversation::Room, messages: vec![stale], has_more: false });
    assert_eq!(entry(&s, &Conversation::Room, 1).life.body, "latest");
}

fn page(range: std::ops::RangeInclusive<u64>) -> Vec<ChatMessage> {
    range.map(|i| msg(i, "ann", Conversation::Room)).collect()
}

#[test]
fn a_jump_loads_the_page_ending_at_the_message_and_marks_the_hole_above_it() {
    let s = run_from(
        start(),
        vec![
            Action::HistoryRequested { conversation: Conversation::Room, before: None },
            Action::History { conversation: Conversation::Room, messages: page(50..=99), has_more: true },
            Action::Jump { conversation: Conversation::Room, id: MessageId(10) },
            Action::HistoryRequested { conversation: Conversation::Room, before: Some(MessageId(11)) },
            Action::History { conversation: Conversation::Room, messages: page(1..=10), has_more: false },
        ],
    );
    assert_eq!(s.focus, Some(MessageId(10)));
    assert_eq!(gaps(&s, &Conversation::Room), [50], "11..=49 may be missing");
    assert!(!room(&s).has_more, "nothing below the jumped-to page");
    // Filling the hole from its top, a page at a time.
    let s = run_from(
        s,
        vec![
            Action::HistoryRequested { conversation: Conversation::Room, before: Some(MessageId(50)) },
            Action::History { conversation: Conversation::Room, messages: page(30..=49), has_more: true },
        ],
    );
    assert_eq!(gaps(&s, &Conversation::Room), [30]);
    let s = run_from(
        s,
        vec![
            Action::HistoryRequested { conversation: Conversation::Room, before: Some(MessageId(30)) },
            Action::History { conversation: Conversation::Room, messages: page(11..=29), has_more: true },
        ],
    );
    assert!(gaps(&s, &Conversation::Room).is_empty());
    assert_eq!(room(&s).entries.len(), 99);
    assert!(!room(&s).history_requested);
}

#[test]
fn a_jump_into_a_conversation_not_yet_loaded_still_loads_its_newest_page() {
    let s = run_from(
        start(),
        vec![
            Action::Jump { conversation: Conversation::Room, id: MessageId(10) },
            Action::HistoryRequested { conversation: Conversation::Room, before: Some(MessageId(11)) },
            Action::History { conversation: Conversation::Room, messages: page(1..=10), has_more: false },
        ],
    );
    assert!(!room(&s).loaded, "the newest page is still wanted");
    let s = run_from(
        s,
        vec![
            Action::HistoryRequested { conversation: Conversation::Room, before: None },
            Action::History { conversation: Conversation::Room, messages: page(60..=80), has_more: true },
        ],
    );
    assert!(room(&s).loaded);
    assert_eq!(gaps(&s, &Conversation::Room), [60]);
    assert!(!room(&s).has_more, "below the oldest loaded there is nothing");
}

#[test]
fn older_pages_and_live_messages_open_no_hole() {
    let s = run_from(
        start(),
        vec![
            Action::HistoryRequested { conversation: Conversation::Room, before: None },
            Action::History { conversation: Conversation::Room, messages: page(50..=99), has_more: true },
            Action::Message(msg(120, "ann", Conversation::Room)),
            Action::HistoryRequested { conversation: Conversation::Room, before: Some(MessageId(50)) },
            Action::History { conversation: Conversation::Room, messages: page(20..=49), has_more: true },
        ],
    );
    assert!(gaps(&s, &Conversation::Room).is_empty());
    assert!(room(&s).has_more);
}

#[test]
fn answers_come_in_the_order_asked_even_two_at_once() {
    let s = run_from(
        start(),
        vec![
            Action::HistoryRequested { conversation: Conversation::Room, before: None },
            Action::History { conversation: Conversation::Room, messages: page(50..=99), has_more: true },
            Action::HistoryRequested { conversation: Conversation::Room, before: Some(MessageId(50)) },
            Action::HistoryRequested { conversation: Conversation::Room, before: Some(MessageId(6)) },
            Action::History { conversation: Conversation::Room, messages: page(30..=49), has_more: true },
        ],
    );
    assert!(room(&s).history_requested, "one more to come");
    let s = s.reduce(Action::History { conversation: Conversation::Room, messages: page(1..=5), has_more: false });
    assert_eq!(gaps(&s, &Conversation::Room), [30]);
}

#[test]
fn the_focus_goes_when_the_reader_leaves_it() {
    let s = run_from(start(), vec![Action::Jump { conversation: Conversation::Room, id: MessageId(3) }]);
    assert_eq!(s.focus, Some(MessageId(3)));
    assert_eq!(s.clone().reduce(Action::ScrolledUp(false)).focus, None, "back at the newest");
    assert_eq!(s.clone().reduce(Action::Select(dm("ann"))).focus, None);
    let nobody = s.reduce(Action::Jump { conversation: dm("stranger"), id: MessageId(4) });
    assert_eq!((nobody.focus, &nobody.active), (Some(MessageId(3)), &Conversation::Room), "unknown: nowhere to go");
}

#[test]
fn search_pages_append_and_answers_to_other_questions_are_ignored() {
    let s = start().reduce(Action::SearchRequested { query: "lunch".into(), before: None });
    assert!(s.search.as_ref().unwrap().loading);
    let answer = |before: Option<u64>, ids: &[u64], has_more| Action::SearchResults {
        query: "lunch".into(),
        before: before.map(MessageId),
        results: ids.iter().map(|i| msg(*i, "ann", dm("me"))).collect(),
        has_more,
    };
    let s = s.reduce(answer(None, &[9, 7], true));
    let search = s.search.clone().unwrap();
    assert_eq!((search.next_before(), search.has_more, search.loading), (Some(MessageId(7)), true, false));
    assert_eq!(search.hits[0].conversation, dm("ann"), "filed as the message is");
    let s = s.reduce(Action::SearchRequested { query: "lunch".into(), before: Some(MessageId(7)) });
    let stale = s.clone().reduce(answer(Some(MessageId(9).0), &[8], false));
    assert!(Rc::ptr_eq(&s, &stale), "not the next page");
    let s = s.reduce(answer(Some(7), &[3], false));
    let ids: Vec<u64> = s.search.as_ref().unwrap().hits.iter().map(|h| h.entry.id.unwrap().0).collect();
    assert_eq!(ids, [9, 7, 3], "newest first");
    let other = s.clone().reduce(Action::SearchResults {
        query: "dinner".into(),
        before: None,
        results: vec![],
        has_more: false,
    });
    assert!(Rc::ptr_eq(&s, &other));
    // Results show what happens to their messages.
    let s = s.reduce(Action::Update(Update {
        id: MessageId(20),
        ts: 0,
        target: MessageId(7),
        author: uid("ann"),
        to: dm("me"),
        by: uid("ann"),
        change: Change::Deleted,
    }));
    assert!(s.search.as_ref().unwrap().hits[1].entry.life.deleted);
    // A new search starts over.
    let s = s.reduce(Action::SearchRequested { query: "dinner".into(), before: None });
    assert!(s.search.as_ref().unwrap().hits.is_empty());
}
