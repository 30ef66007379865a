//! The hello phase: the first frame must be a `hello`; it is
//! authenticated (token or guest), the connection joins the hub, gets its
//! `welcome`, and with a cursor the replay of what it missed.

use super::socket::{error, BINARY_REFUSED};
use super::{internal, Conn, End, Incoming, Membership};
use crate::auth::{new_guest_id, Identity};
use crate::hub::frame;
use futures_util::StreamExt;
use protocol::{
    validate, Auth, ClientMsg, CloseCode, Conversation, ErrorCode, Hello, MessageId, Profile, ServerMsg, Welcome,
    PROTOCOL_VERSION,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tracing::info;

/// How a hello signed in.
#[derive(Clone, Copy)]
enum Via {
    /// A fresh guest id: nothing the host application did applies to it.
    Guest,
    /// A token, issued at this time (ms) when it says, with the history
    /// floor it carries.
    Token { issued_at: Option<i64>, history_after: Option<MessageId> },
}

const SIGNED_OUT: &str = "signed out by the application; sign in again";

/// Whether a token issued at `issued_at` (ms; `None` when it does not say)
/// was revoked by a sign-out at `not_before`.
fn signed_out(not_before: Option<i64>, issued_at: Option<i64>) -> bool {
    not_before.is_some_and(|not_before| issued_at.is_none_or(|issued| issued < not_before))
}

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
                // A hello with bad fields (a guest's project id, a missing
                // token) is a bad hello, refused and closed like one whose
                // fields parse but fail validation.
                Err(e) if e.of_type == Some("hello") => return Err(self.refuse(CloseCode::BadHello, e.message).await),
                Err(e) => self.send_now(error(e.code, e.message)).await?,
            }
        }
    }

    /// Authenticates, registers, welcomes and (with a cursor) replays.
    pub(super) async fn start(&mut self, hello: Hello) -> Result<(), End> {
        let (mut identity, via) = match self.authenticate(&hello) {
            Ok(signed_in) => signed_in,
            Err((code, message)) => return Err(self.refuse(code, message).await),
        };
        let span = tracing::Span::current();
        span.record("project", identity.project.as_str());
        span.record("user", identity.profile.id.as_str());
        let app = self.app.clone();
        if let Via::Token { issued_at, .. } = via {
            let state = app.store.sign_in_state(&identity.project, &identity.profile.id).await.map_err(internal)?;
            if signed_out(state.not_before, issued_at) {
                return Err(self.refuse(CloseCode::SignedOut, SIGNED_OUT.into()).await);
            }
            // A profile the host application set after this token was
            // issued wins over the token's.
            if let Some((stored, Some(set_at))) = state.profile {
                if issued_at.is_none_or(|issued| issued < set_at) {
                    identity.profile = stored;
                }
            }
        }
        self.history_after = match via {
            Via::Token { history_after, .. } => history_after,
            Via::Guest if app.config.guest_history(&identity.project) => None,
            // A guest sees the room from its join on: the newest room
            // message now is its floor, kept in its session token.
            Via::Guest => {
                let newest = app.store.history(&identity.project, &identity.profile.id, &Conversation::Room, None, 1);
                let newest = newest.await.map_err(internal)?.messages.last().map(|m| m.id);
                Some(newest.unwrap_or_default())
            }
        };
        app.store.upsert_user(&identity.project, &identity.profile).await.map_err(internal)?;
        let unread = app.store.unread(&identity.project, &identity.profile.id).await.map_err(internal)?;
        let (session_token, session_expires) =
            app.auth.session_token_after(&identity, self.history_after).map_err(internal)?;
        self.profile_generation = app.hub.profile_generation();
        let online = app.hub.join(&identity.project, &identity.profile, self.tx.clone());
        self.membership =
            Some(Membership { app: app.clone(), identity: std::sync::Arc::new(identity.clone()), conn: self.tx.id });
        if let Via::Token { issued_at, .. } = via {
            // Checked again once joined: a sign-out that ran between the
            // first check and the join found no connection to close.
            let state = app.store.sign_in_state(&identity.project, &identity.profile.id).await.map_err(internal)?;
            if signed_out(state.not_before, issued_at) {
                return Err(self.refuse(CloseCode::SignedOut, SIGNED_OUT.into()).await);
            }
        }
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
            // Users erased while this client was away: it may still show
            // their messages.
            let erased = app.store.erasures_since(&identity.project, cursor).await.map_err(internal)?;
            for user in erased {
                self.send_now(frame(&ServerMsg::UserErased { user }).frame).await?;
            }
            let after = cursor.max(self.history_after.unwrap_or_default());
            self.replay(&identity, after, hello.replay_batches).await?;
        }
        Ok(())
    }

    async fn refuse(&mut self, code: CloseCode, message: String) -> End {
        info!(code = code.code(), %message, "hello refused");
        let _ = self.send_now(error(ErrorCode::HelloRefused, message)).await;
        End::Close(code)
    }

    /// Who the hello says this is, and how it signed in.
    fn authenticate(&self, hello: &Hello) -> Result<(Identity, Via), (CloseCode, String)> {
        if hello.protocol != PROTOCOL_VERSION {
            return Err((
                CloseCode::UnsupportedVersion,
                format!("protocol {} is not supported; this server speaks {PROTOCOL_VERSION}", hello.protocol),
            ));
        }
        match &hello.auth {
            Auth::Token { token, project } => self
                .app
                .auth
                .verify_session(token, project.as_ref())
                .map(|v| (v.identity, Via::Token { issued_at: v.issued_at, history_after: v.history_after }))
                .map_err(|e| (e.close_code(), e.to_string())),
            Auth::Guest { name, color, project } => {
                if !self.app.config.guests {
                    return Err((CloseCode::GuestsDisabled, "guest sign-in is disabled; sign in with a token".into()));
                }
                if !self.app.config.open_to_guests(project) {
                    return Err((
                        CloseCode::NotOpenToGuests,
                        format!("project {project} is not open to guests; sign in with a token"),
                    ));
                }
                let bad = |e: validate::FieldError| (CloseCode::BadHello, e.to_string());
                let identity = Identity {
                    project: project.clone(),
                    profile: Profile {
                        id: new_guest_id(),
                        name: validate::display_name(name).map_err(bad)?,
                        color: validate::color(color).map_err(bad)?,
                    },
                };
                // A fresh id: nothing the host application did applies yet.
                Ok((identity, Via::Guest))
            }
        }
    }
}
