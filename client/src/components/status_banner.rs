use crate::hooks::use_now::use_now;
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
    let now = use_now(matches!(props.status, Status::Reconnecting { .. }), 500);
    let retry = {
        let on_retry = props.on_retry.clone();
        Callback::from(move |_| on_retry.emit(()))
    };
    let (class, text) = match &props.status {
        Status::Online => ("online", "Online".to_string()),
        Status::Connecting | Status::SignedOut { .. } => ("connecting", "Connecting…".to_string()),
        Status::Reconnecting { at_ms } => {
            // Whole seconds as an integer: formatting an f64 costs the wasm
            // the float printer (about 4 KB gzipped) for nothing else.
            let secs = ((at_ms - now) / 1000.0).ceil().max(0.0) as u64;
            ("reconnecting", format!("Connection lost. Reconnecting in {secs} s"))
        }
        Status::Offline { reason } => ("offline", format!("Offline: {reason}")),
    };
    // Screen readers hear the state once, not every tick of the countdown.
    let spoken = match &props.status {
        Status::Reconnecting { .. } => "Connection lost. Reconnecting".to_string(),
        _ => text.clone(),
    };
    html! {
        <div class={classes!("status", class)} data-testid="status">
            <span class="visually-hidden" role="status">{ spoken }</span>
            <span aria-hidden="true">{ text }</span>
            if props.status.can_retry() {
                <button type="button" class="link" onclick={retry}>{ "Retry now" }</button>
            }
        </div>
    }
}
