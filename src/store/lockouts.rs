//! The storage of password-check lockouts (its SQL: `sql/lockouts.rs`).

use async_trait::async_trait;

use super::StoreResult;

/// The answer to a lockout reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserved {
    /// Granted, in the window that ends at this time.
    Granted { window_ends_at: i64 },
    /// Locked, or the window's failures alone are at the limit.
    Locked,
    /// Every check of the window is taken, some still running: one may free up.
    Busy,
}

/// Password-check lockout state, by normalised email (`sql/lockouts.rs`): where it lives when
/// Redis is not configured (and while Redis is down), and where every lock is also written.
#[async_trait]
pub trait Lockouts: Send + Sync {
    /// Reserves one password check for `email` (nothing changes unless granted). A window of
    /// `window_ms` starts at the first reservation; at most `max` checks are reserved in it.
    async fn lockout_reserve(&self, email: &str, now: i64, window_ms: i64, max: u64)
    -> StoreResult<Reserved>;
    /// A check failed: counts it, and locks the email until `now + duration_ms` when failures
    /// reach `max`. `copy` for a failure reserved and counted in Redis (it then counts as a check
    /// here too). True exactly when this failure set the lock.
    async fn lockout_failed(
        &self,
        email: &str,
        now: i64,
        duration_ms: i64,
        max: u64,
        copy: bool,
    ) -> StoreResult<bool>;
    /// A reserved check succeeded or never ran: frees its reservation if its window is still the
    /// current one (failures stay counted). True when the email is locked now.
    async fn lockout_release(&self, email: &str, window_ends_at: i64, now: i64) -> StoreResult<bool>;
    /// Records a lock set elsewhere (in Redis), so it holds while Redis is away.
    async fn lockout_lock(&self, email: &str, until: i64, now: i64) -> StoreResult<()>;
    /// Whether the email is locked at `now`, or its window's failures are at `max`.
    async fn lockout_refuses(&self, email: &str, now: i64, max: u64) -> StoreResult<bool>;
    /// Forgets the email's state (a password reset, a deleted account).
    async fn lockout_clear(&self, email: &str) -> StoreResult<()>;
    /// Deletes rows whose window and lock have both ended.
    async fn delete_expired_lockouts(&self, now: i64) -> StoreResult<u64>;
}
