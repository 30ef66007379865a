//! How long to wait before the next connection attempt.

/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF_MS`].
pub const BASE_BACKOFF_MS: f64 = 500.0;
pub const MAX_BACKOFF_MS: f64 = 30_000.0;

/// Exponential backoff with "equal jitter": half fixed, half random
/// (`random` in 0..=1, passed in), so a server restart is not met by every
/// client at the same instant.
pub fn backoff_ms(attempt: u32, random: f64) -> f64 {
    let cap = (BASE_BACKOFF_MS * 2f64.powi(attempt.min(16) as i32)).min(MAX_BACKOFF_MS);
    cap / 2.0 + cap / 2.0 * random.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        assert_eq!(backoff_ms(0, 0.0), 250.0);
        assert_eq!(backoff_ms(0, 1.0), 500.0);
        assert_eq!(backoff_ms(3, 1.0), 4000.0);
        assert_eq!(backoff_ms(30, 1.0), 30_000.0);
        assert_eq!(backoff_ms(30, 0.0), 15_000.0);
    }
}
