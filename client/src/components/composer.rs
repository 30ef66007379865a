use crate::components::name_color;
use client_core::compose::{complete, mention_query};
use protocol::{validate, MessageId, Profile, Quote, UserId};
use wasm_bindgen::JsCast;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// What the composer is writing besides a new message.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// A reply to the quoted message (shown above the text box).
    Reply(Quote),
    /// A new body for my message `id` (the text box starts with `body`).
    Edit { id: MessageId, body: String },
}

/// What the composer sends: the text, and the people picked from the
/// mention list (who `@name` means when two share a name).
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub body: String,
    pub picked: Vec<(UserId, String)>,
}

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    pub max_chars: usize,
    /// Names the conversation, for the label and placeholder.
    pub conversation_label: String,
    /// Until the first welcome there is nobody to send as.
    #[prop_or_default]
    pub disabled: bool,
    pub on_send: Callback<Draft>,
    /// The text after every edit (for typing notifications).
    #[prop_or_default]
    pub on_input: Callback<String>,
    #[prop_or_default]
    pub mode: Option<Mode>,
    /// Esc (or the cancel button) in a reply or an edit.
    #[prop_or_default]
    pub on_cancel: Callback<()>,
    /// ↑ in an empty text box: edit my last message.
    #[prop_or_default]
    pub on_edit_last: Callback<()>,
    /// The `@name` being typed (without `@`), `None` when there is none.
    #[prop_or_default]
    pub on_mention_query: Callback<Option<String>>,
    /// People matching it, offered in a list.
    #[prop_or_default]
    pub suggestions: Vec<Profile>,
}

/// The counter shows from this share of the limit on, in percent.
const COUNTER_FROM_PERCENT: usize = 80;

/// The text up to the caret: the caret is in UTF-16 units.
fn split_at_caret(area: &HtmlTextAreaElement) -> (String, String) {
    let value = area.value();
    let caret = area.selection_start().ok().flatten().unwrap_or(u32::MAX) as usize;
    let units: Vec<u16> = value.encode_utf16().collect();
    let caret = caret.min(units.len());
    (String::from_utf16_lossy(&units[..caret]), String::from_utf16_lossy(&units[caret..]))
}

/// Enter sends, Shift+Enter adds a newline; blank messages are refused and
/// the length limit is shown as it approaches. `@` offers people to
/// mention (↑/↓ and Enter or Tab pick one, Esc closes the list). Focused
/// when shown (give it a `key` per conversation so each conversation starts
/// afresh).
#[function_component(Composer)]
pub fn composer(props: &ComposerProps) -> Html {
    let text = use_state(String::new);
    let error = use_state(|| None::<String>);
    let input = use_node_ref();
    let picked = use_mut_ref(Vec::<(UserId, String)>::new);
    let selected = use_state_eq(|| 0usize);
    let listing = use_state_eq(|| false);
    {
        let input = input.clone();
        use_effect_with(props.disabled, move |_| {
            if let Some(el) = input.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    // An edit starts from the message's body; leaving it empties the box.
    {
        let (input, text) = (input.clone(), text.clone());
        let was_edit = use_mut_ref(|| false);
        use_effect_with(props.mode.clone(), move |mode| {
            let editing = matches!(mode, Some(Mode::Edit { .. }));
            if let Some(Mode::Edit { body, .. }) = mode {
                text.set(body.clone());
            } else if *was_edit.borrow() {
                text.set(String::new());
            }
            *was_edit.borrow_mut() = editing;
            if let Some(el) = input.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    let open = *listing && !props.suggestions.is_empty();
    let close_list = {
        let (listing, on_query) = (listing.clone(), props.on_mention_query.clone());
        Callback::from(move |()| {
            listing.set(false);
            on_query.emit(None);
        })
    };
    let choose = {
        let (input, text, picked, close_list) = (input.clone(), text.clone(), picked.clone(), close_list.clone());
        Callback::from(move |p: Profile| {
            let Some(area) = input.cast::<HtmlTextAreaElement>() else { return };
            let (before, after) = split_at_caret(&area);
            let Some(done) = complete(&before, &p.name) else { return };
            let value = format!("{done}{after}");
            area.set_value(&value);
            let caret = done.encode_utf16().count() as u32;
            let _ = area.set_selection_range(caret, caret);
            text.set(value);
            picked.borrow_mut().push((p.id, p.name));
            close_list.emit(());
        })
    };
    let submit = {
        let (text, error, on_send, on_input, max) =
            (text.clone(), error.clone(), props.on_send.clone(), props.on_input.clone(), props.max_chars);
        let (disabled, picked, mode, on_cancel) =
            (props.disabled, picked.clone(), props.mode.clone(), props.on_cancel.clone());
        Callback::from(move |()| {
            if disabled {
                return;
            }
            if matches!(&mode, Some(Mode::Edit { body, .. }) if *body == *text) {
                return on_cancel.emit(()); // nothing changed
            }
            match validate::body(&text, max) {
                Ok(()) => {
                    on_send.emit(Draft { body: (*text).clone(), picked: std::mem::take(&mut *picked.borrow_mut()) });
                    text.set(String::new());
                    error.set(None);
                    on_input.emit(String::new());
                }
                Err(e) => error.set(Some(format!("Not sent: {e}."))),
            }
        })
    };
    let oninput = {
        let (text, error, on_input) = (text.clone(), error.clone(), props.on_input.clone());
        let (listing, selected, on_query) = (listing.clone(), selected.clone(), props.on_mention_query.clone());
        Callback::from(move |e: InputEvent| {
            let area = e.target_unchecked_into::<HtmlTextAreaElement>();
            let value = area.value();
            let query = mention_query(&split_at_caret(&area).0).map(str::to_owned);
            listing.set(query.is_some());
            selected.set(0);
            on_query.emit(query);
            on_input.emit(value.clone());
            text.set(value);
            error.set(None);
        })
    };
    let onkeydown = {
        let (submit, selected, choose, close_list) =
            (submit.clone(), selected.clone(), choose.clone(), close_list.clone());
        let (suggestions, empty, has_mode) = (props.suggestions.clone(), text.is_empty(), props.mode.is_some());
        let (on_cancel, on_edit_last) = (props.on_cancel.clone(), props.on_edit_last.clone());
        Callback::from(move |e: KeyboardEvent| {
            if e.is_composing() {
                return;
            }
            let key = e.key();
            if open {
                let n = suggestions.len();
                match key.as_str() {
                    "ArrowDown" => selected.set((*selected + 1) % n),
                    "ArrowUp" => selected.set((*selected + n - 1) % n),
                    "Enter" | "Tab" => choose.emit(suggestions[(*selected).min(n - 1)].clone()),
                    "Escape" => close_list.emit(()),
                    _ => return,
                }
                e.prevent_default();
                // The list's Esc is not the page's (closing a drawer).
                e.stop_propagation();
                return;
            }
            match key.as_str() {
                "Enter" if !e.shift_key() => submit.emit(()),
                "Escape" if has_mode => {
                    e.stop_propagation();
                    on_cancel.emit(());
                }
                "ArrowUp" if empty && !has_mode => on_edit_last.emit(()),
                _ => return,
            }
            e.prevent_default();
        })
    };
    let onsubmit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        submit.emit(());
    });
    let used = text.chars().count();
    let near_limit = used * 100 >= props.max_chars * COUNTER_FROM_PERCENT;
    let over = used > props.max_chars;
    let label = format!("Message {}", props.conversation_label);
    let cancel = {
        let on_cancel = props.on_cancel.clone();
        Callback::from(move |_: MouseEvent| on_cancel.emit(()))
    };
    let context = match &props.mode {
        None => html! {},
        Some(Mode::Reply(q)) => html! {
            <div class="context" data-testid="replying">
                { "Replying to " }<span class="name" style={name_color(&q.from.color)}>{ q.from.name.clone() }</span>
                <span class="quoted">{ if q.deleted { "message deleted".to_owned() } else { q.body.clone() } }</span>
                <button type="button" class="link" onclick={cancel}>{ "Cancel reply" }</button>
            </div>
        },
        Some(Mode::Edit { .. }) => html! {
            <div class="context" data-testid="editing">
                { "Editing your message" }
                <button type="button" class="link" onclick={cancel}>{ "Cancel edit" }</button>
            </div>
        },
    };
    let active = open.then(|| format!("mention-{}", (*selected).min(props.suggestions.len() - 1)));
    html! {
        <form class="composer" {onsubmit} aria-label="Write a message">
            { context }
            if open {
                <ul class="mentions" role="listbox" id="mention-list" aria-label="People to mention" data-testid="mention-list">
                    { for props.suggestions.iter().enumerate().map(|(i, p)| {
                        let onclick = {
                            let (choose, p) = (choose.clone(), p.clone());
                            Callback::from(move |_: MouseEvent| choose.emit(p.clone()))
                        };
                        // Keeps the focus in the text box.
                        let onmousedown = Callback::from(|e: MouseEvent| e.prevent_default());
                        html! {
                            <li role="option" id={format!("mention-{i}")} aria-selected={(i == *selected).to_string()}
                                {onclick} {onmousedown}>{ p.name.clone() }</li>
                        }
                    }) }
                </ul>
            }
            <label for="composer-input" class="visually-hidden">{ label.clone() }</label>
            <textarea id="composer-input" ref={input} rows="2" value={(*text).clone()} {oninput} {onkeydown}
                placeholder={if props.disabled { "Connecting…".to_string() } else { label }}
                disabled={props.disabled} aria-invalid={(over || error.is_some()).to_string()}
                aria-describedby="composer-help composer-error" aria-autocomplete="list"
                aria-controls={open.then_some("mention-list")} aria-activedescendant={active} />
            <div class="composer-side">
                <button type="submit" disabled={props.disabled || text.trim().is_empty() || over}>
                    { if matches!(props.mode, Some(Mode::Edit { .. })) { "Save" } else { "Send" } }
                </button>
                if near_limit {
                    <span class={classes!("counter", over.then_some("over"))} aria-live="polite" data-testid="counter">
                        { format!("{used} / {}", props.max_chars) }
                    </span>
                }
            </div>
            <p id="composer-help" class="help">{ "Enter to send, Shift+Enter for a new line, @ to mention, ↑ to edit your last message" }</p>
            <p id="composer-error" class="error" role="alert">{ error.as_deref().unwrap_or("") }</p>
        </form>
    }
}

/// Focuses the composer (after choosing to reply, say).
pub fn focus() {
    let input = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("composer-input"));
    if let Some(el) = input.and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = el.focus();
    }
}
