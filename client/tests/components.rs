//! Component tests in a real headless Chromium (wasm-bindgen-test-runner).
//! Each renders one component into a fresh element and inspects the DOM.
#![cfg(target_arch = "wasm32")]

use client::components::composer::{Composer, Draft};
use client::components::join_form::{JoinForm, JoinFormProps, JoinRequest};
use client::components::message_list::{MessageList, MessageListProps};
use client::components::sidebar::{Contact, Sidebar, SidebarProps};
use client::components::status_banner::{StatusBanner, StatusBannerProps};
use client::state::{Delivery, Entry, Status};
use client_core::life::Life;
use protocol::{ClientMsgId, Conversation, MessageId, Profile, UserId};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlTextAreaElement};
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::*;

fn profile(id: &str) -> Profile {
    Profile { id: UserId::new(id).unwrap(), name: id.into(), color: "#aa0000".into() }
}

fn entry(id: u64, from: &str, body: &str, delivery: Delivery) -> Entry {
    Entry {
        id: (delivery != Delivery::Pending).then_some(MessageId(id)),
        client_id: Some(ClientMsgId::new(format!("c{id}")).unwrap()),
        from: profile(from),
        ts: 1_764_000_000_000.0 + id as f64,
        delivery,
        life: Life::new(body.into(), None, vec![]),
        gap_before: false,
    }
}

fn list_props(entries: Vec<Entry>, has_more: bool, on_load_older: Callback<()>) -> MessageListProps {
    MessageListProps {
        entries: entries.into(),
        has_more,
        loading: false,
        at_start: !has_more,
        me: Some(UserId::new("me").unwrap()),
        unread: 0,
        on_load_older,
        on_scrolled_up: Callback::noop(),
        on_retry: Callback::noop(),
        on_discard: Callback::noop(),
        actions: Default::default(),
        emoji: Rc::new(vec!["👍".into(), "🎉".into()]),
        names: Default::default(),
        edit_window_secs: None,
        focus: None,
        on_load_gap: Callback::noop(),
    }
}

#[wasm_bindgen_test]
async fn message_text_is_rendered_as_text_never_as_html() {
    let el = root();
    let payload = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let props = list_props(vec![entry(1, "mallory", payload, Delivery::Sent)], false, Callback::noop());
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    settle().await;
    assert_eq!(count(&el, "img"), 0, "no element was created from the body");
    assert_eq!(count(&el, "script"), 0);
    assert!(text(&el).contains(payload), "the payload is visible literally");
}

#[wasm_bindgen_test]
async fn a_send_that_failed_offers_retry_and_delete_with_its_client_id() {
    let el = root();
    let mut failed = entry(2, "me", "too long", Delivery::Failed("too long to send".into()));
    failed.id = None;
    let (retried, on_retry) = recorder::<ClientMsgId>();
    let (discarded, on_discard) = recorder::<ClientMsgId>();
    let props = MessageListProps {
        on_retry,
        on_discard,
        ..list_props(vec![entry(1, "me", "fine", Delivery::Sent), failed], false, Callback::noop())
    };
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    settle().await;
    assert_eq!(count(&el, "[data-testid=retry-send]"), 1, "only the failed message offers it");
    assert!(text(&el).contains("Not sent: too long to send"));
    find::<HtmlElement>(&el, "[data-testid=retry-send]").click();
    find::<HtmlElement>(&el, "[data-testid=discard-send]").click();
    let c2 = ClientMsgId::new("c2").unwrap();
    assert_eq!(*retried.borrow(), vec![c2.clone()]);
    assert_eq!(*discarded.borrow(), vec![c2]);
}

#[wasm_bindgen_test]
async fn a_hostile_colour_never_reaches_a_style_attribute() {
    let el = root();
    let mut e = entry(1, "mallory", "hi", Delivery::Sent);
    e.from.color = "red; background-image: url(https://example.org/x)".into();
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), list_props(vec![e], false, Callback::noop()))
        .render();
    settle().await;
    let name: HtmlElement = find(&el, ".name");
    assert_eq!(name.get_attribute("style").unwrap_or_default(), "");
}

#[wasm_bindgen_test]
async fn names_get_a_colour_per_theme() {
    let el = root();
    yew::Renderer::<MessageList>::with_root_and_props(
        el.clone(),
        list_props(vec![entry(1, "ann", "hi", Delivery::Sent)], false, Callback::noop()),
    )
    .render();
    settle().await;
    let style = find::<HtmlElement>(&el, ".name").get_attribute("style").unwrap();
    assert!(style.contains("--name-light: #") && style.contains("--name-dark: #"), "{style}");
}

#[wasm_bindgen_test]
async fn urls_are_links_to_a_new_tab_and_nothing_else_is() {
    let el = root();
    let body = "see https://example.org/a?b=<b>x</b> or javascript:alert(1) (http://x.y/z).";
    yew::Renderer::<MessageList>::with_root_and_props(
        el.clone(),
        list_props(vec![entry(1, "ann", body, Delivery::Sent)], false, Callback::noop()),
    )
    .render();
    settle().await;
    let links = el.query_selector_all(".body a").unwrap();
    assert_eq!(links.length(), 2);
    let hrefs: Vec<String> =
        (0..2).map(|i| links.item(i).unwrap().dyn_into::<Element>().unwrap().get_attribute("href").unwrap()).collect();
    assert_eq!(hrefs, vec!["https://example.org/a?b=", "http://x.y/z"]);
    for i in 0..2 {
        let a: Element = links.item(i).unwrap().dyn_into().unwrap();
        assert_eq!(a.get_attribute("target").as_deref(), Some("_blank"));
        assert_eq!(a.get_attribute("rel").as_deref(), Some("noopener noreferrer"));
    }
    assert_eq!(count(&el, ".body b"), 0, "no HTML from the body");
    assert!(text(&el).contains(body), "the text reads as written");
}

#[wasm_bindgen_test]
async fn ten_thousand_messages_render_no_more_than_the_window() {
    let el = root();
    let entries: Vec<Entry> =
        (1..=10_000).map(|i| entry(i, if i % 3 == 0 { "ann" } else { "bob" }, "m", Delivery::Sent)).collect();
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), list_props(entries, true, Callback::noop())).render();
    settle().await;
    assert_eq!(count(&el, "[data-testid=message]") as usize, client::components::message_list::RENDER_WINDOW);
    let last = el.query_selector_all("[data-testid=message]").unwrap();
    let newest = last.item(last.length() - 1).unwrap();
    assert_eq!(newest.text_content().unwrap(), "m", "the newest is rendered");
    assert_eq!(count(&el, ".older button"), 1, "older ones are one scroll away");
}

#[wasm_bindgen_test]
async fn the_new_divider_sits_before_the_first_unread_and_the_start_is_marked() {
    let el = root();
    let entries: Vec<Entry> =
        (1..=6).map(|i| entry(i, if i == 5 { "me" } else { "ann" }, &format!("m{i}"), Delivery::Sent)).collect();
    let mut props = list_props(entries, false, Callback::noop());
    props.unread = 2; // m4 and m6 (m5 is mine)
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let divider: Element = find(&el, "[data-testid=new-divider]");
    let next = divider.next_element_sibling().unwrap();
    assert!(text(&next).starts_with("ann") && text(&next).contains("m4"), "{}", text(&next));
    assert_eq!(count(&el, "[data-testid=history-start]"), 1);
    assert_eq!(count(&el, ".day"), 1, "one day separator");
}

#[wasm_bindgen_test]
async fn messages_are_grouped_by_sender_and_my_own_are_marked_pending_or_sent() {
    let el = root();
    let entries = vec![
        entry(1, "ann", "one", Delivery::Sent),
        entry(2, "ann", "two", Delivery::Sent),
        entry(3, "me", "three", Delivery::Sent),
        entry(4, "me", "four", Delivery::Pending),
        entry(5, "me", "five", Delivery::Failed("unknown user".into())),
    ];
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), list_props(entries, false, Callback::noop()))
        .render();
    settle().await;
    assert_eq!(count(&el, ".group"), 2);
    assert_eq!(count(&el, ".group .name"), 2);
    assert_eq!(count(&el, ".body.sent"), 1, "others' messages carry no delivery mark");
    assert_eq!(count(&el, ".body.pending"), 1);
    assert_eq!(count(&el, ".body.failed"), 1);
    assert!(text(&el).contains("Not sent: unknown user"));
    assert_eq!(count(&el, "time[datetime]"), 2, "one timestamp per group");
}

#[wasm_bindgen_test]
async fn older_messages_load_from_a_button_as_well_as_by_scrolling() {
    let el = root();
    let (asked, on_load_older) = recorder::<()>();
    let props = list_props(vec![entry(1, "ann", "one", Delivery::Sent)], true, on_load_older);
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let button: HtmlElement = find(&el, ".older button");
    assert_eq!(text(&button), "Load older messages");
    button.click();
    settle().await;
    assert_eq!(asked.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn join_form_refuses_an_empty_name_inline_and_submits_a_valid_one() {
    let el = root();
    let (joined, on_join) = recorder::<JoinRequest>();
    let props = JoinFormProps { default_project: "2424".into(), reason: None, on_join };
    yew::Renderer::<JoinForm>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let submit: HtmlElement = find(&el, "button[type=submit]");
    submit.click();
    settle().await;
    let error = text(&find(&el, "#join-error"));
    assert!(error.contains("name"), "inline error: {error:?}");
    assert!(joined.borrow().is_empty());
    let name: HtmlInputElement = find(&el, "#join-name");
    assert_eq!(name.get_attribute("aria-invalid").as_deref(), Some("true"));

    name.set_value("  Ada  ");
    submit.click();
    settle().await;
    let joined = joined.borrow();
    assert_eq!(joined.len(), 1);
    assert_eq!((joined[0].name.as_str(), joined[0].project.as_str()), ("Ada", "2424"));
    assert!(joined[0].color.starts_with('#') && joined[0].color.len() == 7);
    for id in ["join-name", "join-color", "join-project"] {
        assert_eq!(count(&el, &format!("label[for={id}]")), 1, "{id} has a label");
    }
}

#[wasm_bindgen_test]
async fn join_form_shows_why_the_user_is_back() {
    let el = root();
    let props = JoinFormProps {
        default_project: "p".into(),
        reason: Some("token expired (4002)".into()),
        on_join: Callback::noop(),
    };
    yew::Renderer::<JoinForm>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let shown = text(&el);
    assert!(shown.contains("Your sign-in link has expired"), "{shown}");
    assert!(!shown.contains("4002"), "no developer codes: {shown}");
}

#[wasm_bindgen_test]
async fn status_banner_counts_down_and_offers_retry() {
    let el = root();
    let (retried, on_retry) = recorder::<()>();
    let props = StatusBannerProps { status: Status::Reconnecting { at_ms: js_sys::Date::now() + 5_000.0 }, on_retry };
    yew::Renderer::<StatusBanner>::with_root_and_props(el.clone(), props).render();
    settle().await;
    assert!(text(&el).contains("Reconnecting in 5 s"), "{}", text(&el));
    gloo_timers::future::TimeoutFuture::new(1_200).await;
    assert!(text(&el).contains("Reconnecting in 4 s") || text(&el).contains("Reconnecting in 3 s"), "{}", text(&el));
    let button: HtmlElement = find(&el, "button");
    button.click();
    settle().await;
    assert_eq!(retried.borrow().len(), 1);
}

#[wasm_bindgen_test]
async fn status_banner_online_has_no_retry_and_offline_has_one() {
    for (status, expect, retry) in [
        (Status::Online, "Online", false),
        (Status::Connecting, "Connecting", false),
        (Status::Offline { reason: "no network connection".into() }, "Offline: no network connection", true),
    ] {
        let el = root();
        let props = StatusBannerProps { status, on_retry: Callback::noop() };
        yew::Renderer::<StatusBanner>::with_root_and_props(el.clone(), props).render();
        settle().await;
        assert!(text(&el).contains(expect), "{}", text(&el));
        assert_eq!(count(&el, "button") == 1, retry, "{expect}");
    }
}

async fn composer(el: &Element, max_chars: usize, on_send: Callback<Draft>) -> HtmlTextAreaElement {
    let props = composer_props(max_chars, on_send);
    yew::Renderer::<Composer>::with_root_and_props(el.clone(), props).render();
    settle().await;
    find(el, "textarea")
}

#[wasm_bindgen_test]
async fn composer_sends_on_enter_and_keeps_shift_enter_for_newlines() {
    let el = root();
    let (sent, on_send) = recorder::<Draft>();
    let area = composer(&el, 100, on_send).await;
    settle().await;
    let doc = web_sys::window().unwrap().document().unwrap();
    assert_eq!(doc.active_element().map(|a| a.id()), Some("composer-input".into()), "focused when shown");

    type_into(&area, "line one");
    settle().await;
    key(&area, "Enter", true);
    settle().await;
    assert!(sent.borrow().is_empty(), "Shift+Enter does not send");

    type_into(&area, "line one\nline two");
    settle().await;
    key(&area, "Enter", false);
    settle().await;
    assert_eq!(sent.borrow().iter().map(|d| d.body.as_str()).collect::<Vec<_>>(), ["line one\nline two"]);
    assert_eq!(area.value(), "", "cleared after sending");
}

#[wasm_bindgen_test]
async fn composer_refuses_blank_messages_inline() {
    let el = root();
    let (sent, on_send) = recorder::<Draft>();
    let area = composer(&el, 100, on_send).await;
    type_into(&area, "   \n ");
    settle().await;
    key(&area, "Enter", false);
    settle().await;
    assert!(sent.borrow().is_empty());
    assert!(text(&find(&el, "#composer-error")).contains("empty"), "{}", text(&el));
    let button: HtmlElement = find(&el, "button[type=submit]");
    assert!(button.has_attribute("disabled"));
}

#[wasm_bindgen_test]
async fn composer_shows_the_length_limit_as_it_approaches() {
    let el = root();
    let (sent, on_send) = recorder::<Draft>();
    let area = composer(&el, 10, on_send).await;
    type_into(&area, "1234567");
    settle().await;
    assert_eq!(count(&el, "[data-testid=counter]"), 0, "not yet");
    type_into(&area, "12345678");
    settle().await;
    assert_eq!(text(&find(&el, "[data-testid=counter]")), "8 / 10");
    type_into(&area, "12345678901");
    settle().await;
    assert_eq!(count(&el, ".counter.over"), 1);
    key(&area, "Enter", false);
    settle().await;
    assert!(sent.borrow().is_empty(), "over the limit is refused");
    assert!(text(&find(&el, "#composer-error")).contains("longer than 10"), "{}", text(&el));
}

#[wasm_bindgen_test]
async fn sidebar_shows_presence_unread_counts_and_offline_people() {
    let el = root();
    let (selected, on_select) = recorder::<Conversation>();
    let props = SidebarProps {
        project: "lobby".into(),
        room_unread: 2,
        room_mentions: 0,
        contacts: vec![
            Contact { profile: profile("ann"), online: true, unread: 0, mentions: 0 },
            Contact { profile: profile("bob"), online: false, unread: 3, mentions: 1 },
        ],
        active: Conversation::Room,
        on_select,
        find_ref: Default::default(),
    };
    yew::Renderer::<Sidebar>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let room: HtmlElement = find(&el, "[data-testid=conv-room]");
    assert_eq!(room.get_attribute("aria-current").as_deref(), Some("page"));
    assert_eq!(text(&find(&room, ".badge")), "2");
    assert_eq!(count(&el, "[data-testid=person-ann] .dot.on"), 1);
    let bob: HtmlElement = find(&el, "[data-testid=person-bob]");
    assert!(text(&bob).contains("(offline)"));
    assert_eq!(bob.get_attribute("aria-label").as_deref(), Some("bob, offline, 3 unread, 1 mentioning you"));
    assert_eq!(text(&find(&bob, ".badge.mention")), "@1", "mentions apart from the unread count");
    assert_eq!(count(&el, "[data-testid=conv-room] .badge.mention"), 0);
    bob.click();
    settle().await;
    assert_eq!(*selected.borrow(), vec![Conversation::Direct { user: UserId::new("bob").unwrap() }]);
}

#[wasm_bindgen_test]
async fn the_find_box_filters_people_and_enter_opens_the_first() {
    let el = root();
    let (selected, on_select) = recorder::<Conversation>();
    let props = SidebarProps {
        project: "lobby".into(),
        room_unread: 0,
        room_mentions: 0,
        contacts: vec![
            Contact { profile: profile("ann"), online: true, unread: 0, mentions: 0 },
            Contact { profile: profile("bob"), online: false, unread: 0, mentions: 0 },
            Contact { profile: profile("joanna"), online: false, unread: 0, mentions: 0 },
        ],
        active: Conversation::Room,
        on_select,
        find_ref: Default::default(),
    };
    yew::Renderer::<Sidebar>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let find_box: HtmlInputElement = find(&el, "[data-testid=find]");
    find_box.set_value("AN");
    let init = web_sys::InputEventInit::new();
    init.set_bubbles(true);
    find_box.dispatch_event(&web_sys::InputEvent::new_with_event_init_dict("input", &init).unwrap()).unwrap();
    settle().await;
    assert_eq!(count(&el, "[data-testid^=person-]"), 2, "ann and joanna match");
    assert_eq!(count(&el, "[data-testid=person-bob]"), 0);
    key(&find_box, "Enter", false);
    settle().await;
    assert_eq!(*selected.borrow(), vec![Conversation::Direct { user: UserId::new("ann").unwrap() }]);
}
