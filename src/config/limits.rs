//! Rate limits, lockout and the Redis that shares them: `RATE_LIMIT_*`, `LOCKOUT_*`,
//! `REDIS_*`, `INVITATIONS_PER_HOUR`.

use std::time::Duration;

use anyhow::bail;

use super::{Secret, env::*};
use crate::security::ratelimit::{Rule, Rules};

#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub enabled: bool,
    /// The sign-in/sign-up rule's window and maximum.
    pub window: Duration,
    pub max_attempts: u64,
    /// Extra per-path rules (`RATE_LIMIT_RULES`).
    pub rules: Vec<(String, Rule)>,
    pub lockout_max_failed_attempts: u64,
    pub lockout_duration: Duration,
    /// Redis for shared counters (`REDIS_URL`, unless `REDIS_ENABLED=false`).
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key, so deployments can share a Redis.
    pub redis_key_prefix: String,
    /// Invitations one organization may send per hour.
    pub invitations_per_hour: u64,
    /// Requests one app key may make per window, on top of the per-address rules
    /// (`APP_KEY_RATE_LIMIT`, written `COUNT/SECONDS`).
    pub app_key: Rule,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            window: Duration::from_secs(15 * 60),
            max_attempts: 20,
            rules: Vec::new(),
            lockout_max_failed_attempts: 10,
            lockout_duration: Duration::from_secs(30 * 60),
            redis_url: None,
            redis_key_prefix: "gatehouse:".into(),
            invitations_per_hour: 20,
            app_key: Rule { max: 6000, window_ms: 60_000 },
        }
    }
}

impl LimitSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        let redis_enabled = env.or("REDIS_ENABLED", true, parse_bool)?;
        let redis_url = env.get("REDIS_URL").filter(|_| redis_enabled);
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            bail!("REDIS_URL: must start with redis:// or rediss://");
        }
        Ok(Self {
            enabled: env.or("RATE_LIMIT_ENABLED", d.enabled, parse_bool)?,
            window: env.or("RATE_LIMIT_WINDOW_MINUTES", d.window, parse_minutes)?,
            max_attempts: env.or("RATE_LIMIT_MAX_ATTEMPTS", d.max_attempts, at_least(1))?,
            rules: env.or("RATE_LIMIT_RULES", d.rules, Rules::parse_custom)?,
            lockout_max_failed_attempts: env.or(
                "LOCKOUT_MAX_FAILED_ATTEMPTS",
                d.lockout_max_failed_attempts,
                at_least(1),
            )?,
            lockout_duration: env.or("LOCKOUT_DURATION_MINUTES", d.lockout_duration, parse_minutes)?,
            redis_url: redis_url.map(Secret::new),
            redis_key_prefix: env.get("REDIS_KEY_PREFIX").unwrap_or(d.redis_key_prefix),
            invitations_per_hour: env.or("INVITATIONS_PER_HOUR", d.invitations_per_hour, at_least(1))?,
            app_key: env.or("APP_KEY_RATE_LIMIT", d.app_key, |v| Rule::parse(v).filter(|r| r.max > 0))?,
        })
    }
}
