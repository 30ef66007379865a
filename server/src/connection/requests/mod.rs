//! One handler per client request, behind a short dispatcher (as
//! mini-redis's `cmd/` does). Errors the client caused are answered with an
//! `error` frame; `Err(End)` means the connection ends (its socket failed
//! while a handler waited and wrote).

mod change;
mod history;
mod queue;
mod read;
mod search;
mod send;
mod users;

use super::socket::error_msg;
use super::{Conn, End};
use crate::auth::Identity;
use crate::bus::Event;
use crate::hub::frame;
use crate::outbox::Priority;
use protocol::{ClientMsg, ClientMsgId, ErrorCode, MessageId, ServerMsg, UserId};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::{debug, warn};

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Handles one text frame from an authenticated client.
    pub(super) async fn handle(&mut self, text: &str) -> Result<(), End> {
        let msg = match ClientMsg::parse(text) {
            Ok(msg) => msg,
            Err(e) => {
                self.reply_error(e.code, e.message, None);
                return Ok(());
            }
        };
        self.refresh_profile();
        let Some(identity) = self.membership.as_ref().map(|m| m.identity.clone()) else { return Ok(()) };
        match msg {
            ClientMsg::Hello(_) => self.reply_error(ErrorCode::HelloRepeated, "already said hello".into(), None),
            ClientMsg::Send { client_id, to, body, reply_to, mentions } => {
                return self.send(&identity, client_id, to, body, reply_to, mentions).await
            }
            ClientMsg::Edit { id, body } => return self.edit(&identity, id, body).await,
            ClientMsg::Delete { id } => return self.delete(&identity, id).await,
            ClientMsg::React { id, emoji, on } => return self.react(&identity, id, emoji, on).await,
            ClientMsg::Search { query, before, limit } => return self.search(&identity, query, before, limit).await,
            ClientMsg::Typing { to, active } => self.app.bus.publish(Event::Typing {
                project: identity.project.clone(),
                from: identity.profile.id.clone(),
                to,
                active,
            }),
            ClientMsg::History { conversation, before, limit } => {
                return self.history(&identity, conversation, before, limit).await
            }
            ClientMsg::Read { conversation, up_to } => return self.read_marker(&identity, conversation, up_to).await,
            ClientMsg::Users { query, after, limit } => return self.users(&identity, query, after, limit).await,
            ClientMsg::Ping => {
                self.tx.push(frame(&ServerMsg::Pong), Priority::Reliable);
            }
        }
        Ok(())
    }

    fn store_failed(&self, e: crate::store::StoreError) {
        warn!(error = %e, "store request failed");
        self.reply_error(ErrorCode::Unavailable, "storage is unavailable; try again".into(), None);
    }

    /// A direct message may go to any user the project has seen, online or not.
    async fn check_known(&mut self, identity: &Identity, user: &UserId) -> Result<(), (ErrorCode, String)> {
        let app = &self.app;
        if *user == identity.profile.id
            || self.known_addressees.contains(user)
            || app.hub.is_online(&identity.project, user)
        {
            return Ok(());
        }
        match app.store.user_exists(&identity.project, user).await {
            Ok(true) => {
                self.known_addressees.remember(user);
                Ok(())
            }
            Ok(false) => Err((ErrorCode::UnknownUser, format!("no user {user} in this project"))),
            Err(e) => {
                warn!(error = %e, "user lookup failed");
                Err((ErrorCode::Unavailable, "could not check the addressee; resend later".into()))
            }
        }
    }

    /// An error about a change (`edit`, `delete`, `react`) of message `target`.
    fn reply_error_about(&self, code: ErrorCode, message: String, target: MessageId) {
        self.app.metrics.inc(&self.app.metrics.client_errors);
        debug!(?code, %message, "refused a change");
        let error = ServerMsg::Error { code, message, client_id: None, target: Some(target) };
        self.tx.push(frame(&error), Priority::Reliable);
    }

    pub(super) fn reply_error(&self, code: ErrorCode, message: String, client_id: Option<ClientMsgId>) {
        self.app.metrics.inc(&self.app.metrics.client_errors);
        debug!(?code, %message, "refused a client frame");
        self.tx.push(frame(&error_msg(code, message, client_id)), Priority::Reliable);
    }
}
