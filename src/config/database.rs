//! `DATABASE_URL`, `DB_MAX_CONNECTIONS`, `SESSION_CACHE`.

use anyhow::bail;

use super::{Secret, env::*};

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
    /// Cache live sessions in process (invalidated on every change; see `store/cache.rs`).
    pub session_cache: bool,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: Secret::new("sqlite://gatehouse.db"), max_connections: 16, session_cache: true }
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
            session_cache: env.or("SESSION_CACHE", d.session_cache, parse_bool)?,
        })
    }
}
