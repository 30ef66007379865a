//! `history`: one page of a conversation, older than `before`, answered as
//! one frame that fits [`HISTORY_PAGE_BYTES`].

use super::super::{Conn, End};
use crate::auth::Identity;
use crate::config::HISTORY_PAGE_BYTES;
use crate::hub::frame;
use crate::outbox::Priority;
use protocol::{ChatMessage, Conversation, MessageId, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(in crate::connection) async fn history(
        &mut self,
        identity: &Identity,
        conversation: Conversation,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<(), End> {
        let app = self.app.clone();
        let limit = limit.unwrap_or(50).clamp(1, app.config.history_page_max.max(1));
        let page = app.store.history(&identity.project, &identity.profile.id, &conversation, before, limit);
        match Box::pin(self.draining(page)).await? {
            Ok(page) => {
                let (mut messages, trimmed) = newest_within(page.messages, HISTORY_PAGE_BYTES);
                let mut has_more = page.has_more || trimmed;
                if let Some(floor) = self.history_after {
                    // Older than this connection may see: the page ends here.
                    if messages.first().is_some_and(|m| m.id <= floor) {
                        messages.retain(|m| m.id > floor);
                        has_more = false;
                    }
                }
                let reply = ServerMsg::History { conversation, messages, has_more };
                self.tx.push(frame(&reply), Priority::Reliable);
            }
            Err(e) => self.store_failed(e),
        }
        Ok(())
    }
}

/// The newest of `messages` (oldest first) whose JSON fits in `budget`
/// bytes, at least one; and whether older ones were left out (the client
/// asks for them with the next page's `before`).
fn newest_within(mut messages: Vec<ChatMessage>, budget: usize) -> (Vec<ChatMessage>, bool) {
    let mut bytes = 0;
    let mut keep = 0;
    for message in messages.iter().rev() {
        bytes += serde_json::to_string(message).map_or(0, |json| json.len() + 1);
        if bytes > budget && keep > 0 {
            break;
        }
        keep += 1;
    }
    let trimmed = keep < messages.len();
    (messages.split_off(messages.len() - keep), trimmed)
}
