//! Table `verification`: single-use tokens (links and one-time codes) by the hash of their value
//! (`identifier`, `kind:hash`), each with what it is for (`value`: a user id, or `userId|…`).

use async_trait::async_trait;

use super::{Backend, Db};
use crate::store::{StoreResult, Tokens, classify};

const INSERT: &str = r#"
INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
VALUES ($1, $2, $3, $4, $5, $5)"#;

const TAKE: &str = r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "value", "expiresAt""#;

const PEEK: &str = r#"SELECT "value", "expiresAt" FROM "verification" WHERE "identifier" = $1"#;

const SWAP: &str = r#"
UPDATE "verification" SET "value" = $3, "updatedAt" = $4 WHERE "identifier" = $1 AND "value" = $2"#;

const DELETE_BY_VALUE: &str =
    r#"DELETE FROM "verification" WHERE "identifier" LIKE $1 || '%' AND "value" = $2"#;

/// A token of this kind for `$2` (its value, or the prefix before `|`) created after `$3`.
const CREATED_SINCE: &str = r#"
SELECT 1 FROM "verification"
 WHERE "identifier" LIKE $1 || '%' AND ("value" = $2 OR substr("value", 1, length($2) + 1) = $2 || '|')
   AND "createdAt" > $3
 LIMIT 1"#;

/// The tokens of user `$1` (whose value is the id, or starts with `id|`), and the one-time codes
/// sent to address `$2`.
macro_rules! of_user_or_address {
    () => {
        r#"("value" = $1
      OR substr("value", 1, length($1) + 1) = $1 || '|'
      OR "identifier" IN ('otp:email-verification:' || $2, 'otp:sign-in:' || $2, 'otp:forget-password:' || $2))"#
    };
}

/// A new password: every pending link and code but email verification and undo links.
const DROP_ON_NEW_PASSWORD: &str = concat!(
    r#"DELETE FROM "verification"
 WHERE substr("identifier", 1, 7) <> 'verify:' AND substr("identifier", 1, 11) <> 'undo-email:'
   AND "#,
    of_user_or_address!()
);

/// A new email (`$2` the old address): every pending link and code but undo links.
const DROP_ON_NEW_EMAIL: &str = concat!(
    r#"DELETE FROM "verification" WHERE substr("identifier", 1, 11) <> 'undo-email:' AND "#,
    of_user_or_address!()
);

/// A deleted user: every token, and the codes sent to their address.
const DROP_OF_DELETED_USER: &str = r#"
DELETE FROM "verification"
 WHERE "value" = $1 OR substr("value", 1, length($1) + 1) = $1 || '|'
    OR "identifier" IN (SELECT k || u."email" FROM "user" u,
         (SELECT 'otp:email-verification:' AS k UNION ALL SELECT 'otp:sign-in:'
          UNION ALL SELECT 'otp:forget-password:') kinds
         WHERE u."id" = $1)"#;

/// An undone email change (`$2` the address being left, `$3` the restored one): every pending
/// link and code of the user, but undo links older than `$4`.
pub(super) const DROP_AFTER_UNDO: &str = concat!(
    r#"DELETE FROM "verification"
 WHERE (substr("identifier", 1, 11) <> 'undo-email:' OR "expiresAt" >= $4)
   AND ("#,
    of_user_or_address!(),
    r#" OR "identifier" IN ('otp:email-verification:' || $3, 'otp:sign-in:' || $3, 'otp:forget-password:' || $3))"#
);

/// Which of a user's pending tokens a change drops.
#[derive(Debug, Clone, Copy)]
pub(super) enum Drop {
    /// A new password.
    OnNewPassword,
    /// A new email.
    OnNewEmail,
    /// The account is deleted.
    All,
}

/// Drops a user's pending tokens (`email`: their address, for its one-time codes).
pub(super) async fn drop_tokens<'e, E>(
    executor: E,
    user_id: &str,
    email: &str,
    which: Drop,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let sql = match which {
        Drop::OnNewPassword => DROP_ON_NEW_PASSWORD,
        Drop::OnNewEmail => DROP_ON_NEW_EMAIL,
        Drop::All => DROP_OF_DELETED_USER,
    };
    let query = sqlx::query(sql).bind(user_id);
    let query = if matches!(which, Drop::All) { query } else { query.bind(email) };
    query.execute(executor).await?;
    Ok(())
}

/// Stores a token; `Conflict` when the identifier is taken.
pub(super) async fn insert<'e, E>(
    executor: E,
    identifier: &str,
    value: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(INSERT)
        .bind(crate::security::tokens::random_id())
        .bind(identifier)
        .bind(value)
        .bind(expires_at)
        .bind(now)
        .execute(executor)
        .await
        .map_err(classify)?;
    Ok(())
}

#[async_trait]
impl Tokens for Backend {
    async fn insert_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()> {
        insert(&self.pool, identifier, value, expires_at, now).await
    }

    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<(String, i64)>> {
        Ok(sqlx::query_as(TAKE).bind(identifier).fetch_optional(&self.pool).await?)
    }

    async fn peek_verification(&self, identifier: &str) -> StoreResult<Option<(String, i64)>> {
        Ok(sqlx::query_as(PEEK).bind(identifier).fetch_optional(&self.pool).await?)
    }

    async fn swap_verification(&self, identifier: &str, old: &str, new: &str, now: i64) -> StoreResult<bool> {
        let done =
            sqlx::query(SWAP).bind(identifier).bind(old).bind(new).bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_verifications(&self, prefix: &str, value: &str) -> StoreResult<u64> {
        let done = sqlx::query(DELETE_BY_VALUE).bind(prefix).bind(value).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn verification_created_since(&self, prefix: &str, value: &str, since: i64) -> StoreResult<bool> {
        let found: Option<i32> = sqlx::query_scalar(CREATED_SINCE)
            .bind(prefix)
            .bind(value)
            .bind(since)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }
}
