//! Table `lockout`: password-check lockout state by normalised email. One row per email; each
//! step is one statement, so concurrent requests (and instances) cannot slip past each other.
//! Rows whose window and lock have passed are swept with expired sessions, so unknown emails
//! cannot grow the table without bound.

use async_trait::async_trait;

use super::Backend;
use crate::store::{Lockouts, Reserved, StoreResult};

const RESERVE: &str = r#"
INSERT INTO "lockout" ("email", "attempts", "failures", "windowEndsAt", "lockedUntil")
VALUES ($1, 1, 0, $2 + $3, 0)
ON CONFLICT ("email") DO UPDATE SET
    "attempts" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN 1 ELSE "lockout"."attempts" + 1 END,
    "failures" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN 0 ELSE "lockout"."failures" END,
    "windowEndsAt" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN $2 + $3 ELSE "lockout"."windowEndsAt" END
WHERE "lockout"."lockedUntil" <= $2 AND ("lockout"."windowEndsAt" <= $2 OR "lockout"."attempts" < $4)
RETURNING "windowEndsAt""#;

/// Why a reservation was refused: locked (or failures at the limit), or only busy.
const REFUSED: &str = r#"
SELECT ("lockedUntil" > $2 OR "failures" >= $3) AS "locked" FROM "lockout" WHERE "email" = $1"#;

/// A failure (`$5` = 1 when it was not reserved here: a copy of one counted in Redis). A window
/// that has ended starts afresh with this failure.
const FAILED: &str = r#"
INSERT INTO "lockout" ("email", "attempts", "failures", "windowEndsAt", "lockedUntil")
VALUES ($1, 1, 1, $2 + $4, CASE WHEN 1 >= $3 THEN $2 + $4 ELSE 0 END)
ON CONFLICT ("email") DO UPDATE SET
    "attempts" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN 1 ELSE "lockout"."attempts" + $5 END,
    "failures" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN 1 ELSE "lockout"."failures" + 1 END,
    "lockedUntil" = CASE
        WHEN "lockout"."lockedUntil" > $2 THEN "lockout"."lockedUntil"
        WHEN (CASE WHEN "lockout"."windowEndsAt" <= $2 THEN 1 ELSE "lockout"."failures" + 1 END) >= $3 THEN $2 + $4
        ELSE "lockout"."lockedUntil" END,
    "windowEndsAt" = CASE WHEN "lockout"."windowEndsAt" <= $2 THEN $2 + $4 ELSE "lockout"."windowEndsAt" END
RETURNING "failures", "lockedUntil""#;

const RELEASE: &str = r#"
UPDATE "lockout" SET "attempts" = CASE WHEN "windowEndsAt" = $2 AND "attempts" > 0 THEN "attempts" - 1 ELSE "attempts" END
WHERE "email" = $1
RETURNING "lockedUntil""#;

const LOCK: &str = r#"
INSERT INTO "lockout" ("email", "attempts", "failures", "windowEndsAt", "lockedUntil")
VALUES ($1, 0, 0, $3, $2)
ON CONFLICT ("email") DO UPDATE SET
    "lockedUntil" = CASE WHEN "lockout"."lockedUntil" < $2 THEN $2 ELSE "lockout"."lockedUntil" END"#;

/// Whether the email is locked, or its window's failures are at the limit.
const REFUSES: &str = r#"
SELECT ("lockedUntil" > $2 OR ("windowEndsAt" > $2 AND "failures" >= $3)) AS "refused"
  FROM "lockout" WHERE "email" = $1"#;

const CLEAR: &str = r#"DELETE FROM "lockout" WHERE "email" = $1"#;

const EXPIRED: &str = r#"DELETE FROM "lockout" WHERE "windowEndsAt" <= $1 AND "lockedUntil" <= $1"#;

/// `max` as the databases' signed integer.
fn signed_max(max: u64) -> i64 {
    i64::try_from(max).unwrap_or(i64::MAX)
}

#[async_trait]
impl Lockouts for Backend {
    async fn lockout_reserve(
        &self,
        email: &str,
        now: i64,
        window_ms: i64,
        max: u64,
    ) -> StoreResult<Reserved> {
        use {REFUSED, RESERVE, Reserved, signed_max};
        let granted: Option<i64> = sqlx::query_scalar(RESERVE)
            .bind(email)
            .bind(now)
            .bind(window_ms)
            .bind(signed_max(max))
            .fetch_optional(&self.pool)
            .await?;
        if let Some(window_ends_at) = granted {
            return Ok(Reserved::Granted { window_ends_at });
        }
        let locked: Option<bool> = sqlx::query_scalar(REFUSED)
            .bind(email)
            .bind(now)
            .bind(signed_max(max))
            .fetch_optional(&self.pool)
            .await?;
        Ok(if locked == Some(true) { Reserved::Locked } else { Reserved::Busy })
    }

    async fn lockout_failed(
        &self,
        email: &str,
        now: i64,
        duration_ms: i64,
        max: u64,
        copy: bool,
    ) -> StoreResult<bool> {
        let max = signed_max(max);
        let (failures, locked_until): (i64, i64) = sqlx::query_as(FAILED)
            .bind(email)
            .bind(now)
            .bind(max)
            .bind(duration_ms)
            .bind(i64::from(copy))
            .fetch_one(&self.pool)
            .await?;
        Ok(failures == max && locked_until > now)
    }

    async fn lockout_release(&self, email: &str, window_ends_at: i64, now: i64) -> StoreResult<bool> {
        let locked_until: Option<i64> =
            sqlx::query_scalar(RELEASE).bind(email).bind(window_ends_at).fetch_optional(&self.pool).await?;
        Ok(locked_until.is_some_and(|until| until > now))
    }

    async fn lockout_lock(&self, email: &str, until: i64, now: i64) -> StoreResult<()> {
        sqlx::query(LOCK).bind(email).bind(until).bind(now).execute(&self.pool).await?;
        Ok(())
    }

    async fn lockout_refuses(&self, email: &str, now: i64, max: u64) -> StoreResult<bool> {
        let refused: Option<bool> = sqlx::query_scalar(REFUSES)
            .bind(email)
            .bind(now)
            .bind(signed_max(max))
            .fetch_optional(&self.pool)
            .await?;
        Ok(refused == Some(true))
    }

    async fn lockout_clear(&self, email: &str) -> StoreResult<()> {
        sqlx::query(CLEAR).bind(email).execute(&self.pool).await?;
        Ok(())
    }

    async fn delete_expired_lockouts(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(EXPIRED).bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
