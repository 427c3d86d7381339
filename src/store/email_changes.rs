//! Undoing an email change, and the addresses an undo may still restore. An undo link
//! (`verification` row `undo-email:…`, value `userId|oldEmail`) holds its address for its week:
//! nobody else can sign up with it or move to it meanwhile, so the undo cannot be blocked by
//! taking the address.

use async_trait::async_trait;

use super::StoreResult;

/// What an undo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undone {
    /// No such (unused) undo link.
    Invalid,
    /// The link had expired (it is gone now).
    Expired,
    /// The address is back: `(user id, restored email)`.
    Restored { user_id: String, email: String },
}

#[async_trait]
pub trait EmailChangeStore: Send + Sync {
    /// Undoes an email change with the undo link stored as `identifier`, in one transaction:
    /// consumes the link, puts the address it names back (`Conflict`, with nothing changed, when
    /// another account has it), clears the password (whoever changed the email may know it; the
    /// owner sets a new one by reset), ends every session of the user, and drops every pending
    /// link and code of the user and every undo link issued after this one. Older undo links stay,
    /// so the first owner's link always wins over links the attacker's own changes produced.
    async fn undo_email_change(&self, identifier: &str, now: i64) -> StoreResult<Undone>;
}

/// Whether a live undo link of another user (than `$3`, may be NULL) names the address `$1`:
/// the value ends in `|$1` and the user id before it has no `|` (addresses cannot contain one
/// either, so the match is exact).
pub(super) const HELD_FOR_UNDO: &str = r#"
SELECT COUNT(*) FROM "verification"
 WHERE substr("identifier", 1, 11) = 'undo-email:' AND "expiresAt" > $2
   AND substr("value", length("value") - length($1)) = '|' || $1
   AND substr("value", 1, length("value") - length($1) - 1) NOT LIKE '%|%'
   AND ($3 IS NULL OR substr("value", 1, length($3) + 1) <> $3 || '|')"#;

pub(super) const TAKE_LINK: &str = r#"
DELETE FROM "verification" WHERE "identifier" = $1 AND substr("identifier", 1, 11) = 'undo-email:'
RETURNING "value", "expiresAt""#;

/// Every pending link and code of user `$1` (whose addresses were `$2` and `$3`), but undo links
/// older than `$4`.
pub(super) const DROP_AFTER_UNDO: &str = r#"
DELETE FROM "verification"
 WHERE (substr("identifier", 1, 11) <> 'undo-email:' OR "expiresAt" >= $4)
   AND ("value" = $1
        OR substr("value", 1, length($1) + 1) = $1 || '|'
        OR "identifier" IN ('otp:email-verification:' || $2, 'otp:sign-in:' || $2, 'otp:forget-password:' || $2,
                            'otp:email-verification:' || $3, 'otp:sign-in:' || $3, 'otp:forget-password:' || $3))"#;

/// Implements [`EmailChangeStore`] for a backend (next to `impl_store!`, whose helpers it uses).
macro_rules! impl_email_change_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::email_changes::EmailChangeStore for $store {
            async fn undo_email_change(
                &self,
                identifier: &str,
                now: i64,
            ) -> $crate::store::StoreResult<$crate::store::email_changes::Undone> {
                use $crate::store::email_changes::{DROP_AFTER_UNDO, TAKE_LINK, Undone};
                let mut tx = self.pool.begin().await?;
                let link: Option<(String, i64)> =
                    sqlx::query_as(TAKE_LINK).bind(identifier).fetch_optional(&mut *tx).await?;
                let Some((value, expires_at)) = link else { return Ok(Undone::Invalid) };
                if expires_at <= now {
                    tx.commit().await?;
                    return Ok(Undone::Expired);
                }
                let Some((user_id, old)) = value.split_once('|') else { return Ok(Undone::Invalid) };
                let Some(current) = touch_user(&mut *tx, user_id, now).await? else {
                    return Ok(Undone::Invalid);
                };
                set_verified_email(&mut *tx, user_id, old).await?;
                sqlx::query(
                    r#"UPDATE "account" SET "password" = NULL, "updatedAt" = $2
                        WHERE "userId" = $1 AND "providerId" = 'credential'"#,
                )
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                end_sessions(&mut *tx, user_id, $crate::store::EndSessions::All).await?;
                sqlx::query(DROP_AFTER_UNDO)
                    .bind(user_id)
                    .bind(&current)
                    .bind(old)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await?;
                self.commit_announcing(tx, &[$crate::store::cache::Invalidation::User(user_id.to_string())])
                    .await?;
                Ok(Undone::Restored { user_id: user_id.to_string(), email: old.to_string() })
            }
        }
    };
}

pub(super) use impl_email_change_store;
