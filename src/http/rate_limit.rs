//! Per-client token buckets: `burst` requests at once, refilled at `per_minute`.
//!
//! Applies to what costs us a write and emails (the JSON API's POSTs, link re-sends).
//! IPv6 clients are keyed by their /64, since one host usually owns a whole /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Past this many tracked clients, buckets that are full again (idle clients) are dropped.
const PRUNE_ABOVE: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `per_minute == 0` disables limiting.
    pub fn new(per_minute: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            per_second: f64::from(per_minute) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`, or says how long until one is available.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let key = bucket_key(ip);
        // A poisoned lock only means another request panicked mid-update: the map is
        // still usable, and failing open beats refusing every client.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| refill(b.tokens, b.updated, now, rate) < burst);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let tokens = refill(bucket.tokens, bucket.updated, now, self.per_second).min(self.burst);
        bucket.updated = now;
        if tokens >= 1.0 {
            bucket.tokens = tokens - 1.0;
            Ok(())
        } else {
            bucket.tokens = tokens;
            let wait = (1.0 - tokens) / self.per_second;
            Err(Duration::from_secs_f64(wait.max(0.0)))
        }
    }
}

fn refill(tokens: f64, updated: Instant, now: Instant, per_second: f64) -> f64 {
    tokens + now.saturating_duration_since(updated).as_secs_f64() * per_second
}

/// The address a limit is kept for: IPv6 clients by their /64.
pub(super) fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut seg = v6.segments();
            seg[4..].fill(0);
            IpAddr::from(seg)
        }
        v4 => v4,
    }
}

/// Seconds for a `Retry-After` header: never 0, so clients do wait.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let whole = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    whole.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(60, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check(ip("10.0.0.1"), t0).is_ok());
        }
        let wait = rl.check(ip("10.0.0.1"), t0).unwrap_err();
        assert!(wait <= Duration::from_secs(1) && wait > Duration::ZERO);
        // Another client is not affected.
        assert!(rl.check(ip("10.0.0.2"), t0).is_ok());
        // One token per second comes back.
        assert!(
            rl.check(ip("10.0.0.1"), t0 + Duration::from_secs(1))
                .is_ok()
        );
        assert!(
            rl.check(ip("10.0.0.1"), t0 + Duration::from_secs(1))
                .is_err()
        );
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let rl = RateLimiter::new(60, 1);
        let t0 = Instant::now();
        assert!(rl.check(ip("2001:db8::1"), t0).is_ok());
        assert!(rl.check(ip("2001:db8::2"), t0).is_err());
        assert!(rl.check(ip("2001:db8:0:1::1"), t0).is_ok());
    }

    #[test]
    fn zero_disables() {
        let rl = RateLimiter::new(0, 0);
        let t0 = Instant::now();
        for _ in 0..100 {
            assert!(rl.check(ip("10.0.0.1"), t0).is_ok());
        }
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2500)), 3);
    }
}
