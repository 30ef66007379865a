//! Edits, deletions and reactions on their way to the server.
//!
//! Each is answered by the `update` every client concerned gets (the
//! requester included), or refused with an `error` naming its target. One
//! the link lost before its answer is sent again on the next link, but only
//! after `synced`: if the server had done it, the replay brings its update,
//! which settles it, so it is not done twice. Sending one again is harmless
//! anyway: an edit or a reaction states the result; a second deletion is
//! refused with `message_deleted`, which is not worth telling the user.
//!
//! They are saved with the outbox (see `queue.rs`), so a change made while
//! offline survives a reload: the next run sends it after `synced`, as one
//! sent on a lost link.

use protocol::{Change, ClientMsg, ErrorCode, MessageId, Update};

/// Changes kept at most: the oldest goes first past it (one that never gets
/// an answer must not be resent forever).
pub(super) const MAX_CHANGES: usize = 64;

/// A `Vec`, not a `VecDeque`: a few at a time, and one more queue type
/// costs the wasm more than removing from the front of a short list.
#[derive(Debug, Default)]
pub(super) struct Changes {
    list: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    frame: ClientMsg,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Never sent.
    New,
    /// Sent on the current link.
    Sent,
    /// Sent on a link that was lost before the answer: the server may have
    /// done it; to be sent again unless the replay shows it done.
    Lost,
}

/// Whether `a` and `b` are the same change (by hand: `ClientMsg`'s derived
/// equality covers every frame and costs the wasm more).
fn same(a: &ClientMsg, b: &ClientMsg) -> bool {
    match (a, b) {
        (ClientMsg::Edit { id: i, body: x }, ClientMsg::Edit { id: j, body: y }) => i == j && x == y,
        (ClientMsg::Delete { id: i }, ClientMsg::Delete { id: j }) => i == j,
        (ClientMsg::React { id: i, emoji: x, on: p }, ClientMsg::React { id: j, emoji: y, on: q }) => {
            i == j && x == y && p == q
        }
        _ => false,
    }
}

fn target(frame: &ClientMsg) -> Option<MessageId> {
    match frame {
        ClientMsg::Edit { id, .. } | ClientMsg::Delete { id } | ClientMsg::React { id, .. } => Some(*id),
        _ => None,
    }
}

/// Whether `update` is the answer to `frame`.
fn answers(frame: &ClientMsg, update: &Update) -> bool {
    target(frame) == Some(update.target)
        && matches!(
            (frame, &update.change),
            (ClientMsg::Edit { .. }, Change::Edited { .. } | Change::Deleted)
                | (ClientMsg::Delete { .. }, Change::Deleted)
                | (ClientMsg::React { .. }, Change::Reactions { .. } | Change::Deleted)
        )
}

/// What to tell the user when `frame` was refused (`None`: nothing).
pub(super) fn refusal_notice(frame: &ClientMsg, code: ErrorCode, message: &str) -> Option<String> {
    let what = match frame {
        ClientMsg::Delete { .. } if code == ErrorCode::MessageDeleted => return None,
        ClientMsg::Edit { .. } => "Not edited",
        ClientMsg::Delete { .. } => "Not deleted",
        _ => "Reaction not changed",
    };
    Some(format!("{what}: {message}"))
}

impl Changes {
    pub(super) fn push(&mut self, frame: ClientMsg) {
        self.list.push(Pending { frame, state: State::New });
        if self.list.len() > MAX_CHANGES {
            self.list.remove(0);
        }
    }

    /// Every change still waiting for its answer, oldest first.
    pub(super) fn frames(&self) -> impl Iterator<Item = &ClientMsg> {
        self.list.iter().map(|p| &p.frame)
    }

    /// Changes an earlier run saved, before any made since the page loaded:
    /// they may have been sent before the reload, so they go after `synced`
    /// unless the replay shows them done (as after a lost link).
    pub(super) fn restore(&mut self, saved: impl IntoIterator<Item = ClientMsg>) {
        let saved = saved.into_iter().filter(|f| target(f).is_some() && !self.frames().any(|mine| same(mine, f)));
        let restored: Vec<Pending> = saved.map(|frame| Pending { frame, state: State::Lost }).collect();
        self.list.splice(0..0, restored);
        if self.list.len() > MAX_CHANGES {
            self.list.drain(..self.list.len() - MAX_CHANGES);
        }
    }

    pub(super) fn has_unsent(&self) -> bool {
        self.list.iter().any(|p| p.state != State::Sent)
    }

    /// The oldest change not sent on this link, marked sent.
    pub(super) fn take_unsent(&mut self) -> Option<ClientMsg> {
        let p = self.list.iter_mut().find(|p| p.state != State::Sent)?;
        p.state = State::Sent;
        Some(p.frame.clone())
    }

    /// Our own update arrived: the first change it answers is done, and
    /// returned.
    pub(super) fn settle(&mut self, update: &Update) -> Option<ClientMsg> {
        let answered = |p: &Pending| p.state != State::New && answers(&p.frame, update);
        let pos = self.list.iter().position(answered)?;
        Some(self.list.remove(pos).frame)
    }

    /// The server refused the change to `target` for good: it is dropped
    /// and returned.
    pub(super) fn refused(&mut self, target_id: MessageId) -> Option<ClientMsg> {
        let pos = self.list.iter().position(|p| p.state == State::Sent && target(&p.frame) == Some(target_id))?;
        Some(self.list.remove(pos).frame)
    }

    /// The server could not take the change to `target` now: send it again.
    pub(super) fn retry(&mut self, target_id: MessageId) {
        if let Some(p) = self.list.iter_mut().find(|p| p.state == State::Sent && target(&p.frame) == Some(target_id)) {
            p.state = State::New;
        }
    }

    /// The link is gone: everything unanswered goes again on the next one.
    pub(super) fn link_lost(&mut self) {
        for p in self.list.iter_mut().filter(|p| p.state == State::Sent) {
            p.state = State::Lost;
        }
    }
}
