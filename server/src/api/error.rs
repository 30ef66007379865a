//! The API's errors: `{"error":{"code","message"}}` with an HTTP status.
//! Codes are stable (programs match on them); messages are for people.

use http::StatusCode;
use serde::Serialize;
use warp::reply::Response;
use warp::Reply;

#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn unknown_user(user: &protocol::UserId) -> Self {
        Self::new(StatusCode::NOT_FOUND, "unknown_user", format!("no user {user} in this project"))
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage is unavailable; retry later")
    }

    pub(crate) fn into_response(self) -> Response {
        let body = Body { error: Detail { code: self.code, message: &self.message } };
        let mut response = warp::reply::with_status(warp::reply::json(&body), self.status).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
