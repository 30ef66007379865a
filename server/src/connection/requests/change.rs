//! `edit`, `delete` and `react`: checked here as far as the request alone
//! allows (body rules, the emoji set), then queued to the sequencer like a
//! send. Whether the user may change that message (author, conversation,
//! edit window, deleted) is decided by the store inside the commit, so no
//! other write can come between the check and the change.

use super::super::{Conn, End};
use super::queue::Names;
use super::send::body_error;
use crate::auth::Identity;
use crate::clock::now_millis;
use crate::store::{Authority, ChangeKind, NewChange};
use protocol::{validate, ErrorCode, MessageId};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(in crate::connection) async fn edit(
        &mut self,
        identity: &Identity,
        id: MessageId,
        body: String,
    ) -> Result<(), End> {
        if let Err(e) = validate::body(&body, self.app.config.max_body_chars) {
            self.reply_error_about(body_error(&e), e.to_string(), id);
            return Ok(());
        }
        let window = self.app.config.edit_window_millis();
        self.change(identity, id, ChangeKind::Edit { body, window }).await
    }

    pub(in crate::connection) async fn delete(&mut self, identity: &Identity, id: MessageId) -> Result<(), End> {
        self.change(identity, id, ChangeKind::Delete).await
    }

    pub(in crate::connection) async fn react(
        &mut self,
        identity: &Identity,
        id: MessageId,
        emoji: String,
        on: bool,
    ) -> Result<(), End> {
        if !self.app.config.reactions.0.contains(&emoji) {
            let message = format!("the reactions are {}", self.app.config.reactions.0.join(" "));
            self.reply_error_about(ErrorCode::UnknownReaction, message, id);
            return Ok(());
        }
        self.change(identity, id, ChangeKind::React { emoji, on }).await
    }

    async fn change(&mut self, identity: &Identity, target: MessageId, kind: ChangeKind) -> Result<(), End> {
        let change = NewChange {
            project: identity.project.clone(),
            by: identity.profile.id.clone(),
            target,
            ts: now_millis(),
            kind,
            // A socket speaks for its user only: the user id comes from the
            // authenticated session, never from the frame.
            authority: Authority::Member,
        };
        self.queue(change.into(), Names::Change(target)).await
    }
}
