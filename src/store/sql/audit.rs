//! Table `audit_event`.

use async_trait::async_trait;

use super::Backend;
use crate::{
    domain::audit::AuditEvent,
    store::{
        StoreResult,
        audit::{Audit, AuditQuery},
    },
};

const INSERT: &str = r#"
INSERT INTO "audit_event" ("id", "at", "appId", "actorId", "impersonatorId", "actorIp", "userAgent", "action",
                           "targetType", "targetId", "outcome", "details")
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"#;

/// Newest first, within an app (`$1`), by or about a user (`$2`; with `$9`, also as an
/// impersonator), in a time range (`$3`, `$4`),
/// older than a keyset position (`$5`, `$6`), of some actions (`$8`, comma-separated; `''`: all).
const SELECT: &str = r#"
SELECT * FROM "audit_event"
 WHERE COALESCE("appId", '') = $1
   AND ($2 IS NULL OR "actorId" = $2 OR "targetId" = $2 OR ($9 AND "impersonatorId" = $2))
   AND ($3 IS NULL OR "at" >= $3) AND ($4 IS NULL OR "at" < $4)
   AND ($5 IS NULL OR "at" < $5 OR ("at" = $5 AND "id" < $6))
   AND ($8 = '' OR (',' || $8 || ',') LIKE ('%,' || "action" || ',%'))
 ORDER BY "at" DESC, "id" DESC LIMIT $7"#;

const DELETE_BEFORE: &str = r#"DELETE FROM "audit_event" WHERE "at" < $1"#;

/// Writes `e` (inside the caller's transaction, when given one).
pub(super) async fn insert<'e, E>(executor: E, e: &AuditEvent) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = super::Db>,
{
    sqlx::query(INSERT)
        .bind(&e.id)
        .bind(e.at)
        .bind(&e.app_id)
        .bind(&e.actor_id)
        .bind(&e.impersonator_id)
        .bind(&e.actor_ip)
        .bind(&e.user_agent)
        .bind(&e.action)
        .bind(&e.target_type)
        .bind(&e.target_id)
        .bind(&e.outcome)
        .bind(&e.details)
        .execute(executor)
        .await?;
    Ok(())
}

#[async_trait]
impl Audit for Backend {
    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        insert(&self.pool, e).await
    }

    async fn audit_events(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let (before_at, before_id) = q.before.clone().unzip();
        Ok(sqlx::query_as(SELECT)
            .bind(&q.app)
            .bind(&q.user_id)
            .bind(q.since)
            .bind(q.until)
            .bind(before_at)
            .bind(before_id)
            .bind(i64::from(q.limit))
            .bind(q.actions.join(","))
            .bind(q.as_impersonator)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn delete_audit_before(&self, before: i64) -> StoreResult<u64> {
        Ok(sqlx::query(DELETE_BEFORE).bind(before).execute(&self.pool).await?.rows_affected())
    }
}
