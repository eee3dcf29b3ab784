//! Each trigger's rate limit on this replica: a token bucket per trigger (governor),
//! refilled at its requests per minute, holding as many.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Rate limiters by trigger UID.
#[derive(Default)]
pub struct RateLimits(Mutex<HashMap<String, (u32, DefaultDirectRateLimiter)>>);

impl RateLimits {
    /// Bounded: past this many triggers it starts over (each gets a full bucket).
    const LIMIT: usize = 100_000;

    /// Takes one request from the bucket of trigger `uid`; false when it is empty.
    pub fn allow(&self, uid: &str, per_minute: u32) -> bool {
        let Some(rate) = NonZeroU32::new(per_minute) else {
            return false;
        };
        let mut limiters = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if limiters.len() >= Self::LIMIT && !limiters.contains_key(uid) {
            limiters.clear();
        }
        let (rate_of, limiter) = limiters
            .entry(uid.to_string())
            .or_insert_with(|| (per_minute, RateLimiter::direct(Quota::per_minute(rate))));
        if *rate_of != per_minute {
            // The spec changed: a new bucket at the new rate.
            *rate_of = per_minute;
            *limiter = RateLimiter::direct(Quota::per_minute(rate));
        }
        limiter.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_gets_its_rate_and_no_more_and_triggers_do_not_share_one() {
        let limits = RateLimits::default();
        let allowed = (0..10).filter(|_| limits.allow("uid-1", 3)).count();
        assert_eq!(allowed, 3, "a burst of 10 at 3 per minute");
        assert!(
            limits.allow("uid-2", 3),
            "another trigger has its own bucket"
        );
        assert!(
            limits.allow("uid-1", 5),
            "a changed rate starts a new bucket"
        );
    }
}
