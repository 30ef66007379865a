//! `search`: full-text search in the conversations the user can see,
//! newest first, one page per request.

use super::super::{Conn, End};
use crate::auth::Identity;
use crate::hub::frame;
use crate::outbox::Priority;
use protocol::limits::MAX_SEARCH_QUERY_CHARS;
use protocol::{ErrorCode, MessageId, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};

/// Page size when the request names none.
const DEFAULT_PAGE: u32 = 20;

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(in crate::connection) async fn search(
        &mut self,
        identity: &Identity,
        query: String,
        before: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<(), End> {
        let query = query.trim().to_owned();
        if query.is_empty() || query.chars().count() > MAX_SEARCH_QUERY_CHARS {
            let message = format!("a search query is 1 to {MAX_SEARCH_QUERY_CHARS} characters");
            self.reply_error(ErrorCode::InvalidMessage, message, None);
            return Ok(());
        }
        let app = self.app.clone();
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, app.config.search_page_max);
        let page = app.store.search(&identity.project, &identity.profile.id, &query, before, limit);
        match Box::pin(self.draining(page)).await? {
            Ok(page) => {
                app.metrics.inc(&app.metrics.searches);
                let reply = ServerMsg::Search { query, before, results: page.messages, has_more: page.has_more };
                self.tx.push(frame(&reply), Priority::Reliable);
            }
            Err(e) => self.store_failed(e),
        }
        Ok(())
    }
}
