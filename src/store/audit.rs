//! The storage of the audit log (its SQL: `sql/audit.rs`).

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::audit::AuditEvent;

/// Which events to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// `""`: the default space.
    pub app: String,
    /// Events by or about this user.
    pub user_id: Option<String>,
    /// With `user_id`: also what they did as others (admins' impersonations).
    pub as_impersonator: bool,
    /// Only these actions (empty: all).
    pub actions: Vec<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Keyset paging: events strictly older than this `(at, id)`.
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

#[async_trait]
pub trait Audit: Send + Sync {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Deletes events older than `before`; how many.
    async fn delete_audit_before(&self, before: i64) -> StoreResult<u64>;
}

tokio::task_local! {
    /// The event of the change under way on this task, and the webhook endpoints it goes to (see
    /// [`with_event`]).
    static PENDING: std::cell::RefCell<Option<(AuditEvent, Vec<String>)>>;
}

/// Runs `change` with `event` pending: the first transaction the store commits while it runs
/// writes the event inside it (`take_pending`), so the event exists if and only if that change
/// committed. Returns what `change` returned and the event if no transaction took it.
pub async fn with_event<F: std::future::Future>(
    event: AuditEvent,
    change: F,
) -> (F::Output, Option<AuditEvent>) {
    with_event_to(event, Vec::new(), change).await
}

/// As [`with_event`], the transaction also writing a webhook delivery of the event to each of
/// `webhooks` (endpoint URLs).
pub async fn with_event_to<F: std::future::Future>(
    event: AuditEvent,
    webhooks: Vec<String>,
    change: F,
) -> (F::Output, Option<AuditEvent>) {
    PENDING
        .scope(std::cell::RefCell::new(Some((event, webhooks))), async {
            let out = change.await;
            (out, take_pending().map(|(event, _)| event))
        })
        .await
}

/// The pending event of this task and its webhook endpoints, taken (for the transaction about to
/// commit).
pub fn take_pending() -> Option<(AuditEvent, Vec<String>)> {
    PENDING.try_with(|p| p.borrow_mut().take()).ok().flatten()
}
