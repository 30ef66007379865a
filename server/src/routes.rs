//! The HTTP surface. Architecture invariant: only this module and
//! `upgrade.rs` know warp.

use crate::app::App;
use crate::{api, upgrade};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warp::filters::BoxedFilter;
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Reply};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

pub(crate) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let health = warp::path("healthz").and(warp::path::end()).and(warp::get()).map(|| "ok\n".into_response());
    let metrics_app = app.clone();
    let metrics = warp::path("metrics").and(warp::path::end()).and(warp::get()).map(move || {
        warp::reply::with_header(metrics_app.metrics.render(), "content-type", "text/plain; version=0.0.4")
            .into_response()
    });
    upgrade::route(app.clone())
        .or(api::routes(app.clone()))
        .unify()
        .or(health)
        .unify()
        .or(metrics)
        .unify()
        .or(static_files(&app.config.dist_dir, app.config.content_security_policy()))
        .unify()
        .boxed()
}

/// The built client: files from `dist`, gzip-compressed, hashed assets
/// cached forever, and index.html for any other path without a file
/// extension (client-side routes).
/// The web app is sent with `Content-Security-Policy: frame-ancestors …`
/// (`--frame-ancestors`): only the listed host pages may frame it.
fn static_files(dist: &Path, csp: String) -> BoxedFilter<(Response,)> {
    let files = warp::get().and(warp::path::full()).and(warp::fs::dir(dist.to_path_buf())).map(
        |path: FullPath, file: warp::fs::File| {
            let cache = if is_hashed(path.as_str()) { IMMUTABLE } else { REVALIDATE };
            warp::reply::with_header(file, "cache-control", cache).into_response()
        },
    );
    let index: PathBuf = dist.join("index.html");
    let fallback = warp::get()
        .and(warp::path::full())
        .and_then(|path: FullPath| async move {
            let last = path.as_str().rsplit('/').next().unwrap_or("");
            if last.contains('.') {
                Err(warp::reject::not_found())
            } else {
                Ok(())
            }
        })
        .untuple_one()
        .and(warp::fs::file(index))
        .map(|file: warp::fs::File| warp::reply::with_header(file, "cache-control", REVALIDATE).into_response());
    let site = files.or(fallback).unify();
    // warp's gzip wrapper compresses whatever the client accepts, so it is
    // applied only to requests that said they accept gzip.
    let gzipped = accepts_gzip().and(site.clone()).with(warp::filters::compression::gzip()).map(Reply::into_response);
    gzipped
        .or(site)
        .unify()
        .map(move |reply: Response| {
            warp::reply::with_header(reply, "content-security-policy", csp.as_str()).into_response()
        })
        .boxed()
}

fn accepts_gzip() -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("accept-encoding")
        .and_then(|accept: Option<String>| async move {
            let gzip =
                accept.is_some_and(|a| a.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")));
            if gzip {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// Whether a file name carries a content hash (trunk's `name-<16+ hex>.ext`),
/// so it can be cached forever.
pub(crate) fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let stem = name.split('.').next().unwrap_or("");
    stem.split(['-', '_']).any(|part| part.len() >= 16 && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("/client-6b3a1f0e9d2c4b5a_bg.wasm"));
        assert!(is_hashed("/style-6b3a1f0e9d2c4b5a.css"));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/"));
        assert!(!is_hashed("/client-abc.js"));
    }
}
