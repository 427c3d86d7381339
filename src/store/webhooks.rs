//! The storage of outbound webhook deliveries (its SQL: `sql/webhooks.rs`). Deliveries are written
//! by the transaction of the change they report (`store::audit::with_event_to`); this is the
//! worker's and the CLI's side.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreResult;

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
#[sqlx(rename_all = "camelCase")]
pub struct Delivery {
    pub seq: i64,
    pub id: String,
    pub event_id: String,
    pub app_id: Option<String>,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    /// `""`: the event is about nobody in particular.
    pub user_id: String,
    pub url: String,
    #[serde(skip)]
    pub body: String,
    /// `pending`, `delivered` or `failed` (retried for the whole window, never answered 2xx).
    pub state: String,
    pub attempts: i32,
    #[serde(with = "crate::domain::time::iso")]
    pub next_attempt_at: i64,
    #[serde(skip)]
    pub lease_until: i64,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    #[serde(with = "crate::domain::time::iso")]
    pub created_at: i64,
    #[serde(with = "crate::domain::time::iso_opt")]
    pub delivered_at: Option<i64>,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Answered 2xx with this status.
    Delivered { status: i32 },
    /// Refused or unreachable; tried again at `retry_at`, or given up (`None`).
    Failed { status: Option<i32>, error: String, retry_at: Option<i64> },
}

/// Deliveries by state, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub pending: u64,
    pub failed: u64,
}

#[async_trait]
pub trait Webhooks: Send + Sync {
    /// Leases up to `limit` pending deliveries due at `now` until `lease_until`, each the oldest
    /// pending one of its endpoint and user (a later one waits until it is delivered or has failed),
    /// oldest first. A leased delivery is not handed out again until its lease ends, so several
    /// instances share the work.
    async fn claim_webhooks(&self, now: i64, lease_until: i64, limit: u32) -> StoreResult<Vec<Delivery>>;
    /// Records how an attempt of `delivery` (as claimed) went and ends its lease; nothing if the
    /// lease it was claimed under is no longer its own (it ran out, or the delivery was replayed).
    async fn webhook_attempted(&self, delivery: &Delivery, now: i64, attempt: &Attempt) -> StoreResult<()>;
    /// Newest first; only those in `state` when given.
    async fn webhook_deliveries(&self, state: Option<&str>, limit: u32) -> StoreResult<Vec<Delivery>>;
    /// Sends delivery `id` (or every delivery of event `id`) again from now, as if new: how many.
    async fn replay_webhook(&self, id: &str, now: i64) -> StoreResult<u64>;
    async fn webhook_counts(&self) -> StoreResult<DeliveryCounts>;
    /// Deletes delivered and failed deliveries made before `before`; how many.
    async fn delete_webhooks_before(&self, before: i64) -> StoreResult<u64>;
}
