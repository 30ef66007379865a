//! What the browser tests share: a fresh element to render into, waiting,
//! finding, and dispatching keys and input. (A folder of its own, so Cargo
//! does not take it for a test of its own.)
#![allow(dead_code)] // each test file uses some of these

use client::components::composer::{ComposerProps, Draft};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement, HtmlTextAreaElement};
use yew::Callback;

pub fn root() -> Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let div = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&div).unwrap();
    div
}

pub async fn settle() {
    gloo_timers::future::TimeoutFuture::new(20).await;
}

/// Waits until `ready` holds, polling, for at most 10 s: a render is a
/// timer away, and a fixed pause is a bet on the machine's speed.
pub async fn until(what: &str, ready: impl Fn() -> bool) {
    for _ in 0..500 {
        if ready() {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn find<T: JsCast>(el: &Element, selector: &str) -> T {
    el.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector}"))
        .dyn_into()
        .unwrap_or_else(|_| panic!("{selector} has another type"))
}

pub fn all(el: &Element, selector: &str) -> Vec<HtmlElement> {
    let list = el.query_selector_all(selector).unwrap();
    (0..list.length()).map(|i| list.item(i).unwrap().dyn_into().unwrap()).collect()
}

pub fn count(el: &Element, selector: &str) -> u32 {
    el.query_selector_all(selector).unwrap().length()
}

pub fn text(el: &Element) -> String {
    el.text_content().unwrap_or_default()
}

pub fn has_class(el: &Element, class: &str) -> bool {
    el.class_name().split_whitespace().any(|c| c == class)
}

/// A list of everything a callback was called with.
pub fn recorder<T: 'static>() -> (Rc<RefCell<Vec<T>>>, Callback<T>) {
    let log: Rc<RefCell<Vec<T>>> = Rc::default();
    let sink = log.clone();
    (log, Callback::from(move |v| sink.borrow_mut().push(v)))
}

pub fn key(target: &Element, key: &str, shift: bool) {
    let init = web_sys::KeyboardEventInit::new();
    init.set_key(key);
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = web_sys::KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    target.dispatch_event(&event).unwrap();
}

pub fn type_into(area: &HtmlTextAreaElement, value: &str) {
    area.set_value(value);
    let init = web_sys::InputEventInit::new();
    init.set_bubbles(true);
    let event = web_sys::InputEvent::new_with_event_init_dict("input", &init).unwrap();
    area.dispatch_event(&event).unwrap();
}

/// A composer for "# lobby" with nothing but `on_send` wired.
pub fn composer_props(max_chars: usize, on_send: Callback<Draft>) -> ComposerProps {
    ComposerProps {
        max_chars,
        conversation_label: "# lobby".into(),
        disabled: false,
        on_send,
        on_input: Callback::noop(),
        mode: None,
        on_cancel: Callback::noop(),
        on_edit_last: Callback::noop(),
        on_mention_query: Callback::noop(),
        suggestions: vec![],
    }
}
