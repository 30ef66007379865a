//! A token bucket mirroring the server's per-connection rate limiter
//! (server/src/ratelimit.rs), which counts every data frame after the
//! hello: sends, typing, read, history and pings alike. The client's bucket
//! is smaller and slower than the server's by [`SAFETY_MARGIN`], so clock
//! drift and network jitter (frames bunching up on the way) do not push the
//! server's bucket below one token.

use protocol::Limits;

/// The share of the announced rate and burst the client allows itself.
pub const SAFETY_MARGIN: f64 = 0.75;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    per_ms: f64,
    burst: f64,
    tokens: f64,
    last_ms: f64,
}

impl TokenBucket {
    /// A full bucket for the limits of a new connection (the server's
    /// limiter also starts full).
    pub fn new(limits: &Limits, now_ms: f64) -> Self {
        let rate = (f64::from(limits.rate_per_sec) * SAFETY_MARGIN).max(0.1);
        let burst = (f64::from(limits.rate_burst) * SAFETY_MARGIN).floor().max(1.0);
        Self { per_ms: rate / 1000.0, burst, tokens: burst, last_ms: now_ms }
    }

    fn refill(&mut self, now_ms: f64) {
        let elapsed = (now_ms - self.last_ms).max(0.0);
        self.tokens = (self.tokens + elapsed * self.per_ms).min(self.burst);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Takes a token if one is there.
    pub fn take(&mut self, now_ms: f64) -> bool {
        self.refill(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// The server refused a frame for rate: its bucket is empty, so ours
    /// starts over from empty too.
    pub fn drain(&mut self, now_ms: f64) {
        self.refill(now_ms);
        self.tokens = 0.0;
    }

    /// When the next token will be there (now if one is).
    pub fn next_token_at(&self, now_ms: f64) -> f64 {
        let mut probe = self.clone();
        probe.refill(now_ms);
        if probe.tokens >= 1.0 {
            now_ms
        } else {
            now_ms + ((1.0 - probe.tokens) / probe.per_ms).ceil()
        }
    }

    pub fn burst(&self) -> usize {
        self.burst as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate_per_sec: u32, rate_burst: u32) -> Limits {
        Limits { rate_per_sec, rate_burst, ..Limits::default() }
    }

    #[test]
    fn the_bucket_stays_inside_the_announced_limits() {
        let mut b = TokenBucket::new(&limits(20, 40), 0.0);
        let burst = (0..100).take_while(|_| b.take(0.0)).count();
        assert_eq!(burst, 30, "three quarters of the announced burst");
        assert!(!b.take(0.0));
        // 15 tokens per second: one every 66.7 ms.
        assert_eq!(b.next_token_at(0.0), 67.0);
        assert!(!b.take(66.0));
        assert!(b.take(67.0));
        // Over ten seconds no more than rate * margin * 10 (+ rounding).
        let mut sent = 0;
        let mut t = 67.0;
        while t < 10_067.0 {
            t += 1.0;
            if b.take(t) {
                sent += 1;
            }
        }
        assert!((149..=151).contains(&sent), "{sent}");
    }

    #[test]
    fn a_drain_empties_the_bucket_and_a_tiny_burst_still_allows_one() {
        let mut b = TokenBucket::new(&limits(1, 1), 0.0);
        assert!(b.take(0.0));
        b.drain(5.0);
        assert!(!b.take(5.0));
        assert!(b.next_token_at(5.0) > 5.0);
    }
}
