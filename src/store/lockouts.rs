//! Lockout state in the database: where it lives when Redis is not configured (and while Redis
//! is down). One row per normalised email; each step is one statement, so concurrent requests
//! (and instances) cannot slip past each other. Rows whose window and lock have passed are swept
//! with expired sessions, so unknown emails cannot grow the table without bound.

use async_trait::async_trait;

use super::StoreResult;

#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// Reserves one password check for `email`: false (nothing changed) while it is locked or
    /// `max` checks are already reserved in its window. A window of `window_ms` starts at the
    /// first reservation.
    async fn lockout_reserve(&self, email: &str, now: i64, window_ms: i64, max: u64) -> StoreResult<bool>;
    /// A reserved check failed: counts it, and locks the email until `now + duration_ms` when
    /// failures reach `max`. True exactly when this failure set the lock.
    async fn lockout_failed(&self, email: &str, now: i64, duration_ms: i64, max: u64) -> StoreResult<bool>;
    /// A reserved check succeeded: frees its reservation (failures stay counted). True when the
    /// email is locked now (a lock set while the check ran still holds).
    async fn lockout_succeeded(&self, email: &str, now: i64) -> StoreResult<bool>;
    /// Forgets the email's state (a password reset, a deleted account).
    async fn lockout_clear(&self, email: &str) -> StoreResult<()>;
    /// Deletes rows whose window and lock have both ended.
    async fn delete_expired_lockouts(&self, now: i64) -> StoreResult<u64>;
}

pub(super) const RESERVE: &str = r#"
INSERT INTO "lockout" ("email", "attempts", "failures", "windowEndsAt", "lockedUntil")
VALUES ($1, 1, 0, $2 + $3, 0)
ON CONFLICT ("email") DO UPDATE SET
    "attempts" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN 1 ELSE "lockout"."attempts" + 1 END,
    "failures" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN 0 ELSE "lockout"."failures" END,
    "windowEndsAt" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN $2 + $3 ELSE "lockout"."windowEndsAt" END
WHERE "lockout"."lockedUntil" <= $2 AND ("lockout"."windowEndsAt" <= $2 OR "lockout"."attempts" < $4)
RETURNING "attempts""#;

pub(super) const FAILED: &str = r#"
UPDATE "lockout" SET
    "failures" = "failures" + 1,
    "lockedUntil" = CASE WHEN "failures" + 1 >= $3 AND "lockedUntil" <= $2 THEN $2 + $4 ELSE "lockedUntil" END
WHERE "email" = $1
RETURNING "failures", "lockedUntil""#;

pub(super) const SUCCEEDED: &str = r#"
UPDATE "lockout" SET "attempts" = CASE WHEN "attempts" > 0 THEN "attempts" - 1 ELSE 0 END
WHERE "email" = $1
RETURNING "lockedUntil""#;

pub(super) const CLEAR: &str = r#"DELETE FROM "lockout" WHERE "email" = $1"#;

pub(super) const EXPIRED: &str =
    r#"DELETE FROM "lockout" WHERE "windowEndsAt" <= $1 AND "lockedUntil" <= $1"#;

/// Implements [`LockoutStore`] for a backend struct with a `pool` field.
macro_rules! impl_lockout_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::lockouts::LockoutStore for $store {
            async fn lockout_reserve(
                &self,
                email: &str,
                now: i64,
                window_ms: i64,
                max: u64,
            ) -> $crate::store::StoreResult<bool> {
                let granted: Option<i64> = sqlx::query_scalar($crate::store::lockouts::RESERVE)
                    .bind(email)
                    .bind(now)
                    .bind(window_ms)
                    .bind($crate::store::lockouts::signed_max(max))
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(granted.is_some())
            }

            async fn lockout_failed(
                &self,
                email: &str,
                now: i64,
                duration_ms: i64,
                max: u64,
            ) -> $crate::store::StoreResult<bool> {
                let max = $crate::store::lockouts::signed_max(max);
                let row: Option<(i64, i64)> = sqlx::query_as($crate::store::lockouts::FAILED)
                    .bind(email)
                    .bind(now)
                    .bind(max)
                    .bind(duration_ms)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some_and(|(failures, locked_until)| failures == max && locked_until > now))
            }

            async fn lockout_succeeded(&self, email: &str, now: i64) -> $crate::store::StoreResult<bool> {
                let locked_until: Option<i64> = sqlx::query_scalar($crate::store::lockouts::SUCCEEDED)
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(locked_until.is_some_and(|until| until > now))
            }

            async fn lockout_clear(&self, email: &str) -> $crate::store::StoreResult<()> {
                sqlx::query($crate::store::lockouts::CLEAR).bind(email).execute(&self.pool).await?;
                Ok(())
            }

            async fn delete_expired_lockouts(&self, now: i64) -> $crate::store::StoreResult<u64> {
                let done =
                    sqlx::query($crate::store::lockouts::EXPIRED).bind(now).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(super) use impl_lockout_store;

/// `max` as the databases' signed integer.
pub(super) fn signed_max(max: u64) -> i64 {
    i64::try_from(max).unwrap_or(i64::MAX)
}
