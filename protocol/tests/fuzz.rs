//! A property test of the frame parser: `ClientMsg::parse` and the field
//! validation after it must never panic, whatever the frame, and must
//! classify every failure. Inputs are arbitrary bytes and near-valid JSON
//! (valid frames with mutations), from a seeded generator, so a failure
//! repeats with its seed.
//!
//! The test command runs a short pass; `CHAT_FUZZ_INPUTS=10000000 cargo
//! test --release -p protocol --test fuzz` is the long one (BENCHMARKS.md).

use protocol::{validate, ClientMsg, ErrorCode};

/// xorshift64*: small, seedable, good enough to spread inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Valid frames of every client type: the seeds of the mutations.
const VALID: &[&str] = &[
    r##"{"type":"hello","protocol":1,"auth":{"kind":"guest","name":"mks","color":"#e0245e","project":"2424"}}"##,
    r#"{"type":"hello","protocol":1,"auth":{"kind":"token","token":"eyJ.e30.x","project":"2424"},"cursor":41}"#,
    r#"{"type":"send","client_id":"c-1","to":{"kind":"direct","user":"5"},"body":"hi <b>"}"#,
    r#"{"type":"send","client_id":"c-2","to":{"kind":"room"},"body":"all \ud83d\ude00 \u202e"}"#,
    r#"{"type":"typing","to":{"kind":"direct","user":"5"},"active":true}"#,
    r#"{"type":"history","conversation":{"kind":"room"},"before":100,"limit":50}"#,
    r#"{"type":"read","conversation":{"kind":"direct","user":"5"},"up_to":42}"#,
    r#"{"type":"users","query":"an","limit":10}"#,
    r#"{"type":"ping"}"#,
];

/// Pieces a mutation may insert: JSON syntax, odd numbers and strings.
const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    "\\u",
    "\\ud800",
    "\\udc00",
    "null",
    "true",
    "-1",
    "1e999",
    "18446744073709551616",
    "-0",
    "0.5",
    "\"type\"",
    "\"hello\"",
    "\"kind\"",
    "\"guest\"",
    "\"direct\"",
    "\u{202e}",
    "\u{200b}",
    "\u{feff}",
    "\u{2028}",
    "\0",
    "\u{7f}",
    "é",
    "😀",
    "        ",
];

fn arbitrary_bytes(rng: &mut Rng) -> String {
    let len = rng.below(64);
    let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    // Frames reach the parser as text (tungstenite checks UTF-8).
    String::from_utf8_lossy(&bytes).into_owned()
}

fn near_valid(rng: &mut Rng) -> String {
    let mut text = VALID[rng.below(VALID.len())].to_string();
    for _ in 0..1 + rng.below(4) {
        let at = boundary(&text, rng.below(text.len() + 1));
        match rng.below(6) {
            0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
            1 => {
                let end = boundary(&text, at + rng.below(8));
                text.replace_range(at..end, "");
            }
            2 => text.truncate(at),
            3 => {
                let end = boundary(&text, at + rng.below(12));
                let copy = text[at..end].to_string();
                text.insert_str(end, &copy);
            }
            4 => {
                // Swap a value for another frame's piece.
                let other = VALID[rng.below(VALID.len())];
                let from = boundary(other, rng.below(other.len()));
                let to = boundary(other, from + rng.below(20));
                text.insert_str(at, &other[from..to]);
            }
            _ => {
                // Deep nesting.
                let depth = rng.below(300);
                text.insert_str(at, &"[".repeat(depth));
            }
        }
    }
    text
}

fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Parses and validates as the server does; panics only on a broken rule.
fn check(text: &str) {
    match ClientMsg::parse(text) {
        Ok(ClientMsg::Hello(hello)) => {
            if let protocol::Auth::Guest { name, color, .. } = &hello.auth {
                let _ = validate::display_name(name);
                let _ = validate::color(color);
            }
        }
        Ok(ClientMsg::Send { body, .. }) => {
            let _ = validate::body(&body, 4000);
        }
        Ok(msg) => {
            // What parsed serializes and parses back to itself.
            let again = serde_json::to_string(&msg).unwrap();
            assert_eq!(ClientMsg::parse(&again).as_ref(), Ok(&msg), "{text}");
        }
        Err(e) => {
            assert!(
                matches!(e.code, ErrorCode::Malformed | ErrorCode::UnknownType | ErrorCode::InvalidMessage),
                "{text}: {e:?}"
            );
            assert_eq!(e.of_type.is_some(), e.code == ErrorCode::InvalidMessage, "{text}: {e:?}");
        }
    }
}

fn inputs() -> u64 {
    std::env::var("CHAT_FUZZ_INPUTS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000)
}

#[test]
fn the_parser_never_panics_and_classifies_every_failure() {
    let n = inputs();
    let mut rng = Rng::new(std::env::var("CHAT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11));
    for i in 0..n {
        let text = if i % 4 == 0 { arbitrary_bytes(&mut rng) } else { near_valid(&mut rng) };
        check(&text);
    }
    for valid in VALID {
        assert!(ClientMsg::parse(valid).is_ok(), "{valid}");
    }
    eprintln!("{n} frames parsed without a panic");
}
