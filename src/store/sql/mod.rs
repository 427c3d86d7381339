//! The SQL both backends share, written once and compiled once per backend: `sqlite.rs` and
//! `postgres.rs` each include this folder as a module of their own (`#[path = "sql/mod.rs"]`),
//! after naming their sqlx database `Db` and their store type `Backend`. So every statement
//! and the Rust around it is plain code that rustfmt, clippy and the compiler see whole, with no
//! macro around it and no generic sqlx bounds to repeat on every function; and each file holds
//! one concern's tables.
//!
//! Conventions: statements are named constants (columns listed once per table); placeholders
//! are `$N` (SQLite accepts them too); identifiers are quoted (camelCase columns, and `user` is
//! reserved in PostgreSQL); timestamps are Unix milliseconds. So the same statements run
//! unchanged on either database. Helpers that take an executor run inside the caller's
//! transaction; a write comes first in transactions that read, so SQLite takes its write lock
//! before anything is read.

mod accounts;
mod admin;
mod apps;
mod audit;
mod email_changes;
mod import;
mod invitations;
mod jwks;
mod lockouts;
mod organizations;
mod passkeys;
mod refresh_tokens;
mod sealed;
/// Visible to the backend files: get-session's miss read is theirs (batched on PostgreSQL).
pub(super) mod sessions;
mod subscriptions;
mod two_factor;
mod users;
mod verifications;
mod webhooks;

use async_trait::async_trait;

use super::{Backend, Db, MIGRATOR};
use crate::store::{Maintenance, StoreResult, cache::Invalidation};

#[async_trait]
impl Maintenance for Backend {
    async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR.run(&self.pool).await.map_err(|e| anyhow::anyhow!("migrations: {e}"))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn pool_usage(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (self.pool.size().saturating_sub(idle), self.pool.options().get_max_connections())
    }

    fn cache_counts(&self) -> (u64, u64) {
        self.cache.counts()
    }
}

impl Backend {
    /// Drops the affected cache entries here and tells the other instances (after the change
    /// committed; for changes that end sessions use `commit_announcing`).
    async fn invalidate(&self, what: Invalidation) {
        self.cache.invalidate(&what);
        self.publish(&what).await;
    }

    /// Commits `tx` with the announcement of `what` inside it (PostgreSQL delivers a NOTIFY on
    /// commit, so a committed revocation always reaches the other instances; nothing is committed
    /// if it cannot be announced), then drops the entries here.
    async fn commit_announcing(
        &self,
        mut tx: sqlx::Transaction<'_, Db>,
        what: &[Invalidation],
    ) -> StoreResult<()> {
        for w in what {
            Self::announce(&mut tx, w).await?;
        }
        commit(tx).await?;
        for w in what {
            self.cache.invalidate(w);
        }
        Ok(())
    }
}

/// Commits `tx` with this task's pending audit event written inside it, and the event's webhook
/// deliveries (see `store::audit::with_event_to`): every transaction a recorded change runs through
/// carries its event.
async fn commit(mut tx: sqlx::Transaction<'_, Db>) -> StoreResult<()> {
    if let Some((event, hooks)) = crate::store::audit::take_pending() {
        audit::insert(&mut *tx, &event).await?;
        webhooks::insert(&mut tx, &event, &hooks).await?;
    }
    tx.commit().await?;
    Ok(())
}
