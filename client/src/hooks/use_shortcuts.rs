//! The app's keyboard shortcuts, on the whole document: Esc closes or
//! cancels, Alt+↑/↓ moves between conversations, Ctrl+K (or / outside a
//! text field) jumps to a conversation by name.

use wasm_bindgen::JsCast;
use yew::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shortcut {
    Escape,
    Previous,
    Next,
    Find,
}

/// Which shortcut a key press is, if any. `in_text` says whether the focus
/// is in a text field (where `/` is just a slash).
pub fn shortcut(key: &str, alt: bool, ctrl_or_meta: bool, in_text: bool) -> Option<Shortcut> {
    match key {
        "Escape" => Some(Shortcut::Escape),
        "ArrowUp" if alt => Some(Shortcut::Previous),
        "ArrowDown" if alt => Some(Shortcut::Next),
        "k" | "K" if ctrl_or_meta => Some(Shortcut::Find),
        "/" if !in_text && !ctrl_or_meta && !alt => Some(Shortcut::Find),
        _ => None,
    }
}

fn in_text_field(e: &KeyboardEvent) -> bool {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA") || el.has_attribute("contenteditable"))
}

#[hook]
pub fn use_shortcuts(on_shortcut: Callback<Shortcut>) {
    // The listener is added once and reads the newest callback from here.
    let latest = use_mut_ref(|| on_shortcut.clone());
    *latest.borrow_mut() = on_shortcut;
    let on_shortcut = latest;
    use_effect_with((), move |_| {
        let listener = web_sys::window().and_then(|w| w.document()).map(|doc| {
            // Not passive: a shortcut's key must not also type or scroll.
            let options = gloo_events::EventListenerOptions::enable_prevent_default();
            gloo_events::EventListener::new_with_options(&doc, "keydown", options, move |e| {
                let Some(e) = e.dyn_ref::<KeyboardEvent>() else { return };
                if e.is_composing() {
                    return;
                }
                if let Some(s) = shortcut(&e.key(), e.alt_key(), e.ctrl_key() || e.meta_key(), in_text_field(e)) {
                    if s != Shortcut::Escape {
                        e.prevent_default();
                    }
                    let callback = on_shortcut.borrow().clone();
                    callback.emit(s);
                }
            })
        });
        move || drop(listener)
    });
}

#[cfg(test)]
mod tests {
    use super::{shortcut, Shortcut::*};

    #[test]
    fn keys_map_to_shortcuts() {
        assert_eq!(shortcut("Escape", false, false, true), Some(Escape));
        assert_eq!(shortcut("ArrowUp", true, false, true), Some(Previous));
        assert_eq!(shortcut("ArrowDown", true, false, false), Some(Next));
        assert_eq!(shortcut("ArrowDown", false, false, false), None);
        assert_eq!(shortcut("k", false, true, true), Some(Find));
        assert_eq!(shortcut("/", false, false, false), Some(Find));
        assert_eq!(shortcut("/", false, false, true), None, "a slash in the composer is text");
        assert_eq!(shortcut("k", false, false, false), None);
    }
}
