//! Account lockout: `LOCKOUT_MAX_FAILED_ATTEMPTS` failed sign-ins for one email (from any
//! address) within `LOCKOUT_DURATION_MINUTES` of the first failure lock it for that long: 403 `ACCOUNT_LOCKED` even
//! with the right password. Unknown emails are counted and locked alike, so lockouts tell
//! nothing about which emails exist. A successful sign-in resets the count; a password reset
//! lifts the lock.

use crate::security::counters::Counters;

pub struct Lockout {
    pub max_failures: u64,
    pub duration_ms: i64,
}

impl Lockout {
    fn keys(email: &str) -> (String, String) {
        (format!("lock:{email}"), format!("lockfail:{email}"))
    }

    pub async fn is_locked(&self, counters: &Counters, email: &str, now: i64) -> bool {
        counters.get_until(&Self::keys(email).0, now).await.is_some()
    }

    /// Counts a failure; true exactly when this failure locks the account.
    pub async fn failed(&self, counters: &Counters, email: &str, now: i64) -> bool {
        let (lock, fails) = Self::keys(email);
        let window = counters.hit_anchored(&fails, self.duration_ms, now).await;
        if window.count >= self.max_failures {
            counters.set_until(&lock, now + self.duration_ms, now).await;
        }
        window.count == self.max_failures
    }

    pub async fn clear(&self, counters: &Counters, email: &str, now: i64) {
        let (lock, fails) = Self::keys(email);
        counters.clear(&[&lock, &fails], now).await;
    }
}
