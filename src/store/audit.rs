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
