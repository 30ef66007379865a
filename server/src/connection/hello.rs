//! The hello phase: the first frame must be a `hello`; it is
//! authenticated (token or guest), the connection joins the hub, gets its
//! `welcome`, and with a cursor the replay of what it missed.

use super::socket::{error, BINARY_REFUSED};
use super::{internal, Conn, End, Incoming, Membership};
use crate::auth::{new_guest_id, Identity};
use crate::hub::frame;
use futures_util::StreamExt;
use protocol::{validate, Auth, ClientMsg, CloseCode, ErrorCode, Hello, Profile, ServerMsg, Welcome, PROTOCOL_VERSION};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::info;

impl<S> Conn<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    /// Reads frames until a hello arrives; anything else gets an error frame.
    pub(super) async fn hello_phase(&mut self) -> Result<Hello, End> {
        let deadline = tokio::time::Instant::now() + self.app.config.hello_timeout;
        // Owned, so no borrow of `self` lives across the await (the socket
        // need not be Sync).
        let shutdown = self.app.shutdown.clone();
        loop {
            let next = tokio::select! {
                next = self.ws.next() => next,
                _ = tokio::time::sleep_until(deadline) => return Err(End::Close(CloseCode::HelloTimeout)),
                _ = shutdown.cancelled() => return Err(End::Close(CloseCode::ServerRestart)),
            };
            let text = match self.read(next)? {
                Incoming::Text(text) => text,
                Incoming::Binary => {
                    self.send_now(error(ErrorCode::BinaryFrame, BINARY_REFUSED)).await?;
                    continue;
                }
                Incoming::Control => continue,
            };
            match ClientMsg::parse(&text) {
                Ok(ClientMsg::Hello(hello)) => return Ok(hello),
                Ok(_) => self.send_now(error(ErrorCode::HelloRequired, "the first message must be a hello")).await?,
                Err(e) => self.send_now(error(e.code, e.message)).await?,
            }
        }
    }

    /// Authenticates, registers, welcomes and (with a cursor) replays.
    pub(super) async fn start(&mut self, hello: Hello) -> Result<(), End> {
        let identity = match self.authenticate(&hello) {
            Ok(identity) => identity,
            Err((code, message)) => {
                info!(code = code.code(), %message, "hello refused");
                let _ = self.send_now(error(ErrorCode::HelloRefused, message)).await;
                return Err(End::Close(code));
            }
        };
        let span = tracing::Span::current();
        span.record("project", identity.project.as_str());
        span.record("user", identity.profile.id.as_str());
        let app = self.app.clone();
        app.store.upsert_user(&identity.project, &identity.profile).await.map_err(internal)?;
        let unread = app.store.unread(&identity.project, &identity.profile.id).await.map_err(internal)?;
        let (session_token, session_expires) = app.auth.session_token(&identity).map_err(internal)?;
        let online = app.hub.join(&identity.project, &identity.profile, self.tx.clone());
        self.membership = Some(Membership { app: app.clone(), identity: identity.clone(), conn: self.tx.id });
        info!("joined");
        let welcome = ServerMsg::Welcome(Welcome {
            protocol: PROTOCOL_VERSION,
            me: identity.profile.clone(),
            project: identity.project.clone(),
            session_token,
            session_expires,
            online,
            unread,
            limits: app.config.limits(),
            reactions: app.config.reactions.0.clone(),
        });
        self.send_now(frame(&welcome).frame).await?;
        if let Some(cursor) = hello.cursor {
            self.replay(&identity, cursor).await?;
        }
        Ok(())
    }

    fn authenticate(&self, hello: &Hello) -> Result<Identity, (CloseCode, String)> {
        if hello.protocol != PROTOCOL_VERSION {
            return Err((
                CloseCode::UnsupportedVersion,
                format!("protocol {} is not supported; this server speaks {PROTOCOL_VERSION}", hello.protocol),
            ));
        }
        match &hello.auth {
            Auth::Token { token, project } => {
                self.app.auth.verify(token, project.as_ref()).map_err(|e| (e.close_code(), e.to_string()))
            }
            Auth::Guest { name, color, project } => {
                if !self.app.config.guests {
                    return Err((CloseCode::GuestsDisabled, "guest sign-in is disabled; sign in with a token".into()));
                }
                let bad = |e: validate::FieldError| (CloseCode::BadHello, e.to_string());
                Ok(Identity {
                    project: project.clone(),
                    profile: Profile {
                        id: new_guest_id(),
                        name: validate::display_name(name).map_err(bad)?,
                        color: validate::color(color).map_err(bad)?,
                    },
                })
            }
        }
    }
}
