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
                    <p class="notice" role="status">{ reason }</p>
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
