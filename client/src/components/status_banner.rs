use crate::state::Status;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusBannerProps {
    pub status: Status,
    pub on_retry: Callback<()>,
}

/// Connecting / online / reconnecting in N s / offline, with "retry now".
#[function_component(StatusBanner)]
pub fn status_banner(props: &StatusBannerProps) -> Html {
    // Re-render every second while counting down.
    let now = use_state(js_sys::Date::now);
    {
        let now = now.clone();
        let counting = matches!(props.status, Status::Reconnecting { .. });
        use_effect_with(counting, move |counting| {
            let interval = counting.then(|| gloo_timers::callback::Interval::new(500, move || now.set(js_sys::Date::now())));
            move || drop(interval)
        });
    }
    let retry = {
        let on_retry = props.on_retry.clone();
        Callback::from(move |_| on_retry.emit(()))
    };
    let (class, text, can_retry) = match &props.status {
        Status::Online => ("status online", "Online".to_string(), false),
        Status::Connecting | Status::SignedOut { .. } => ("status connecting", "Connecting…".to_string(), false),
        Status::Reconnecting { at_ms } => {
            let secs = ((at_ms - *now) / 1000.0).ceil().max(0.0);
            ("status reconnecting", format!("Connection lost. Reconnecting in {secs} s"), true)
        }
        Status::Offline { reason } => ("status offline", format!("Offline: {reason}"), false),
    };
    html! {
        <div class={class} role="status" aria-live="polite" data-testid="status">
            <span>{ text }</span>
            if can_retry {
                <button type="button" class="link" onclick={retry}>{ "Retry now" }</button>
            }
        </div>
    }
}
