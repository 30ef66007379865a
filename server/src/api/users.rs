//! Users of a project: who is online, one user's profile (read, create or
//! update: online clients get `user_updated`), signing a user out
//! everywhere, and erasing a user.

use super::error::ApiError;
use super::{authorize, body, json, respond, store_failed, user_id, with_ctx, Ctx};
use crate::app::App;
use crate::auth::color_for;
use crate::bus::Event;
use crate::clock::now_millis;
use crate::hub::frame;
use http::StatusCode;
use protocol::{validate, CloseCode, Millis, Profile, ServerMsg};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::Filter;

pub(super) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let online = warp::path!("projects" / String / "online")
        .and(warp::get())
        .and(with_ctx(app.clone()))
        .map(|project: String, ctx: Ctx| respond(online(&ctx, &project)));
    let get = warp::path!("projects" / String / "users" / String)
        .and(warp::get())
        .and(with_ctx(app.clone()))
        .then(|project: String, user: String, ctx: Ctx| async move { respond(get(&ctx, &project, &user).await) });
    let put = warp::path!("projects" / String / "users" / String)
        .and(warp::put())
        .and(with_ctx(app.clone()))
        .and(body(&app))
        .then(|project: String, user: String, ctx: Ctx, body: bytes::Bytes| async move {
            respond(put(&ctx, &project, &user, &body).await)
        });
    let erase = warp::path!("projects" / String / "users" / String)
        .and(warp::delete())
        .and(with_ctx(app.clone()))
        .then(|project: String, user: String, ctx: Ctx| async move { respond(erase(&ctx, &project, &user).await) });
    let sign_out = warp::path!("projects" / String / "users" / String / "sign-out")
        .and(warp::post())
        .and(with_ctx(app))
        .then(|project: String, user: String, ctx: Ctx| async move { respond(sign_out(&ctx, &project, &user).await) });
    online.or(get).unify().or(put).unify().or(erase).unify().or(sign_out).unify().boxed()
}

#[derive(Debug, Serialize)]
struct Online {
    /// Ordered by name, then id.
    users: Vec<Profile>,
}

fn online(ctx: &Ctx, project: &str) -> Result<(StatusCode, Online), ApiError> {
    let project = authorize(ctx, project)?;
    let mut users = ctx.0.hub.online(&project);
    users.sort_by(|a, b| (a.name.to_lowercase(), &a.id).cmp(&(b.name.to_lowercase(), &b.id)));
    Ok((StatusCode::OK, Online { users }))
}

#[derive(Debug, Serialize)]
struct User {
    user: Profile,
    online: bool,
}

async fn get(ctx: &Ctx, project: &str, user: &str) -> Result<(StatusCode, User), ApiError> {
    let project = authorize(ctx, project)?;
    let id = user_id(user)?;
    let app = &ctx.0;
    let state = app.store.sign_in_state(&project, &id).await.map_err(store_failed)?;
    let (profile, _) = state.profile.ok_or_else(|| ApiError::unknown_user(&id))?;
    Ok((StatusCode::OK, User { online: app.hub.is_online(&project, &id), user: profile }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetProfile {
    name: String,
    /// `#rrggbb`; derived from the id when absent.
    #[serde(default)]
    color: Option<String>,
}

async fn put(ctx: &Ctx, project: &str, user: &str, body: &[u8]) -> Result<(StatusCode, User), ApiError> {
    let project = authorize(ctx, project)?;
    let id = user_id(user)?;
    let request: SetProfile = json(body)?;
    let name = validate::display_name(&request.name).map_err(|e| ApiError::invalid(format!("name: {e}")))?;
    let color = match request.color {
        Some(c) => validate::color(&c).map_err(|e| ApiError::invalid(format!("color: {e}")))?,
        None => color_for(&id),
    };
    let app = &ctx.0;
    let profile = Profile { id, name, color };
    app.store.set_profile(&project, &profile, now_millis()).await.map_err(store_failed)?;
    let frame = frame(&ServerMsg::UserUpdated { user: profile.clone() });
    app.bus.publish(Event::ProfileChanged { project: project.clone(), profile: profile.clone(), frame });
    Ok((StatusCode::OK, User { online: app.hub.is_online(&project, &profile.id), user: profile }))
}

#[derive(Debug, Serialize)]
struct SignedOut {
    /// Session tokens issued before this (ms since the epoch) are refused.
    not_before: Millis,
}

async fn sign_out(ctx: &Ctx, project: &str, user: &str) -> Result<(StatusCode, SignedOut), ApiError> {
    let project = authorize(ctx, project)?;
    let id = user_id(user)?;
    let app = &ctx.0;
    let not_before = now_millis();
    // Stored first: a tab that signs in meanwhile is refused by the hello,
    // or joined before this and is closed below.
    app.store.sign_out(&project, &id, not_before).await.map_err(store_failed)?;
    app.bus.publish(Event::CloseUser { project, user: id, code: CloseCode::SignedOut });
    Ok((StatusCode::OK, SignedOut { not_before }))
}

#[derive(Debug, Serialize)]
struct Erased {
    /// Messages the user had sent, now deleted.
    deleted_messages: u64,
    not_before: Millis,
}

async fn erase(ctx: &Ctx, project: &str, user: &str) -> Result<(StatusCode, Erased), ApiError> {
    let project = authorize(ctx, project)?;
    let id = user_id(user)?;
    let app = &ctx.0;
    let not_before = now_millis();
    let erased = app.store.erase_user(&project, &id, not_before).await.map_err(store_failed)?;
    if !erased.existed && erased.messages == 0 {
        return Err(ApiError::unknown_user(&id));
    }
    let frame = frame(&ServerMsg::UserErased { user: id.clone() });
    app.bus.publish(Event::ToProject { project: project.clone(), frame });
    app.bus.publish(Event::CloseUser { project, user: id, code: CloseCode::SignedOut });
    Ok((StatusCode::OK, Erased { deleted_messages: erased.messages, not_before }))
}
