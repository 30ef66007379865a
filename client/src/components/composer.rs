use protocol::validate;
use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    pub max_chars: usize,
    /// Names the conversation, for the label and placeholder.
    pub conversation_label: String,
    /// Until the first welcome there is nobody to send as.
    #[prop_or_default]
    pub disabled: bool,
    pub on_send: Callback<String>,
    /// The text after every edit (for typing notifications).
    #[prop_or_default]
    pub on_input: Callback<String>,
}

/// The counter shows from this share of the limit on, in percent.
const COUNTER_FROM_PERCENT: usize = 80;

/// Enter sends, Shift+Enter adds a newline; blank messages are refused and
/// the length limit is shown as it approaches. Focused when shown (give it a
/// `key` per conversation so each conversation starts afresh).
#[function_component(Composer)]
pub fn composer(props: &ComposerProps) -> Html {
    let text = use_state(String::new);
    let error = use_state(|| None::<String>);
    let input = use_node_ref();
    {
        let input = input.clone();
        use_effect_with(props.disabled, move |_| {
            if let Some(el) = input.cast::<web_sys::HtmlElement>() {
                let _ = el.focus();
            }
        });
    }
    let submit = {
        let (text, error, on_send, on_input, max) =
            (text.clone(), error.clone(), props.on_send.clone(), props.on_input.clone(), props.max_chars);
        let disabled = props.disabled;
        Callback::from(move |()| {
            if disabled {
                return;
            }
            match validate::body(&text, max) {
                Ok(()) => {
                    on_send.emit((*text).clone());
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
        Callback::from(move |e: InputEvent| {
            let value = e.target_unchecked_into::<HtmlTextAreaElement>().value();
            on_input.emit(value.clone());
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
    let onsubmit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        submit.emit(());
    });
    let used = text.chars().count();
    let near_limit = used * 100 >= props.max_chars * COUNTER_FROM_PERCENT;
    let over = used > props.max_chars;
    let label = format!("Message {}", props.conversation_label);
    html! {
        <form class="composer" {onsubmit} aria-label="Write a message">
            <label for="composer-input" class="visually-hidden">{ label.clone() }</label>
            <textarea id="composer-input" ref={input} rows="2" value={(*text).clone()} {oninput} {onkeydown}
                placeholder={if props.disabled { "Connecting…".to_string() } else { label }}
                disabled={props.disabled} aria-invalid={(over || error.is_some()).to_string()}
                aria-describedby="composer-help composer-error" />
            <div class="composer-side">
                <button type="submit" disabled={props.disabled || text.trim().is_empty() || over}>{ "Send" }</button>
                if near_limit {
                    <span class={classes!("counter", over.then_some("over"))} aria-live="polite" data-testid="counter">
                        { format!("{used} / {}", props.max_chars) }
                    </span>
                }
            </div>
            <p id="composer-help" class="help">{ "Enter to send, Shift+Enter for a new line" }</p>
            <p id="composer-error" class="error" role="alert">{ error.as_deref().unwrap_or("") }</p>
        </form>
    }
}
