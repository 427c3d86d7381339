//! Opening a store: the pool's and the session cache's options, and the backend `DATABASE_URL`
//! names.

use std::sync::Arc;

use super::{PostgresStore, SqliteStore, Store};

/// How long a cached session may be served without being read again (a safety net: changes
/// made through Gatehouse invalidate at once).
pub(super) const CACHE_TTL_MS: i64 = 30_000;

/// How a store is opened: its pool, and its session cache.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long a query waits for a free connection (then the request is answered 503).
    pub acquire_timeout: std::time::Duration,
    pub session_cache: bool,
    /// The most the session cache holds, in bytes.
    pub cache_max_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        crate::config::DatabaseSettings::default().store_options()
    }
}

impl StoreOptions {
    /// A pool of `n` connections, the rest as by default.
    pub fn with_pool(n: u32) -> Self {
        Self { max_connections: n, ..Self::default() }
    }
}

/// Before a pooled connection is used: a connection idle for over 30 seconds is pinged first
/// (and replaced if that fails), so one that died while idle never fails a request.
pub(super) async fn ping_if_idle<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if meta.idle_for > std::time::Duration::from_secs(30) {
        conn.ping().await?;
    }
    Ok(true)
}

/// Connects to the database `DATABASE_URL` names and returns its store (not yet migrated).
pub async fn connect(url: &str, options: StoreOptions) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url, options).await?))
    } else {
        anyhow::bail!("DATABASE_URL: unsupported scheme (use sqlite: or postgres://)")
    }
}
