//! `send`: validated here (body, addressee, mentions), then queued to the
//! sequencer.

use super::super::{Conn, End};
use super::queue::Names;
use crate::auth::Identity;
use crate::clock::now_millis;
use crate::store::{MessageEvents, NewMessage};
use protocol::{validate, ClientMsgId, Conversation, ErrorCode, MessageId, UserId};
use tokio::io::{AsyncRead, AsyncWrite};

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
        reply_to: Option<MessageId>,
        mut mentions: Vec<UserId>,
    ) -> Result<(), End> {
        let app = self.app.clone();
        if let Err(e) = validate::body(&body, app.config.max_body_chars) {
            self.reply_error(body_error(&e), e.to_string(), Some(client_id));
            return Ok(());
        }
        if let Conversation::Direct { user } = &to {
            if let Err((code, message)) = self.check_known(identity, user).await {
                self.reply_error(code, message, Some(client_id));
                return Ok(());
            }
        }
        mentions.sort();
        mentions.dedup();
        if mentions.len() > app.config.max_mentions as usize {
            let message = format!("a message may mention at most {} users", app.config.max_mentions);
            self.reply_error(ErrorCode::TooManyMentions, message, Some(client_id));
            return Ok(());
        }
        for user in &mentions {
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
            reply_to,
            mentions,
            webhooks: MessageEvents::default(),
        };
        self.queue(message.into(), Names::Send(client_id)).await
    }
}

/// The error code for a body that `validate::body` refused.
pub(super) fn body_error(e: &validate::FieldError) -> ErrorCode {
    match e {
        validate::FieldError::BodyEmpty => ErrorCode::BodyEmpty,
        _ => ErrorCode::BodyTooLong,
    }
}
