//! The whole `App` in headless Chromium, without a server: what shows on
//! load depending on the URL and on what localStorage remembers.
#![cfg(target_arch = "wasm32")]

use client::App;
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use web_sys::HtmlInputElement;

wasm_bindgen_test_configure!(run_in_browser);

mod common;
use common::{root, settle, until};

fn window() -> web_sys::Window {
    web_sys::window().unwrap()
}

fn set_url(url: &str) {
    window().history().unwrap().replace_state_with_url(&JsValue::NULL, "", Some(url)).unwrap();
}

fn storage() -> web_sys::Storage {
    window().local_storage().unwrap().unwrap()
}

// The tests share one page, so each sets up the URL and storage it needs.
fn reset(url: &str) {
    storage().clear().unwrap();
    set_url(url);
}

#[wasm_bindgen_test]
async fn a_first_visit_shows_the_join_form_with_the_project_from_the_url() {
    reset("/?project=acme");
    let el = root();
    let app = yew::Renderer::<App>::with_root(el.clone()).render();
    settle().await;
    assert!(el.query_selector("form.join-card").unwrap().is_some());
    let project: HtmlInputElement = el.query_selector("#join-project").unwrap().unwrap().dyn_into().unwrap();
    assert_eq!(project.value(), "acme");
    app.destroy();
}

#[wasm_bindgen_test]
async fn an_expired_stored_token_is_not_tried() {
    reset("/");
    // Saved by the unversioned (v1) app: migrated to the v2 keys first.
    storage().set_item("chat.session_token", "old").unwrap();
    storage().set_item("chat.session_expires", "1000").unwrap();
    storage().set_item("chat.project", "lastproject").unwrap();
    let el = root();
    let app = yew::Renderer::<App>::with_root(el.clone()).render();
    settle().await;
    assert!(el.query_selector("form.join-card").unwrap().is_some(), "the form, not a doomed attempt");
    assert_eq!(storage().get_item("chat.session_token").unwrap(), None, "the v1 key is migrated away");
    assert_eq!(storage().get_item("chat.v2.session_token").unwrap(), None, "forgotten");
    assert_eq!(storage().get_item("chat.v2.project").unwrap().as_deref(), Some("lastproject"), "migrated");
    let project: HtmlInputElement = el.query_selector("#join-project").unwrap().unwrap().dyn_into().unwrap();
    assert_eq!(project.value(), "lastproject", "the last project is the default");
    app.destroy();
}

#[wasm_bindgen_test]
async fn a_token_in_the_url_signs_in_without_the_form_and_leaves_the_address_bar() {
    reset("/#token=host.signed.token&project=acme");
    let el = root();
    let app = yew::Renderer::<App>::with_root(el.clone()).render();
    until("the chat screen", || el.query_selector("[data-testid=status]").unwrap().is_some()).await;
    assert!(el.query_selector("form.join-card").unwrap().is_none(), "no join form");
    let status = el.query_selector("[data-testid=status]").unwrap().expect("the chat screen");
    let text = status.text_content().unwrap();
    // There is no chat server behind the test runner: it keeps trying.
    assert!(text.contains("Connecting") || text.contains("Reconnecting"), "{text}");
    let location = window().location();
    assert_eq!(location.hash().unwrap(), "", "the token is not left in the URL");
    assert_eq!(location.search().unwrap(), "");
    let composer = el.query_selector("#composer-input").unwrap().unwrap();
    assert!(composer.has_attribute("disabled"), "nothing can be sent before the welcome");
    app.destroy();
}

use wasm_bindgen::JsCast;
