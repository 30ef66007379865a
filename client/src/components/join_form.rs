use protocol::validate;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    pub name: String,
    pub color: String,
    pub project: String,
}

#[derive(Properties, PartialEq)]
pub struct JoinFormProps {
    pub default_project: String,
    /// Why the user is (back) at this form, e.g. an expired token.
    #[prop_or_default]
    pub reason: Option<String>,
    pub on_join: Callback<JoinRequest>,
}

const COLORS: [&str; 6] = ["#e0245e", "#1d9bf0", "#00ba7c", "#7856ff", "#ff7a00", "#0f766e"];

#[function_component(JoinForm)]
pub fn join_form(props: &JoinFormProps) -> Html {
    let name = use_node_ref();
    let color = use_node_ref();
    let project = use_node_ref();
    let error = use_state(|| None::<String>);
    let initial_color =
        use_memo((), |_| COLORS[(js_sys::Math::random() * COLORS.len() as f64) as usize % COLORS.len()]);

    let onsubmit = {
        let (name, color, project, error, on_join) =
            (name.clone(), color.clone(), project.clone(), error.clone(), props.on_join.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let value = |r: &NodeRef| r.cast::<HtmlInputElement>().map(|i| i.value()).unwrap_or_default();
            let name = match validate::display_name(&value(&name)) {
                Ok(n) => n,
                Err(e) => return error.set(Some(format!("Please enter your name: {e}."))),
            };
            let project = value(&project).trim().to_owned();
            if protocol::ProjectId::new(project.clone()).is_err() {
                return error.set(Some("The project may contain only letters, digits and _ - . : @".into()));
            }
            let color = validate::color(&value(&color)).unwrap_or_else(|_| COLORS[0].into());
            error.set(None);
            on_join.emit(JoinRequest { name, color, project });
        })
    };

    html! {
        <main class="join">
            <form class="join-card" {onsubmit} novalidate=true aria-labelledby="join-title">
                <h1 id="join-title">{ "Join the chat" }</h1>
                if let Some(reason) = &props.reason {
                    <p class="notice" role="status" data-testid="signin-reason">{ explain_refusal(reason) }</p>
                }
                <label for="join-name">{ "Your name" }</label>
                <input id="join-name" ref={name} type="text" maxlength="32" autocomplete="nickname"
                    autofocus=true placeholder="e.g. Ada" aria-invalid={error.is_some().to_string()}
                    aria-describedby="join-error" />
                <div class="row">
                    <div>
                        <label for="join-color">{ "Colour" }</label>
                        <input id="join-color" ref={color} type="color" value={*initial_color} />
                    </div>
                    <div class="grow">
                        <label for="join-project">{ "Project" }</label>
                        <input id="join-project" ref={project} type="text" maxlength="64" value={props.default_project.clone()} />
                    </div>
                </div>
                <p id="join-error" class="error" role="alert">{ error.as_deref().unwrap_or("") }</p>
                <button type="submit">{ "Join" }</button>
            </form>
        </main>
    }
}

/// Why the user is back at the form, in words they can act on. The socket
/// reports the server's text followed by the close code in brackets
/// ("invalid token: Base64 error … (4001)"); the code decides the sentence,
/// and the server's text is kept only where it says something to the user.
pub fn explain_refusal(reason: &str) -> String {
    let code = reason
        .trim_end()
        .strip_suffix(')')
        .and_then(|r| r.rsplit_once('('))
        .and_then(|(_, code)| code.parse::<u16>().ok());
    match code {
        Some(4001) => "This sign-in link is not valid (it may be incomplete or from another server). \
            Open the chat again from the app that sent you here, or join as a guest below."
            .into(),
        Some(4002) => "Your sign-in link has expired. Open the chat again from the app that sent you here \
            to get a new one, or join as a guest below."
            .into(),
        Some(4003) => "Your sign-in link is for another project. Open the chat from that project, \
            or join this one as a guest below."
            .into(),
        Some(4004) => "This page is older than the server. Reload the page to get the new version.".into(),
        Some(4005) => "Guests cannot join this chat. Open it from the app that manages your account \
            to sign in with your account."
            .into(),
        Some(4006) => {
            "You were signed out on all your devices. Open the chat again from the app to sign back in.".into()
        }
        Some(4007) => "This project is not open to guests. Sign in through its own application, \
            or join an open project below."
            .into(),
        Some(4000) => "The chat could not sign you in. Reload the page and try again.".into(),
        Some(4012) => "You were sending too fast and were disconnected. Wait a moment and join again.".into(),
        _ if reason.is_empty() => "You were signed out. Join again below.".into(),
        _ => format!("You were signed out ({}). Join again below.", reason.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::explain_refusal;

    #[test]
    fn refusals_are_sentences_about_what_to_do() {
        let bad = explain_refusal("invalid token: Base64 error: Invalid last symbol 116, offset 2. (4001)");
        assert!(bad.starts_with("This sign-in link is not valid") && !bad.contains("Base64"), "{bad}");
        assert!(explain_refusal("token expired (4002)").contains("expired"));
        assert!(explain_refusal("token is for another project (4003)").contains("another project"));
        assert!(explain_refusal("guest sign-in disabled (4005)").contains("Guests cannot join"));
        assert!(explain_refusal("project not open to guests (4007)").contains("not open to guests"));
        assert!(explain_refusal("hello refused: name taken").contains("name taken"), "an unknown reason is kept");
    }
}
