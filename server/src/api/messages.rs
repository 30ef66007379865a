//! `POST /projects/{project}/messages` (post as a user or a system sender,
//! through the sequencer), `GET /projects/{project}/messages` (a page of
//! the room or of a direct conversation) and
//! `DELETE /projects/{project}/messages/{id}` (the host deletes any
//! message: `moderation.rs`).

use super::error::ApiError;
use super::{authorize, body, json, respond, store_failed, user_id, with_ctx, Ctx};
use crate::app::App;
use crate::auth::color_for;
use crate::clock::now_millis;
use crate::moderation::{self, ModerationError};
use crate::sequencer::{Origin, SendRequest};
use crate::store::{MessageEvents, NewMessage, Refused};
use http::StatusCode;
use protocol::{
    validate, ChatMessage, ClientMsgId, Conversation, MessageId, Millis, Profile, Update, UserId, BOT_ID_PREFIX,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

pub(super) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let post = warp::path!("projects" / String / "messages")
        .and(warp::post())
        .and(with_ctx(app.clone()))
        .and(body(&app))
        .then(
            |project: String, ctx: Ctx, body: bytes::Bytes| async move { respond(post(&ctx, &project, &body).await) },
        );
    let history = warp::path!("projects" / String / "messages")
        .and(warp::get())
        .and(with_ctx(app.clone()))
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .then(|project: String, ctx: Ctx, query: String| async move { respond(history(&ctx, &project, &query).await) });
    let delete = warp::path!("projects" / String / "messages" / String)
        .and(warp::delete())
        .and(with_ctx(app))
        .then(|project: String, id: String, ctx: Ctx| async move { respond(delete(&ctx, &project, &id).await) });
    post.or(history).unify().or(delete).unify().boxed()
}

/// Who the update of a deletion by the host application names as `by`.
const HOST_MODERATOR: &str = "bot:host";

/// Deletes any message of the project (its body leaves the store; a
/// tombstone stays), through the sequencer like a user's deletion: every
/// client concerned gets the `update`, live or on resume.
async fn delete(ctx: &Ctx, project: &str, id: &str) -> Result<(StatusCode, Update), ApiError> {
    let project = authorize(ctx, project)?;
    let id =
        id.parse::<u64>().map(MessageId).map_err(|_| ApiError::invalid("the message id must be a whole number"))?;
    let by = UserId::new(HOST_MODERATOR).unwrap_or_else(|e| unreachable!("{HOST_MODERATOR}: {e}"));
    match moderation::delete_message(&ctx.0.sends, &project, id, &by).await {
        Ok(update) => Ok((StatusCode::OK, update)),
        Err(ModerationError::Refused(Refused::Deleted)) => {
            Err(ApiError::new(StatusCode::GONE, "message_deleted", format!("message {id} was already deleted")))
        }
        Err(ModerationError::Refused(_)) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_message", format!("no message {id} in this project")))
        }
        Err(ModerationError::Store(_) | ModerationError::ShuttingDown) => Err(ApiError::unavailable()),
    }
}

/// Who a posted message is from.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Sender {
    /// A user of the project (seen before, or created with `PUT /users/{id}`);
    /// the message carries their stored profile.
    User(String),
    /// A system sender: shown with this name and colour, id `bot:<id>`.
    Bot {
        id: String,
        name: String,
        #[serde(default)]
        color: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostMessage {
    from: Sender,
    to: Conversation,
    body: String,
    /// Makes retries safe: the same sender and `client_id` is stored once.
    #[serde(default)]
    client_id: Option<ClientMsgId>,
}

#[derive(Debug, Serialize)]
struct Posted {
    id: MessageId,
    ts: Millis,
    client_id: ClientMsgId,
    /// This `client_id` had been posted before: `id` is the original.
    duplicate: bool,
}

async fn post(ctx: &Ctx, project: &str, body: &[u8]) -> Result<(StatusCode, Posted), ApiError> {
    let project = authorize(ctx, project)?;
    let app = &ctx.0;
    let request: PostMessage = json(body)?;
    validate::body(&request.body, app.config.max_body_chars).map_err(|e| {
        let code = if e == validate::FieldError::BodyEmpty { "body_empty" } else { "body_too_long" };
        ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string())
    })?;
    let from = match request.from {
        Sender::User(id) => {
            let id = user_id(&id)?;
            let state = app.store.sign_in_state(&project, &id).await.map_err(store_failed)?;
            state.profile.map(|(profile, _)| profile).ok_or_else(|| ApiError::unknown_user(&id))?
        }
        Sender::Bot { id, name, color } => {
            let id = UserId::new(format!("{BOT_ID_PREFIX}{id}"))
                .map_err(|e| ApiError::invalid(format!("bot id (with its {BOT_ID_PREFIX} prefix): {e}")))?;
            let name = validate::display_name(&name).map_err(|e| ApiError::invalid(format!("bot name: {e}")))?;
            let color = match color {
                Some(c) => validate::color(&c).map_err(|e| ApiError::invalid(format!("bot color: {e}")))?,
                None => color_for(&id),
            };
            Profile { id, name, color }
        }
    };
    if let Conversation::Direct { user } = &request.to {
        let known = *user == from.id
            || app.hub.is_online(&project, user)
            || app.store.user_exists(&project, user).await.map_err(store_failed)?;
        if !known {
            return Err(ApiError::unknown_user(user));
        }
    }
    let client_id = match request.client_id {
        Some(id) => id,
        None => generated_client_id(),
    };
    let message = NewMessage {
        project,
        from,
        to: request.to,
        body: request.body,
        client_id: client_id.clone(),
        ts: now_millis(),
        reply_to: None,
        mentions: Vec::new(),
        webhooks: MessageEvents::default(),
    };
    let (reply, outcome) = tokio::sync::oneshot::channel();
    // Waits while the sequencer's queue is full, like a socket send.
    let lane = app.sends.lane(&message.project);
    lane.send(SendRequest { write: message.into(), origin: Origin::Api(reply) })
        .await
        .map_err(|_| ApiError::unavailable())?;
    let appended = outcome.await.map_err(|_| ApiError::unavailable())?.map_err(|_| ApiError::unavailable())?;
    let status = if appended.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    let message = appended.message;
    Ok((status, Posted { id: message.id, ts: message.ts, client_id, duplicate: appended.duplicate }))
}

/// For posts without a `client_id`: unique, so never deduplicated.
fn generated_client_id() -> ClientMsgId {
    let mut raw = [0u8; 12];
    // Without entropy, the clock still makes it unique enough for one post.
    if getrandom::fill(&mut raw).is_err() {
        raw[..8].copy_from_slice(&now_millis().to_le_bytes());
    }
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    ClientMsgId::new(format!("api-{hex}")).unwrap_or_else(|_| unreachable!("hex is a valid id"))
}

#[derive(Debug, Serialize)]
struct HistoryPage {
    /// Oldest first.
    messages: Vec<ChatMessage>,
    /// Whether older messages exist (ask again with `before` = the first id).
    has_more: bool,
}

/// `?user=A&with=B` names the direct conversation between A and B; without
/// them, the room. `before` and `limit` page as the socket's `history`.
async fn history(ctx: &Ctx, project: &str, query: &str) -> Result<(StatusCode, HistoryPage), ApiError> {
    let project = authorize(ctx, project)?;
    let app = &ctx.0;
    let params: HashMap<String, String> =
        serde_urlencoded::from_str(query).map_err(|e| ApiError::invalid(format!("query string: {e}")))?;
    for name in params.keys() {
        if !matches!(name.as_str(), "user" | "with" | "before" | "limit") {
            return Err(ApiError::invalid(format!("unknown query parameter {name}")));
        }
    }
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        params
            .get(name)
            .map(|v| v.parse::<u64>().map_err(|_| ApiError::invalid(format!("{name} must be a whole number"))))
            .transpose()
    };
    let before = number("before")?.map(MessageId);
    let limit = number("limit")?.map_or(50, |l| l.min(u64::from(u32::MAX)) as u32);
    let limit = limit.clamp(1, app.config.history_page_max.max(1));
    let (viewer, conversation) = match (params.get("user"), params.get("with")) {
        (None, None) => (None, Conversation::Room),
        (Some(user), Some(with)) => {
            let user = UserId::new(user.as_str()).map_err(|e| ApiError::invalid(format!("user: {e}")))?;
            let with = UserId::new(with.as_str()).map_err(|e| ApiError::invalid(format!("with: {e}")))?;
            (Some(user), Conversation::Direct { user: with })
        }
        _ => {
            return Err(ApiError::invalid("give both user and with for a direct conversation, or neither for the room"))
        }
    };
    // The room's key does not depend on who reads it.
    let viewer = viewer.unwrap_or_else(|| UserId::new("api").unwrap_or_else(|_| unreachable!("a valid id")));
    let page = app.store.history(&project, &viewer, &conversation, before, limit).await.map_err(store_failed)?;
    Ok((StatusCode::OK, HistoryPage { messages: page.messages, has_more: page.has_more }))
}
