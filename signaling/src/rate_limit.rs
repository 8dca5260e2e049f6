//! A per-connection token bucket for inbound messages (`--rate-per-sec`, `--rate-burst`).

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    rate_per_sec: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_sec: f64, burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            rate_per_sec,
            burst,
            last: now,
        }
    }

    /// Takes one token if there is one; `false` means the message must be dropped.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed: Duration = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate_per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(50.0, 200.0, t0);
        assert!((0..200).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        // 100 ms later five tokens have come back.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!((0..10).filter(|_| b.try_take(t1)).count(), 5);
        // Refill never exceeds the burst.
        let t2 = t1 + Duration::from_secs(3600);
        assert_eq!((0..300).filter(|_| b.try_take(t2)).count(), 200);
    }
}
