//! The host application's HTTP API through real HTTP against a real
//! server, with real WebSocket clients watching what it does.

mod support;

use protocol::{ClientMsg, Conversation, MessageId, ProjectId, ServerMsg};
use serde_json::{json, Value};
use server::{ApiKey, Config};
use support::*;

const KEY: &str = "global-key-0123456789";
const PROJECT_KEY: &str = "project-key-0123456789";

fn with_keys(config: &mut Config) {
    config.api_keys = vec![
        ApiKey { project: None, secret: KEY.into() },
        ApiKey { project: Some(ProjectId::new("mine").unwrap()), secret: PROJECT_KEY.into() },
    ];
}

async fn api(server: &TestServer, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    http_json(server.addr, method, &format!("/api/v1{path}"), Some(KEY), body.as_ref()).await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an API error: {body}"))
}

/// Reads until `n` acks came (skipping messages from others).
async fn acks(c: &mut Client, mut n: usize) {
    while n > 0 {
        match c.recv_chat().await {
            ServerMsg::Ack { .. } => n -= 1,
            ServerMsg::Message(_) | ServerMsg::UserUpdated { .. } => {}
            other => panic!("expected an ack, got {other:?}"),
        }
    }
}

/// Waits for the next frame that is neither presence nor typing.
async fn next_chat(c: &mut Client) -> ServerMsg {
    c.recv_chat().await
}

#[tokio::test]
async fn requests_without_a_good_key_are_refused() {
    let server = TestServer::start_with(with_keys).await;
    let online = "/api/v1/projects/mine/online";
    let (status, body) = http_json(server.addr, "GET", online, None, None).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    assert!(body["error"]["message"].is_string());
    let (status, body) = http_json(server.addr, "GET", online, Some("wrong-key-0123456789"), None).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
    let (status, body) = http_json(server.addr, "GET", online, Some(&KEY[..KEY.len() - 1]), None).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"), "a prefix of a key is not the key");
    let (status, body) = http_json(server.addr, "GET", "/api/v1/projects/theirs/online", Some(PROJECT_KEY), None).await;
    assert_eq!((status, code(&body)), (403, "forbidden"));
    let (status, body) = http_json(server.addr, "GET", online, Some(PROJECT_KEY), None).await;
    assert_eq!((status, body["users"].as_array().map(Vec::len)), (200, Some(0)), "its own project");
    let (status, _) = http_json(server.addr, "GET", "/api/v1/projects/theirs/online", Some(KEY), None).await;
    assert_eq!(status, 200, "a global key acts on every project");

    // Without any configured key the API is closed.
    let closed = TestServer::start().await;
    let (status, body) = http_json(closed.addr, "GET", online, Some(KEY), None).await;
    assert_eq!((status, code(&body)), (401, "unauthorized"));
}

#[tokio::test]
async fn unknown_routes_methods_and_bodies_get_json_errors() {
    let server = TestServer::start_with(|c| {
        with_keys(c);
        c.api_max_body_bytes = 1024;
    })
    .await;
    let (status, body) = api(&server, "GET", "/nowhere", None).await;
    assert_eq!((status, code(&body)), (404, "not_found"), "not the web app's index.html");
    let (status, body) = api(&server, "PATCH", "/projects/p/messages", None).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"));
    let (status, body) = api(&server, "POST", "/projects/p/messages", Some(json!({"nonsense": 1}))).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = api(&server, "POST", "/projects/bad%20id/messages", Some(json!({}))).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let big = json!({"from": {"bot": {"id": "b", "name": "B"}}, "to": {"kind": "room"}, "body": "x".repeat(2000)});
    let (status, body) = api(&server, "POST", "/projects/p/messages", Some(big)).await;
    assert_eq!((status, code(&body)), (413, "payload_too_large"));
    let blank = json!({"from": {"bot": {"id": "b", "name": "B"}}, "to": {"kind": "room"}, "body": "  "});
    let (status, body) = api(&server, "POST", "/projects/p/messages", Some(blank)).await;
    assert_eq!((status, code(&body)), (400, "body_empty"));
    let as_bot = json!({"from": {"user": "bot:x"}, "to": {"kind": "room"}, "body": "hi"});
    let (status, body) = api(&server, "POST", "/projects/p/messages", Some(as_bot)).await;
    assert_eq!((status, code(&body)), (400, "reserved_id"), "bot ids only through the bot sender");
    let to_nobody =
        json!({"from": {"bot": {"id": "b", "name": "B"}}, "to": {"kind": "direct", "user": "9"}, "body": "hi"});
    let (status, body) = api(&server, "POST", "/projects/p/messages", Some(to_nobody)).await;
    assert_eq!((status, code(&body)), (404, "unknown_user"));
    let (status, body) = api(
        &server,
        "POST",
        "/projects/p/messages",
        Some(json!({"from": {"user": "9"}, "to": {"kind": "room"}, "body": "hi"})),
    )
    .await;
    assert_eq!((status, code(&body)), (404, "unknown_user"), "a sender the project never saw");
    // Without Content-Length: an empty body (where one is optional), or 411 when chunked.
    let (status, _) = api(&server, "PUT", "/projects/p/users/u1", Some(json!({"name": "U"}))).await;
    assert_eq!(status, 200);
    let raw = |request: String| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    let head = format!("POST /api/v1/projects/p/users/u1/tokens HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\n");
    let bare = raw(format!("{head}\r\n")).await;
    assert!(bare.starts_with("HTTP/1.1 201"), "no body at all: {bare}");
    let chunked = raw(format!("{head}Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n")).await;
    assert!(chunked.starts_with("HTTP/1.1 411") && chunked.contains("length_required"), "{chunked}");
}

#[tokio::test]
async fn a_posted_message_is_delivered_live_acked_once_and_replayed() {
    let server = TestServer::start_with(with_keys).await;
    let (mut ann, wa) = server.guest("ann", "p").await;
    let (away, wb) = server.guest("bob", "p").await;
    drop(away);
    let post = json!({
        "from": {"bot": {"id": "deploy", "name": "Deploy bot", "color": "#336699"}},
        "to": {"kind": "room"},
        "body": "build #42 failed",
        "client_id": "build-42",
    });
    let (status, posted) = api(&server, "POST", "/projects/p/messages", Some(post.clone())).await;
    assert_eq!(status, 201, "{posted}");
    let id = MessageId(posted["id"].as_u64().unwrap());
    assert_eq!(posted["duplicate"], false);
    match next_chat(&mut ann).await {
        ServerMsg::Message(m) => {
            assert_eq!((m.id, m.body.as_str(), m.from.id.as_str()), (id, "build #42 failed", "bot:deploy"));
            assert!(m.from.id.is_bot());
            assert_eq!((m.from.name.as_str(), m.from.color.as_str()), ("Deploy bot", "#336699"));
            assert_eq!(m.ts, posted["ts"].as_i64().unwrap());
        }
        other => panic!("{other:?}"),
    }
    // A retry with the same client_id: the original, and nothing delivered twice.
    let (status, again) = api(&server, "POST", "/projects/p/messages", Some(post)).await;
    assert_eq!((status, again["id"].as_u64(), again["duplicate"].as_bool()), (200, Some(id.0), Some(true)));
    ann.alive().await;

    // As a named user, to a direct conversation with an offline user.
    let dm_post = json!({"from": {"user": wa.me.id.as_str()}, "to": {"kind": "direct", "user": wb.me.id.as_str()}, "body": "from the app"});
    let (status, dm) = api(&server, "POST", "/projects/p/messages", Some(dm_post)).await;
    assert_eq!(status, 201, "{dm}");
    match next_chat(&mut ann).await {
        ServerMsg::Message(m) => assert_eq!((m.from.id, m.body.as_str()), (wa.me.id.clone(), "from the app")),
        other => panic!("ann's own tabs see what was sent as her: {other:?}"),
    }
    // Bob was away: both are in his replay.
    let mut bob = server.connect().await;
    bob.hello(token(&wb.session_token), Some(MessageId(0))).await;
    let mut replayed = Vec::new();
    loop {
        match next_chat(&mut bob).await {
            ServerMsg::Message(m) => replayed.push((m.id.0, m.body)),
            ServerMsg::Synced { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        replayed,
        [(id.0, "build #42 failed".to_owned()), (dm["id"].as_u64().unwrap(), "from the app".to_owned())]
    );
}

/// The host deletes anyone's message: every client concerned gets the
/// update live, history shows a tombstone, a second delete is `410`, and a
/// message of another project (or none) is `404`.
#[tokio::test]
async fn the_host_deletes_any_message_and_clients_get_the_update() {
    let server = TestServer::start_with(with_keys).await;
    let (mut ann, _) = server.guest("ann", "mod").await;
    let (mut bob, _) = server.guest("bob", "mod").await;
    bob.say("b-1", Conversation::Room, "something to take back").await;
    acks(&mut bob, 1).await;
    let id = match next_chat(&mut ann).await {
        ServerMsg::Message(m) => m.id,
        other => panic!("{other:?}"),
    };
    let (status, update) = api(&server, "DELETE", &format!("/projects/mod/messages/{id}"), None).await;
    assert_eq!(status, 200, "{update}");
    assert_eq!((update["target"].as_u64(), update["by"].as_str()), (Some(id.0), Some("bot:host")));
    assert_eq!(update["change"]["kind"], "deleted");
    for client in [&mut ann, &mut bob] {
        match next_chat(client).await {
            ServerMsg::Update(u) => assert_eq!((u.target, u.id.0), (id, update["id"].as_u64().unwrap())),
            other => panic!("{other:?}"),
        }
    }
    let (_, page) = api(&server, "GET", "/projects/mod/messages", None).await;
    assert_eq!(
        (page["messages"][0]["deleted"].as_bool(), page["messages"][0]["body"].as_str()),
        (Some(true), Some(""))
    );
    let (status, again) = api(&server, "DELETE", &format!("/projects/mod/messages/{id}"), None).await;
    assert_eq!((status, code(&again)), (410, "message_deleted"));
    let (status, elsewhere) = api(&server, "DELETE", &format!("/projects/other/messages/{id}"), None).await;
    assert_eq!((status, code(&elsewhere)), (404, "unknown_message"));
    let (status, bad) = api(&server, "DELETE", "/projects/mod/messages/abc", None).await;
    assert_eq!((status, code(&bad)), (400, "invalid_request"));
}

#[tokio::test]
async fn history_of_the_room_and_of_a_direct_conversation_pages_back() {
    let server = TestServer::start_with(|c| {
        with_keys(c);
        c.rate_burst = 1000;
    })
    .await;
    let (mut ann, wa) = server.guest("ann", "h").await;
    let (_bob, wb) = server.guest("bob", "h").await;
    for i in 0..7 {
        ann.say(&format!("r{i}"), Conversation::Room, &format!("room {i}")).await;
        ann.say(&format!("d{i}"), dm(&wb.me.id), &format!("dm {i}")).await;
    }
    for _ in 0..14 {
        assert!(matches!(next_chat(&mut ann).await, ServerMsg::Ack { .. }));
    }
    let page = |query: String| {
        let server = &server;
        async move { api(server, "GET", &format!("/projects/h/messages{query}"), None).await }
    };
    let bodies = |v: &Value| -> Vec<String> {
        v["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect()
    };
    let (status, newest) = page("?limit=5".into()).await;
    assert_eq!(status, 200);
    assert_eq!(bodies(&newest), ["room 2", "room 3", "room 4", "room 5", "room 6"]);
    assert_eq!(newest["has_more"], true);
    let oldest = newest["messages"][0]["id"].as_u64().unwrap();
    let (_, older) = page(format!("?limit=5&before={oldest}")).await;
    assert_eq!(
        (bodies(&older), older["has_more"].as_bool()),
        (vec!["room 0".to_owned(), "room 1".to_owned()], Some(false))
    );
    let (_, direct) = page(format!("?user={}&with={}", wb.me.id, wa.me.id)).await;
    assert_eq!(bodies(&direct), (0..7).map(|i| format!("dm {i}")).collect::<Vec<_>>(), "the same from either side");
    let (status, body) = page(format!("?user={}", wa.me.id)).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = page("?limit=many".into()).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
}

#[tokio::test]
async fn online_users_and_a_profile_change_that_online_clients_see() {
    let server = TestServer::start_with(with_keys).await;
    let (mut ann, wa) = server.guest("ann", "o").await;
    let (mut bob, wb) = server.guest("bob", "o").await;
    let (_x, _) = server.guest("elsewhere", "other").await;
    let (status, online) = api(&server, "GET", "/projects/o/online", None).await;
    assert_eq!(status, 200);
    let names: Vec<_> = online["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["ann", "bob"]);

    let (status, user) = api(
        &server,
        "PUT",
        &format!("/projects/o/users/{}", wb.me.id),
        Some(json!({"name": "Robert", "color": "#112233"})),
    )
    .await;
    assert_eq!((status, user["user"]["name"].as_str(), user["online"].as_bool()), (200, Some("Robert"), Some(true)));
    for client in [&mut ann, &mut bob] {
        match next_chat(client).await {
            ServerMsg::UserUpdated { user } => {
                assert_eq!((user.id, user.name.as_str(), user.color.as_str()), (wb.me.id.clone(), "Robert", "#112233"))
            }
            other => panic!("{other:?}"),
        }
    }
    // Bob's open tab now sends as Robert, and his old session token signs in as Robert.
    bob.say("b1", Conversation::Room, "hello").await;
    match next_chat(&mut ann).await {
        ServerMsg::Message(m) => assert_eq!(m.from.name, "Robert"),
        other => panic!("{other:?}"),
    }
    let (_tab, again) = server.tab(&wb).await;
    assert_eq!(again.me.name, "Robert", "a profile set after the token was issued wins");
    let (_, online) = api(&server, "GET", "/projects/o/online", None).await;
    assert!(online["users"].as_array().unwrap().iter().any(|u| u["name"] == "Robert"));
    let (status, got) = api(&server, "GET", &format!("/projects/o/users/{}", wb.me.id), None).await;
    assert_eq!((status, got["user"]["color"].as_str()), (200, Some("#112233")));

    // A user created through the API can be messaged and gets a token.
    let (status, _) = api(&server, "PUT", "/projects/o/users/host-7", Some(json!({"name": "Seven"}))).await;
    assert_eq!(status, 200);
    match next_chat(&mut ann).await {
        ServerMsg::UserUpdated { user } => assert_eq!(user.name, "Seven", "the directory may show them"),
        other => panic!("{other:?}"),
    }
    ann.say("a1", dm(&protocol::UserId::new("host-7").unwrap()), "hi seven").await;
    acks(&mut ann, 1).await;
    let (status, minted) = api(&server, "POST", "/projects/o/users/host-7/tokens", Some(json!({"ttl_secs": 60}))).await;
    assert_eq!(status, 201, "{minted}");
    let mut seven = server.connect().await;
    let welcome = seven.hello(token(minted["token"].as_str().unwrap()), Some(MessageId(0))).await;
    assert_eq!((welcome.me.id.as_str(), welcome.me.name.as_str(), welcome.project.as_str()), ("host-7", "Seven", "o"));
    assert!(welcome.session_expires <= minted["expires"].as_i64().unwrap() + 1000 * 60 * 60 * 24 * 31);
    let mut replayed = Vec::new();
    while let ServerMsg::Message(m) = next_chat(&mut seven).await {
        replayed.push(m.body);
    }
    assert_eq!(replayed, ["hello", "hi seven"], "the room, then the DM sent before they ever connected");
    let (status, body) = api(&server, "POST", "/projects/o/users/nobody/tokens", None).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "a new user needs a name");
    let _ = wa;
}

#[tokio::test]
async fn sign_out_closes_every_tab_and_refuses_old_tokens_after_a_restart_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path().to_path_buf());
    with_keys(&mut config);
    let mut server = TestServer::start_in(config.clone()).await;
    let (mut tab1, w) = server.guest("ann", "s").await;
    let (mut tab2, _) = server.tab(&w).await;
    let (mut other, _) = server.guest("bob", "s").await;
    let (status, body) = api(&server, "POST", &format!("/projects/s/users/{}/sign-out", w.me.id), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tab1.closed().await, Some(4006));
    assert_eq!(tab2.closed().await, Some(4006));
    other.alive().await;
    let refused = |server: &TestServer| {
        let t = w.session_token.clone();
        let url = server.url();
        async move {
            let mut c = Client::connect(&url).await;
            c.send(&ClientMsg::Hello(protocol::Hello {
                protocol: 1,
                auth: token(&t),
                cursor: None,
                replay_batches: false,
            }))
            .await;
            let first = c.recv().await;
            (first, c.closed().await)
        }
    };
    let (error, close) = refused(&server).await;
    assert!(matches!(error, ServerMsg::Error { code: protocol::ErrorCode::HelloRefused, .. }), "{error:?}");
    assert_eq!(close, Some(4006));
    server.shutdown().await;
    let server = TestServer::start_in(config).await;
    let (_, close) = refused(&server).await;
    assert_eq!(close, Some(4006), "still refused after a restart");
    // A token issued after the sign-out works.
    let (status, minted) = api(&server, "POST", &format!("/projects/s/users/{}/tokens", w.me.id), None).await;
    assert_eq!(status, 201);
    let mut back = server.connect().await;
    assert_eq!(back.hello(token(minted["token"].as_str().unwrap()), None).await.me.id, w.me.id);
}

#[tokio::test]
async fn erasure_removes_the_messages_from_history_and_replay() {
    let server = TestServer::start_with(with_keys).await;
    let (mut eve, we) = server.guest("eve", "e").await;
    let (mut ann, wa) = server.guest("ann", "e").await;
    let (away, wb) = server.guest("bob", "e").await;
    drop(away);
    eve.say("e1", Conversation::Room, "eve in the room").await;
    eve.say("e2", dm(&wb.me.id), "eve to bob").await;
    acks(&mut eve, 2).await;
    ann.say("a1", dm(&we.me.id), "ann to eve").await;
    acks(&mut ann, 1).await;
    // Bob's client had seen nothing after this cursor; Ann's is online.
    let cursor = MessageId(0);
    let (status, erased) = api(&server, "DELETE", &format!("/projects/e/users/{}", we.me.id), None).await;
    assert_eq!((status, erased["deleted_messages"].as_u64()), (200, Some(2)), "{erased}");
    assert_eq!(eve.closed().await, Some(4006));
    loop {
        match next_chat(&mut ann).await {
            ServerMsg::UserErased { user } => {
                assert_eq!(user, we.me.id);
                break;
            }
            ServerMsg::Message(_) | ServerMsg::Ack { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
    let (_, room) = api(&server, "GET", "/projects/e/messages", None).await;
    assert_eq!(room["messages"].as_array().map(Vec::len), Some(0));
    let (_, direct) =
        api(&server, "GET", &format!("/projects/e/messages?user={}&with={}", wa.me.id, we.me.id), None).await;
    let kept: Vec<_> = direct["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(kept, ["ann to eve"], "what others sent the erased user stays theirs");
    let mut bob = server.connect().await;
    bob.hello(token(&wb.session_token), Some(cursor)).await;
    let mut seen = Vec::new();
    loop {
        match next_chat(&mut bob).await {
            ServerMsg::UserErased { user } => seen.push(format!("erased {user}")),
            ServerMsg::Message(m) => seen.push(m.body),
            ServerMsg::Synced { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, [format!("erased {}", we.me.id)], "no message of eve's, and the news first");
    let (status, body) = api(&server, "GET", &format!("/projects/e/users/{}", we.me.id), None).await;
    assert_eq!((status, code(&body)), (404, "unknown_user"));
    let (status, body) = api(&server, "DELETE", "/projects/e/users/never-seen", None).await;
    assert_eq!((status, code(&body)), (404, "unknown_user"));
}

/// Every route of `server/openapi.json` is served (a request reaches its
/// handler: no route-level `not_found` or `method_not_allowed`), and every
/// other method on its paths is `method_not_allowed`: the server has no
/// route the document does not describe on those paths, and
/// `api::tests` keeps the document equal to the server's route table.
#[tokio::test]
async fn the_server_serves_exactly_the_routes_the_openapi_document_describes() {
    let server = TestServer::start_with(with_keys).await;
    let doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{project}", "doc").replace("{user}", "someone");
        let methods: Vec<String> =
            item.as_object().unwrap().keys().filter(|k| *k != "parameters").map(|k| k.to_uppercase()).collect();
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let (status, body) = api(&server, method, &concrete, Some(json!({}))).await;
            let route_error = matches!(body["error"]["code"].as_str(), Some("not_found" | "method_not_allowed"));
            if methods.iter().any(|m| m == method) {
                assert!(!route_error, "{method} {path} is documented but not served: {status} {body}");
            } else {
                assert_eq!(
                    (status, code(&body)),
                    (405, "method_not_allowed"),
                    "{method} {path} is served but not documented"
                );
            }
        }
    }
}
