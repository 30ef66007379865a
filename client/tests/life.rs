//! Component tests for a message's life in a real headless Chromium:
//! edited marks, tombstones, quotes, reactions, the actions menu, holes,
//! the composer's reply and edit modes and @ completion, and search.
#![cfg(target_arch = "wasm32")]

use client::components::composer::{Composer, ComposerProps, Draft, Mode};
use client::components::message_list::{MessageList, MessageListProps};
use client::components::message_view::MessageActions;
use client::components::search::{SearchPanel, SearchPanelProps};
use client::state::{Delivery, Entry, Hit, Search};
use client_core::life::Life;
use protocol::{ClientMsgId, Conversation, MessageId, Profile, Quote, Reaction, UserId};
use std::rc::Rc;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::*;

fn uid(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

fn profile(id: &str) -> Profile {
    Profile { id: uid(id), name: id.into(), color: "#aa0000".into() }
}

fn entry(id: u64, from: &str, life: Life) -> Entry {
    Entry {
        id: Some(MessageId(id)),
        client_id: Some(ClientMsgId::new(format!("c{id}")).unwrap()),
        from: profile(from),
        ts: 1_764_000_000_000.0 + id as f64,
        delivery: Delivery::Sent,
        life,
        gap_before: false,
    }
}

fn plain(body: &str) -> Life {
    Life::new(body.into(), None, vec![])
}

fn list(entries: Vec<Entry>, actions: MessageActions) -> MessageListProps {
    MessageListProps {
        entries: entries.into(),
        has_more: false,
        loading: false,
        at_start: true,
        me: Some(uid("me")),
        unread: 0,
        on_load_older: Callback::noop(),
        on_scrolled_up: Callback::noop(),
        on_retry: Callback::noop(),
        on_discard: Callback::noop(),
        actions,
        emoji: Rc::new(vec!["👍".into(), "🎉".into()]),
        names: Rc::new(vec![(uid("me"), "Me".to_owned()), (uid("ann"), "Ann".to_owned())]),
        edit_window_secs: None,
        focus: None,
        on_load_gap: Callback::noop(),
    }
}

#[wasm_bindgen_test]
async fn a_message_shows_its_edit_deletion_quote_reactions_and_mention() {
    let el = root();
    let (shown, show_original) = recorder::<MessageId>();
    let edited = Life { edited_at: Some(1_764_000_100_000), ..plain("fixed") };
    let deleted = Life { deleted: true, ..Life::default() };
    let quote = Quote { id: MessageId(1), from: profile("ann"), body: "lunch?".into(), deleted: false };
    let reply = Life::new("yes @me".into(), Some(quote), vec![uid("me")]);
    let reacted = Life {
        reactions: vec![
            Reaction { emoji: "👍".into(), users: vec![uid("ann"), uid("me")] },
            Reaction { emoji: "🎉".into(), users: vec![uid("ann")] },
        ],
        ..plain("party")
    };
    let entries =
        vec![entry(1, "ann", edited), entry(2, "me", deleted), entry(3, "ann", reply), entry(4, "me", reacted)];
    let actions = MessageActions { show_original, ..Default::default() };
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), list(entries, actions)).render();
    until("the list", || count(&el, "[data-testid=msg]") == 4).await;
    let msgs = all(&el, "[data-testid=msg]");
    assert!(text(&msgs[0]).contains("fixed(edited)"), "{}", text(&msgs[0]));
    assert_eq!(text(&find::<Element>(&msgs[1], ".body.deleted")), "message deleted");
    assert_eq!(count(&msgs[1], "[data-testid=more]"), 0, "nothing to do to a tombstone");
    assert!(!text(&msgs[1]).contains('✓'), "no delivery mark on a tombstone");
    assert!(has_class(&msgs[2], "mention"), "a message mentioning me stands out");
    assert!(!has_class(&msgs[3], "mention"));
    let quote: HtmlElement = find(&msgs[2], "[data-testid=quote]");
    assert_eq!(text(&quote), "ann lunch?");
    quote.click();
    assert_eq!(*shown.borrow(), [MessageId(1)], "a quote shows its original");
    let chips = all(&msgs[3], ".reactions .chip");
    assert_eq!(chips.iter().map(|c| text(c)).collect::<Vec<_>>(), ["👍 2", "🎉 1"]);
    assert_eq!(chips[0].get_attribute("aria-pressed").as_deref(), Some("true"), "mine is highlighted");
    assert!(has_class(&chips[0], "mine") && !has_class(&chips[1], "mine"));
    assert_eq!(chips[0].get_attribute("title").as_deref(), Some("Ann, Me"), "who reacted");
}

#[wasm_bindgen_test]
async fn the_actions_menu_reacts_replies_edits_and_asks_before_deleting() {
    let el = root();
    let (reacted, react) = recorder::<(MessageId, String, bool)>();
    let (replied, reply) = recorder::<MessageId>();
    let (edits, edit) = recorder::<MessageId>();
    let (deleted, delete) = recorder::<MessageId>();
    let actions = MessageActions { react, reply, edit, delete, ..Default::default() };
    let reacted_by_me =
        Life { reactions: vec![Reaction { emoji: "🎉".into(), users: vec![uid("me")] }], ..plain("mine") };
    let entries = vec![entry(1, "ann", plain("theirs")), entry(2, "me", reacted_by_me)];
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), list(entries, actions)).render();
    until("the list", || count(&el, "[data-testid=more]") == 2).await;
    let more = |i: usize| all(&el, "[data-testid=more]")[i].clone();
    // Theirs: react and reply, nothing else.
    more(0).click();
    until("the menu", || count(&el, "[data-testid=menu]") == 1).await;
    let menu: Element = find(&el, "[data-testid=menu]");
    let labels: Vec<String> = all(&menu, "button").iter().map(|b| text(b)).collect();
    assert_eq!(labels, ["👍", "🎉", "Reply", "Close"], "no edit or delete of someone else's message");
    until("the focus in the menu", || {
        web_sys::window().unwrap().document().unwrap().active_element().is_some_and(|a| text(&a) == "👍")
    })
    .await;
    all(&menu, "button")[0].click();
    until("the menu to close", || count(&el, "[data-testid=menu]") == 0).await;
    assert_eq!(*reacted.borrow(), [(MessageId(1), "👍".to_owned(), true)]);
    more(0).click();
    until("the menu", || count(&el, "[data-testid=menu]") == 1).await;
    key(&find(&el, "[data-testid=menu]"), "Escape", false);
    until("Esc to close it", || count(&el, "[data-testid=menu]") == 0).await;
    more(0).click();
    until("the menu", || count(&el, "[data-testid=menu]") == 1).await;
    all(&el, "[data-testid=menu] button").into_iter().find(|b| text(b) == "Reply").unwrap().click();
    assert_eq!(*replied.borrow(), [MessageId(1)]);
    until("no menu", || count(&el, "[data-testid=menu]") == 0).await;
    // Mine: my reaction is taken back, and I may edit and delete.
    more(1).click();
    until("my menu", || count(&el, "#msg-2 [data-testid=menu]") == 1).await;
    let buttons = all(&el, "[data-testid=menu] button");
    assert_eq!(buttons[1].get_attribute("aria-pressed").as_deref(), Some("true"));
    buttons[1].click();
    assert_eq!(reacted.borrow().last().unwrap(), &(MessageId(2), "🎉".to_owned(), false));
    until("no menu", || count(&el, "[data-testid=menu]") == 0).await;
    more(1).click();
    until("my menu", || count(&el, "#msg-2 [data-testid=menu]") == 1).await;
    all(&el, "[data-testid=menu] button").into_iter().find(|b| text(b) == "Edit").unwrap().click();
    assert_eq!(*edits.borrow(), [MessageId(2)]);
    until("no menu", || count(&el, "[data-testid=menu]") == 0).await;
    more(1).click();
    until("my menu", || count(&el, "#msg-2 [data-testid=menu]") == 1).await;
    all(&el, "[data-testid=menu] button").into_iter().find(|b| text(b) == "Delete").unwrap().click();
    until("the confirmation", || count(&el, "[data-testid=confirm-delete]") == 1).await;
    assert!(deleted.borrow().is_empty(), "not before it is confirmed");
    all(&el, "[data-testid=confirm-delete] button").into_iter().find(|b| text(b) == "Delete").unwrap().click();
    assert_eq!(*deleted.borrow(), [MessageId(2)]);
}

#[wasm_bindgen_test]
async fn a_hole_in_the_list_offers_to_load_what_is_missing() {
    let el = root();
    let (asked, on_load_gap) = recorder::<MessageId>();
    let mut above = entry(50, "ann", plain("after the hole"));
    above.gap_before = true;
    let props =
        MessageListProps { on_load_gap, ..list(vec![entry(10, "ann", plain("jumped to")), above], Default::default()) };
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    until("the hole", || count(&el, "[data-testid=gap] button") == 1).await;
    let gap: Element = find(&el, "[data-testid=gap]");
    assert!(text(&gap.next_element_sibling().unwrap()).contains("after the hole"), "right above the message after it");
    find::<HtmlElement>(&el, "[data-testid=gap] button").click();
    assert_eq!(*asked.borrow(), [MessageId(50)]);
}

#[wasm_bindgen_test]
async fn the_message_jumped_to_is_highlighted_and_focused() {
    let el = root();
    let entries: Vec<Entry> = (1..=300).map(|i| entry(i, "ann", plain(&format!("m{i}")))).collect();
    let props = MessageListProps { focus: Some(MessageId(5)), ..list(entries, Default::default()) };
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    until("the focused message", || count(&el, "#msg-5.focused") == 1).await;
    assert!(count(&el, "[data-testid=msg]") > 200, "rendered although far above the newest");
    until("the focus on it", || {
        web_sys::window().unwrap().document().unwrap().active_element().is_some_and(|a| a.id() == "msg-5")
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_reply_shows_what_it_answers_and_esc_cancels_it() {
    let el = root();
    let (cancelled, on_cancel) = recorder::<()>();
    let quote = Quote { id: MessageId(1), from: profile("ann"), body: "lunch?".into(), deleted: false };
    let props = ComposerProps { mode: Some(Mode::Reply(quote)), on_cancel, ..composer_props(100, Callback::noop()) };
    yew::Renderer::<Composer>::with_root_and_props(el.clone(), props).render();
    until("the reply bar", || count(&el, "[data-testid=replying]") == 1).await;
    assert!(text(&find(&el, "[data-testid=replying]")).contains("Replying to annlunch?"));
    key(&find(&el, "textarea"), "Escape", false);
    assert_eq!(cancelled.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn an_edit_starts_from_the_body_and_up_in_an_empty_box_asks_for_the_last_message() {
    let el = root();
    let (asked, on_edit_last) = recorder::<()>();
    let (sent, on_send) = recorder::<Draft>();
    let mut app = yew::Renderer::<Composer>::with_root_and_props(
        el.clone(),
        ComposerProps { on_edit_last, ..composer_props(100, on_send.clone()) },
    )
    .render();
    until("the composer", || count(&el, "textarea") == 1).await;
    key(&find(&el, "textarea"), "ArrowUp", false);
    assert_eq!(asked.borrow().len(), 1);
    app.update(ComposerProps {
        mode: Some(Mode::Edit { id: MessageId(7), body: "typo".into() }),
        ..composer_props(100, on_send)
    });
    let area: HtmlTextAreaElement = find(&el, "textarea");
    until("the body in the box", || area.value() == "typo").await;
    assert_eq!(count(&el, "[data-testid=editing]"), 1);
    assert_eq!(text(&find(&el, "button[type=submit]")), "Save");
    type_into(&area, "fixed");
    settle().await;
    key(&area, "Enter", false);
    until("the edit sent", || sent.borrow().len() == 1).await;
    assert_eq!(sent.borrow()[0].body, "fixed");
}

#[wasm_bindgen_test]
async fn at_offers_people_and_the_one_picked_is_sent_by_id() {
    let el = root();
    let (queries, on_mention_query) = recorder::<Option<String>>();
    let (sent, on_send) = recorder::<Draft>();
    let suggestions = vec![profile("ann"), Profile { name: "anna".into(), ..profile("a2") }];
    let props = ComposerProps { on_mention_query, suggestions, ..composer_props(100, on_send) };
    yew::Renderer::<Composer>::with_root_and_props(el.clone(), props).render();
    until("the composer", || count(&el, "textarea") == 1).await;
    let area: HtmlTextAreaElement = find(&el, "textarea");
    type_into(&area, "hi @an");
    until("the list", || count(&el, "[data-testid=mention-list] [role=option]") == 2).await;
    assert_eq!(queries.borrow().last().unwrap().as_deref(), Some("an"));
    assert_eq!(area.get_attribute("aria-activedescendant").as_deref(), Some("mention-0"));
    key(&area, "ArrowDown", false);
    until("the second one", || area.get_attribute("aria-activedescendant").as_deref() == Some("mention-1")).await;
    key(&area, "Enter", false);
    until("the name in the text", || area.value() == "hi @anna ").await;
    until("the list gone", || count(&el, "[data-testid=mention-list]") == 0).await;
    assert!(sent.borrow().is_empty(), "Enter picked, it did not send");
    key(&area, "Enter", false);
    until("sent", || sent.borrow().len() == 1).await;
    assert_eq!(sent.borrow()[0].picked, [(uid("a2"), "anna".to_owned())]);
}

#[wasm_bindgen_test]
async fn search_results_page_on_and_a_pick_names_the_result() {
    let el = root();
    let (more, on_more) = recorder::<()>();
    let (picked, on_pick) = recorder::<usize>();
    let (closed, on_close) = recorder::<()>();
    let hits = vec![
        Hit { conversation: Conversation::Room, entry: entry(9, "ann", plain("lunch at noon")) },
        Hit {
            conversation: Conversation::Direct { user: uid("ann") },
            entry: entry(4, "me", Life { deleted: true, ..Life::default() }),
        },
    ];
    let search = Search { query: "lunch".into(), hits, has_more: true, loading: false };
    let props = SearchPanelProps { search, places: vec!["# lobby".into(), "ann".into()], on_more, on_pick, on_close };
    yew::Renderer::<SearchPanel>::with_root_and_props(el.clone(), props).render();
    until("the results", || count(&el, "[data-testid=hit]") == 2).await;
    let hits = all(&el, "[data-testid=hit]");
    assert!(text(&hits[0]).contains("in # lobby") && text(&hits[0]).contains("lunch at noon"));
    assert!(text(&hits[1]).contains("message deleted"));
    hits[1].click();
    find::<HtmlElement>(&el, "[data-testid=more-results]").click();
    key(&hits[0], "Escape", false);
    assert_eq!((picked.borrow().clone(), more.borrow().len(), closed.borrow().len()), (vec![1], 1, 1));
}
