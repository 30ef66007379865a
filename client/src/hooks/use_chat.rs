//! The one hook that owns the connection: state, sign-in, and the commands
//! components may issue. Components never touch the socket.

use crate::hooks::use_page_visible::use_page_visible;
use crate::services::favicon;
use crate::services::socket::{self, ChatHandle, Command};
use crate::services::storage;
use crate::state::{Action, State, Status};
use protocol::{Auth, ClientMsg, ClientMsgId, Conversation, MessageId, ProjectId, UserId};
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// Messages asked for per history page.
pub const HISTORY_PAGE: u32 = 50;
/// People asked for per directory page (the server caps it too).
pub const DIRECTORY_PAGE: u32 = 200;
/// Search results asked for per page.
pub const SEARCH_PAGE: u32 = 20;
/// The project offered on the join form when neither the URL nor the last
/// session names one.
pub const DEFAULT_PROJECT: &str = "lobby";

#[derive(Clone, PartialEq)]
pub struct Chat {
    pub state: UseReducerHandle<State>,
    handle: Rc<RefCell<Option<ChatHandle>>>,
    /// For the join form: `?project=…`, else the last project, else "lobby".
    pub default_project: Rc<String>,
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
        let dispatch = coalescing(self.state.dispatcher());
        *self.handle.borrow_mut() = Some(socket::start(auth, dispatch));
    }

    pub fn sign_out(&self) {
        self.command(Command::SignOut);
        self.handle.borrow_mut().take();
        storage::clear_session();
        // Signing out gives up what was not sent (it would otherwise be
        // sent on this user's next sign-in on this browser).
        if let (Some(project), Some(me)) = (&self.state.project, &self.state.me) {
            storage::clear_outbox(project.as_str(), me.id.as_str());
        }
        self.state.dispatch(Action::SignOut);
    }

    /// Sends a message, answering `reply_to` and mentioning `mentions`.
    pub fn send(&self, to: Conversation, body: String, reply_to: Option<MessageId>, mentions: Vec<UserId>) {
        self.command(Command::Send { to, body, reply_to, mentions });
    }

    /// Changes our message `id` to `body`; it shows when the update comes.
    pub fn edit(&self, id: MessageId, body: String) {
        self.command(Command::Frame(ClientMsg::Edit { id, body }));
    }

    pub fn delete(&self, id: MessageId) {
        self.command(Command::Frame(ClientMsg::Delete { id }));
    }

    /// Adds (`on`) or takes back our `emoji` reaction to message `id`.
    pub fn react(&self, id: MessageId, emoji: String, on: bool) {
        self.command(Command::Frame(ClientMsg::React { id, emoji, on }));
    }

    /// A new search; an empty query (or one with no letter or digit,
    /// which finds nothing) only clears the last one.
    pub fn search(&self, query: &str) {
        let query = query.trim();
        if !query.chars().any(char::is_alphanumeric) {
            return;
        }
        self.state.dispatch(Action::SearchRequested { query: query.to_owned(), before: None });
        self.command(Command::Frame(ClientMsg::Search {
            query: query.to_owned(),
            before: None,
            limit: Some(SEARCH_PAGE),
        }));
    }

    /// The next page of the last search.
    pub fn search_more(&self) {
        let Some(search) = self.state.search.as_ref().filter(|s| s.has_more && !s.loading) else { return };
        let (query, before) = (search.query.clone(), search.next_before());
        self.state.dispatch(Action::SearchRequested { query: query.clone(), before });
        self.command(Command::Frame(ClientMsg::Search { query, before, limit: Some(SEARCH_PAGE) }));
    }

    /// Shows message `id` of `conversation`, loading the page that ends
    /// with it when it is not loaded (PROTOCOL.md: `history` with `before`
    /// = its id + 1).
    pub fn jump(&self, conversation: Conversation, id: MessageId) {
        self.state.dispatch(Action::Jump { conversation: conversation.clone(), id });
        let loaded = self.state.conversation(&conversation).is_some_and(|c| c.entries.contains(id));
        if !loaded {
            self.history(&conversation, Some(MessageId(id.0.saturating_add(1))));
        }
    }

    /// Loads what is missing just below the message `above` (which the list
    /// shows after a hole).
    pub fn load_gap(&self, c: &Conversation, above: MessageId) {
        self.history(c, Some(above));
    }

    fn history(&self, c: &Conversation, before: Option<MessageId>) {
        if self.state.status != Status::Online {
            return;
        }
        self.state.dispatch(Action::HistoryRequested { conversation: c.clone(), before });
        self.command(Command::Frame(ClientMsg::History { conversation: c.clone(), before, limit: Some(HISTORY_PAGE) }));
    }

    pub fn typing(&self, to: Conversation, active: bool) {
        self.command(Command::Frame(ClientMsg::Typing { to, active }));
    }

    pub fn retry_now(&self) {
        self.command(Command::RetryNow);
    }

    /// Sends a failed message again (it keeps its place and client id).
    pub fn retry_send(&self, client_id: ClientMsgId) {
        self.command(Command::Retry(client_id));
    }

    /// Gives up a failed message.
    pub fn discard_send(&self, client_id: ClientMsgId) {
        self.command(Command::Discard(client_id));
    }

    /// The reader scrolled away from (or back to) the newest message.
    pub fn scrolled_up(&self, up: bool) {
        self.state.dispatch(Action::ScrolledUp(up));
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
        self.history(c, conv.oldest_id());
    }
}

/// A dispatch that collects what the socket emits and hands it to the
/// reducer as one [`Action::Batch`] once the burst is over: a replay of
/// thousands of messages is a few state changes and renders, not thousands.
///
/// The flush is a zero-delay timeout, queued behind the socket frames that
/// already arrived, so the busier the page the bigger the batch, and a lone
/// live message waits one timer tick. (Not an animation frame: background
/// tabs get none, even when the page reports itself visible.)
fn coalescing(dispatcher: UseReducerDispatcher<State>) -> Callback<Action> {
    let buffer: Rc<RefCell<Vec<Action>>> = Rc::default();
    let flush_queued = Rc::new(std::cell::Cell::new(false));
    Callback::from(move |a: Action| {
        buffer.borrow_mut().push(a);
        if flush_queued.replace(true) {
            return;
        }
        let (buffer, flush_queued, dispatcher) = (buffer.clone(), flush_queued.clone(), dispatcher.clone());
        gloo_timers::callback::Timeout::new(0, move || {
            flush_queued.set(false);
            let mut actions = std::mem::take(&mut *buffer.borrow_mut());
            match actions.len() {
                0 => {}
                1 => dispatcher.dispatch(actions.remove(0)),
                _ => dispatcher.dispatch(Action::Batch(actions)),
            }
        })
        .forget();
    })
}

#[hook]
pub fn use_chat() -> Chat {
    let state = use_reducer(State::default);
    let handle = use_mut_ref(|| None::<ChatHandle>);
    let default_project = use_memo((), |_| {
        storage::url_project()
            .filter(|p| ProjectId::new(p.as_str()).is_ok())
            .or_else(storage::load_project)
            .unwrap_or_else(|| DEFAULT_PROJECT.into())
    });
    let chat = Chat { state: state.clone(), handle, default_project: Rc::new((*default_project).clone()) };

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
            // Closing the app (or a test unmounting it) closes its socket.
            move || {
                if let Some(h) = chat.handle.borrow_mut().take() {
                    h.command(Command::SignOut);
                }
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

    // Whether the user can see the page decides what counts as read.
    let visible = use_page_visible();
    {
        let dispatcher = state.dispatcher();
        use_effect_with(visible, move |visible| dispatcher.dispatch(Action::Visible(*visible)));
    }

    // People we had direct conversations with stay in the sidebar across
    // reloads: restore them once we know who we are, save them as they change.
    {
        let dispatcher = state.dispatcher();
        let key = state.me.as_ref().map(|m| m.id.clone()).zip(state.project.clone());
        use_effect_with(key, move |key| {
            if let Some((me, project)) = key {
                dispatcher.dispatch(Action::Contacts(storage::load_contacts(project.as_str(), me.as_str())));
            }
        });
    }
    {
        let key = state.me.as_ref().map(|m| m.id.clone()).zip(state.project.clone());
        let partners = state.dm_partners();
        use_effect_with((key, partners), move |(key, partners)| {
            if let Some((me, project)) = key {
                if !partners.is_empty() {
                    storage::save_contacts(project.as_str(), me.as_str(), partners);
                }
            }
        });
    }

    // The people directory: every user of the project, a page at a time
    // after each welcome, so anyone can be found and messaged.
    {
        let chat = chat.clone();
        let online = state.status == Status::Online;
        use_effect_with((online, state.directory_next.clone()), move |(online, next)| {
            if let (true, Some(after)) = (*online, next.clone()) {
                chat.state.dispatch(Action::DirectoryRequested);
                chat.command(Command::Frame(ClientMsg::Users { query: None, after, limit: Some(DIRECTORY_PAGE) }));
            }
        });
    }

    // The tab's title and icon show how many messages are unread.
    {
        let unread = state.total_unread();
        use_effect_with(unread, move |unread| {
            if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
                doc.set_title(&if *unread > 0 { format!("({unread}) Chat") } else { "Chat".into() });
            }
            favicon::show_unread(*unread);
        });
    }

    // The visible conversation: load its first page, and mark it read.
    {
        let chat = chat.clone();
        let active = state.active.clone();
        let online = state.status == Status::Online;
        let conv = state.conversation(&active).cloned().unwrap_or_default();
        let newest = conv.newest_id();
        let seen = online && state.visible && !state.reading_back;
        use_effect_with((active.clone(), online, seen, newest, conv.loaded, conv.history_requested), move |_| {
            if online && !conv.loaded && !conv.history_requested {
                chat.history(&active, None);
            }
            if let Some(up_to) = newest.filter(|_| seen) {
                if conv.read_sent < Some(up_to) {
                    chat.state.dispatch(Action::ReadSent { conversation: active.clone(), up_to });
                    chat.command(Command::Frame(ClientMsg::Read { conversation: active, up_to }));
                }
            }
        });
    }
    chat
}
