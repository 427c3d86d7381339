//! Undoing an email change, and the addresses an undo may still restore. An undo link
//! (`verification` row `undo-email:…`, value `userId|oldEmail`) holds its address for its week:
//! nobody else can sign up with it or move to it meanwhile, so the undo cannot be blocked by
//! taking the address.

use async_trait::async_trait;

use super::{Backend, Db, passkeys, sessions, users, verifications::DROP_AFTER_UNDO};
use crate::store::{EmailChanges, EndSessions, StoreResult, Undone, cache::Invalidation};

/// Whether a live undo link of another user (than `$3`, may be NULL) of the app `$4` (`''`: the
/// default space) names the address `$1`: the value ends in `|$1` and the user id before it has
/// no `|` (addresses cannot contain one either, so the match is exact).
const HELD_FOR_UNDO: &str = r#"
SELECT COUNT(*) FROM "verification"
 WHERE substr("identifier", 1, 11) = 'undo-email:' AND "expiresAt" > $2
   AND substr("value", length("value") - length($1)) = '|' || $1
   AND substr("value", 1, length("value") - length($1) - 1) NOT LIKE '%|%'
   AND ($3 IS NULL OR substr("value", 1, length($3) + 1) <> $3 || '|')
   AND EXISTS (SELECT 1 FROM "user" h WHERE h."id" = substr("value", 1, length("value") - length($1) - 1)
                                        AND COALESCE(h."appId", '') = $4)"#;

const TAKE_LINK: &str = r#"
DELETE FROM "verification" WHERE "identifier" = $1 AND substr("identifier", 1, 11) = 'undo-email:'
RETURNING "value", "expiresAt""#;

/// Whether a live undo link of another user than `user_id` names `email`.
pub(super) async fn held_for_undo<'e, E>(
    executor: E,
    email: &str,
    app: &str,
    user_id: Option<&str>,
    now: i64,
) -> StoreResult<bool>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    let held: i64 = sqlx::query_scalar(HELD_FOR_UNDO)
        .bind(email)
        .bind(now)
        .bind(user_id)
        .bind(app)
        .fetch_one(executor)
        .await?;
    Ok(held > 0)
}

#[async_trait]
impl EmailChanges for Backend {
    async fn undo_email_change(&self, identifier: &str, now: i64) -> StoreResult<Undone> {
        let mut tx = self.pool.begin().await?;
        let link: Option<(String, i64)> =
            sqlx::query_as(TAKE_LINK).bind(identifier).fetch_optional(&mut *tx).await?;
        let Some((value, expires_at)) = link else { return Ok(Undone::Invalid) };
        if expires_at <= now {
            // The spent link goes; nothing else changed (no audit event).
            tx.commit().await?;
            return Ok(Undone::Expired);
        }
        let Some((user_id, old)) = value.split_once('|') else { return Ok(Undone::Invalid) };
        let Some(current) = users::touch(&mut *tx, user_id, now).await? else {
            return Ok(Undone::Invalid);
        };
        users::set_verified_email(&mut *tx, user_id, old).await?;
        users::set_password(&mut *tx, user_id, None, now).await?;
        sessions::end(&mut *tx, user_id, EndSessions::All).await?;
        // Passkeys too: whoever changed the address may have added them.
        passkeys::forget_all(&mut *tx, user_id).await?;
        sqlx::query(DROP_AFTER_UNDO)
            .bind(user_id)
            .bind(&current)
            .bind(old)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        self.commit_announcing(tx, &[Invalidation::User(user_id.to_string())]).await?;
        Ok(Undone::Restored { user_id: user_id.to_string(), email: old.to_string() })
    }
}
