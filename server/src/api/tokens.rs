//! `POST /projects/{project}/users/{user}/tokens`: a session token for a
//! user, for hosts that prefer not to sign JWTs themselves.

use super::error::ApiError;
use super::{authorize, body, json, respond, store_failed, user_id, with_ctx, Ctx};
use crate::app::App;
use crate::auth::{color_for, Identity};
use http::StatusCode;
use protocol::{validate, Millis, Profile};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

pub(super) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path!("projects" / String / "users" / String / "tokens")
        .and(warp::post())
        .and(with_ctx(app.clone()))
        .and(body(&app))
        .then(|project: String, user: String, ctx: Ctx, body: bytes::Bytes| async move {
            respond(mint(&ctx, &project, &user, &body).await)
        })
        .boxed()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintToken {
    /// Required for a user the project has never seen; otherwise the
    /// stored profile is used.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    color: Option<String>,
    /// Lifetime in seconds, at most (and by default) `--session-ttl`.
    #[serde(default)]
    ttl_secs: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Minted {
    token: String,
    /// Milliseconds since the epoch.
    expires: Millis,
    user: Profile,
}

async fn mint(ctx: &Ctx, project: &str, user: &str, body: &[u8]) -> Result<(StatusCode, Minted), ApiError> {
    let project = authorize(ctx, project)?;
    let id = user_id(user)?;
    let request: MintToken = if body.is_empty() { MintToken::default() } else { json(body)? };
    let app = &ctx.0;
    let stored = app.store.sign_in_state(&project, &id).await.map_err(store_failed)?.profile.map(|(p, _)| p);
    let name = match (request.name, &stored) {
        (Some(name), _) => validate::display_name(&name).map_err(|e| ApiError::invalid(format!("name: {e}")))?,
        (None, Some(stored)) => stored.name.clone(),
        (None, None) => return Err(ApiError::invalid(format!("user {id} is new to this project: give a name"))),
    };
    let color = match (request.color, &stored) {
        (Some(c), _) => validate::color(&c).map_err(|e| ApiError::invalid(format!("color: {e}")))?,
        (None, Some(stored)) => stored.color.clone(),
        (None, None) => color_for(&id),
    };
    let max = app.config.session_ttl;
    let ttl = request.ttl_secs.map_or(max, |s| Duration::from_secs(s.max(1)).min(max));
    let identity = Identity { project, profile: Profile { id, name, color } };
    let (token, expires) = app.auth.mint(&identity, ttl).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok((StatusCode::CREATED, Minted { token, expires, user: identity.profile }))
}
