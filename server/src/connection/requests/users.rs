//! `users`: a page of the project's people directory (everyone the project
//! has seen, online or not), so a member can be found and messaged from any
//! device.

use super::super::{Conn, End};
use crate::auth::Identity;
use crate::hub::frame;
use crate::outbox::Priority;
use protocol::{ErrorCode, Member, ServerMsg, UserId};
use tokio::io::{AsyncRead, AsyncWrite};

/// Longest `query`, in characters: a display name is at most 32, an id 64.
const MAX_QUERY_CHARS: usize = 64;
/// Page size when the request names none.
const DEFAULT_PAGE: u32 = 50;

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(in crate::connection) async fn users(
        &mut self,
        identity: &Identity,
        query: Option<String>,
        after: Option<UserId>,
        limit: Option<u32>,
    ) -> Result<(), End> {
        let query = query.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if query.as_ref().is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
            let message = format!("a users query is at most {MAX_QUERY_CHARS} characters");
            self.reply_error(ErrorCode::InvalidMessage, message, None);
            return Ok(());
        }
        let app = self.app.clone();
        let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, app.config.users_page_max);
        let page = app.store.users(&identity.project, query.as_deref(), after.as_ref(), limit);
        match Box::pin(self.draining(page)).await? {
            Ok(page) => {
                let online = app.hub.online_flags(&identity.project, &page.users);
                let users = page.users.into_iter().zip(online).map(|(user, online)| Member { user, online }).collect();
                let reply = ServerMsg::Users { query, after, users, has_more: page.has_more };
                self.tx.push(frame(&reply), Priority::Reliable);
            }
            Err(e) => self.store_failed(e),
        }
        Ok(())
    }
}
