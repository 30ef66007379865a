//! A stored message's life after it was sent: edits, deletion, reactions,
//! and the quotes replies keep of it. Pure rules, shared by every client
//! that shows messages, tested here natively.
//!
//! An `update` carries the message's resulting state, not a delta, and its
//! id comes from the message sequence: applying one twice, or an older one
//! after a newer one, changes nothing. A copy of a message delivered again
//! (a history page, a search result) is its state when the server read it,
//! which can be older than an update already applied: merging one keeps
//! what only moves forward (a deletion, a later edit).

use protocol::limits::QUOTE_CHARS;
use protocol::{Change, ChatMessage, MessageId, Millis, Profile, Quote, Reaction, UserId};

/// What can change about a stored message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Life {
    /// Empty once deleted.
    pub body: String,
    pub edited_at: Option<Millis>,
    pub deleted: bool,
    /// The message this one answers, as it is now.
    pub reply_to: Option<Quote>,
    /// In the server's emoji order; each with who reacted, oldest first.
    pub reactions: Vec<Reaction>,
    pub mentions: Vec<UserId>,
    /// The newest update applied: an update with an id at or below it is
    /// old news.
    pub changed_by: Option<MessageId>,
}

impl Life {
    /// A new message's (our own, before the server has it).
    pub fn new(body: String, reply_to: Option<Quote>, mentions: Vec<UserId>) -> Self {
        Self { body, reply_to, mentions, ..Self::default() }
    }

    /// A delivered message's, taking its fields.
    pub fn of(m: &mut ChatMessage) -> Self {
        Self {
            body: std::mem::take(&mut m.body),
            edited_at: m.edited_at,
            deleted: m.deleted,
            reply_to: m.reply_to.take(),
            reactions: std::mem::take(&mut m.reactions),
            mentions: std::mem::take(&mut m.mentions),
            changed_by: None,
        }
    }

    /// Applies update `id`; false when it changes nothing (applied before,
    /// or older than one applied).
    pub fn apply(&mut self, id: MessageId, change: &Change) -> bool {
        if self.changed_by.is_some_and(|c| c >= id) {
            return false;
        }
        self.changed_by = Some(id);
        let before = (self.body.len(), self.edited_at, self.deleted, self.reactions.len());
        match change {
            // A deletion is final: an edit replayed after it changes nothing.
            Change::Edited { .. } if self.deleted => return false,
            Change::Edited { body, edited_at } => {
                let changed = self.body != *body || self.edited_at != Some(*edited_at);
                self.body.clone_from(body);
                self.edited_at = Some(*edited_at);
                return changed;
            }
            Change::Deleted => self.erase(),
            Change::Reactions { reactions } => {
                let changed = self.reactions != *reactions;
                self.reactions.clone_from(reactions);
                return changed;
            }
        }
        before != (self.body.len(), self.edited_at, self.deleted, self.reactions.len())
    }

    fn erase(&mut self) {
        // As the server does: the body, reactions and mentions are gone.
        self.deleted = true;
        self.body.clear();
        self.edited_at = None;
        self.reactions.clear();
        self.mentions.clear();
    }

    /// Merges another copy of the same message (from history, a replay or
    /// a search), which may be older or newer than this state; false when
    /// nothing changed.
    pub fn merge(&mut self, copy: Life) -> bool {
        let before = self.clone();
        if copy.deleted && !self.deleted {
            self.erase();
        }
        if !self.deleted && copy.edited_at > self.edited_at {
            self.body = copy.body;
            self.edited_at = copy.edited_at;
        }
        // Reactions have no time of their own: an update we applied is at
        // least as new as any copy, and without one the copy is the news.
        if self.changed_by.is_none() && !self.deleted {
            self.reactions = copy.reactions;
        }
        // The server's quote and mentions are the truth (it drops some
        // mentions; a quote we made ourselves for a pending reply is a
        // guess), except that a deleted original stays deleted.
        if copy.reply_to.is_some() && !self.reply_to.as_ref().is_some_and(|q| q.deleted) {
            self.reply_to = copy.reply_to;
        }
        if !self.deleted {
            self.mentions = copy.mentions;
        }
        *self != before
    }

    /// Whether the message mentions `me`.
    pub fn mentions(&self, me: &UserId) -> bool {
        !self.deleted && self.mentions.contains(me)
    }

    /// Whether `me` reacted with `emoji`.
    pub fn reacted(&self, emoji: &str, me: &UserId) -> bool {
        self.reactions.iter().any(|r| r.emoji == emoji && r.users.contains(me))
    }

    /// A quote of this message as it is now, for a reply to it.
    pub fn quote(&self, id: MessageId, from: &Profile) -> Quote {
        Quote { id, from: from.clone(), body: quote_text(&self.body), deleted: self.deleted }
    }
}

/// The start of a body as a quote shows it: [`QUOTE_CHARS`] characters.
pub fn quote_text(body: &str) -> String {
    body.chars().take(QUOTE_CHARS).collect()
}

/// A reply's quote after its original changed; false if it did not change.
pub fn requote(quote: &mut Quote, change: &Change) -> bool {
    let (body, deleted) = match change {
        Change::Edited { body, .. } if !quote.deleted => (quote_text(body), false),
        Change::Deleted => (String::new(), true),
        Change::Edited { .. } | Change::Reactions { .. } => return false,
    };
    let changed = quote.body != body || quote.deleted != deleted;
    quote.body = body;
    quote.deleted = deleted;
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> UserId {
        UserId::new(s).unwrap()
    }
    fn edited(body: &str, at: Millis) -> Change {
        Change::Edited { body: body.into(), edited_at: at }
    }
    fn reactions(list: &[(&str, &[&str])]) -> Vec<Reaction> {
        list.iter()
            .map(|(e, users)| Reaction { emoji: (*e).into(), users: users.iter().map(|u| uid(u)).collect() })
            .collect()
    }
    fn life(body: &str) -> Life {
        Life::new(body.into(), None, vec![uid("ann")])
    }

    #[test]
    fn an_update_applied_twice_changes_nothing_the_second_time() {
        for change in
            [edited("fixed", 5), Change::Deleted, Change::Reactions { reactions: reactions(&[("👍", &["a"])]) }]
        {
            let mut l = life("typo");
            assert!(l.apply(MessageId(9), &change), "{change:?}");
            let once = l.clone();
            assert!(!l.apply(MessageId(9), &change), "{change:?}");
            assert_eq!(l, once);
        }
    }

    #[test]
    fn an_older_update_after_a_newer_one_is_ignored() {
        let mut l = life("a");
        l.apply(MessageId(20), &edited("new", 20));
        assert!(!l.apply(MessageId(10), &edited("old", 10)));
        assert_eq!(l.body, "new");
    }

    #[test]
    fn an_edit_replaces_the_body_and_marks_it_edited() {
        let mut l = life("typo");
        assert!(l.apply(MessageId(3), &edited("fixed", 1_000)));
        assert_eq!((l.body.as_str(), l.edited_at), ("fixed", Some(1_000)));
    }

    #[test]
    fn a_deletion_leaves_a_tombstone_with_nothing_of_the_message() {
        let mut l = life("secret");
        l.apply(MessageId(3), &Change::Reactions { reactions: reactions(&[("👍", &["b"])]) });
        assert!(l.apply(MessageId(4), &Change::Deleted));
        assert!(l.deleted && l.body.is_empty() && l.reactions.is_empty() && l.mentions.is_empty());
        assert!(!l.mentions(&uid("ann")), "a deleted message mentions nobody");
        assert!(!l.apply(MessageId(5), &edited("back", 9)), "no edit revives it");
        assert!(l.body.is_empty());
    }

    #[test]
    fn reactions_are_the_whole_set_each_time() {
        let mut l = life("x");
        l.apply(MessageId(2), &Change::Reactions { reactions: reactions(&[("👍", &["a", "me"]), ("🎉", &["b"])]) });
        assert!(l.reacted("👍", &uid("me")) && !l.reacted("🎉", &uid("me")));
        l.apply(MessageId(3), &Change::Reactions { reactions: vec![] });
        assert!(l.reactions.is_empty(), "empty: none left");
    }

    #[test]
    fn a_copy_never_undoes_a_deletion_or_a_later_edit() {
        let mut l = life("v1");
        l.apply(MessageId(10), &edited("v3", 300));
        let mut stale = life("v2");
        stale.edited_at = Some(200);
        assert!(!l.merge(stale), "an older copy (read before the update) changes nothing");
        assert_eq!(l.body, "v3");
        let mut newer = life("v4");
        newer.edited_at = Some(400);
        assert!(l.merge(newer));
        assert_eq!(l.body, "v4");
        let tombstone = Life { deleted: true, ..Life::default() };
        assert!(l.merge(tombstone));
        assert!(l.deleted && l.body.is_empty());
        assert!(!l.merge(life("v1")), "a copy from before the deletion");
        assert!(l.deleted);
    }

    #[test]
    fn a_copy_brings_reactions_unless_an_update_did_already() {
        let mut fresh = life("x");
        let copy = Life { reactions: reactions(&[("👍", &["a"])]), ..life("x") };
        assert!(fresh.merge(copy.clone()), "nothing newer here: the copy's reactions");
        assert_eq!(fresh.reactions, copy.reactions);
        let mut updated = life("x");
        updated.apply(MessageId(7), &Change::Reactions { reactions: vec![] });
        assert!(!updated.merge(copy), "the update may be newer than the copy");
        assert!(updated.reactions.is_empty());
    }

    #[test]
    fn a_copy_brings_the_servers_quote_and_mentions_but_no_revived_original() {
        let ann = Profile { id: uid("ann"), name: "Ann".into(), color: "#000000".into() };
        let mut pending = Life::new("@Ann @Me".into(), None, vec![uid("ann"), uid("me")]);
        let stored = Life::new("@Ann @Me".into(), Some(life("q").quote(MessageId(1), &ann)), vec![uid("ann")]);
        assert!(pending.merge(stored.clone()));
        assert_eq!(
            (pending.reply_to.as_ref().map(|q| q.id), &pending.mentions[..]),
            (Some(MessageId(1)), &[uid("ann")][..])
        );
        requote(pending.reply_to.as_mut().unwrap(), &Change::Deleted);
        pending.merge(stored);
        assert!(pending.reply_to.unwrap().deleted, "an older copy does not bring the original back");
    }

    #[test]
    fn quotes_follow_their_original() {
        let ann = Profile { id: uid("ann"), name: "Ann".into(), color: "#000000".into() };
        let original = life(&"long ".repeat(40));
        let mut quote = original.quote(MessageId(1), &ann);
        assert_eq!(quote.body.chars().count(), QUOTE_CHARS);
        assert!(requote(&mut quote, &edited("short", 5)));
        assert_eq!(quote.body, "short");
        assert!(!requote(&mut quote, &Change::Reactions { reactions: vec![] }));
        assert!(requote(&mut quote, &Change::Deleted));
        assert!(quote.deleted && quote.body.is_empty());
        assert!(!requote(&mut quote, &edited("late", 6)), "a deleted original stays deleted");
    }

    #[test]
    fn a_delivered_message_gives_its_life_away() {
        let mut m = ChatMessage::plain(
            MessageId(1),
            0,
            Profile { id: uid("b"), name: "B".into(), color: "#000000".into() },
            protocol::Conversation::Room,
            "hi @ann".into(),
        );
        m.mentions = vec![uid("ann")];
        m.edited_at = Some(3);
        let l = Life::of(&mut m);
        assert_eq!((l.body.as_str(), l.edited_at), ("hi @ann", Some(3)));
        assert!(l.mentions(&uid("ann")) && !l.mentions(&uid("b")));
        assert!(m.body.is_empty(), "taken, not copied");
    }
}
