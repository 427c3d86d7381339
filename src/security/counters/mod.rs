//! Counters for rate limits and lockouts: in process, or in Redis so several instances share
//! them. Windows are fixed and numbered from the server clock (`now / window`), so a key names
//! one window and expires with it; Redis keys carry a TTL and never pile up.
//!
//! If Redis stops answering, counting falls back to this process (logged, reported as
//! `degraded` by `/health`) and Redis is tried again a second later; the connection manager
//! reconnects by itself.

mod fallback;
mod memory;
mod redis;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use quick_cache::sync::Cache;

use self::{
    fallback::{Counted, Fallback},
    memory::MAX_KEYS,
    redis::Redis,
};

/// A place to count in. Every call can fail (`Unavailable`): the fallback wrapper decides what
/// then.
trait Backend: Send + Sync {
    /// Adds `by` to the counter `key` (created with a life of `ttl_ms`); the new count.
    async fn add(&self, key: &str, by: u64, ttl_ms: i64) -> Result<u64, Unavailable>;
    /// Runs a Lua script on `key`.
    async fn script(&self, script: &::redis::Script, key: &str, args: &[i64]) -> Result<i64, Unavailable>;
}

/// Why a backend could not answer.
#[derive(Debug)]
struct Unavailable(String);

/// One counted window: how many hits so far, and when the window ends (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u64,
    pub ends_at: i64,
}

/// Rules this generous are counted in Redis in chunks ("leases") of a twentieth of the limit,
/// handed out locally: one Redis call per chunk instead of per request. No instance ever grants
/// more than the limit in total; an instance's unused lease only makes others stop earlier.
/// Stricter rules (sign-in, mail) are counted one by one, exactly.
const LEASE_FROM: u64 = 100;

pub struct Counters {
    prefix: String,
    backend: Fallback<Redis>,
    /// key → (window index, requests still granted locally); bounded like the in-process windows.
    leases: Cache<String, Arc<Mutex<(i64, u64)>>>,
    /// One lease refill at a time, so a burst neither over-asks Redis nor strands quota.
    refill: tokio::sync::Mutex<()>,
}

/// What `/health` and `/metrics` say about the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Memory,
    Redis,
    Degraded,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Self::Memory, Self::Redis, Self::Degraded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
            Self::Degraded => "degraded",
        }
    }
}

impl Counters {
    /// In-process counters only.
    pub fn memory() -> Self {
        Self::build(None, "gh:")
    }

    /// Counters in Redis at `url` (keys under `prefix`), falling back to memory when Redis is
    /// unreachable. Connects in the background; until then (and whenever Redis fails) counts
    /// stay in process.
    pub fn redis(url: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        let counters = Arc::new(Self::build(Some(Redis::new(url)?), prefix));
        tokio::spawn(Self::keep_connecting(Arc::downgrade(&counters)));
        Ok(counters)
    }

    fn build(redis: Option<Redis>, prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            backend: Fallback::new(redis),
            leases: Cache::new(MAX_KEYS),
            refill: tokio::sync::Mutex::new(()),
        }
    }

    /// Tries to connect every two seconds until connected; the connection manager then
    /// reconnects by itself.
    async fn keep_connecting(me: std::sync::Weak<Self>) {
        loop {
            let Some(this) = me.upgrade() else { return };
            let Some(redis) = &this.backend.shared else { return };
            if redis.connect().await {
                this.backend.answered();
                return;
            }
            drop(this);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Whether Redis is configured (answering or not).
    pub fn redis_configured(&self) -> bool {
        self.backend.shared.is_some()
    }

    pub fn mode(&self) -> Mode {
        match (self.redis_configured(), self.backend.degraded()) {
            (false, _) => Mode::Memory,
            (true, false) => Mode::Redis,
            (true, true) => Mode::Degraded,
        }
    }

    /// Counts a hit on `key` in the window of `window_ms` that `now` falls in.
    pub async fn hit(&self, key: &str, window_ms: i64, now: i64) -> Window {
        let (full, _, ends_at) = self.window_key(key, window_ms, now);
        let (Counted::Shared(count) | Counted::Local(count)) =
            self.backend.add(&full, 1, 1, ttl(ends_at, now), now).await;
        Window { count, ends_at }
    }

    /// Whether one more request fits under `max` in this window (rate limits); in Redis,
    /// generous rules are granted from local leases.
    pub async fn take(&self, key: &str, max: u64, window_ms: i64, now: i64) -> (bool, i64) {
        let (full, index, ends_at) = self.window_key(key, window_ms, now);
        if max < LEASE_FROM || !self.redis_configured() {
            return (self.hit(key, window_ms, now).await.count <= max, ends_at);
        }
        if self.take_leased(&full, index) {
            return (true, ends_at);
        }
        let _refill = self.refill.lock().await;
        if self.take_leased(&full, index) {
            return (true, ends_at);
        }
        let chunk = max / 20;
        let total = match self.backend.add(&full, chunk, 1, ttl(ends_at, now), now).await {
            Counted::Shared(total) => total,
            Counted::Local(count) => return (count <= max, ends_at),
        };
        // This chunk's share of what is still under the limit.
        let granted = max.saturating_sub(total - chunk).min(chunk);
        if granted == 0 {
            return (false, ends_at);
        }
        self.leases.insert(full, Arc::new(Mutex::new((index, granted - 1))));
        (true, ends_at)
    }

    fn take_leased(&self, full: &str, index: i64) -> bool {
        let Some(lease) = self.leases.get(full) else { return false };
        let mut lease = lease.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match &mut *lease {
            (i, left) if *i == index && *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }

    fn window_key(&self, key: &str, window_ms: i64, now: i64) -> (String, i64, i64) {
        let index = now.div_euclid(window_ms.max(1));
        (format!("{}{key}:{index}", self.prefix), index, (index + 1) * window_ms)
    }

    /// Runs a Lua `script` on `key` (under the prefix) in Redis; `None` when Redis is not in use
    /// or failed (then the caller keeps its state elsewhere).
    pub async fn script(&self, script: &::redis::Script, key: &str, args: &[i64], now: i64) -> Option<i64> {
        self.backend.script(script, &format!("{}{key}", self.prefix), args, now).await
    }
}

/// A window counter lives a second past its window.
fn ttl(ends_at: i64, now: i64) -> i64 {
    ends_at - now + 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_windows() {
        let c = Counters::memory();
        assert_eq!(c.hit("k", 1000, 10).await, Window { count: 1, ends_at: 1000 });
        assert_eq!(c.hit("k", 1000, 999).await.count, 2);
        assert_eq!(c.hit("k", 1000, 1000).await, Window { count: 1, ends_at: 2000 });
        assert_eq!(c.take("t", 2, 1000, 10).await, (true, 1000));
        assert_eq!(c.take("t", 2, 1000, 20).await, (true, 1000));
        assert_eq!(c.take("t", 2, 1000, 30).await, (false, 1000));
        assert!(c.script(&::redis::Script::new("return 1"), "k", &[], 0).await.is_none());
        assert_eq!(c.mode(), Mode::Memory);
    }

    #[tokio::test]
    async fn memory_stays_bounded() {
        let c = Counters::memory();
        for i in 0..(MAX_KEYS * 2) {
            c.hit(&format!("k{i}"), 1000, 10).await;
        }
        assert!(c.backend.local.windows.len() <= MAX_KEYS, "{}", c.backend.local.windows.len());
    }
}
