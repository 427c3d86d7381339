//! SQLite: WAL mode, a busy timeout, foreign keys on; the file is created on first start.

use std::{str::FromStr, sync::Arc, time::Duration};

use super::{
    CACHE_TTL_MS, StoreOptions,
    cache::{Invalidation, SessionCache},
};
use anyhow::Context;
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    cache: Arc<SessionCache>,
    /// Hot write transactions queue here: SQLite runs one writer at a time, and writers that
    /// meet a busy database back off in sleeps of up to 100 ms, which a queue does not.
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// With `session_cache`, live sessions are cached in process: safe because one server process
    /// owns a SQLite file and every write goes through this store.
    pub async fn connect(url: &str, opts: StoreOptions) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .context("DATABASE_URL: not a valid SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            // A ping before use only for a connection idle for a while (one a restart, a proxy
            // or a NAT may have dropped): under load, one round trip per query, not two.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| Box::pin(super::ping_if_idle(conn, meta)))
            .min_connections(1)
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        let cache = Arc::new(SessionCache::new(opts.session_cache, CACHE_TTL_MS, opts.cache_max_bytes));
        Ok(Self { pool, cache, writers: Arc::default() })
    }

    /// A turn to write (held until the transaction ends).
    async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.writers.clone().lock_owned().await)
    }

    /// One process per file: nobody else to tell.
    async fn publish(&self, _what: &Invalidation) {}

    /// get-session's read on a cache miss: in process, one statement.
    async fn for_get_session(
        &self,
        token: &str,
    ) -> Result<Option<sql::sessions::ForGetSession>, sqlx::Error> {
        sqlx::query_as(sql::sessions::FOR_GET_SESSION).bind(token).fetch_optional(&self.pool).await
    }

    /// One process per file: nobody else to tell.
    async fn announce(_conn: &mut sqlx::SqliteConnection, _what: &Invalidation) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// `"fields"` with the merge patch `$param` (JSON text; a key set to null is removed), or NULL
/// when `$param` is NULL.
macro_rules! merge_fields {
    ($param:literal) => {
        concat!(r#"json_patch("fields", "#, $param, ")")
    };
}

/// The shared SQL (`sql/`), compiled for this backend.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose: see sql/mod.rs")]
mod sql;

type Db = sqlx::Sqlite;
type Backend = SqliteStore;
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
