//! The sign-in limit: after too many failed logins for one e-mail address within a window,
//! `login` for that address answers LIMIT, even with the right password, until the window has
//! passed. Kept in memory per node: it slows guessing down, it is not an audit trail.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::AppError;

/// Addresses remembered before the ones with no recent failure are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// Failed logins per address within the window.
pub struct SignInLimit {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SignInLimit {
    /// `max_failures` 0 turns the limit off.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { max_failures: max_failures as usize, window, failures: Mutex::new(HashMap::new()) }
    }

    /// LIMIT while `address` has `max_failures` failures within the window before `now`. A
    /// refused attempt is not counted, so the limit ends one window after the failures did.
    pub fn check(&self, address: &str, now: Instant) -> Result<(), AppError> {
        if self.max_failures == 0 {
            return Ok(());
        }
        let mut failures = self.failures.lock();
        let Some(times) = failures.get_mut(address) else { return Ok(()) };
        forget_older(times, now, self.window);
        if times.len() < self.max_failures {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        let wait = (oldest + self.window).saturating_duration_since(now).as_secs().max(1);
        Err(AppError::Limit(format!(
            "too many failed sign-ins for this address: try again in {} (or reset your password)",
            if wait >= 120 { format!("{} minutes", wait.div_ceil(60)) } else { format!("{wait} seconds") }
        )))
    }

    /// Counts a failed login for `address` at `now`.
    pub fn failed(&self, address: &str, now: Instant) {
        if self.max_failures == 0 {
            return;
        }
        let mut failures = self.failures.lock();
        if failures.len() > PRUNE_ABOVE {
            failures.retain(|_, times| {
                forget_older(times, now, self.window);
                !times.is_empty()
            });
        }
        let times = failures.entry(address.to_owned()).or_default();
        forget_older(times, now, self.window);
        times.push_back(now);
        // More than the limit need not be remembered: only the newest ones decide when it ends.
        while times.len() > self.max_failures {
            times.pop_front();
        }
    }
}

fn forget_older(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|&at| now.saturating_duration_since(at) >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(600);

    fn fail(limit: &SignInLimit, address: &str, at: Instant, times: usize) {
        for _ in 0..times {
            limit.failed(address, at);
        }
    }

    #[test]
    fn it_should_refuse_an_address_after_ten_failures_in_the_window_and_no_other() {
        let (limit, start) = (SignInLimit::new(10, WINDOW), Instant::now());
        fail(&limit, "a@example.org", start, 9);
        assert!(limit.check("a@example.org", start).is_ok(), "nine failures still allow a try");
        fail(&limit, "a@example.org", start + Duration::from_secs(1), 1);
        let refused = limit.check("a@example.org", start + Duration::from_secs(2)).unwrap_err();
        assert_eq!(refused.code(), "LIMIT");
        assert!(refused.to_string().contains("10 minutes"), "{refused}");
        assert!(limit.check("b@example.org", start).is_ok());
    }

    #[test]
    fn the_limit_ends_when_the_window_since_the_failures_has_passed() {
        let (limit, start) = (SignInLimit::new(10, WINDOW), Instant::now());
        fail(&limit, "a@example.org", start, 5);
        fail(&limit, "a@example.org", start + Duration::from_secs(300), 5);
        assert!(limit.check("a@example.org", start + Duration::from_secs(599)).is_err());
        // The first five have left the window: five failures remain.
        assert!(limit.check("a@example.org", start + WINDOW).is_ok());
        fail(&limit, "a@example.org", start + WINDOW, 5);
        assert!(limit.check("a@example.org", start + WINDOW).is_err(), "ten within the window again");
        assert!(limit.check("a@example.org", start + Duration::from_secs(899)).is_err(), "the five at 300 s still count");
        assert!(limit.check("a@example.org", start + Duration::from_secs(900)).is_ok(), "only the newest five are left");
    }

    #[test]
    fn zero_failures_allowed_turns_the_limit_off() {
        let (limit, start) = (SignInLimit::new(0, WINDOW), Instant::now());
        fail(&limit, "a@example.org", start, 100);
        assert!(limit.check("a@example.org", start).is_ok());
    }
}
