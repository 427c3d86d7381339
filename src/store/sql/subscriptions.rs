//! Tables `subscription` and `stripe_event` (Stripe events already applied).

use async_trait::async_trait;

use super::{Backend, Db};
use crate::{
    domain::model::SubscriptionRow,
    store::{Billing, StoreResult, cache::Invalidation},
};

/// The `subscription` table's columns, in `SubscriptionRow`'s order.
macro_rules! subscription_columns {
    () => {
        r#""id", "plan", "referenceId", "status", "periodStart", "periodEnd", "cancelAtPeriodEnd", "seats", "stripeCustomerId", "stripeSubscriptionId", "createdAt", "updatedAt""#
    };
}

/// Which of an owner's subscriptions counts: a live one first, then the one ending last.
macro_rules! counting_first {
    () => {
        r#" ORDER BY CASE WHEN "status" IN ('active', 'trialing') THEN 0 ELSE 1 END,
          COALESCE("periodEnd", 9223372036854775807) DESC, "updatedAt" DESC LIMIT 1"#
    };
}

pub(super) use counting_first;

/// The one that counts for a user or organization.
const FOR_REFERENCE: &str = concat!(
    "SELECT ",
    subscription_columns!(),
    r#" FROM "subscription" WHERE "referenceId" = $1"#,
    counting_first!()
);

/// Joins (as `b`) the subscription that counts for `$owner` (an SQL expression), and selects its
/// columns as [`JoinedSubscription`]'s (all NULL when there is none).
macro_rules! join_counting_subscription {
    ($owner:literal) => {
        concat!(
            r#" LEFT JOIN "subscription" b ON b."id" = (SELECT x."id" FROM "subscription" x WHERE x."referenceId" = "#,
            $owner,
            counting_first!(),
            ")"
        )
    };
}
pub(super) use join_counting_subscription;

macro_rules! joined_subscription_columns {
    () => {
        r#"b."id" AS b_id, b."plan" AS b_plan, b."referenceId" AS b_reference_id, b."status" AS b_status,
       b."periodStart" AS b_period_start, b."periodEnd" AS b_period_end,
       b."cancelAtPeriodEnd" AS b_cancel_at_period_end, b."seats" AS b_seats,
       b."stripeCustomerId" AS b_stripe_customer_id, b."stripeSubscriptionId" AS b_stripe_subscription_id,
       b."createdAt" AS b_created_at, b."updatedAt" AS b_updated_at"#
    };
}
pub(super) use joined_subscription_columns;

/// A subscription's columns from [`join_counting_subscription`]: all NULL when there is none.
#[derive(Clone, sqlx::FromRow)]
pub(super) struct JoinedSubscription {
    b_id: Option<String>,
    b_plan: Option<String>,
    b_reference_id: Option<String>,
    b_status: Option<String>,
    b_period_start: Option<i64>,
    b_period_end: Option<i64>,
    b_cancel_at_period_end: Option<bool>,
    b_seats: Option<i64>,
    b_stripe_customer_id: Option<String>,
    b_stripe_subscription_id: Option<String>,
    b_created_at: Option<i64>,
    b_updated_at: Option<i64>,
}

impl JoinedSubscription {
    pub(super) fn row(self) -> Option<SubscriptionRow> {
        Some(SubscriptionRow {
            id: self.b_id?,
            plan: self.b_plan?,
            reference_id: self.b_reference_id?,
            status: self.b_status?,
            period_start: self.b_period_start,
            period_end: self.b_period_end,
            cancel_at_period_end: self.b_cancel_at_period_end.unwrap_or(false),
            seats: self.b_seats,
            stripe_customer_id: self.b_stripe_customer_id,
            stripe_subscription_id: self.b_stripe_subscription_id,
            created_at: self.b_created_at?,
            updated_at: self.b_updated_at?,
        })
    }
}

/// Creates or replaces by id, unless the stored row is newer, or a canceled Stripe
/// subscription would be revived by a late event.
const PUT: &str = concat!(
    r#"INSERT INTO "subscription" ("#,
    subscription_columns!(),
    r#") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT ("id") DO UPDATE SET "plan" = excluded."plan", "referenceId" = excluded."referenceId",
    "status" = excluded."status", "periodStart" = excluded."periodStart",
    "periodEnd" = excluded."periodEnd", "cancelAtPeriodEnd" = excluded."cancelAtPeriodEnd",
    "seats" = excluded."seats", "stripeCustomerId" = excluded."stripeCustomerId",
    "stripeSubscriptionId" = excluded."stripeSubscriptionId", "updatedAt" = excluded."updatedAt"
WHERE "subscription"."updatedAt" <= excluded."updatedAt"
  AND (excluded."stripeSubscriptionId" IS NULL OR "subscription"."status" <> 'canceled')"#
);

/// The owner a subscription had before an update (it may move to another owner). A write (that
/// changes nothing), so SQLite takes its write lock before this read and a concurrent writer
/// cannot turn the upsert that follows into SQLITE_BUSY.
const PREVIOUS_REFERENCE: &str =
    r#"UPDATE "subscription" SET "updatedAt" = "updatedAt" WHERE "id" = $1 RETURNING "referenceId""#;

const RECORD_EVENT: &str = r#"INSERT INTO "stripe_event" ("id", "type", "receivedAt") VALUES ($1, $2, $3) ON CONFLICT ("id") DO NOTHING"#;

async fn put<'e, E>(executor: E, row: &SubscriptionRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = Db>,
{
    sqlx::query(PUT)
        .bind(&row.id)
        .bind(&row.plan)
        .bind(&row.reference_id)
        .bind(&row.status)
        .bind(row.period_start)
        .bind(row.period_end)
        .bind(row.cancel_at_period_end)
        .bind(row.seats)
        .bind(&row.stripe_customer_id)
        .bind(&row.stripe_subscription_id)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(executor)
        .await?;
    Ok(())
}

impl Backend {
    /// Stores `row` in `tx` and commits; the sessions of its owner, and of its previous owner,
    /// look it up afresh.
    async fn put_and_commit(
        &self,
        mut tx: sqlx::Transaction<'_, Db>,
        row: &SubscriptionRow,
    ) -> StoreResult<()> {
        let previous: Option<String> =
            sqlx::query_scalar(PREVIOUS_REFERENCE).bind(&row.id).fetch_optional(&mut *tx).await?;
        put(&mut *tx, row).await?;
        super::commit(tx).await?;
        self.invalidate(Invalidation::User(row.reference_id.clone())).await;
        if let Some(old) = previous.filter(|old| *old != row.reference_id) {
            self.invalidate(Invalidation::User(old)).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Billing for Backend {
    async fn subscription_for(&self, reference_id: &str) -> StoreResult<Option<SubscriptionRow>> {
        Ok(sqlx::query_as(FOR_REFERENCE).bind(reference_id).fetch_optional(&self.pool).await?)
    }

    async fn put_subscription(&self, row: &SubscriptionRow) -> StoreResult<()> {
        let tx = self.pool.begin().await?;
        self.put_and_commit(tx, row).await
    }

    async fn apply_stripe_event(
        &self,
        event_id: &str,
        kind: &str,
        row: &SubscriptionRow,
        now: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let recorded =
            sqlx::query(RECORD_EVENT).bind(event_id).bind(kind).bind(now).execute(&mut *tx).await?;
        if recorded.rows_affected() != 1 {
            // Seen before: nothing to change.
            super::commit(tx).await?;
            return Ok(false);
        }
        self.put_and_commit(tx, row).await?;
        Ok(true)
    }
}
