use protocol::validate;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

/// Typing events are sent at most this often, in ms.
const TYPING_EVERY_MS: f64 = 3_000.0;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    pub max_chars: usize,
    /// Changes when the conversation changes, to reset focus and typing.
    pub conversation_label: String,
    pub on_send: Callback<String>,
    pub on_typing: Callback<bool>,
}

/// Enter sends, Shift+Enter adds a newline; blank messages are refused and
/// the length limit is shown as it approaches.
#[function_component(Composer)]
pub fn composer(props: &ComposerProps) -> Html {
    let text = use_state(String::new);
    let error = use_state(|| None::<String>);
    let input = use_node_ref();
    let last_typing = use_mut_ref(|| 0.0f64);
    {
        let input = input.clone();
        use_effect_with(props.conversation_label.clone(), move |_| {
            if let Some(el) = input.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    let submit = {
        let (text, error, on_send, on_typing, max, last_typing) =
            (text.clone(), error.clone(), props.on_send.clone(), props.on_typing.clone(), props.max_chars, last_typing.clone());
        Callback::from(move |()| match validate::body(&text, max) {
            Ok(()) => {
                on_send.emit((*text).clone());
                on_typing.emit(false);
                *last_typing.borrow_mut() = 0.0;
                text.set(String::new());
                error.set(None);
            }
            Err(e) => error.set(Some(e.to_string())),
        })
    };
    let oninput = {
        let (text, error, on_typing, last_typing) = (text.clone(), error.clone(), props.on_typing.clone(), last_typing.clone());
        Callback::from(move |e: InputEvent| {
            let value = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            let now = js_sys::Date::now();
            if !value.trim().is_empty() && now - *last_typing.borrow() > TYPING_EVERY_MS {
                *last_typing.borrow_mut() = now;
                on_typing.emit(true);
            }
            text.set(value);
            error.set(None);
        })
    };
    let onkeydown = {
        let submit = submit.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                submit.emit(());
            }
        })
    };
    let onsubmit = {
        let submit = submit.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            submit.emit(());
        })
    };
    let used = text.chars().count();
    let near_limit = used * 10 >= props.max_chars * 8;
    let over = used > props.max_chars;
    html! {
        <form class="composer" {onsubmit}>
            <label for="composer-input" class="visually-hidden">{ format!("Message {}", props.conversation_label) }</label>
            <textarea id="composer-input" ref={input} rows="2" value={(*text).clone()} {oninput} {onkeydown}
                placeholder={format!("Message {}", props.conversation_label)} aria-describedby="composer-help" />
            <div class="composer-side">
                <button type="submit" disabled={text.trim().is_empty() || over}>{ "Send" }</button>
                if near_limit {
                    <span class={classes!("counter", over.then_some("over"))} aria-live="polite">
                        { format!("{used} / {}", props.max_chars) }
                    </span>
                }
            </div>
            <p id="composer-help" class="error" role="alert">{ error.as_deref().unwrap_or("") }</p>
        </form>
    }
}
