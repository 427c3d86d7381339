//! Tables `twoFactor` (a user's TOTP secret, backup codes and second-factor lock) and
//! `trustedDevice`. Every check that must hold under concurrent requests is one guarded
//! statement: a TOTP step is used once, a backup-code list is replaced only if unchanged, an
//! enrollment never overwrites a verified factor.

use async_trait::async_trait;

use super::{Backend, Db};
use crate::{
    domain::model::{TrustedDevice, TwoFactorRow},
    store::{StoreResult, TwoFactors, cache::Invalidation},
};

const BY_USER: &str = r#"
SELECT "id", "secret", "backupCodes", "userId", "verified", "failedVerificationCount", "lockedUntil",
       "lastUsedStep"
  FROM "twoFactor" WHERE "userId" = $1"#;

/// A new enrollment, or one replacing an enrollment never completed. The lock and its count stay.
const BEGIN: &str = r#"
INSERT INTO "twoFactor" ("id", "secret", "backupCodes", "userId", "verified", "failedVerificationCount")
VALUES ($1, $2, $3, $4, $5, 0)
ON CONFLICT ("userId") DO UPDATE SET
    "id" = excluded."id", "secret" = excluded."secret", "backupCodes" = excluded."backupCodes",
    "verified" = excluded."verified", "lastUsedStep" = NULL
WHERE NOT "twoFactor"."verified""#;

const MARK_VERIFIED: &str =
    r#"UPDATE "twoFactor" SET "verified" = ("verified" OR $3) WHERE "userId" = $1 AND "id" = $2"#;

const SET_USER_FLAG: &str = r#"UPDATE "user" SET "twoFactorEnabled" = $2, "updatedAt" = $3 WHERE "id" = $1"#;

const DELETE: &str = r#"DELETE FROM "twoFactor" WHERE "userId" = $1"#;

/// One try of a second factor, counted before it is checked (so parallel guesses cannot slip
/// past the lock): only while not locked and fewer than `$3` are counted; a lock that has ended
/// starts a new count.
const RESERVE: &str = r#"
UPDATE "twoFactor" SET
    "failedVerificationCount" = CASE WHEN "lockedUntil" IS NULL THEN "failedVerificationCount" + 1 ELSE 1 END,
    "lockedUntil" = NULL
WHERE "userId" = $1
  AND (("lockedUntil" IS NULL AND "failedVerificationCount" < $3) OR "lockedUntil" <= $2)"#;

/// A try failed (or was refused at the limit): with `$2` counted, locked until `$3`.
const FAILED: &str = r#"
UPDATE "twoFactor" SET "lockedUntil" = $3
 WHERE "userId" = $1 AND "failedVerificationCount" >= $2 AND "lockedUntil" IS NULL"#;

const PASSED: &str =
    r#"UPDATE "twoFactor" SET "failedVerificationCount" = 0, "lockedUntil" = NULL WHERE "userId" = $1"#;

const USE_STEP: &str = r#"
UPDATE "twoFactor" SET "lastUsedStep" = $2
 WHERE "userId" = $1 AND ("lastUsedStep" IS NULL OR "lastUsedStep" < $2)"#;

const SWAP_CODES: &str =
    r#"UPDATE "twoFactor" SET "backupCodes" = $3 WHERE "userId" = $1 AND "backupCodes" = $2"#;

const INSERT_DEVICE: &str = r#"
INSERT INTO "trustedDevice" ("id", "userId", "userAgent", "createdAt", "expiresAt")
VALUES ($1, $2, $3, $4, $5)"#;

const TAKE_DEVICE: &str = r#"
DELETE FROM "trustedDevice" WHERE "id" = $1 AND "userId" = $2
RETURNING "id", "userId", "userAgent", "createdAt", "expiresAt""#;

const DEVICES: &str = r#"
SELECT "id", "userId", "userAgent", "createdAt", "expiresAt" FROM "trustedDevice"
 WHERE "userId" = $1 AND "expiresAt" > $2 ORDER BY "createdAt" DESC"#;

const DELETE_DEVICE: &str = r#"DELETE FROM "trustedDevice" WHERE "userId" = $1 AND "id" = $2"#;

const DELETE_DEVICES: &str = r#"DELETE FROM "trustedDevice" WHERE "userId" = $1"#;

const DELETE_EXPIRED_DEVICES: &str = r#"DELETE FROM "trustedDevice" WHERE "expiresAt" <= $1"#;

/// Forgets every trusted device of the user (inside the caller's transaction).
pub(super) async fn forget_devices<'e, E>(executor: E, user_id: &str) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(DELETE_DEVICES).bind(user_id).execute(executor).await?;
    Ok(())
}

#[async_trait]
impl TwoFactors for Backend {
    async fn two_factor(&self, user_id: &str) -> StoreResult<Option<TwoFactorRow>> {
        Ok(sqlx::query_as(BY_USER).bind(user_id).fetch_optional(&self.pool).await?)
    }

    async fn begin_two_factor(&self, row: &TwoFactorRow) -> StoreResult<bool> {
        // A transaction, for the enrolment's audit event (`commit`).
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(BEGIN)
            .bind(&row.id)
            .bind(&row.secret)
            .bind(&row.backup_codes)
            .bind(&row.user_id)
            .bind(row.verified)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            super::commit(tx).await?;
        }
        Ok(done.rows_affected() == 1)
    }

    async fn enable_two_factor(
        &self,
        user_id: &str,
        row_id: &str,
        totp_verified: bool,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(MARK_VERIFIED)
            .bind(user_id)
            .bind(row_id)
            .bind(totp_verified)
            .execute(&mut *tx)
            .await?;
        if marked.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(SET_USER_FLAG).bind(user_id).bind(true).bind(now).execute(&mut *tx).await?;
        super::commit(tx).await?;
        self.invalidate(Invalidation::User(user_id.to_string())).await;
        Ok(true)
    }

    async fn disable_two_factor(&self, user_id: &str, now: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(SET_USER_FLAG).bind(user_id).bind(false).bind(now).execute(&mut *tx).await?;
        sqlx::query(DELETE).bind(user_id).execute(&mut *tx).await?;
        forget_devices(&mut *tx, user_id).await?;
        super::commit(tx).await?;
        self.invalidate(Invalidation::User(user_id.to_string())).await;
        Ok(())
    }

    async fn reserve_second_factor_try(&self, user_id: &str, now: i64, max: i64) -> StoreResult<bool> {
        let done = sqlx::query(RESERVE).bind(user_id).bind(now).bind(max).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn second_factor_failed(&self, user_id: &str, max: i64, lock_until: i64) -> StoreResult<()> {
        sqlx::query(FAILED).bind(user_id).bind(max).bind(lock_until).execute(&self.pool).await?;
        Ok(())
    }

    async fn second_factor_passed(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query(PASSED).bind(user_id).execute(&self.pool).await?;
        Ok(())
    }

    async fn use_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(USE_STEP).bind(user_id).bind(step).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn swap_backup_codes(&self, user_id: &str, old: &str, new: &str) -> StoreResult<bool> {
        let done = sqlx::query(SWAP_CODES).bind(user_id).bind(old).bind(new).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_trusted_device(&self, d: &TrustedDevice) -> StoreResult<()> {
        sqlx::query(INSERT_DEVICE)
            .bind(&d.id)
            .bind(&d.user_id)
            .bind(&d.user_agent)
            .bind(d.created_at)
            .bind(d.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_trusted_device(&self, id: &str, user_id: &str) -> StoreResult<Option<TrustedDevice>> {
        Ok(sqlx::query_as(TAKE_DEVICE).bind(id).bind(user_id).fetch_optional(&self.pool).await?)
    }

    async fn trusted_devices(&self, user_id: &str, now: i64) -> StoreResult<Vec<TrustedDevice>> {
        Ok(sqlx::query_as(DEVICES).bind(user_id).bind(now).fetch_all(&self.pool).await?)
    }

    async fn delete_trusted_device(&self, user_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query(DELETE_DEVICE).bind(user_id).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_expired_trusted_devices(&self, now: i64) -> StoreResult<u64> {
        let done = sqlx::query(DELETE_EXPIRED_DEVICES).bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
