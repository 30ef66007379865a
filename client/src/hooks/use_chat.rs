//! The one hook that owns the connection: state, sign-in, and the commands
//! components may issue. Components never touch the socket.

use crate::services::socket::{self, ChatHandle, Command, HISTORY_PAGE};
use crate::services::storage;
use crate::state::{Action, State, Status};
use protocol::{Auth, ClientMsg, Conversation, ProjectId};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Clone, PartialEq)]
pub struct Chat {
    pub state: UseReducerHandle<State>,
    handle: Rc<std::cell::RefCell<Option<ChatHandle>>>,
}

impl Chat {
    fn command(&self, command: Command) {
        if let Some(h) = self.handle.borrow().as_ref() {
            h.command(command);
        }
    }

    pub fn sign_in(&self, auth: Auth) {
        if let Some(old) = self.handle.borrow_mut().take() {
            old.command(Command::SignOut);
        }
        let dispatcher = self.state.dispatcher();
        let dispatch = Callback::from(move |a: Action| dispatcher.dispatch(a));
        *self.handle.borrow_mut() = Some(socket::start(auth, dispatch));
    }

    pub fn sign_out(&self) {
        self.command(Command::SignOut);
        self.handle.borrow_mut().take();
        storage::clear_token();
        self.state.dispatch(Action::SignOut);
    }

    pub fn send(&self, to: Conversation, body: String) {
        self.command(Command::Send { to, body });
    }

    pub fn typing(&self, to: Conversation, active: bool) {
        self.command(Command::Frame(ClientMsg::Typing { to, active }));
    }

    pub fn retry_now(&self) {
        self.command(Command::RetryNow);
    }

    pub fn select(&self, c: Conversation) {
        self.state.dispatch(Action::Select(c));
    }

    /// Asks for the page before the oldest message shown.
    pub fn load_older(&self, c: &Conversation) {
        let Some(conv) = self.state.conversation(c) else { return };
        if conv.history_requested || !conv.has_more || self.state.status != Status::Online {
            return;
        }
        let before = conv.oldest_id();
        self.state.dispatch(Action::HistoryRequested(c.clone()));
        self.command(Command::Frame(ClientMsg::History { conversation: c.clone(), before, limit: Some(HISTORY_PAGE) }));
    }
}

#[hook]
pub fn use_chat() -> Chat {
    let state = use_reducer(State::default);
    let handle = use_mut_ref(|| None::<ChatHandle>);
    let chat = Chat { state: state.clone(), handle };

    // On load: a token in the URL (host-app embedding), else the stored
    // session token; otherwise the join form shows.
    {
        let chat = chat.clone();
        use_effect_with((), move |_| {
            if let Some((token, project)) = storage::take_url_token() {
                let project = project.and_then(|p| ProjectId::new(p).ok());
                chat.sign_in(Auth::Token { token, project });
            } else if let Some(token) = storage::load_token() {
                chat.sign_in(Auth::Token { token, project: None });
            }
        });
    }

    // Expire typing indicators.
    {
        let dispatcher = state.dispatcher();
        use_effect_with((), move |_| {
            let interval = gloo_timers::callback::Interval::new(1_000, move || {
                dispatcher.dispatch(Action::Tick { now: js_sys::Date::now() })
            });
            move || drop(interval)
        });
    }

    // The visible conversation: load its first page, and mark it read.
    {
        let chat = chat.clone();
        let active = state.active.clone();
        let online = state.status == Status::Online;
        let conv = state.conversation(&active).cloned().unwrap_or_default();
        let newest = conv.newest_id();
        use_effect_with((active.clone(), online, newest, conv.loaded, conv.unread), move |_| {
            if online {
                if !conv.loaded {
                    chat.state.dispatch(Action::HistoryRequested(active.clone()));
                    chat.command(Command::Frame(ClientMsg::History {
                        conversation: active.clone(),
                        before: None,
                        limit: Some(HISTORY_PAGE),
                    }));
                }
                if let Some(up_to) = newest {
                    if conv.read_sent < Some(up_to) || conv.unread > 0 {
                        chat.state.dispatch(Action::ReadSent { conversation: active.clone(), up_to });
                        chat.command(Command::Frame(ClientMsg::Read { conversation: active, up_to }));
                    }
                }
            }
        });
    }
    chat
}
