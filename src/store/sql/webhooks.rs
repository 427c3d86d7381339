//! Table `webhook_delivery`.

use async_trait::async_trait;

use super::{Backend, Db};
use crate::{
    domain::{audit::AuditEvent, webhooks},
    store::{
        StoreResult,
        webhooks::{Attempt, Delivery, DeliveryCounts, Webhooks},
    },
};

const INSERT: &str = r#"
INSERT INTO "webhook_delivery" ("id", "eventId", "appId", "type", "userId", "url", "body", "nextAttemptAt",
                                "createdAt")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"#;

/// The oldest due deliveries (`$1`: now) with no older pending one for the same endpoint and
/// user, leased until `$2` (the lease is checked again on the row itself, so two instances never
/// both take one).
const CLAIM: &str = r#"
UPDATE "webhook_delivery" SET "leaseUntil" = $2
 WHERE "leaseUntil" <= $1 AND "state" = 'pending' AND "seq" IN (
    SELECT d."seq" FROM "webhook_delivery" d
     WHERE d."state" = 'pending' AND d."nextAttemptAt" <= $1 AND d."leaseUntil" <= $1
       AND NOT EXISTS (SELECT 1 FROM "webhook_delivery" e
                        WHERE e."state" = 'pending' AND e."url" = d."url" AND e."userId" = d."userId"
                          AND e."seq" < d."seq")
     ORDER BY d."seq" LIMIT $3)
RETURNING *"#;

/// Only while the lease the attempt was made under (`$4`) holds: an attempt that outlived its
/// lease, or a delivery replayed meanwhile, is not overwritten by a late answer.
const DELIVERED: &str = r#"
UPDATE "webhook_delivery" SET "state" = 'delivered', "attempts" = "attempts" + 1, "lastStatus" = $3,
       "lastError" = NULL, "deliveredAt" = $2, "leaseUntil" = 0
 WHERE "id" = $1 AND "state" = 'pending' AND "leaseUntil" = $4"#;

/// `$4`: when to try again, `NULL` to give up; `$5`: the lease (as above).
const FAILED: &str = r#"
UPDATE "webhook_delivery" SET "attempts" = "attempts" + 1, "lastStatus" = $2, "lastError" = $3,
       "state" = CASE WHEN $4 IS NULL THEN 'failed' ELSE 'pending' END,
       "nextAttemptAt" = COALESCE($4, "nextAttemptAt"), "leaseUntil" = 0
 WHERE "id" = $1 AND "state" = 'pending' AND "leaseUntil" = $5"#;

const LIST: &str = r#"
SELECT * FROM "webhook_delivery" WHERE ($1 IS NULL OR "state" = $1) ORDER BY "seq" DESC LIMIT $2"#;

/// A replayed delivery is new again: its window starts now. One being tried right now is left to
/// that attempt.
const REPLAY: &str = r#"
UPDATE "webhook_delivery" SET "state" = 'pending', "attempts" = 0, "nextAttemptAt" = $2, "createdAt" = $2,
       "leaseUntil" = 0, "deliveredAt" = NULL, "lastStatus" = NULL, "lastError" = NULL
 WHERE ("id" = $1 OR "eventId" = $1) AND ("state" <> 'pending' OR "leaseUntil" <= $2)"#;

/// Holds the user's row until the transaction ends (a no-op write): transactions reporting about
/// one user write their deliveries one after the other, so `seq` order is commit order and a
/// later change's delivery is never visible before an earlier one's (PostgreSQL commits
/// concurrent transactions in any order; SQLite has one writer anyway).
const HOLD_USER: &str = r#"UPDATE "user" SET "updatedAt" = "updatedAt" WHERE "id" = $1"#;

const COUNTS: &str = r#"
SELECT COALESCE(SUM(CASE WHEN "state" = 'pending' THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN "state" = 'failed' THEN 1 ELSE 0 END), 0)
  FROM "webhook_delivery" WHERE "state" <> 'delivered'"#;

const DELETE_BEFORE: &str =
    r#"DELETE FROM "webhook_delivery" WHERE "state" <> 'pending' AND "createdAt" < $1"#;

/// Writes a delivery of `e` to each of `urls` (inside the change's transaction), with `user` as
/// they are after the change.
pub(super) async fn insert(
    tx: &mut sqlx::Transaction<'_, Db>,
    e: &AuditEvent,
    urls: &[String],
) -> StoreResult<()> {
    let Some(kind) = webhooks::reported(e) else { return Ok(()) };
    if urls.is_empty() {
        return Ok(());
    }
    let user_id = webhooks::user_of(e).unwrap_or_default();
    let user = match user_id.as_str() {
        "" => None,
        id => {
            sqlx::query(HOLD_USER).bind(id).execute(&mut **tx).await?;
            super::users::by_id(&mut **tx, id).await?
        }
    };
    let body = webhooks::body(e, kind, user.as_ref());
    for url in urls {
        sqlx::query(INSERT)
            .bind(crate::security::tokens::random_id())
            .bind(&e.id)
            .bind(&e.app_id)
            .bind(kind)
            .bind(&user_id)
            .bind(url)
            .bind(&body)
            .bind(e.at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl Webhooks for Backend {
    async fn claim_webhooks(&self, now: i64, lease_until: i64, limit: u32) -> StoreResult<Vec<Delivery>> {
        let mut claimed: Vec<Delivery> = sqlx::query_as(CLAIM)
            .bind(now)
            .bind(lease_until)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        claimed.sort_by_key(|d| d.seq);
        Ok(claimed)
    }

    async fn webhook_attempted(&self, d: &Delivery, now: i64, attempt: &Attempt) -> StoreResult<()> {
        let q = match attempt {
            Attempt::Delivered { status } => sqlx::query(DELIVERED).bind(&d.id).bind(now).bind(status),
            Attempt::Failed { status, error, retry_at } => {
                sqlx::query(FAILED).bind(&d.id).bind(status).bind(error).bind(retry_at)
            }
        };
        q.bind(d.lease_until).execute(&self.pool).await?;
        Ok(())
    }

    async fn webhook_deliveries(&self, state: Option<&str>, limit: u32) -> StoreResult<Vec<Delivery>> {
        Ok(sqlx::query_as(LIST).bind(state).bind(i64::from(limit)).fetch_all(&self.pool).await?)
    }

    async fn replay_webhook(&self, id: &str, now: i64) -> StoreResult<u64> {
        Ok(sqlx::query(REPLAY).bind(id).bind(now).execute(&self.pool).await?.rows_affected())
    }

    async fn webhook_counts(&self) -> StoreResult<DeliveryCounts> {
        let (pending, failed): (i64, i64) = sqlx::query_as(COUNTS).fetch_one(&self.pool).await?;
        Ok(DeliveryCounts {
            pending: u64::try_from(pending).unwrap_or(0),
            failed: u64::try_from(failed).unwrap_or(0),
        })
    }

    async fn delete_webhooks_before(&self, before: i64) -> StoreResult<u64> {
        Ok(sqlx::query(DELETE_BEFORE).bind(before).execute(&self.pool).await?.rows_affected())
    }
}
