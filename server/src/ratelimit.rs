//! Per-connection rate limiting: a token bucket for frames, and a count of
//! refusals that tells sustained abuse from a burst.

use std::time::{Duration, Instant};

/// How far back refusals are counted to decide on closing the connection.
pub(crate) const ABUSE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    /// Refuse this frame; the connection may stay.
    Refuse,
    /// Refused too often within [`ABUSE_WINDOW`]: close the connection.
    Kick,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    kick_after: u32,
    refused: u32,
    window_start: Instant,
}

impl RateLimiter {
    pub(crate) fn new(rate_per_sec: u32, burst: u32, kick_after: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate_per_sec),
            burst,
            tokens: burst,
            last: now,
            kick_after,
            refused: 0,
            window_start: now,
        }
    }

    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        if now.saturating_duration_since(self.window_start) > ABUSE_WINDOW {
            self.window_start = now;
            self.refused = 0;
        }
        self.refused += 1;
        if self.refused > self.kick_after {
            Verdict::Kick
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate_then_kick() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(10, 5, 3, t0);
        for _ in 0..5 {
            assert_eq!(rl.check(t0), Verdict::Allow);
        }
        assert_eq!(rl.check(t0), Verdict::Refuse);
        // 100 ms at 10/s refills one token.
        assert_eq!(rl.check(t0 + Duration::from_millis(100)), Verdict::Allow);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(rl.check(t1), Verdict::Refuse);
        assert_eq!(rl.check(t1), Verdict::Refuse);
        assert_eq!(rl.check(t1), Verdict::Kick, "more than 3 refusals in the window");
    }

    #[test]
    fn refusals_are_forgotten_after_the_window() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(0, 1, 1, t0);
        assert_eq!(rl.check(t0), Verdict::Allow);
        assert_eq!(rl.check(t0), Verdict::Refuse);
        let later = t0 + ABUSE_WINDOW + Duration::from_secs(1);
        assert_eq!(rl.check(later), Verdict::Refuse);
        assert_eq!(rl.check(later), Verdict::Kick);
    }
}
