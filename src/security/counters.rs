//! Counters for rate limits and lockouts: in process, or in Redis so several instances share
//! them. Windows are fixed and numbered from the server clock (`now / window`), so a key names
//! one window and expires with it; Redis keys carry a TTL and never pile up.
//!
//! If Redis stops answering, counting falls back to this process (logged, reported as
//! `degraded` by `/health`) and Redis is tried again a second later; the connection manager
//! reconnects by itself.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use quick_cache::sync::Cache;
use redis::aio::ConnectionManager;
use tokio::sync::RwLock;

const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
const RETRY_AFTER_FAILURE_MS: i64 = 1_000;
/// In-process windows kept at most; past that the coldest are evicted (a flood of distinct
/// clients costs a bounded amount of memory and can only make limits forget, never lock anyone).
const MAX_MEMORY_KEYS: usize = 100_000;

/// One counted window: how many hits so far, and when the window ends (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u64,
    pub ends_at: i64,
}

/// Window counters in process, bounded: keys name their window, so an old window is simply a
/// key nobody asks for any more, and the cache evicts it first.
struct Memory {
    windows: Cache<String, Arc<AtomicU64>>,
}

impl Memory {
    fn new() -> Self {
        Self { windows: Cache::new(MAX_MEMORY_KEYS) }
    }

    fn incr(&self, key: &str) -> u64 {
        let counter = self
            .windows
            .get_or_insert_with(key, || Ok::<_, std::convert::Infallible>(Arc::new(AtomicU64::new(0))))
            .unwrap_or_else(|never| match never {});
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

const INCR_SCRIPT: &str = r"
local c = redis.call('INCRBY', KEYS[1], ARGV[2])
if c == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c";

/// Rules this generous are counted in Redis in chunks ("leases") of a twentieth of the limit,
/// handed out locally: one Redis call per chunk instead of per request. No instance ever grants
/// more than the limit in total; an instance's unused lease only makes others stop earlier.
/// Stricter rules (sign-in, mail) are counted one by one, exactly.
const LEASE_FROM: u64 = 100;

pub struct Counters {
    prefix: String,
    memory: Memory,
    /// key → (window index, requests still granted locally); bounded like `memory`.
    leases: Cache<String, Arc<Mutex<(i64, u64)>>>,
    /// One lease refill at a time, so a burst neither over-asks Redis nor strands quota.
    refill: tokio::sync::Mutex<()>,
    redis: RwLock<Option<ConnectionManager>>,
    redis_url: Option<String>,
    degraded: AtomicBool,
    skip_redis_until: AtomicI64,
    incr: redis::Script,
}

/// What `/health` says about the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Memory,
    Redis,
    Degraded,
}

impl Counters {
    /// In-process counters only.
    pub fn memory() -> Self {
        Self::build(None, "gh:")
    }

    /// Counters in Redis at `url` (keys under `prefix`), falling back to memory when Redis is
    /// unreachable. Connects in the background; until then (and whenever Redis fails) counts
    /// stay in process.
    pub fn redis(url: &str, prefix: &str) -> anyhow::Result<std::sync::Arc<Self>> {
        redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        let counters = std::sync::Arc::new(Self::build(Some(url.to_string()), prefix));
        counters.degraded.store(true, Ordering::Relaxed);
        tokio::spawn(Self::keep_connected(std::sync::Arc::downgrade(&counters)));
        Ok(counters)
    }

    fn build(redis_url: Option<String>, prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            memory: Memory::new(),
            leases: Cache::new(MAX_MEMORY_KEYS),
            refill: tokio::sync::Mutex::new(()),
            redis: RwLock::new(None),
            redis_url,
            degraded: AtomicBool::new(false),
            skip_redis_until: AtomicI64::new(0),
            incr: redis::Script::new(INCR_SCRIPT),
        }
    }

    /// Connects once; the connection manager then reconnects by itself.
    async fn keep_connected(me: std::sync::Weak<Self>) {
        loop {
            let Some(this) = me.upgrade() else { return };
            if this.redis.read().await.is_some() {
                return;
            }
            let url = this.redis_url.clone().unwrap_or_default();
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(REDIS_TIMEOUT))
                .set_number_of_retries(1);
            let connected =
                async { redis::Client::open(url)?.get_connection_manager_with_config(config).await };
            match tokio::time::timeout(Duration::from_secs(3), connected).await {
                Ok(Ok(manager)) => {
                    *this.redis.write().await = Some(manager);
                    this.degraded.store(false, Ordering::Relaxed);
                    tracing::info!("rate limits: connected to Redis");
                    return;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "rate limits: Redis unreachable; counting in process")
                }
                Err(_) => tracing::warn!("rate limits: Redis connection timed out; counting in process"),
            }
            drop(this);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Whether Redis is configured (answering or not).
    pub fn redis_configured(&self) -> bool {
        self.redis_url.is_some()
    }

    pub fn mode(&self) -> Mode {
        match (&self.redis_url, self.degraded.load(Ordering::Relaxed)) {
            (None, _) => Mode::Memory,
            (Some(_), false) => Mode::Redis,
            (Some(_), true) => Mode::Degraded,
        }
    }

    /// The Redis connection to try now, if any (none while backing off after a failure).
    async fn connection(&self, now: i64) -> Option<ConnectionManager> {
        if self.redis_url.is_none() || now < self.skip_redis_until.load(Ordering::Relaxed) {
            return None;
        }
        self.redis.read().await.clone()
    }

    fn redis_failed(&self, now: i64, e: &redis::RedisError) {
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::error!(error = %e, "rate limits: Redis failed; counting in process until it answers again");
        }
        self.skip_redis_until.store(now + RETRY_AFTER_FAILURE_MS, Ordering::Relaxed);
    }

    fn redis_ok(&self) {
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limits: Redis answers again");
        }
    }

    /// Counts a hit on `key` in the window of `window_ms` that `now` falls in.
    pub async fn hit(&self, key: &str, window_ms: i64, now: i64) -> Window {
        let (full, _, ends_at) = self.window_key(key, window_ms, now);
        if let Some(count) = self.redis_add(&full, 1, ends_at, now).await {
            return Window { count, ends_at };
        }
        Window { count: self.memory.incr(&full), ends_at }
    }

    /// Whether one more request fits under `max` in this window (rate limits); in Redis,
    /// generous rules are granted from local leases.
    pub async fn take(&self, key: &str, max: u64, window_ms: i64, now: i64) -> (bool, i64) {
        let (full, index, ends_at) = self.window_key(key, window_ms, now);
        if max < LEASE_FROM || self.redis_url.is_none() {
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
        let Some(total) = self.redis_add(&full, chunk, ends_at, now).await else {
            return (self.memory.incr(&full) <= max, ends_at);
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

    /// Adds `by` to a window counter in Redis; `None` when Redis is not in use or failed.
    async fn redis_add(&self, full: &str, by: u64, ends_at: i64, now: i64) -> Option<u64> {
        let ttl = ends_at - now + 1_000;
        let args = [ttl, i64::try_from(by).unwrap_or(i64::MAX)];
        let count = self.run(&self.incr, full, &args, now).await?;
        Some(count.max(0) as u64)
    }

    /// Runs a Lua `script` on `key` (under the prefix) in Redis; `None` when Redis is not in use
    /// or failed (then the caller keeps its state elsewhere).
    pub async fn script(&self, script: &redis::Script, key: &str, args: &[i64], now: i64) -> Option<i64> {
        let full = format!("{}{key}", self.prefix);
        self.run(script, &full, args, now).await
    }

    async fn run(&self, script: &redis::Script, full: &str, args: &[i64], now: i64) -> Option<i64> {
        let mut con = self.connection(now).await?;
        let mut invocation = script.key(full);
        for arg in args {
            invocation.arg(*arg);
        }
        match invocation.invoke_async::<i64>(&mut con).await {
            Ok(value) => {
                self.redis_ok();
                Some(value)
            }
            Err(e) => {
                self.redis_failed(now, &e);
                None
            }
        }
    }
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
        assert!(c.script(&redis::Script::new("return 1"), "k", &[], 0).await.is_none());
        assert_eq!(c.mode(), Mode::Memory);
    }

    #[tokio::test]
    async fn memory_stays_bounded() {
        let c = Counters::memory();
        for i in 0..(MAX_MEMORY_KEYS * 2) {
            c.hit(&format!("k{i}"), 1000, 10).await;
        }
        assert!(c.memory.windows.len() <= MAX_MEMORY_KEYS, "{}", c.memory.windows.len());
    }
}
