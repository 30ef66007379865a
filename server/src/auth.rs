//! Who a connection is: signed tokens (HMAC-SHA256 JWTs shared with the host
//! application, and the session tokens this server issues) and guest ids.

use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use protocol::{validate, CloseCode, Profile, ProjectId, UserId, BOT_ID_PREFIX};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Leeway for clock skew between the host application and this server,
/// applied to `exp`, `nbf` and `iat` alike.
const CLOCK_LEEWAY_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Bad signature, bad form, or claims that fail validation.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token's `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// The token's `nbf` (not before) or `iat` (issued at) is in the
    /// future beyond the leeway: it is not valid yet.
    #[error("token not valid yet ({0} is in the future)")]
    NotYetValid(&'static str),
    /// The token names another project than the hello asked for.
    #[error("token is for project {token}, not {asked}")]
    WrongProject { token: ProjectId, asked: ProjectId },
}

impl AuthError {
    pub fn close_code(&self) -> CloseCode {
        match self {
            AuthError::Invalid(_) | AuthError::NotYetValid(_) => CloseCode::AuthFailed,
            AuthError::Expired => CloseCode::TokenExpired,
            AuthError::WrongProject { .. } => CloseCode::WrongProject,
        }
    }
}

/// The claims of a chat token. Host applications mint these with the shared
/// secret; see PROTOCOL.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Display name.
    pub name: String,
    /// Project id.
    pub project: String,
    /// `#rrggbb`; derived from the user id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// When it was issued, seconds since the epoch (a fraction allowed, as
    /// RFC 7519 permits: tokens this server mints carry milliseconds). After
    /// the host application signed a user out, tokens without it, or
    /// issued before the sign-out, are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<f64>,
    /// Not before, seconds since the epoch (optional; 5 s leeway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

/// An authenticated identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub project: ProjectId,
    pub profile: Profile,
}

pub struct Authenticator {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    session_ttl: Duration,
}

impl Authenticator {
    pub fn new(secret: &[u8], session_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = CLOCK_LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            session_ttl,
        }
    }

    /// Checks a token and, when `asked` is given, that it is for that project.
    pub fn verify(&self, token: &str, asked: Option<&ProjectId>) -> Result<Identity, AuthError> {
        self.verify_issued(token, asked).map(|(identity, _)| identity)
    }

    /// As [`verify`](Self::verify), with the token's `iat` in milliseconds.
    pub fn verify_issued(&self, token: &str, asked: Option<&ProjectId>) -> Result<(Identity, Option<i64>), AuthError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid("nbf"),
                _ => AuthError::Invalid(e.to_string()),
            })?;
        let claims = data.claims;
        // jsonwebtoken does not look at `iat`; a token issued in the future
        // comes from a broken clock or a forger, and is no more valid than
        // one with a future `nbf`.
        let latest = unix_now().as_secs_f64() + CLOCK_LEEWAY_SECS as f64;
        if claims.iat.is_some_and(|iat| iat.is_nan() || iat > latest) {
            return Err(AuthError::NotYetValid("iat"));
        }
        let invalid = |what: &str, e: &dyn std::fmt::Display| AuthError::Invalid(format!("{what}: {e}"));
        let project = ProjectId::new(claims.project).map_err(|e| invalid("project", &e))?;
        let id = UserId::new(claims.sub).map_err(|e| invalid("sub", &e))?;
        if id.is_bot() {
            // System senders exist only in the HTTP API.
            return Err(AuthError::Invalid(format!("sub: ids starting with {BOT_ID_PREFIX} are reserved")));
        }
        let name = validate::display_name(&claims.name).map_err(|e| invalid("name", &e))?;
        let color = match claims.color {
            Some(c) => validate::color(&c).map_err(|e| invalid("color", &e))?,
            None => color_for(&id),
        };
        if let Some(asked) = asked {
            if *asked != project {
                return Err(AuthError::WrongProject { token: project, asked: asked.clone() });
            }
        }
        // A float-to-int `as` saturates (and maps NaN to 0: "issued at the epoch").
        let issued_at = claims.iat.map(|s| (s * 1000.0) as i64);
        Ok((Identity { project, profile: Profile { id, name, color } }, issued_at))
    }

    /// Signs a token for `identity` valid for `ttl`; returns it and its expiry (ms).
    pub fn mint(&self, identity: &Identity, ttl: Duration) -> Result<(String, i64), AuthError> {
        if identity.profile.id.is_bot() {
            return Err(AuthError::Invalid(format!("ids starting with {BOT_ID_PREFIX} are reserved")));
        }
        let now = unix_now();
        let exp = now.saturating_add(ttl).as_secs();
        let claims = Claims {
            iat: Some(now.as_millis() as f64 / 1000.0),
            sub: identity.profile.id.to_string(),
            name: identity.profile.name.clone(),
            project: identity.project.to_string(),
            color: Some(identity.profile.color.clone()),
            exp,
            nbf: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        Ok((token, exp as i64 * 1000))
    }

    /// The session token returned in `welcome`.
    pub fn session_token(&self, identity: &Identity) -> Result<(String, i64), AuthError> {
        self.mint(identity, self.session_ttl)
    }
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// A fresh guest id: `g-` and 12 random base32 characters (60 bits).
pub(crate) fn new_guest_id() -> UserId {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 12];
    // getrandom only fails when the OS has no entropy source at all; a
    // time-seeded fallback still gives distinct ids on such a machine.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = unix_now().as_nanos().to_le_bytes();
        bytes.copy_from_slice(&seed[..12]);
    }
    let id: String = bytes.iter().map(|b| ALPHABET[(*b & 31) as usize] as char).collect();
    // Only alphabet characters: always a valid id.
    UserId::new(format!("g-{id}")).unwrap_or_else(|_| unreachable!("guest ids are valid"))
}

/// A stable colour for users whose token carries none.
pub fn color_for(id: &UserId) -> String {
    const PALETTE: [&str; 8] = ["#e0245e", "#1d9bf0", "#00ba7c", "#f91880", "#7856ff", "#ff7a00", "#0f766e", "#b45309"];
    let hash = id.as_str().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    PALETTE[hash as usize % PALETTE.len()].to_string()
}

/// The configured secret, or the one kept in `<data_dir>/token.secret`,
/// created (mode 0600) on first use.
pub fn load_or_create_secret(configured: Option<&str>, data_dir: &Path) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join("token.secret");
    match std::fs::read(&path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => return Err(std::io::Error::other(format!("{} is shorter than 32 bytes", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data_dir)?;
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(std::io::Error::other)?;
    let secret: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, secret.as_bytes())?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            project: ProjectId::new("2424").unwrap(),
            profile: Profile { id: UserId::new("7").unwrap(), name: "mks".into(), color: "#123456".into() },
        }
    }

    #[test]
    fn minted_tokens_verify() {
        let auth = Authenticator::new(b"secret", Duration::from_secs(60));
        let (token, exp) = auth.session_token(&identity()).unwrap();
        assert!(exp > unix_now().as_millis() as i64);
        assert_eq!(auth.verify(&token, None).unwrap(), identity());
        assert_eq!(auth.verify(&token, Some(&ProjectId::new("2424").unwrap())).unwrap(), identity());
    }

    #[test]
    fn refusals_have_their_codes() {
        let auth = Authenticator::new(b"secret", Duration::from_secs(60));
        let (token, _) = auth.mint(&identity(), Duration::from_secs(60)).unwrap();
        let other = Authenticator::new(b"other", Duration::from_secs(60));
        assert_eq!(other.verify(&token, None).unwrap_err().close_code(), CloseCode::AuthFailed);
        let mut tampered = token.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(auth.verify(&tampered, None).unwrap_err().close_code(), CloseCode::AuthFailed);
        let asked = ProjectId::new("9999").unwrap();
        assert_eq!(auth.verify(&token, Some(&asked)).unwrap_err().close_code(), CloseCode::WrongProject);
        let expired = Claims {
            sub: "7".into(),
            name: "mks".into(),
            project: "2424".into(),
            color: None,
            exp: unix_now().as_secs() - 60,
            iat: None,
            nbf: None,
        };
        let expired = jsonwebtoken::encode(&Header::default(), &expired, &EncodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(auth.verify(&expired, None).unwrap_err().close_code(), CloseCode::TokenExpired);
        assert_eq!(auth.verify("garbage", None).unwrap_err().close_code(), CloseCode::AuthFailed);
    }

    #[test]
    fn bot_ids_cannot_be_signed_in_or_minted() {
        let auth = Authenticator::new(b"secret", Duration::from_secs(60));
        let mut bot = identity();
        bot.profile.id = UserId::new("bot:deploy").unwrap();
        assert!(auth.mint(&bot, Duration::from_secs(60)).is_err());
        let claims = Claims {
            sub: "bot:deploy".into(),
            name: "Deploy".into(),
            project: "2424".into(),
            color: None,
            exp: unix_now().as_secs() + 60,
            iat: None,
            nbf: None,
        };
        let forged = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"secret")).unwrap();
        assert_eq!(auth.verify(&forged, None).unwrap_err().close_code(), CloseCode::AuthFailed);
    }

    #[test]
    fn minted_tokens_say_when_they_were_issued() {
        let auth = Authenticator::new(b"secret", Duration::from_secs(60));
        let (token, _) = auth.session_token(&identity()).unwrap();
        let (_, issued) = auth.verify_issued(&token, None).unwrap();
        let now = unix_now().as_millis() as i64;
        assert!(issued.is_some_and(|t| t <= now && t > now - 5_000), "{issued:?}");
    }

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(b"secret")).unwrap()
    }

    fn claims(extra: serde_json::Value) -> serde_json::Value {
        let mut claims =
            serde_json::json!({"sub": "7", "name": "mks", "project": "2424", "exp": unix_now().as_secs() + 600});
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        claims
    }

    #[test]
    fn tokens_not_valid_yet_are_refused_and_the_leeway_holds() {
        let auth = Authenticator::new(b"secret", Duration::from_secs(60));
        let now = unix_now().as_secs();
        for (claim, at, ok) in [
            ("nbf", now + 120, false),
            ("nbf", now + 2, true),
            ("nbf", now - 60, true),
            ("iat", now + 120, false),
            ("iat", now + 2, true),
            ("iat", now - 60, true),
        ] {
            let token = signed(claims(serde_json::json!({ claim: at })));
            match auth.verify(&token, None) {
                Ok(_) => assert!(ok, "{claim} {at} (now {now}) was accepted"),
                Err(e) => {
                    assert!(!ok, "{claim} {at} (now {now}) was refused: {e}");
                    assert!(matches!(e, AuthError::NotYetValid(c) if c == claim), "{e}");
                    assert_eq!(e.close_code(), CloseCode::AuthFailed);
                }
            }
        }
    }

    #[test]
    fn token_names_follow_the_display_name_rules() {
        let auth = Authenticator::new(b"secret", Duration::from_secs(60));
        for name in ["\u{202e}gnp.exe", "\u{200b}", "\u{feff}", "a\u{2028}b"] {
            let token = signed(claims(serde_json::json!({ "name": name })));
            let e = auth.verify(&token, None).unwrap_err();
            assert_eq!(e.close_code(), CloseCode::AuthFailed, "{name:?}");
        }
    }

    #[test]
    fn guest_ids_are_distinct_and_valid() {
        let a = new_guest_id();
        let b = new_guest_id();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("g-") && a.as_str().len() == 14);
    }

    #[test]
    fn secret_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_secret(None, dir.path()).unwrap();
        let second = load_or_create_secret(None, dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create_secret(Some("x"), dir.path()).unwrap(), b"x");
    }
}
