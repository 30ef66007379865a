//! A property test of the token decoder: `Authenticator::verify` must never
//! panic, whatever the token: arbitrary text, mangled real tokens, and
//! correctly signed tokens whose header or claims are near-valid JSON (so
//! the claim checks after the signature run on odd input too). Seeded, so a
//! failure repeats with its seed.
//!
//! `CHAT_FUZZ_INPUTS=10000000 cargo test --release -p server --test
//! fuzz_tokens` is the long run (BENCHMARKS.md).

use jsonwebtoken::{Algorithm, EncodingKey};
use protocol::{Profile, ProjectId, UserId};
use server::auth::{Authenticator, Identity};
use std::time::Duration;

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

fn b64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..chunk.len() + 1 {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

const HEADERS: &[&str] = &[r#"{"alg":"HS256","typ":"JWT"}"#, r#"{"alg":"HS256"}"#];
const CLAIMS: &[&str] = &[
    r##"{"sub":"7","name":"mks","project":"2424","color":"#123456","exp":4102444800}"##,
    r#"{"sub":"7","name":"mks","project":"2424","exp":4102444800,"iat":1764000000.5,"nbf":1764000000}"#,
];
const PIECES: &[&str] = &[
    "{",
    "}",
    "\"",
    ",",
    ":",
    "null",
    "-1",
    "1e999",
    "NaN",
    "18446744073709551616",
    "\"exp\"",
    "\"nbf\"",
    "\"iat\"",
    "\"sub\"",
    "\"bot:x\"",
    "\"alg\"",
    "\"none\"",
    "\"RS256\"",
    "\u{202e}",
    "\u{200b}",
    "\\ud800",
    "0.1",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut text = text.to_string();
    for _ in 0..1 + rng.below(3) {
        let mut at = rng.below(text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        match rng.below(3) {
            0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
            1 => {
                let mut end = (at + rng.below(6)).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.replace_range(at..end, "");
            }
            _ => text.truncate(at),
        }
    }
    text
}

fn inputs() -> u64 {
    std::env::var("CHAT_FUZZ_INPUTS").ok().and_then(|n| n.parse().ok()).unwrap_or(30_000)
}

#[test]
fn the_token_decoder_never_panics() {
    let auth = Authenticator::new(b"fuzz-secret", Duration::from_secs(60));
    let key = EncodingKey::from_secret(b"fuzz-secret");
    let identity = Identity {
        project: ProjectId::new("2424").unwrap(),
        profile: Profile { id: UserId::new("7").unwrap(), name: "mks".into(), color: "#123456".into() },
    };
    // Valid for longer than the long run takes.
    let (real, _) = auth.mint(&identity, Duration::from_secs(24 * 3600)).unwrap();
    let asked = ProjectId::new("2424").unwrap();
    let mut rng = Rng(std::env::var("CHAT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(11) | 1);
    let n = inputs();
    let mut accepted = 0u64;
    for i in 0..n {
        let token = match i % 4 {
            0 => {
                let bytes: Vec<u8> = (0..rng.below(80)).map(|_| rng.next_u64() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            1 => mutate(&mut rng, &real),
            _ => {
                let header = HEADERS[rng.below(HEADERS.len())];
                let header = if rng.below(4) == 0 { mutate(&mut rng, header) } else { header.to_string() };
                let claims = CLAIMS[rng.below(CLAIMS.len())];
                let claims = mutate(&mut rng, claims);
                let message = format!("{}.{}", b64url(header.as_bytes()), b64url(claims.as_bytes()));
                let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).unwrap();
                format!("{message}.{signature}")
            }
        };
        let asked = (i % 2 == 0).then_some(&asked);
        if auth.verify(&token, asked).is_ok() {
            accepted += 1;
        }
    }
    eprintln!("{n} tokens decoded without a panic ({accepted} accepted)");
    assert!(auth.verify(&real, Some(&asked)).is_ok());
}
