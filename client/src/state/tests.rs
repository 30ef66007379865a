use super::fixtures::*;
use super::*;
use protocol::{Member, UnreadCount};
use yew::Reducible;

fn ids(s: &State, c: &Conversation) -> Vec<Option<u64>> {
    s.conversation(c).map(|c| c.entries.iter().map(|e| e.id.map(|i| i.0)).collect()).unwrap_or_default()
}

#[test]
fn welcome_sets_identity_presence_and_unread() {
    let mut w = welcome("me", &["me", "ann"]);
    w.unread = vec![UnreadCount { conversation: dm("bob"), count: 2, read_up_to: None, mentions: 0 }];
    let s = run(vec![Action::Welcome { welcome: w, resumed: false }]);
    assert_eq!(s.me.as_ref().unwrap().id, uid("me"));
    assert_eq!(s.online.len(), 2);
    assert_eq!(s.conversation(&dm("bob")).unwrap().unread, 2);
    let contacts: Vec<_> = s.contacts().into_iter().map(|(p, on)| (p.id.to_string(), on)).collect();
    assert_eq!(contacts, vec![("ann".to_string(), true), ("bob".to_string(), false)], "bob from unread, offline");
}

#[test]
fn direct_messages_are_filed_under_the_other_party_from_both_sides() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Message(msg(1, "ann", dm("me"))),
        Action::Message(from_tab(2, "me", dm("ann"), "other-tab")),
    ]);
    assert_eq!(ids(&s, &dm("ann")), vec![Some(1), Some(2)]);
    assert_eq!(s.conversation(&dm("ann")).unwrap().unread, 1, "only ann's message is unread");
}

#[test]
fn own_message_goes_pending_then_sent_and_never_doubles() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me"]), resumed: false },
        queued("c1", Conversation::Room, "hi", 5.0),
    ]);
    let room = s.conversation(&Conversation::Room).unwrap();
    assert_eq!(room.entries[0].delivery, Delivery::Pending);
    let s = s.reduce(Action::Ack { client_id: cid("c1"), id: MessageId(9), ts: 2000 });
    let sent = &s.conversation(&Conversation::Room).unwrap().entries[0];
    assert_eq!((&sent.delivery, sent.ts), (&Delivery::Sent, 2000.0), "the server's time replaces ours");
    // After a reconnect the replay brings the same message again.
    let s = s.reduce(Action::Message(from_tab(9, "me", Conversation::Room, "c1")));
    assert_eq!(ids(&s, &Conversation::Room), vec![Some(9)]);
}

#[test]
fn replayed_copy_before_the_ack_merges_with_the_pending_entry() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me"]), resumed: false },
        queued("c1", Conversation::Room, "hi", 5.0),
        Action::Message(from_tab(4, "me", Conversation::Room, "c1")),
        Action::Ack { client_id: cid("c1"), id: MessageId(4), ts: 2000 },
    ]);
    assert_eq!(ids(&s, &Conversation::Room), vec![Some(4)]);
}

#[test]
fn replay_after_reconnect_does_not_duplicate() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Message(msg(1, "ann", Conversation::Room)),
        Action::Message(msg(2, "ann", Conversation::Room)),
        Action::Status(Status::Reconnecting { at_ms: 0.0 }),
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Message(msg(2, "ann", Conversation::Room)),
        Action::Message(msg(3, "ann", Conversation::Room)),
    ]);
    assert_eq!(ids(&s, &Conversation::Room), vec![Some(1), Some(2), Some(3)]);
}

#[test]
fn history_pages_are_merged_in_order() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me"]), resumed: false },
        Action::Message(msg(10, "ann", Conversation::Room)),
        Action::HistoryRequested { conversation: Conversation::Room, before: None },
        Action::History {
            conversation: Conversation::Room,
            messages: vec![msg(7, "ann", Conversation::Room), msg(10, "ann", Conversation::Room)],
            has_more: true,
        },
    ]);
    assert_eq!(ids(&s, &Conversation::Room), vec![Some(7), Some(10)]);
    let room = s.conversation(&Conversation::Room).unwrap();
    assert!(room.has_more && !room.history_requested && room.loaded);
    assert_eq!(room.unread, 0, "history is never counted as unread (room is active)");
}

#[test]
fn active_conversation_does_not_count_unread_and_read_resets() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Message(msg(1, "ann", Conversation::Room)),
        Action::Message(msg(2, "ann", dm("me"))),
    ]);
    assert_eq!(s.conversation(&Conversation::Room).unwrap().unread, 0);
    assert_eq!(s.conversation(&dm("ann")).unwrap().unread, 1);
    let s = s.reduce(Action::Read { conversation: dm("ann"), up_to: MessageId(2), unread: 0, mentions: 0 });
    assert_eq!(s.conversation(&dm("ann")).unwrap().unread, 0);
}

#[test]
fn presence_and_typing() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me"]), resumed: false },
        Action::Presence { user: profile("ann"), online: true },
        Action::Typing { from: uid("ann"), to: dm("me"), active: true, now: 0.0 },
    ]);
    assert!(s.online.contains_key(&uid("ann")));
    assert_eq!(s.notices.last().unwrap().text, "user ann joined");
    assert_eq!(s.typing_in(&dm("ann")).len(), 1, "a DM typing shows in the conversation with the typist");
    let s = s.reduce(Action::Tick { now: TYPING_TTL_MS + 1.0 });
    assert!(s.typing_in(&dm("ann")).is_empty(), "expired");
    let s = s.reduce(Action::Presence { user: profile("ann"), online: false });
    assert!(!s.online.contains_key(&uid("ann")));
    assert_eq!(s.contacts().len(), 1, "ann stays in the sidebar, offline");
}

#[test]
fn the_online_list_replaces_what_presence_events_said() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Typing { from: uid("ann"), to: Conversation::Room, active: true, now: 0.0 },
    ]);
    let notices = s.notices.len();
    // ann left and bob came while their presence events were dropped.
    let s = s.reduce(Action::Online(vec![profile("me"), profile("bob")]));
    assert!(s.online.contains_key(&uid("bob")) && !s.online.contains_key(&uid("ann")));
    assert!(s.typing_in(&Conversation::Room).is_empty(), "someone offline is not typing");
    assert_eq!(s.contacts().len(), 2, "ann stays in the sidebar, offline; bob is added");
    assert_eq!(s.notices.len(), notices, "a correction, not news");
}

#[test]
fn failed_send_is_marked() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me"]), resumed: false },
        queued("c1", dm("ghost"), "hi", 0.0),
        Action::SendFailed { client_id: cid("c1"), reason: "no such user".into() },
    ]);
    assert_eq!(s.conversation(&dm("ghost")).unwrap().entries[0].delivery, Delivery::Failed("no such user".into()));
}

#[test]
fn sign_out_forgets_everything() {
    let s = run(vec![Action::Welcome { welcome: welcome("me", &["me"]), resumed: false }, Action::SignOut]);
    assert_eq!(*s, State::default());
    let hidden = run(vec![Action::Visible(false), Action::SignOut]);
    assert!(!hidden.visible, "the page is still hidden");
}

#[test]
fn a_welcome_without_replay_makes_every_conversation_load_again() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::HistoryRequested { conversation: Conversation::Room, before: None },
        Action::HistoryRequested { conversation: dm("ann"), before: None },
        Action::History { conversation: dm("ann"), messages: vec![msg(3, "ann", dm("me"))], has_more: false },
        Action::Status(Status::Reconnecting { at_ms: 0.0 }),
    ]);
    // The room's request died with the connection.
    assert!(s.conversation(&Conversation::Room).unwrap().history_requested);
    let resumed = s.clone().reduce(Action::Welcome { welcome: welcome("me", &["me"]), resumed: true });
    let room = resumed.conversation(&Conversation::Room).unwrap();
    assert!(!room.history_requested && !room.loaded, "the room's first page never came: asked again");
    let ann = resumed.conversation(&dm("ann")).unwrap();
    assert!(ann.loaded, "a resumed session keeps what it has; the replay fills the gap");
    let fresh = s.reduce(Action::Welcome { welcome: welcome("me", &["me"]), resumed: false });
    for c in [Conversation::Room, dm("ann")] {
        let conv = fresh.conversation(&c).unwrap();
        assert!(!conv.history_requested && !conv.loaded, "{c:?} is fetched again when shown");
    }
    assert_eq!(ids(&fresh, &dm("ann")), vec![Some(3)], "what we had stays on screen meanwhile");
}

#[test]
fn welcome_unread_counts_replace_ours() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Message(msg(1, "ann", dm("me"))),
    ]);
    assert_eq!(s.conversation(&dm("ann")).unwrap().unread, 1);
    // Read in another tab while we were away: the welcome knows.
    let s = s.reduce(Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: true });
    assert_eq!(s.conversation(&dm("ann")).unwrap().unread, 0);
    assert_eq!(s.total_unread(), 0);
}

#[test]
fn a_hidden_page_counts_unread_even_in_the_active_conversation() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Visible(false),
        Action::Message(msg(1, "ann", Conversation::Room)),
    ]);
    assert_eq!(s.conversation(&Conversation::Room).unwrap().unread, 1);
    let s = s
        .reduce(Action::Visible(true))
        .reduce(Action::ReadSent { conversation: Conversation::Room, up_to: MessageId(1) });
    assert_eq!(s.conversation(&Conversation::Room).unwrap().unread, 0);
}

#[test]
fn people_we_talked_to_are_remembered_and_restored() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann", "bob"]), resumed: false },
        Action::Message(msg(1, "ann", dm("me"))),
        queued("c1", dm("bob"), "hi", 0.0),
        Action::Message(msg(2, "carl", Conversation::Room)),
    ]);
    let partners: Vec<String> = s.dm_partners().into_iter().map(|p| p.id.to_string()).collect();
    assert_eq!(partners, vec!["ann", "bob"], "direct conversations only, not room authors");

    // After a reload: nobody online, an unread count names ann by id only.
    let mut w = welcome("me", &["me"]);
    w.unread = vec![UnreadCount { conversation: dm("ann"), count: 1, read_up_to: None, mentions: 0 }];
    let s = run(vec![Action::Welcome { welcome: w, resumed: false }]);
    assert_eq!(s.people[&uid("ann")].name, "ann", "a placeholder");
    let s = s.reduce(Action::Contacts(vec![profile("ann"), profile("bob"), profile("me")]));
    let contacts: Vec<_> = s.contacts().into_iter().map(|(p, on)| (p.name.clone(), on)).collect();
    assert_eq!(contacts, vec![("user ann".into(), false), ("user bob".into(), false)], "restored, offline, never me");
    // Talking to someone new adds to what is remembered, never replaces it.
    let s = s.reduce(Action::Message(msg(9, "carl", dm("me"))));
    let partners: Vec<String> = s.dm_partners().into_iter().map(|p| p.id.to_string()).collect();
    assert_eq!(partners, vec!["ann", "bob", "carl"]);
}

#[test]
fn presence_is_the_truth_about_who_someone_is() {
    let renamed = Profile { name: "Ann B.".into(), ..profile("ann") };
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me"]), resumed: false },
        Action::Presence { user: renamed.clone(), online: true },
        // An old message (from history) carries her old name.
        Action::History {
            conversation: Conversation::Room,
            messages: vec![msg(1, "ann", Conversation::Room)],
            has_more: false,
        },
    ]);
    assert_eq!(s.people[&uid("ann")], renamed);
}

#[test]
fn no_presence_notice_about_myself_and_the_connection_is_the_status_not_a_notice() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me"]), resumed: false },
        Action::Status(Status::Online),
        Action::Presence { user: profile("me"), online: true },
        Action::Status(Status::Reconnecting { at_ms: 0.0 }),
        Action::Status(Status::Connecting),
        Action::Status(Status::Online),
        Action::Presence { user: profile("ann"), online: true },
    ]);
    let texts: Vec<&str> = s.notices.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, vec!["user ann joined"]);
    assert_eq!(s.status, Status::Online);
}

#[test]
fn notices_expire_and_only_a_few_show() {
    let mut actions = vec![Action::Welcome { welcome: welcome("me", &["me"]), resumed: false }];
    for u in ["a", "b", "c", "d", "e"] {
        actions.push(Action::Presence { user: profile(u), online: true });
    }
    actions.push(Action::Tick { now: 1_000.0 });
    let s = run(actions);
    let texts: Vec<&str> = s.notices.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, vec!["user c joined", "user d joined", "user e joined"]);
    let s = s.reduce(Action::Tick { now: 1_000.0 + NOTICE_TTL_MS - 1.0 });
    assert_eq!(s.notices.len(), 3);
    let s = s.reduce(Action::Tick { now: 1_000.0 + NOTICE_TTL_MS });
    assert!(s.notices.is_empty());
}

#[test]
fn retry_is_offered_only_while_waiting() {
    assert!(Status::Reconnecting { at_ms: 0.0 }.can_retry());
    assert!(Status::Offline { reason: "no network".into() }.can_retry());
    assert!(!Status::Online.can_retry());
    assert!(!Status::Connecting.can_retry());
}

#[test]
fn replayed_messages_are_not_counted_twice() {
    // Away for a while: the welcome counts ann's two DMs, then the replay brings them.
    let mut w = welcome("me", &["me", "ann"]);
    w.unread = vec![UnreadCount { conversation: dm("ann"), count: 2, read_up_to: None, mentions: 0 }];
    let s = run(vec![
        Action::Welcome { welcome: w, resumed: true },
        Action::Replayed(msg(5, "ann", dm("me"))),
        Action::Replayed(msg(6, "ann", dm("me"))),
        Action::Message(msg(7, "ann", dm("me"))),
    ]);
    assert_eq!(ids(&s, &dm("ann")), vec![Some(5), Some(6), Some(7)]);
    assert_eq!(s.conversation(&dm("ann")).unwrap().unread, 3, "two from the welcome, one live");
}

/// Messages 1..=n from ann in the room out of order (even ids newest first,
/// then odd ids oldest first), then a few repeats (a replay overlapping
/// what history brought).
fn burst(n: u64) -> Vec<Action> {
    let evens = (1..=n).filter(|i| i % 2 == 0).rev();
    let odds = (1..=n).filter(|i| i % 2 == 1);
    let repeats = 1..=5;
    evens.chain(odds).chain(repeats).map(|i| Action::Replayed(msg(i, "ann", Conversation::Room))).collect()
}

#[test]
fn a_batch_lands_like_its_actions_one_by_one() {
    let start = vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: true },
        queued("c1", Conversation::Room, "mine", 5.0),
    ];
    let mut one_by_one = start.clone();
    one_by_one.extend(burst(300));
    one_by_one.push(Action::Replayed(from_tab(301, "me", Conversation::Room, "c1")));
    let mut batched = start;
    let mut inner = burst(300);
    inner.push(Action::Replayed(from_tab(301, "me", Conversation::Room, "c1")));
    batched.push(Action::Batch(inner));
    let (a, b) = (run(one_by_one), run(batched));
    let expected: Vec<Option<u64>> = (1..=301).map(Some).collect();
    assert_eq!(ids(&a, &Conversation::Room), expected);
    assert_eq!(ids(&b, &Conversation::Room), expected);
    let room = b.conversation(&Conversation::Room).unwrap();
    assert_eq!(room.entries.last().unwrap().delivery, Delivery::Sent, "our pending send merged with its copy");
    assert_eq!(room.unread, 0, "replayed messages were counted by the welcome");
}

#[test]
fn a_batch_copies_each_conversation_once_and_leaves_others_shared() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: true },
        Action::Replayed(msg(1, "ann", dm("me"))),
        Action::Replayed(msg(2, "ann", Conversation::Room)),
    ]);
    let before = s.clone();
    let s = s.reduce(Action::Batch((3..1_000).map(|i| Action::Replayed(msg(i, "ann", Conversation::Room))).collect()));
    // The untouched conversation shares its entries with the old state.
    let dm_before = &before.conversation(&dm("ann")).unwrap().entries;
    assert_eq!(*dm_before, s.conversation(&dm("ann")).unwrap().entries, "same list (identity)");
    // The old snapshot is unchanged: the room was copied, not edited in place.
    assert_eq!(before.conversation(&Conversation::Room).unwrap().entries.len(), 1);
    assert_eq!(s.conversation(&Conversation::Room).unwrap().entries.len(), 998);
}

#[test]
fn an_action_that_changes_nothing_keeps_the_state() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: true },
        Action::Replayed(msg(1, "ann", Conversation::Room)),
    ]);
    for a in [
        Action::Replayed(msg(1, "ann", Conversation::Room)),
        Action::Batch(vec![Action::Message(msg(1, "ann", Conversation::Room)), Action::Visible(true)]),
        Action::Tick { now: 0.0 },
        Action::Select(Conversation::Room),
        Action::ScrolledUp(false),
        Action::Ack { client_id: cid("nobody"), id: MessageId(9), ts: 1 },
    ] {
        let next = s.clone().reduce(a.clone());
        assert!(Rc::ptr_eq(&s, &next), "{a:?} made a new state");
    }
    let next = s
        .clone()
        .reduce(Action::Batch(vec![Action::Tick { now: 0.0 }, Action::Replayed(msg(2, "ann", Conversation::Room))]));
    assert!(!Rc::ptr_eq(&s, &next), "a batch with one change is a change");
}

#[test]
fn messages_that_arrive_while_scrolled_up_are_unread_until_back_at_the_bottom() {
    let s = run(vec![
        Action::Welcome { welcome: welcome("me", &["me", "ann"]), resumed: false },
        Action::Message(msg(1, "ann", Conversation::Room)),
        Action::ScrolledUp(true),
        Action::Message(msg(2, "ann", Conversation::Room)),
        Action::Message(msg(3, "ann", Conversation::Room)),
    ]);
    assert_eq!(s.conversation(&Conversation::Room).unwrap().unread, 2);
    assert!(s.reading_back);
    // Opening another conversation starts it at its newest message.
    let s = s.reduce(Action::Presence { user: profile("ann"), online: true }).reduce(Action::Select(dm("ann")));
    assert!(!s.reading_back);
}

#[test]
fn the_directory_adds_everyone_page_by_page() {
    let s = run(vec![Action::Welcome { welcome: welcome("me", &["me"]), resumed: false }]);
    assert_eq!(s.directory_next, Some(None), "the first page is wanted after a welcome");
    let s = s.reduce(Action::DirectoryRequested);
    assert_eq!(s.directory_next, None, "asked once");
    let page = |ids: &[&str], online: bool| ids.iter().map(|id| Member { user: profile(id), online }).collect();
    let s = s.reduce(Action::Directory { members: page(&["ann", "me", "bob"], false), has_more: true });
    assert_eq!(s.directory_next, Some(Some(uid("bob"))), "the next page starts after the last one");
    let s = s
        .reduce(Action::DirectoryRequested)
        .reduce(Action::Directory { members: page(&["cat"], true), has_more: false });
    assert_eq!(s.directory_next, None, "complete");
    let names: Vec<(&str, bool)> = s.contacts().into_iter().map(|(p, on)| (p.id.as_str(), on)).collect();
    assert_eq!(names, vec![("cat", true), ("ann", false), ("bob", false)], "everyone but me, online first");
}
