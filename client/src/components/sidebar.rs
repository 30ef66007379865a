use crate::state::State;
use protocol::Conversation;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SidebarProps {
    pub state: UseReducerHandle<State>,
    pub on_select: Callback<Conversation>,
}

#[function_component(Sidebar)]
pub fn sidebar(props: &SidebarProps) -> Html {
    let s = &props.state;
    let item = |conv: Conversation, label: Html, online: Option<bool>, testid: String| {
        let unread = s.conversation(&conv).map_or(0, |c| c.unread);
        let current = s.active == conv;
        let onclick = {
            let on_select = props.on_select.clone();
            let conv = conv.clone();
            Callback::from(move |_| on_select.emit(conv.clone()))
        };
        html! {
            <li>
                <button type="button" class={classes!("conv", current.then_some("current"))}
                    aria-current={current.then_some("true")} {onclick} data-testid={testid}>
                    if let Some(on) = online {
                        <span class={classes!("dot", on.then_some("on"))} aria-label={if on { "online" } else { "offline" }}></span>
                    }
                    <span class="label">{ label }</span>
                    if unread > 0 {
                        <span class="badge" aria-label={format!("{unread} unread")}>{ unread }</span>
                    }
                </button>
            </li>
        }
    };
    let project = s.project.as_ref().map(|p| p.to_string()).unwrap_or_default();
    html! {
        <nav class="sidebar" aria-label="Conversations">
            <ul>
                { item(Conversation::Room, html!{ <>{ "# " }{ project }</> }, None, "conv-room".into()) }
            </ul>
            <h2>{ "People" }</h2>
            <ul data-testid="people">
                { for s.contacts().into_iter().map(|(p, online)| {
                    let label = html! { <span style={format!("color: {}", p.color)}>{ p.name.clone() }</span> };
                    item(Conversation::Direct { user: p.id.clone() }, label, Some(online), format!("person-{}", p.name))
                }) }
            </ul>
            if s.contacts().is_empty() {
                <p class="hint">{ "Nobody else is here yet." }</p>
            }
        </nav>
    }
}
