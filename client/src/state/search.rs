//! The message search: one query at a time, its pages appended in the
//! order they come (newest first), kept current by updates like any shown
//! message.

use super::{Entry, State};
use protocol::{ChatMessage, Conversation, MessageId, UserId};

#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// As sent (trimmed): answers to other queries are ignored.
    pub query: String,
    /// Newest first.
    pub hits: Vec<Hit>,
    pub has_more: bool,
    /// A page is on its way.
    pub loading: bool,
}

/// One result and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub conversation: Conversation,
    pub entry: Entry,
}

impl Search {
    /// Where the next page starts: `before` the last result.
    pub fn next_before(&self) -> Option<MessageId> {
        self.hits.last().and_then(|h| h.entry.id)
    }
}

impl State {
    pub(super) fn search_requested(&mut self, query: String, before: Option<MessageId>) -> bool {
        match (&mut self.search, before) {
            (Some(s), Some(_)) if s.query == query => s.loading = true,
            _ => self.search = Some(Search { query, hits: Vec::new(), has_more: false, loading: true }),
        }
        true
    }

    /// Files a page of results; false for an answer to another query, or
    /// to a page that is not the next one.
    pub(super) fn search_results(
        &mut self,
        query: &str,
        before: Option<MessageId>,
        results: Vec<ChatMessage>,
        has_more: bool,
    ) -> bool {
        let Some(me) = self.me_id().cloned() else { return false };
        let Some(search) = self.search.as_mut().filter(|s| s.query == query && s.loading) else { return false };
        if before.is_some() && before != search.next_before() {
            return false;
        }
        if before.is_none() {
            search.hits.clear();
        }
        search.hits.extend(results.into_iter().map(|m| hit(m, &me)));
        search.has_more = has_more;
        search.loading = false;
        true
    }
}

fn hit(m: ChatMessage, me: &UserId) -> Hit {
    Hit { conversation: m.conversation_for(me), entry: Entry::stored(m) }
}
