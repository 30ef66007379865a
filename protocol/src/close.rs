//! WebSocket close codes the server uses, and whether a client should
//! reconnect after each.
//!
//! Rule of thumb for client authors: 4000–4009 mean "do not reconnect with
//! the same credentials"; 4010–4019 and the standard codes listed here mean
//! "reconnect with backoff".

/// Every close code the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum CloseCode {
    /// A frame or message exceeded `max_frame_bytes`. Reconnect (and do not
    /// send it again).
    MessageTooBig = 1009,
    /// The server hit an unexpected internal error. Reconnect.
    InternalError = 1011,
    /// The server is shutting down or restarting. Reconnect.
    ServerRestart = 1012,
    /// The hello was malformed or its guest fields invalid. Do not reconnect.
    BadHello = 4000,
    /// The token's signature or form is invalid. Do not reconnect.
    AuthFailed = 4001,
    /// The token has expired. Do not reconnect with it; get a new one.
    TokenExpired = 4002,
    /// The token is for another project than the hello asked for. Do not reconnect.
    WrongProject = 4003,
    /// The hello's protocol version is not supported. Do not reconnect.
    UnsupportedVersion = 4004,
    /// Guest sign-in is disabled on this server; a token is required. Do not reconnect.
    GuestsDisabled = 4005,
    /// The host application signed this user out everywhere (or erased
    /// them): every session token issued before is refused. Do not
    /// reconnect; forget the token and sign in again.
    SignedOut = 4006,
    /// No hello arrived in time. Reconnect.
    HelloTimeout = 4010,
    /// The client did not read its messages fast enough and its queue
    /// filled up. Reconnect; missed messages are replayed on resume.
    SlowConsumer = 4011,
    /// The client kept sending over its rate limit. Reconnect after a backoff.
    RateLimited = 4012,
    /// Nothing was heard from the client (not even a pong) for too long. Reconnect.
    IdleTimeout = 4013,
}

impl CloseCode {
    pub const ALL: [CloseCode; 14] = [
        Self::MessageTooBig,
        Self::InternalError,
        Self::ServerRestart,
        Self::BadHello,
        Self::AuthFailed,
        Self::TokenExpired,
        Self::WrongProject,
        Self::UnsupportedVersion,
        Self::GuestsDisabled,
        Self::SignedOut,
        Self::HelloTimeout,
        Self::SlowConsumer,
        Self::RateLimited,
        Self::IdleTimeout,
    ];

    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Whether a client should reconnect (with backoff) after this close.
    pub fn should_reconnect(self) -> bool {
        !(4000..4010).contains(&self.code())
    }

    /// The short reason sent in the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            Self::MessageTooBig => "message too big",
            Self::InternalError => "internal error",
            Self::ServerRestart => "server restarting, reconnect",
            Self::BadHello => "bad hello",
            Self::AuthFailed => "authentication failed",
            Self::TokenExpired => "token expired",
            Self::WrongProject => "token is for another project",
            Self::UnsupportedVersion => "unsupported protocol version",
            Self::GuestsDisabled => "guest sign-in disabled",
            Self::SignedOut => "signed out",
            Self::HelloTimeout => "no hello in time",
            Self::SlowConsumer => "too slow reading, reconnect",
            Self::RateLimited => "rate limit exceeded",
            Self::IdleTimeout => "idle timeout",
        }
    }
}

/// Whether a client should reconnect after a close with this raw code.
/// Unknown codes (including 1006, an abnormal drop) mean "reconnect".
pub fn should_reconnect(code: u16) -> bool {
    CloseCode::from_code(code).is_none_or(CloseCode::should_reconnect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_classified() {
        let mut seen = std::collections::HashSet::new();
        for c in CloseCode::ALL {
            assert!(seen.insert(c.code()), "{c:?} duplicated");
            assert_eq!(CloseCode::from_code(c.code()), Some(c));
            assert!(c.reason().len() <= 123, "close reasons must fit a frame");
        }
        assert!(CloseCode::ServerRestart.should_reconnect());
        assert!(CloseCode::SlowConsumer.should_reconnect());
        assert!(!CloseCode::AuthFailed.should_reconnect());
        assert!(!CloseCode::UnsupportedVersion.should_reconnect());
        assert!(should_reconnect(1006));
        assert!(!should_reconnect(4002));
        assert!(!CloseCode::SignedOut.should_reconnect());
    }
}
