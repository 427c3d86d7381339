//! PostgreSQL: for production and for several instances sharing one database.

use std::{str::FromStr, sync::Arc, time::Duration};

use anyhow::Context;
use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgListener, PgPoolOptions},
};

use super::{
    CACHE_TTL_MS, StoreOptions,
    batch::Batcher,
    cache::{CHANNEL, Invalidation, SessionCache},
};

/// The most tokens one batched get-session read asks for.
const BATCH_MAX: usize = 64;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    cache: Arc<SessionCache>,
    /// get-session's reads on a cache miss, batched (see `batch.rs`).
    lookups: Arc<Batcher<sql::sessions::ForGetSession>>,
}

impl PostgresStore {
    /// Writers need no queue here (row locks).
    async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }

    pub async fn connect(url: &str, opts: StoreOptions) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("DATABASE_URL: not a valid PostgreSQL URL")?;
        Self::connect_with(options, opts).await
    }

    /// With `session_cache`, live sessions are cached in process while this instance listens
    /// for the other instances' invalidations (see `cache.rs`).
    pub async fn connect_with(options: PgConnectOptions, opts: StoreOptions) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            // A ping before use only for a connection idle for a while (one a restart, a proxy
            // or a NAT may have dropped): under load, one round trip per query, not two.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| Box::pin(super::ping_if_idle(conn, meta)))
            .connect_with(options)
            .await
            .context("connecting to PostgreSQL")?;
        let cache = Arc::new(SessionCache::new(false, CACHE_TTL_MS, opts.cache_max_bytes));
        if opts.session_cache {
            tokio::spawn(listen_for_invalidations(pool.clone(), cache.clone()));
        }
        // One reader per two cores: while a batch is out, the next one gathers. More readers
        // made smaller batches and less throughput (1 reader on 2 cores: +40% over 4, and +20%
        // over one statement per miss; figures in the README).
        let workers = (crate::config::cores() / 2).max(1);
        let lookups = Arc::new(Batcher::start(workers, BATCH_MAX, opts.acquire_timeout, {
            let pool = pool.clone();
            move |tokens: Vec<String>| {
                let pool = pool.clone();
                async move {
                    let rows: Vec<sql::sessions::ForGetSession> =
                        sqlx::query_as(sql::sessions::FOR_GET_SESSIONS).bind(tokens).fetch_all(&pool).await?;
                    Ok(rows.into_iter().map(|row| (row.token().to_string(), row)).collect())
                }
            }
        }));
        Ok(Self { pool, cache, lookups })
    }

    /// get-session's read on a cache miss, batched with the others waiting.
    async fn for_get_session(
        &self,
        token: &str,
    ) -> Result<Option<sql::sessions::ForGetSession>, sqlx::Error> {
        self.lookups.get(token).await
    }

    /// Announces `what` inside a transaction: delivered to every instance when it commits.
    async fn announce(conn: &mut sqlx::PgConnection, what: &Invalidation) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(what.payload()).execute(conn).await?;
        Ok(())
    }

    /// Tells every instance (this one included) what changed, after the change committed.
    async fn publish(&self, what: &Invalidation) {
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(what.payload())
            .execute(&self.pool)
            .await;
        if let Err(e) = sent {
            tracing::error!(error = %e, "could not notify other instances of a session change; their caches expire it within the TTL");
        }
    }
}

/// Keeps the cache on only while this instance hears every invalidation: from the moment its
/// LISTEN is in place until the listening connection is lost. While it is down the cache is off
/// (every read goes to the database), and it comes back empty once a new LISTEN is in place;
/// the pool closing ends the task.
async fn listen_for_invalidations(pool: PgPool, cache: Arc<SessionCache>) {
    loop {
        if pool.is_closed() {
            return;
        }
        let listener = async {
            let mut l = PgListener::connect_with(&pool).await?;
            l.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match listener.await {
            Ok(mut listener) => {
                cache.set_enabled(true);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => cache.invalidate(&Invalidation::from_payload(n.payload())),
                        // The connection was lost: notifications may be missed until a new
                        // LISTEN is in place, so the cache stays off until then.
                        Ok(None) => {
                            tracing::warn!(
                                "session cache listener lost its connection; cache off until it is back"
                            );
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "session cache listener stopped; cache off until it is back");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "session cache listener could not connect; cache off"),
        }
        cache.set_enabled(false);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `"fields"` with the merge patch `$param` (JSON text; a key set to null is removed), or NULL
/// when `$param` is NULL.
macro_rules! merge_fields {
    ($param:literal) => {
        concat!(r#"jsonb_strip_nulls("fields"::jsonb || "#, $param, "::jsonb)::text")
    };
}

/// The shared SQL (`sql/`), compiled for this backend.
#[path = "sql/mod.rs"]
#[allow(clippy::duplicate_mod, reason = "compiled once per backend on purpose: see sql/mod.rs")]
mod sql;

type Db = sqlx::Postgres;
type Backend = PostgresStore;
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
