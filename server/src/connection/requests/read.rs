//! `read`: moves the user's read marker and tells all of their tabs.

use super::super::{Conn, End};
use crate::auth::Identity;
use crate::bus::Event;
use crate::hub::frame;
use protocol::{Conversation, MessageId, ServerMsg};
use tokio::io::{AsyncRead, AsyncWrite};

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(in crate::connection) async fn read_marker(
        &mut self,
        identity: &Identity,
        conversation: Conversation,
        up_to: MessageId,
    ) -> Result<(), End> {
        // A marker per made-up user would be a stored row (and an fsync)
        // each: only conversations that can exist.
        if let Conversation::Direct { user } = &conversation {
            if let Err((code, message)) = self.check_known(identity, user).await {
                self.reply_error(code, message, None);
                return Ok(());
            }
        }
        let app = self.app.clone();
        let (project, me) = (&identity.project, &identity.profile.id);
        match Box::pin(self.draining(app.store.mark_read(project, me, &conversation, up_to))).await? {
            Ok(marker) => {
                let reply = ServerMsg::Read {
                    conversation: marker.conversation,
                    up_to: marker.read_up_to.unwrap_or(up_to),
                    unread: marker.count,
                    mentions: marker.mentions,
                };
                app.bus.publish(Event::ToUser { project: project.clone(), user: me.clone(), frame: frame(&reply) });
            }
            Err(e) => self.store_failed(e),
        }
        Ok(())
    }
}
