//! Whether the page is visible (not a background tab or a minimised window),
//! following the document's `visibilitychange` events.

use yew::prelude::*;

fn page_visible() -> bool {
    web_sys::window().and_then(|w| w.document()).is_none_or(|d| !d.hidden())
}

#[hook]
pub fn use_page_visible() -> bool {
    let visible = use_state(page_visible);
    {
        let visible = visible.clone();
        use_effect_with((), move |_| {
            let listener = web_sys::window().and_then(|w| w.document()).map(|doc| {
                gloo_events::EventListener::new(&doc, "visibilitychange", move |_| visible.set(page_visible()))
            });
            move || drop(listener)
        });
    }
    *visible
}
