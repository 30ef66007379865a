//! Live routing through real sockets: direct messages, rooms, presence,
//! identity and projects.

mod support;

use protocol::{ClientMsg, Conversation, ErrorCode, Hello, ServerMsg};
use support::*;

#[tokio::test]
async fn direct_message_reaches_only_the_addressee_with_server_stamped_sender() {
    let server = TestServer::start().await;
    let (mut a1, wa) = server.guest("alice", "p1").await;
    let (mut a2, _) = server.tab(&wa).await;
    let (mut b1, wb) = server.guest("bob", "p1").await;
    let (mut b2, _) = server.tab(&wb).await;
    let (mut c, _) = server.guest("carol", "p1").await;
    let (mut x, _) = server.guest("xavier", "p2").await;

    // Forged sender fields are not part of `send` and are ignored.
    let forged = format!(
        r##"{{"type":"send","client_id":"m-1","to":{{"kind":"direct","user":"{}"}},"body":"hi bob","from":{{"id":"evil","name":"Mallory","color":"#ffffff"}},"name":"Mallory","color":"#ffffff","id":99}}"##,
        wb.me.id
    );
    a1.send_text(&forged).await;
    let ack = a1.recv_chat().await;
    let ServerMsg::Ack { client_id, id, duplicate: false, .. } = ack else { panic!("expected ack, got {ack:?}") };
    assert_eq!(client_id, cid("m-1"));

    for tab in [&mut b1, &mut b2, &mut a2] {
        match tab.recv_chat().await {
            ServerMsg::Message(m) => {
                assert_eq!(m.id, id);
                assert_eq!(m.from, wa.me, "name and colour come from the session");
                assert_eq!(m.from.name, "alice");
                assert_eq!(m.to, dm(&wb.me.id));
                assert_eq!(m.body, "hi bob");
            }
            other => panic!("expected the message, got {other:?}"),
        }
    }
    c.alive().await;
    c.quiet(std::time::Duration::from_millis(200)).await;
    a1.quiet(std::time::Duration::from_millis(100)).await; // the origin tab got the ack only

    // Another project can reach nobody here, not even by a known id.
    x.say("x-1", dm(&wb.me.id), "psst").await;
    match x.recv_chat().await {
        ServerMsg::Error { code: ErrorCode::UnknownUser, client_id, .. } => assert_eq!(client_id, Some(cid("x-1"))),
        other => panic!("expected unknown_user, got {other:?}"),
    }
    b1.quiet(std::time::Duration::from_millis(200)).await;
}

#[tokio::test]
async fn room_message_reaches_everyone_in_the_project_and_nobody_outside() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "room").await;
    let (mut b, _) = server.guest("bob", "room").await;
    let (mut c, _) = server.guest("carol", "room").await;
    let (mut x, _) = server.guest("xavier", "elsewhere").await;
    a.say("r-1", Conversation::Room, "hello all").await;
    assert!(matches!(a.recv_chat().await, ServerMsg::Ack { .. }));
    for other in [&mut b, &mut c] {
        match other.recv_chat().await {
            ServerMsg::Message(m) => assert_eq!((m.to, m.body.as_str()), (Conversation::Room, "hello all")),
            m => panic!("expected room message, got {m:?}"),
        }
    }
    x.alive().await;
    x.quiet(std::time::Duration::from_millis(200)).await;
}

#[tokio::test]
async fn presence_lists_joins_and_leaves_after_the_last_tab() {
    let server = TestServer::start().await;
    let (mut a, wa) = server.guest("alice", "pres").await;
    assert_eq!(wa.online, vec![wa.me.clone()]);
    let (b1, wb) = server.guest("bob", "pres").await;
    let mut online: Vec<_> = wb.online.iter().map(|p| p.name.clone()).collect();
    online.sort();
    assert_eq!(online, ["alice", "bob"]);
    assert_eq!(a.recv().await, ServerMsg::Presence { user: wb.me.clone(), online: true });
    let (b2, _) = server.tab(&wb).await;
    drop(b1);
    a.alive().await; // no presence event in between: bob still has a tab
    drop(b2);
    assert_eq!(a.recv().await, ServerMsg::Presence { user: wb.me.clone(), online: false });
    // Presence never leaks across projects.
    let (mut x, wx) = server.guest("xavier", "other").await;
    assert_eq!(wx.online.len(), 1);
    x.alive().await;
}

#[tokio::test]
async fn session_token_keeps_identity_across_reconnects() {
    let server = TestServer::start().await;
    let (a, wa) = server.guest("alice", "ident").await;
    drop(a);
    let (_a2, again) = server.tab(&wa).await;
    assert_eq!(again.me, wa.me);
    assert_eq!(again.project, wa.project);
}

#[tokio::test]
async fn typing_is_relayed_to_the_addressee_only() {
    let server = TestServer::start().await;
    let (mut a, _) = server.guest("alice", "typing").await;
    let (mut b, wb) = server.guest("bob", "typing").await;
    let (mut c, _) = server.guest("carol", "typing").await;
    a.send(&ClientMsg::Typing { to: dm(&wb.me.id), active: true }).await;
    loop {
        match b.recv().await {
            ServerMsg::Typing { to, active, .. } => {
                assert_eq!((to, active), (dm(&wb.me.id), true));
                break;
            }
            ServerMsg::Presence { .. } => continue,
            other => panic!("expected typing, got {other:?}"),
        }
    }
    c.alive().await;
    loop {
        match c.event_within(std::time::Duration::from_millis(200)).await {
            Some(Event::Msg(ServerMsg::Presence { .. })) => continue,
            None => break,
            Some(other) => panic!("carol must not see typing: {other:?}"),
        }
    }
}

#[tokio::test]
async fn host_tokens_sign_in_and_bad_tokens_are_refused_with_their_codes() {
    let server = TestServer::start_with(|c| c.guests = false).await;
    let auth = server::auth::Authenticator::new(b"test-secret", std::time::Duration::from_secs(60));
    let identity = |project: &str| server::auth::Identity {
        project: protocol::ProjectId::new(project).unwrap(),
        profile: protocol::Profile {
            id: protocol::UserId::new("7").unwrap(),
            name: "mks".into(),
            color: "#123456".into(),
        },
    };
    let (good, _) = auth.mint(&identity("2424"), std::time::Duration::from_secs(60)).unwrap();
    let mut c = server.connect().await;
    let w = c.hello(token(&good), None).await;
    assert_eq!((w.me.id.as_str(), w.me.name.as_str(), w.project.as_str()), ("7", "mks", "2424"));

    async fn refused(server: &TestServer, auth: protocol::Auth, protocol: u32) -> (ErrorCode, Option<u16>) {
        let mut c = server.connect().await;
        c.send(&ClientMsg::Hello(Hello { protocol, auth, cursor: None, replay_batches: false })).await;
        let code = match c.recv().await {
            ServerMsg::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        };
        (code, c.closed().await)
    }
    let mut tampered = good.clone().into_bytes();
    let i = tampered.len() - 5;
    tampered[i] = if tampered[i] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(refused(&server, token(&tampered), 1).await, (ErrorCode::HelloRefused, Some(4001)));
    let other_secret = server::auth::Authenticator::new(b"other", std::time::Duration::from_secs(60));
    let (forged, _) = other_secret.mint(&identity("2424"), std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(refused(&server, token(&forged), 1).await, (ErrorCode::HelloRefused, Some(4001)));
    let claims = server::auth::Claims {
        sub: "7".into(),
        name: "mks".into(),
        project: "2424".into(),
        color: None,
        exp: 1_000,
        iat: None,
        nbf: None,
        history_after: None,
    };
    let expired =
        jsonwebtoken::encode(&Default::default(), &claims, &jsonwebtoken::EncodingKey::from_secret(b"test-secret"))
            .unwrap();
    assert_eq!(refused(&server, token(&expired), 1).await, (ErrorCode::HelloRefused, Some(4002)));
    let wrong = protocol::Auth::Token { token: good.clone(), project: Some(protocol::ProjectId::new("9999").unwrap()) };
    assert_eq!(refused(&server, wrong, 1).await, (ErrorCode::HelloRefused, Some(4003)));
    assert_eq!(refused(&server, token(&good), 2).await, (ErrorCode::HelloRefused, Some(4004)));
    assert_eq!(refused(&server, guest("guest", "2424"), 1).await, (ErrorCode::HelloRefused, Some(4005)));
}

#[tokio::test]
async fn invalid_guest_fields_are_refused() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    let auth = protocol::Auth::Guest {
        name: "   ".into(),
        color: "#00aa00".into(),
        project: protocol::ProjectId::new("p").unwrap(),
    };
    c.send(&ClientMsg::Hello(Hello { protocol: 1, auth, cursor: None, replay_batches: false })).await;
    match c.recv().await {
        ServerMsg::Error { code: ErrorCode::HelloRefused, message, .. } => {
            assert!(message.contains("name"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.closed().await, Some(4000));
}

#[tokio::test]
async fn every_kind_of_bad_guest_field_is_refused_with_4000() {
    let server = TestServer::start().await;
    let guest = |name: &str, color: &str, project: &str| {
        serde_json::json!({"type": "hello", "protocol": 1, "auth": {"kind": "guest", "name": name, "color": color, "project": project}})
            .to_string()
    };
    for hello in [
        guest("ann", "#00aa00", "not a project"),
        guest("ann", "#00aa00", ""),
        guest("ann", "#00aa00", &"p".repeat(65)),
        guest("ann", "green", "p"),
        guest("", "#00aa00", "p"),
        guest("\u{202e}gnp.exe", "#00aa00", "p"),
        guest("\u{200b}", "#00aa00", "p"),
        guest("\u{feff}", "#00aa00", "p"),
        guest("a\u{2028}b", "#00aa00", "p"),
        r#"{"type":"hello","protocol":1,"auth":{"kind":"guest","name":"ann","project":"p"}}"#.into(),
        r##"{"type":"hello","protocol":1,"auth":{"kind":"guest","name":7,"color":"#00aa00","project":"p"}}"##.into(),
    ] {
        let mut c = server.connect().await;
        c.send_text(&hello).await;
        match c.recv().await {
            ServerMsg::Error { code: ErrorCode::HelloRefused, .. } => {}
            other => panic!("{hello}: {other:?}"),
        }
        assert_eq!(c.closed().await, Some(4000), "{hello}");
    }
}

#[tokio::test]
async fn the_people_directory_lists_everyone_the_project_has_seen_with_online_state() {
    let server = TestServer::start_with(|c| c.users_page_max = 2).await;
    let (mut a, wa) = server.guest("alice", "dir").await;
    let (b, wb) = server.guest("bob", "dir").await;
    let (_c, wc) = server.guest("carol", "dir").await;
    let (_x, _) = server.guest("xavier", "dir-other").await;
    drop(b); // bob goes offline but stays in the directory
    let users = |query: Option<&str>, after: Option<&protocol::UserId>, limit| ClientMsg::Users {
        query: query.map(Into::into),
        after: after.cloned(),
        limit,
    };
    async fn page(client: &mut Client, msg: ClientMsg) -> (Vec<protocol::Member>, bool) {
        client.send(&msg).await;
        match client.recv_chat().await {
            ServerMsg::Users { users, has_more, .. } => (users, has_more),
            other => panic!("expected users, got {other:?}"),
        }
    }
    let (first, more) = page(&mut a, users(None, None, Some(50))).await;
    assert!(more, "the page is capped at --users-page-max");
    assert_eq!(first.iter().map(|m| m.user.name.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    assert!(first[0].online);
    // Bob's socket was dropped a moment ago: his leave may still be on its way.
    let (rest, more) = page(&mut a, users(None, Some(&first[1].user.id), None)).await;
    assert!(!more);
    assert_eq!(rest.iter().map(|m| (m.user.id.clone(), m.online)).collect::<Vec<_>>(), [(wc.me.id.clone(), true)]);
    let (found, _) = page(&mut a, users(Some("BO"), None, None)).await;
    assert_eq!(found.iter().map(|m| &m.user.id).collect::<Vec<_>>(), [&wb.me.id]);
    let (nobody, more) = page(&mut a, users(Some("xavier"), None, None)).await;
    assert!(nobody.is_empty() && !more, "another project's users are not listed");
    a.send(&users(Some(&"q".repeat(65)), None, None)).await;
    match a.recv_chat().await {
        ServerMsg::Error { code: ErrorCode::InvalidMessage, .. } => {}
        other => panic!("expected invalid_message, got {other:?}"),
    }
    // Bob, offline, can still be messaged from the directory.
    a.say("dm-bob", dm(&wb.me.id), "see you").await;
    assert!(matches!(a.recv_chat().await, ServerMsg::Ack { .. }));
    assert_eq!(first[0].user, wa.me);
}
