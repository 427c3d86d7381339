//! `DATABASE_URL`, `DB_MAX_CONNECTIONS`, `DB_ACQUIRE_TIMEOUT`, `SESSION_CACHE`,
//! `SESSION_CACHE_MAX_MB`.

use std::time::Duration;

use anyhow::bail;

use super::{Secret, env::*};
use crate::store::StoreOptions;

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret,
    /// Connections in the pool: 4 per core, between 8 and 32, unless set.
    pub max_connections: u32,
    /// How long a request waits for a free connection before it is answered 503.
    pub acquire_timeout: Duration,
    /// Cache live sessions in process (invalidated on every change; see `store/cache.rs`).
    pub session_cache: bool,
    /// The most memory the session cache holds, in MiB.
    pub session_cache_max_mb: u32,
}

/// 4 connections per core, between 8 and 32: enough to keep the database's cores busy while
/// some connections wait on the network (and one is PostgreSQL's listener for the session
/// cache), few enough that PostgreSQL is not swamped: four 8-core instances use 128.
pub fn default_pool_size() -> u32 {
    u32::try_from(super::cores() * 4).unwrap_or(32).clamp(8, 32)
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://gatehouse.db"),
            max_connections: default_pool_size(),
            acquire_timeout: Duration::from_secs(2),
            session_cache: true,
            session_cache_max_mb: 32,
        }
    }
}

impl DatabaseSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        let url = env.get("DATABASE_URL").map_or(d.url, Secret::new);
        let db = url.expose();
        if !(db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            bail!("DATABASE_URL: must start with sqlite:, postgres:// or postgresql://");
        }
        Ok(Self {
            url,
            max_connections: env.or("DB_MAX_CONNECTIONS", d.max_connections, at_least(1))?,
            acquire_timeout: env.or("DB_ACQUIRE_TIMEOUT", d.acquire_timeout, parse_duration)?,
            session_cache: env.or("SESSION_CACHE", d.session_cache, parse_bool)?,
            session_cache_max_mb: env.or("SESSION_CACHE_MAX_MB", d.session_cache_max_mb, at_least(1))?,
        })
    }

    /// `SESSION_CACHE_MAX_MB` bounds both in-process caches together: three quarters for cached
    /// sessions, a quarter for the JWTs get-session reuses (a kept JWT weighs about twice a
    /// cached session; most of what a miss costs is the database, not the signature).
    pub fn session_cache_bytes(&self) -> u64 {
        (u64::from(self.session_cache_max_mb) << 20) / 4 * 3
    }

    /// The JWT reuse cache's share of `SESSION_CACHE_MAX_MB` (see [`Self::session_cache_bytes`]).
    pub fn jwt_reuse_bytes(&self) -> u64 {
        (u64::from(self.session_cache_max_mb) << 20) / 4
    }

    /// What the store is opened with.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.max_connections,
            acquire_timeout: self.acquire_timeout,
            session_cache: self.session_cache,
            cache_max_bytes: self.session_cache_bytes(),
        }
    }
}
