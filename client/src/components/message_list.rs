use crate::components::message_view::{group_view, Act, Group, MessageActions, OpenMenu, View};
use crate::components::when;
use crate::state::{Delivery, Entries, Entry};
use protocol::{ClientMsgId, MessageId, UserId};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub entries: Entries,
    pub has_more: bool,
    pub loading: bool,
    /// The whole history is loaded: a start-of-history marker shows.
    #[prop_or_default]
    pub at_start: bool,
    /// Delivery marks (sending, sent, not sent) show on my own messages.
    #[prop_or_default]
    pub me: Option<UserId>,
    /// The conversation's unread count: places the "New" divider, and while
    /// scrolled up shows as the "N new messages" bar.
    #[prop_or_default]
    pub unread: u32,
    /// Asked when the list is scrolled to the top (or the button is used)
    /// and every loaded message is already rendered.
    pub on_load_older: Callback<()>,
    /// The reader left (true) or came back to (false) the newest message.
    #[prop_or_default]
    pub on_scrolled_up: Callback<bool>,
    /// Retry and Delete on a message that could not be sent.
    #[prop_or_default]
    pub on_retry: Callback<ClientMsgId>,
    #[prop_or_default]
    pub on_discard: Callback<ClientMsgId>,
    /// Reply, edit, delete, react, show a quoted message.
    #[prop_or_default]
    pub actions: MessageActions,
    /// The emoji a message can be reacted with.
    #[prop_or_default]
    pub emoji: Rc<Vec<String>>,
    /// Names of the people who reacted (by id), for the tooltips (a few:
    /// a list is enough).
    #[prop_or_default]
    pub names: Rc<Vec<(UserId, String)>>,
    /// The server's edit window (`None`: edits any time).
    #[prop_or_default]
    pub edit_window_secs: Option<u64>,
    /// The message jumped to: rendered, shown and highlighted.
    #[prop_or_default]
    pub focus: Option<MessageId>,
    /// Load what is missing below this message (a hole the list shows).
    #[prop_or_default]
    pub on_load_gap: Callback<MessageId>,
}

/// A new group starts when the sender changes or after this pause, in ms.
const GROUP_GAP_MS: f64 = 5.0 * 60_000.0;
/// Within this many pixels of an edge counts as being at it.
const EDGE_PX: i32 = 24;
/// Messages rendered at the bottom: a backlog of thousands costs no more DOM
/// than this many.
pub const RENDER_WINDOW: usize = 200;
/// Older loaded messages put above per scroll to the top.
const RENDER_PAGE: usize = 200;
/// Messages rendered above the one jumped to.
const FOCUS_CONTEXT: usize = 20;

type EntryKey = (Option<MessageId>, Option<ClientMsgId>);

fn key(e: &Entry) -> EntryKey {
    (e.id, e.client_id.clone())
}

/// What the list looked like after the last render or scroll, to keep the
/// reader's place when older messages are put above (or dropped from above).
#[derive(Default)]
struct Place {
    first: Option<EntryKey>,
    last: Option<EntryKey>,
    height: i32,
    top: i32,
    at_bottom: bool,
}

impl Place {
    fn measure(&mut self, el: &web_sys::Element) {
        self.height = el.scroll_height();
        self.top = el.scroll_top();
        self.at_bottom = self.height - self.top - el.client_height() <= EDGE_PX;
    }
}

/// Where rendering starts: the newest [`RENDER_WINDOW`] (`None`), or from a
/// message id on (after the reader scrolled up for older ones).
fn render_from(entries: &Entries, start: Option<MessageId>) -> usize {
    match start {
        None => entries.len().saturating_sub(RENDER_WINDOW),
        Some(id) => entries.index_from(id).min(entries.stored_len()),
    }
}

/// The id of the oldest of the newest `unread` messages from others: where
/// the "New" divider goes.
fn first_unread(entries: &Entries, me: Option<&UserId>, unread: u32) -> Option<MessageId> {
    if unread == 0 {
        return None;
    }
    entries[..entries.stored_len()]
        .iter()
        .rev()
        .filter(|e| Some(&e.from.id) != me)
        .nth(unread as usize - 1)
        .and_then(|e| e.id)
}

/// Messages grouped by sender under day separators, newest at the bottom;
/// only a window near the bottom is in the DOM.
#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let list = use_node_ref();
    let place: Rc<RefCell<Place>> = use_mut_ref(|| Place { at_bottom: true, ..Place::default() });
    let start = use_state_eq(|| None::<MessageId>);
    // Before the first unread message when the conversation opens, and
    // again whenever unread ones start arriving (while scrolled up); it
    // stays put once they are read.
    let divider = use_mut_ref(|| None::<MessageId>);
    let unread_before = use_mut_ref(|| 0u32);
    let scrolled_up = use_state_eq(|| false);
    if props.unread > 0 && (*unread_before.borrow() == 0 || divider.borrow().is_none()) {
        *divider.borrow_mut() = first_unread(&props.entries, props.me.as_ref(), props.unread);
    }
    *unread_before.borrow_mut() = props.unread;
    let menu = use_state_eq(|| None::<OpenMenu>);
    // The message jumped to is rendered, with some before it.
    let focus_at = props.focus.and_then(|id| props.entries.get(id).map(|_| props.entries.index_from(id)));
    let from =
        render_from(&props.entries, *start).min(focus_at.map_or(usize::MAX, |i| i.saturating_sub(FOCUS_CONTEXT)));
    let shown = &props.entries[from..];
    {
        let (list, place, start) = (list.clone(), place.clone(), start.clone());
        let first = shown.first().map(|e| key(e));
        let last = shown.last().map(|e| key(e));
        let own_new = shown.last().is_some_and(|e| e.delivery == Delivery::Pending);
        // Reading a message jumped to: what arrives below does not pull
        // the reader away from it.
        let follow = props.focus.is_none();
        use_effect_with((first, last), move |(first, last)| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                let mut p = place.borrow_mut();
                if p.last != *last && ((p.at_bottom && follow) || own_new) {
                    // A new message at the bottom: follow it, unless the
                    // reader had scrolled up to read older ones; back at the
                    // bottom, the window shrinks to the newest again.
                    el.set_scroll_top(el.scroll_height());
                    start.set(None);
                } else if p.first != *first && p.last == *last {
                    // Older messages were put above (or dropped from above):
                    // keep what was on screen.
                    el.set_scroll_top(p.top + el.scroll_height() - p.height);
                }
                p.first = first.clone();
                p.last = last.clone();
                p.measure(&el);
            }
        });
    }
    // Show the message jumped to once it is there (focus scrolls to it,
    // and a screen reader reads it).
    {
        let list = list.clone();
        use_effect_with((props.focus, focus_at.is_some()), move |(focus, present)| {
            if let (Some(id), true) = (focus, present) {
                let el = list
                    .cast::<web_sys::Element>()
                    .and_then(|l| l.query_selector(&format!("#msg-{id}")).ok().flatten());
                if let Some(el) = el.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
                    let _ = el.focus();
                }
            }
        });
    }
    // An opened menu takes the focus, so the keyboard is where the menu is.
    {
        let list = list.clone();
        use_effect_with(*menu, move |menu| {
            if menu.is_some() {
                let button =
                    list.cast::<web_sys::Element>().and_then(|l| l.query_selector(".menu button").ok().flatten());
                if let Some(b) = button.and_then(|b| b.dyn_into::<web_sys::HtmlElement>().ok()) {
                    let _ = b.focus();
                }
            }
        });
    }
    let older = {
        let (on_load_older, start, entries) = (props.on_load_older.clone(), start.clone(), props.entries.clone());
        let can_load = props.has_more && !props.loading;
        Callback::from(move |()| {
            if from > 0 {
                start.set(entries[from.saturating_sub(RENDER_PAGE)].id);
            } else if can_load {
                // Everything loaded is rendered: render whatever arrives too.
                start.set(Some(MessageId(0)));
                on_load_older.emit(());
            }
        })
    };
    let onscroll = {
        let (older, list, place, scrolled_up, on_scrolled_up) =
            (older.clone(), list.clone(), place.clone(), scrolled_up.clone(), props.on_scrolled_up.clone());
        Callback::from(move |_: Event| {
            let Some(el) = list.cast::<web_sys::Element>() else { return };
            let at_bottom = {
                let mut p = place.borrow_mut();
                p.measure(&el);
                p.at_bottom
            };
            if *scrolled_up == at_bottom {
                scrolled_up.set(!at_bottom);
                on_scrolled_up.emit(!at_bottom);
            }
            if el.scroll_top() <= EDGE_PX {
                older.emit(());
            }
        })
    };
    let load_older = {
        let older = older.clone();
        Callback::from(move |_: MouseEvent| older.emit(()))
    };
    let to_latest = {
        let list = list.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(el) = list.cast::<web_sys::Element>() {
                el.set_scroll_top(el.scroll_height());
            }
        })
    };

    let now = js_sys::Date::now();
    let divider_id = *divider.borrow();
    let mut items: Vec<Html> = Vec::new();
    let mut group: Option<Group> = None;
    let mut last_day = None;
    let window = props.edit_window_secs;
    let editable = |e: &Entry| e.editable(window, now);
    let view = View {
        me: props.me.as_ref(),
        emoji: &props.emoji,
        names: &props.names,
        editable: &editable,
        focus: props.focus,
        menu: *menu,
    };
    // Every button of the list, by what its data- attributes say.
    let onclick = {
        let (menu, a) = (menu.clone(), props.actions.clone());
        let (retry, discard) = (props.on_retry.clone(), props.on_discard.clone());
        Callback::from(move |e: MouseEvent| {
            let Some(act) = e.target_dyn_into::<web_sys::Element>().and_then(|t| Act::of(&t)) else { return };
            let open = |id, confirm_delete| menu.set(Some(OpenMenu { id, confirm_delete }));
            match act {
                Act::Menu(id) if menu.is_some_and(|m| m.id == id) => menu.set(None),
                Act::Menu(id) => open(id, false),
                Act::AskDelete(id) => open(id, true),
                Act::Retry(c) => retry.emit(c),
                Act::Discard(c) => discard.emit(c),
                Act::ShowOriginal(id) => a.show_original.emit(id),
                other => {
                    menu.set(None);
                    match other {
                        Act::Reply(id) => a.reply.emit(id),
                        Act::Edit(id) => a.edit.emit(id),
                        Act::Delete(id) => a.delete.emit(id),
                        Act::React(id, emoji, on) => a.react.emit((id, emoji, on)),
                        _ => {}
                    }
                }
            }
        })
    };
    // Esc closes an open menu (and only then is it this list's key).
    let onkeydown = {
        let menu = menu.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Escape" && menu.is_some() {
                e.stop_propagation();
                menu.set(None);
            }
        })
    };
    let flush = |group: &mut Option<Group>, items: &mut Vec<Html>| {
        if let Some(g) = group.take() {
            items.push(group_view(&g, &view));
        }
    };
    for (i, e) in shown.iter().enumerate() {
        if let (true, Some(id)) = (e.gap_before && i > 0, e.id) {
            flush(&mut group, &mut items);
            let onclick = {
                let load = props.on_load_gap.clone();
                Callback::from(move |_: MouseEvent| load.emit(id))
            };
            items.push(html! {
                <div class="gap" role="separator" key={format!("gap-{id}")} data-testid="gap">
                    <button type="button" class="link" {onclick} disabled={props.loading}>
                        { "Some messages here are not loaded: load them" }
                    </button>
                </div>
            });
        }
        let day = when::day(e.ts);
        if last_day != Some(day) {
            flush(&mut group, &mut items);
            last_day = Some(day);
            items.push(html! {
                <div class="day" role="separator" key={format!("day-{day:?}")}><span>{ when::day_label(e.ts, now) }</span></div>
            });
        }
        if e.id.is_some() && e.id == divider_id {
            flush(&mut group, &mut items);
            items.push(html! {
                <div class="new-divider" role="separator" key="new" data-testid="new-divider"><span>{ "New" }</span></div>
            });
        }
        match &mut group {
            Some(g) if g.entries[0].from.id == e.from.id && e.ts - g.entries[g.entries.len() - 1].ts < GROUP_GAP_MS => {
                g.entries.push(e.clone())
            }
            _ => {
                flush(&mut group, &mut items);
                group = Some(Group { entries: vec![e.clone()] });
            }
        }
    }
    flush(&mut group, &mut items);
    let reading_back = *scrolled_up;
    html! {
        <div class="messages-wrap">
            <div class="messages" ref={list} {onscroll} {onclick} {onkeydown} role="log" aria-label="Messages" tabindex="0">
                if from > 0 || props.has_more || props.loading {
                    <div class="older">
                        <button type="button" class="link" onclick={load_older} disabled={props.loading}>
                            { if props.loading { "Loading older messages…" } else { "Load older messages" } }
                        </button>
                    </div>
                } else if props.at_start && !props.entries.is_empty() {
                    <p class="hint start" data-testid="history-start">{ "This is the start of the conversation." }</p>
                }
                if props.entries.is_empty() && !props.loading {
                    <p class="hint">{ "No messages yet. Say hello!" }</p>
                }
                { for items }
            </div>
            if reading_back && props.unread > 0 {
                <button type="button" class="new-bar" data-testid="new-bar" onclick={to_latest}>
                    { format!("{} new message{} ↓", props.unread, if props.unread == 1 { "" } else { "s" }) }
                </button>
            }
        </div>
    }
}
