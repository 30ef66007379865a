//! The host application's HTTP API at `/api/v1`: post messages, read
//! history, see who is online, manage users, mint session tokens.
//! Documented for people in API.md and for machines in `server/openapi.json`,
//! which a test keeps equal to [`ROUTES`].
//!
//! One file per resource (`messages.rs`, `users.rs`, `tokens.rs`), the
//! keys in `keys.rs`, errors in `error.rs`. Handlers never reject: every
//! outcome is a response (a JSON error included), so that warp's rejection
//! merging cannot turn a handler's 400 into another route's 405. Only an
//! unmatched path or method is a rejection, answered as JSON by
//! [`answer_rejection`].
//!
//! Architecture invariant: a message posted here takes the same path as a
//! socket `send` (the sequencer: stored, then published, then acked), so it
//! is delivered live, replayed on resume and deduplicated on `client_id`
//! exactly like one.

mod error;
mod keys;
mod messages;
mod tokens;
mod users;

use crate::app::App;
use error::ApiError;
use http::StatusCode;
use protocol::{ProjectId, UserId};
use serde::Serialize;
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Every route: method and path under `/api/v1`, as `server/openapi.json`
/// names them. A test checks both ways: each is served, and the document
/// describes exactly these.
#[cfg(test)]
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("post", "/projects/{project}/messages"),
    ("get", "/projects/{project}/messages"),
    ("delete", "/projects/{project}/messages/{id}"),
    ("get", "/projects/{project}/online"),
    ("get", "/projects/{project}/users/{user}"),
    ("put", "/projects/{project}/users/{user}"),
    ("delete", "/projects/{project}/users/{user}"),
    ("post", "/projects/{project}/users/{user}/sign-out"),
    ("post", "/projects/{project}/users/{user}/tokens"),
];

/// The API's filter: everything under `/api/v1`, each request answered
/// here (unmatched paths included, as JSON), never by the static files.
pub(crate) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let api = messages::routes(app.clone())
        .or(users::routes(app.clone()))
        .unify()
        .or(tokens::routes(app))
        .unify()
        .recover(answer_rejection)
        .unify();
    warp::path("api").and(warp::path("v1")).and(api).boxed()
}

/// What every handler gets: the app and the request's `Authorization`.
pub(crate) type Ctx = (Arc<App>, Option<String>);

fn with_ctx(app: Arc<App>) -> impl Filter<Extract = (Ctx,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").map(move |auth: Option<String>| (app.clone(), auth))
}

/// The request body, as raw bytes under `--api-max-body-bytes` (parsed by
/// the handler, so a bad body is a JSON error, not a rejection). A request
/// with neither `Content-Length` nor a chunked body (`curl -X POST` of a
/// route whose body is optional) has an empty one; a chunked body, whose
/// size is unknown up front, is refused (411).
fn body(app: &App) -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    let sized = warp::header::header::<u64>("content-length")
        .and(warp::body::content_length_limit(app.config.api_max_body_bytes as u64))
        .and(warp::body::bytes())
        .map(|_: u64, body: bytes::Bytes| body);
    let absent = warp::header::optional::<String>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(|length: Option<String>, encoding: Option<String>| async move {
            match (length, encoding) {
                (None, None) => Ok(bytes::Bytes::new()),
                (None, Some(_)) => Err(warp::reject::custom(Unsized)),
                // Sized: the other branch answered (or refused its size).
                (Some(_), _) => Err(warp::reject::not_found()),
            }
        });
    sized.or(absent).unify()
}

/// A body without a `Content-Length`.
#[derive(Debug)]
struct Unsized;
impl warp::reject::Reject for Unsized {}

/// Turns a handler's outcome into the response.
pub(crate) fn respond<T: Serialize>(outcome: Result<(StatusCode, T), ApiError>) -> Response {
    match outcome {
        Ok((status, body)) => warp::reply::with_status(warp::reply::json(&body), status).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn answer_rejection(rejection: Rejection) -> Result<Response, std::convert::Infallible> {
    // A body refused by one route is also "the wrong method" for the other
    // routes of its path: the body's refusal is the one that applies.
    let error = if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() || rejection.find::<Unsized>().is_some() {
        ApiError::new(StatusCode::LENGTH_REQUIRED, "length_required", "send a Content-Length")
    } else if rejection.find::<warp::reject::MissingHeader>().is_some()
        || rejection.find::<warp::reject::InvalidHeader>().is_some()
    {
        ApiError::invalid("a header is missing or malformed")
    } else {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route; see API.md")
    };
    Ok(error.into_response())
}

/// A project id from the path.
fn project_id(raw: &str) -> Result<ProjectId, ApiError> {
    ProjectId::new(raw).map_err(|e| ApiError::invalid(format!("project id: {e}")))
}

/// A user id from the path or a body: a host user, never a system sender's.
fn user_id(raw: &str) -> Result<UserId, ApiError> {
    let id = UserId::new(raw).map_err(|e| ApiError::invalid(format!("user id: {e}")))?;
    if id.is_bot() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "reserved_id",
            format!("user ids starting with {} are system senders'", protocol::BOT_ID_PREFIX),
        ));
    }
    Ok(id)
}

/// Parses a JSON body.
fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("request body: {e}")))
}

/// Authenticates the request and checks its key may act on `project`.
fn authorize(ctx: &Ctx, project: &str) -> Result<ProjectId, ApiError> {
    let (app, authorization) = ctx;
    let key = keys::find(&app.config.api_keys, authorization.as_deref())?;
    let project = project_id(project)?;
    keys::check_project(key, &project)?;
    Ok(project)
}

fn store_failed(e: crate::store::StoreError) -> ApiError {
    tracing::warn!(error = %e, "store request failed (API)");
    ApiError::unavailable()
}

#[cfg(test)]
mod tests;
