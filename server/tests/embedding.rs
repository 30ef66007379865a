//! The web app in a host's pages: it is sent with a `frame-ancestors`
//! policy naming the host pages that may frame it (the browser test in
//! `e2e/embed.e2e.mjs` checks that browsers obey it).

mod support;

use support::*;

async fn serving_the_app(tweak: impl FnOnce(&mut server::Config) + Send + 'static) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>chat</title>").unwrap();
    let dist = dir.path().to_path_buf();
    let server = TestServer::start_with(move |c| {
        c.dist_dir = dist;
        tweak(c);
    })
    .await;
    (server, dir)
}

fn csp(response: &str) -> Option<&str> {
    response.lines().find_map(|l| l.strip_prefix("content-security-policy: ")).map(str::trim)
}

#[tokio::test]
async fn the_app_may_be_framed_only_by_its_own_origin_by_default() {
    let (server, _dist) = serving_the_app(|_| {}).await;
    for path in ["/", "/index.html", "/a/client/route"] {
        let page = http_get(server.addr, path).await;
        assert!(page.contains("<title>chat</title>"), "{page}");
        assert_eq!(csp(&page), Some("frame-ancestors 'self'"), "{path}: {page}");
    }
}

#[tokio::test]
async fn the_host_pages_given_may_frame_the_app() {
    let (server, _dist) = serving_the_app(|c| {
        c.frame_ancestors = vec!["https://app.example".into(), "http://127.0.0.1:8000".into()];
    })
    .await;
    let page = http_get(server.addr, "/").await;
    assert_eq!(csp(&page), Some("frame-ancestors 'self' https://app.example http://127.0.0.1:8000"), "{page}");
}
