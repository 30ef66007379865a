//! The route table and `server/openapi.json` describe the same API
//! (`server/tests/api.rs` checks that the server serves exactly what the
//! document describes).

use super::ROUTES;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

#[test]
fn the_openapi_document_describes_every_route_and_no_other() {
    let doc: serde_json::Value = serde_json::from_str(include_str!("../../openapi.json")).expect("openapi.json parses");
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "OpenAPI 3.1");
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("a path item") {
            if METHODS.contains(&method.as_str()) {
                assert!(operation["responses"].is_object(), "{method} {path} has responses");
                assert!(operation["operationId"].is_string(), "{method} {path} has an operationId");
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let served: BTreeSet<_> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(undocumented.is_empty(), "routes the document does not describe: {undocumented:?}");
    assert!(unserved.is_empty(), "documented routes the server does not have: {unserved:?}");
}
