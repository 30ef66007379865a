//! API keys: which one a request carries, and what it may act on.

use super::error::ApiError;
use crate::config::ApiKey;
use http::StatusCode;
use protocol::ProjectId;

/// The configured key the `Authorization: Bearer <key>` header names.
///
/// Every configured key is compared, in time that depends only on the
/// lengths, so the answer's timing does not tell an attacker how much of
/// a guess was right, nor which key it was close to.
pub(super) fn find<'a>(keys: &'a [ApiKey], authorization: Option<&str>) -> Result<&'a ApiKey, ApiError> {
    let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let Some(header) = authorization else {
        return Err(unauthorized("send Authorization: Bearer <api key>"));
    };
    let given = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| unauthorized("send Authorization: Bearer <api key>"))?
        .trim();
    let mut found = None;
    for key in keys {
        if constant_time_eq(key.secret.as_bytes(), given.as_bytes()) && found.is_none() {
            found = Some(key);
        }
    }
    found.ok_or_else(|| unauthorized("unknown API key"))
}

/// Refuses a key limited to another project (403).
pub(super) fn check_project(key: &ApiKey, project: &ProjectId) -> Result<(), ApiError> {
    match &key.project {
        Some(only) if only != project => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this API key is for another project than {project}"),
        )),
        _ => Ok(()),
    }
}

/// Equality of two byte strings in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    // `ct_eq` on slices of different lengths returns false at once, which
    // only tells the length: keys are at least 16 random characters.
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(project: Option<&str>, secret: &str) -> ApiKey {
        ApiKey { project: project.map(|p| ProjectId::new(p).unwrap()), secret: secret.into() }
    }

    #[test]
    fn a_request_is_matched_to_its_key() {
        let keys = [key(None, "global-key-0123456789"), key(Some("p"), "project-key-0123456789")];
        assert_eq!(find(&keys, Some("Bearer global-key-0123456789")).unwrap().project, None);
        assert!(find(&keys, Some("Bearer project-key-0123456789")).unwrap().project.is_some());
        for bad in [None, Some("global-key-0123456789"), Some("Bearer nope"), Some("Basic x"), Some("Bearer ")] {
            assert_eq!(find(&keys, bad).unwrap_err().status, StatusCode::UNAUTHORIZED, "{bad:?}");
        }
        assert_eq!(find(&[], Some("Bearer global-key-0123456789")).unwrap_err().status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_project_key_acts_on_its_project_only() {
        let (p, q) = (ProjectId::new("p").unwrap(), ProjectId::new("q").unwrap());
        assert!(check_project(&key(Some("p"), "k"), &p).is_ok());
        assert_eq!(check_project(&key(Some("p"), "k"), &q).unwrap_err().status, StatusCode::FORBIDDEN);
        assert!(check_project(&key(None, "k"), &q).is_ok());
    }
}
