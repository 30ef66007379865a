//! Queueing a write (a send or a change) to the sequencer, which stores
//! it, delivers it and acks it; the connection does not wait for the result.

use super::super::{Conn, End};
use crate::sequencer::{Origin, SendRequest};
use crate::store::Write;
use protocol::{ClientMsgId, ErrorCode, MessageId};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::TryAcquireError;

/// What a refusal names: the send's `client_id` or the changed message.
pub(in crate::connection) enum Names {
    Send(ClientMsgId),
    Change(MessageId),
}

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub(in crate::connection) async fn queue(&mut self, write: Write, names: Names) -> Result<(), End> {
        let app = self.app.clone();
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
        let project = match &write {
            Write::Message(m) => &m.project,
            Write::Change(c) => &c.project,
        };
        // Every write of a project goes through its lane (`sequencer::lane_of`).
        let lane = app.sends.lane(project);
        let slot = match lane.try_reserve() {
            Ok(slot) => Some(slot),
            Err(TrySendError::Full(())) => Box::pin(self.draining(lane.reserve())).await?.ok(),
            Err(TrySendError::Closed(())) => None,
        };
        match slot {
            Some(slot) => {
                slot.send(SendRequest { write, origin: Origin::Connection { outbox: self.tx.clone(), permit } })
            }
            None => self.refuse_request(
                names,
                ErrorCode::Unavailable,
                "the server is shutting down; send it again later".into(),
            ),
        }
        Ok(())
    }

    /// An error frame naming what it refuses.
    pub(in crate::connection) fn refuse_request(&self, names: Names, code: ErrorCode, message: String) {
        match names {
            Names::Send(client_id) => self.reply_error(code, message, Some(client_id)),
            Names::Change(target) => self.reply_error_about(code, message, target),
        }
    }
}
