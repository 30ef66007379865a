//! Component tests in a real headless Chromium (wasm-bindgen-test-runner).
//! Each renders one component into a fresh element and inspects the DOM.
#![cfg(target_arch = "wasm32")]

use client::components::join_form::{JoinForm, JoinFormProps, JoinRequest};
use client::components::message_list::{MessageList, MessageListProps};
use client::components::status_banner::{StatusBanner, StatusBannerProps};
use client::state::{Delivery, Entry, Status};
use protocol::{MessageId, Profile, UserId};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement};
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

fn root() -> Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let div = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div
}

async fn settle() {
    gloo_timers::future::TimeoutFuture::new(20).await;
}

fn entry(id: u64, from: &str, body: &str, delivery: Delivery) -> Entry {
    Entry {
        id: (delivery != Delivery::Pending).then_some(MessageId(id)),
        client_id: None,
        from: Profile { id: UserId::new(from).unwrap(), name: from.into(), color: "#aa0000".into() },
        body: body.into(),
        ts: 0.0,
        delivery,
    }
}

#[wasm_bindgen_test]
async fn message_text_is_rendered_as_text_never_as_html() {
    let el = root();
    let payload = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let props = MessageListProps {
        entries: vec![entry(1, "mallory", payload, Delivery::Sent)],
        has_more: false,
        loading: false,
        on_load_older: Callback::noop(),
    };
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    settle().await;
    assert!(el.query_selector("img").unwrap().is_none(), "no element was created from the body");
    assert!(el.query_selector("script").unwrap().is_none());
    assert!(el.text_content().unwrap().contains(payload), "the payload is visible literally");
}

#[wasm_bindgen_test]
async fn messages_are_grouped_by_sender_and_marked_pending_or_sent() {
    let el = root();
    let props = MessageListProps {
        entries: vec![
            entry(1, "ann", "one", Delivery::Sent),
            entry(2, "ann", "two", Delivery::Sent),
            entry(3, "bob", "three", Delivery::Pending),
        ],
        has_more: true,
        loading: false,
        on_load_older: Callback::noop(),
    };
    yew::Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    settle().await;
    assert_eq!(el.query_selector_all(".group").unwrap().length(), 2);
    assert_eq!(el.query_selector_all(".body.sent").unwrap().length(), 2);
    assert_eq!(el.query_selector_all(".body.pending").unwrap().length(), 1);
    assert!(el.text_content().unwrap().contains("Scroll up for older messages"));
}

#[wasm_bindgen_test]
async fn join_form_refuses_an_empty_name_inline_and_submits_a_valid_one() {
    let el = root();
    let joined: Rc<RefCell<Vec<JoinRequest>>> = Rc::default();
    let sink = joined.clone();
    let props = JoinFormProps {
        default_project: "2424".into(),
        reason: None,
        on_join: Callback::from(move |r| sink.borrow_mut().push(r)),
    };
    yew::Renderer::<JoinForm>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let submit: HtmlElement = el.query_selector("button[type=submit]").unwrap().unwrap().dyn_into().unwrap();
    submit.click();
    settle().await;
    let error = el.query_selector("#join-error").unwrap().unwrap().text_content().unwrap();
    assert!(error.contains("name"), "inline error: {error:?}");
    assert!(joined.borrow().is_empty());

    let name: HtmlInputElement = el.query_selector("#join-name").unwrap().unwrap().dyn_into().unwrap();
    name.set_value("  Ada  ");
    submit.click();
    settle().await;
    let joined = joined.borrow();
    assert_eq!(joined.len(), 1);
    assert_eq!((joined[0].name.as_str(), joined[0].project.as_str()), ("Ada", "2424"));
    assert!(joined[0].color.starts_with('#') && joined[0].color.len() == 7);
}

#[wasm_bindgen_test]
async fn status_banner_counts_down_and_offers_retry() {
    let el = root();
    let retried = Rc::new(RefCell::new(0));
    let sink = retried.clone();
    let props = StatusBannerProps {
        status: Status::Reconnecting { at_ms: js_sys::Date::now() + 5_000.0 },
        on_retry: Callback::from(move |()| *sink.borrow_mut() += 1),
    };
    yew::Renderer::<StatusBanner>::with_root_and_props(el.clone(), props).render();
    settle().await;
    let text = el.text_content().unwrap();
    assert!(text.contains("Reconnecting in 5 s"), "{text}");
    let button: HtmlElement = el.query_selector("button").unwrap().unwrap().dyn_into().unwrap();
    button.click();
    settle().await;
    assert_eq!(*retried.borrow(), 1);
}
