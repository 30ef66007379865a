//! RFC 6455 closes, checked with raw frames written over a TcpStream (no
//! WebSocket library on the client side, so nothing is fixed up for us): a
//! client's close is answered with a close frame, invalid UTF-8 gets 1007,
//! protocol violations get 1002.

mod support;

use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A TCP connection that has done the WebSocket handshake by hand.
async fn raw_socket(server: &TestServer) -> TcpStream {
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// One frame as a client writes it: `first` is FIN, RSV and opcode; masked
/// unless told otherwise.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut out = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    if masked {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

const FIN: u8 = 0x80;
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// Reads server frames until a close frame; its code (None if the TCP
/// connection ended without one).
async fn close_code(s: &mut TcpStream) -> Option<u16> {
    let read = async {
        loop {
            let mut head = [0u8; 2];
            s.read_exact(&mut head).await.ok()?;
            assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
            let len = match head[1] & 0x7f {
                126 => {
                    let mut n = [0u8; 2];
                    s.read_exact(&mut n).await.ok()?;
                    u16::from_be_bytes(n) as usize
                }
                127 => {
                    let mut n = [0u8; 8];
                    s.read_exact(&mut n).await.ok()?;
                    u64::from_be_bytes(n) as usize
                }
                n => n as usize,
            };
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).await.ok()?;
            if head[0] & 0x0f == CLOSE {
                return Some(if payload.len() >= 2 { u16::from_be_bytes([payload[0], payload[1]]) } else { 1005 });
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("a close frame or the end in time")
}

async fn answer_to(server: &TestServer, bytes: &[u8]) -> Option<u16> {
    let mut s = raw_socket(server).await;
    s.write_all(bytes).await.unwrap();
    close_code(&mut s).await
}

#[tokio::test]
async fn each_violation_gets_its_close_code() {
    let server = TestServer::start().await;
    let close_1000 = [&1000u16.to_be_bytes()[..], b"bye"].concat();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("a client close is answered", frame(FIN | CLOSE, &close_1000, true), 1000),
        ("an empty close is answered", frame(FIN | CLOSE, &[], true), 1005),
        ("invalid UTF-8", frame(FIN | TEXT, &[b'{', 0xff, 0xfe, b'}'], true), 1007),
        ("unmasked frame", frame(FIN | TEXT, br#"{"type":"ping"}"#, false), 1002),
        ("RSV1 set", frame(FIN | 0x40 | TEXT, br#"{"type":"ping"}"#, true), 1002),
        ("reserved data opcode", frame(FIN | 0x3, b"x", true), 1002),
        ("reserved control opcode", frame(FIN | 0xb, b"x", true), 1002),
        ("oversized control frame", frame(FIN | PING, &[b'p'; 126], true), 1002),
        ("fragmented control frame", frame(PING, b"p", true), 1002),
        ("continuation without start", frame(FIN, b"x", true), 1002),
        ("invalid close code", frame(FIN | CLOSE, &999u16.to_be_bytes(), true), 1002),
        ("reserved close code 1005", frame(FIN | CLOSE, &1005u16.to_be_bytes(), true), 1002),
        ("one-byte close payload", frame(FIN | CLOSE, &[3], true), 1002),
    ];
    for (what, bytes, code) in cases {
        assert_eq!(answer_to(&server, &bytes).await, Some(code), "{what}");
    }
}

#[tokio::test]
async fn a_signed_in_client_closing_gets_a_close_frame_back() {
    let server = TestServer::start().await;
    let mut s = raw_socket(&server).await;
    let hello =
        r##"{"type":"hello","protocol":1,"auth":{"kind":"guest","name":"ann","color":"#00aa00","project":"rfc"}}"##;
    s.write_all(&frame(FIN | TEXT, hello.as_bytes(), true)).await.unwrap();
    s.write_all(&frame(FIN | CLOSE, &4321u16.to_be_bytes(), true)).await.unwrap();
    assert_eq!(close_code(&mut s).await, Some(4321), "the welcome, then our close echoed");
    // A fragmented text message whose continuation is invalid UTF-8.
    let mut s = raw_socket(&server).await;
    s.write_all(&frame(TEXT, br#"{"type":"pi"#, true)).await.unwrap();
    s.write_all(&frame(FIN, &[0xc3, 0x28], true)).await.unwrap();
    assert_eq!(close_code(&mut s).await, Some(1007));
}
