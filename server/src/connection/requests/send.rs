//! `send`: validated here, then queued to the sequencer, which stores it,
//! delivers it and acks it; the connection does not wait for the result.

use super::super::{Conn, End};
use crate::auth::Identity;
use crate::clock::now_millis;
use crate::sequencer::{Origin, SendRequest};
use crate::store::{MessageEvents, NewMessage};
use protocol::{validate, ClientMsgId, Conversation, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::TryAcquireError;

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(in crate::connection) async fn send(
        &mut self,
        identity: &Identity,
        client_id: ClientMsgId,
        to: Conversation,
        body: String,
    ) -> Result<(), End> {
        let app = self.app.clone();
        if let Err(e) = validate::body(&body, app.config.max_body_chars) {
            let code = match e {
                validate::FieldError::BodyEmpty => ErrorCode::BodyEmpty,
                _ => ErrorCode::BodyTooLong,
            };
            self.reply_error(code, e.to_string(), Some(client_id));
            return Ok(());
        }
        if let Conversation::Direct { user } = &to {
            if let Err((code, message)) = self.check_known(identity, user).await {
                self.reply_error(code, message, Some(client_id));
                return Ok(());
            }
        }
        let message = NewMessage {
            project: identity.project.clone(),
            from: identity.profile.clone(),
            to,
            body,
            client_id: client_id.clone(),
            ts: now_millis(),
            webhooks: MessageEvents::default(),
        };
        // At the in-flight limit this waits (the socket is not read, the
        // outbox keeps draining) until the sequencer has queued some of our
        // acks. The waits are boxed: they are rare, and inline they would
        // enlarge every connection's task, idle ones included.
        let in_flight = self.in_flight.clone();
        let permit = match in_flight.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(TryAcquireError::NoPermits) => match Box::pin(self.draining(in_flight.acquire_owned())).await? {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            },
            Err(TryAcquireError::Closed) => return Ok(()),
        };
        let lane = app.sends.lane(&identity.project);
        let slot = match lane.try_reserve() {
            Ok(slot) => Some(slot),
            Err(TrySendError::Full(())) => Box::pin(self.draining(lane.reserve())).await?.ok(),
            Err(TrySendError::Closed(())) => None,
        };
        match slot {
            Some(slot) => {
                slot.send(SendRequest { message, origin: Origin::Connection { outbox: self.tx.clone(), permit } })
            }
            None => self.reply_error(
                ErrorCode::Unavailable,
                "the server is shutting down; resend later".into(),
                Some(client_id),
            ),
        }
        Ok(())
    }
}
