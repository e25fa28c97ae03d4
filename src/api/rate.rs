//! The request rate limit (`server.rate_limit_per_second`): a token bucket per client, where a
//! client is the member behind the token or, without one, the peer address. The admin is not
//! limited (operators' scripts must get through an overload). Answered with code LIMIT.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::app::{AppError, Caller};

/// Checks between two sweeps of clients whose bucket is full again (they need no state).
const SWEEP_EVERY: u64 = 4_096;

pub struct RateLimit {
    /// `None`: no limit configured.
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    per_second: u32,
    checks: AtomicU64,
}

impl RateLimit {
    /// `per_second` 0 turns the limit off; `burst` 0 means as many as `per_second`.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self { limiter, per_second, checks: AtomicU64::new(0) }
    }

    /// Takes one request from the caller's bucket; `peer` names an anonymous caller.
    pub fn check(&self, caller: Caller, peer: Option<std::net::IpAddr>) -> Result<(), AppError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        let client = match caller {
            Caller::Admin => return Ok(()),
            Caller::Member(id) => id.to_string(),
            Caller::Anonymous => peer.map_or_else(|| "unknown peer".to_owned(), |peer| peer.to_string()),
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::Limit(format!(
                "more than {} requests per second from this client; retry in {} ms",
                self.per_second,
                wait.as_millis().max(1)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use uuid::Uuid;

    use super::*;

    const PEER: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));

    #[test]
    fn it_should_let_a_burst_through_then_refuse_with_limit_per_client() {
        let limit = RateLimit::new(1, 3);
        let (ada, bob) = (Caller::Member(Uuid::new_v4()), Caller::Member(Uuid::new_v4()));
        for _ in 0..3 {
            assert!(limit.check(ada, PEER).is_ok());
        }
        let refused = limit.check(ada, PEER).expect_err("the fourth request at once is over the burst");
        assert_eq!(refused.code(), "LIMIT");
        assert!(limit.check(bob, PEER).is_ok(), "another member has a bucket of its own");
        assert!(limit.check(Caller::Anonymous, PEER).is_ok(), "an anonymous caller is counted by address");
    }

    #[test]
    fn it_should_not_limit_the_admin_or_anyone_when_off() {
        let limit = RateLimit::new(1, 1);
        for _ in 0..10 {
            assert!(limit.check(Caller::Admin, PEER).is_ok());
        }
        let off = RateLimit::new(0, 0);
        for _ in 0..10 {
            assert!(off.check(Caller::Anonymous, PEER).is_ok());
        }
    }
}
