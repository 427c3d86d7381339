//! Counters for rate limits and lockouts: in process, or in Redis so several instances share
//! them. Windows are fixed and numbered from the server clock (`now / window`), so a key names
//! one window and expires with it; Redis keys carry a TTL and never pile up.
//!
//! If Redis stops answering, counting falls back to this process (logged, reported as
//! `degraded` by `/health`) and Redis is tried again a second later; the connection manager
//! reconnects by itself.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use redis::aio::ConnectionManager;
use tokio::sync::RwLock;

const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
const RETRY_AFTER_FAILURE_MS: i64 = 1_000;
const MAX_MEMORY_KEYS: usize = 200_000;

/// One counted window: how many hits so far, and when the window ends (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: u64,
    pub ends_at: i64,
}

#[derive(Default)]
struct Memory {
    /// key → (count or timestamp, expires at)
    entries: Mutex<HashMap<String, (i64, i64)>>,
}

impl Memory {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, i64)>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn incr(&self, key: String, expires_at: i64, now: i64) -> i64 {
        let mut map = self.lock();
        if map.len() >= MAX_MEMORY_KEYS {
            map.retain(|_, (_, exp)| *exp > now);
            // Still full of live keys (a flood of distinct keys): start afresh rather than scan
            // on every request.
            if map.len() >= MAX_MEMORY_KEYS / 2 {
                map.clear();
            }
        }
        let entry = map.entry(key).or_insert((0, expires_at));
        entry.0 += 1;
        entry.0
    }

    /// Counts in a window that starts at the first hit.
    fn incr_anchored(&self, key: String, window_ms: i64, now: i64) -> (i64, i64) {
        let mut map = self.lock();
        let entry = map.entry(key).or_insert((0, now + window_ms));
        if entry.1 <= now {
            *entry = (0, now + window_ms);
        }
        entry.0 += 1;
        *entry
    }

    fn set(&self, key: String, value: i64, expires_at: i64) {
        self.lock().insert(key, (value, expires_at));
    }

    fn get(&self, key: &str, now: i64) -> Option<i64> {
        self.lock().get(key).filter(|(_, exp)| *exp > now).map(|(v, _)| *v)
    }

    fn delete(&self, keys: &[String]) {
        let mut map = self.lock();
        for k in keys {
            map.remove(k);
        }
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
    /// key → (window index, requests still granted locally)
    leases: Mutex<HashMap<String, (i64, u64)>>,
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
            memory: Memory::default(),
            leases: Mutex::new(HashMap::new()),
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
        Window { count: self.memory.incr(full, ends_at, now).max(0) as u64, ends_at }
    }

    /// Counts a hit on `key` in a window of `window_ms` that starts at its first hit (lockout:
    /// no clock-aligned edge to straddle). In Redis the window is the key's TTL.
    pub async fn hit_anchored(&self, key: &str, window_ms: i64, now: i64) -> Window {
        let full = format!("{}{key}", self.prefix);
        if let Some(count) = self.redis_add(&full, 1, now + window_ms, now).await {
            return Window { count, ends_at: now + window_ms };
        }
        let (count, ends_at) = self.memory.incr_anchored(full, window_ms, now);
        Window { count: count.max(0) as u64, ends_at }
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
            return (self.memory.incr(full, ends_at, now).max(0) as u64 <= max, ends_at);
        };
        // This chunk's share of what is still under the limit.
        let granted = max.saturating_sub(total - chunk).min(chunk);
        if granted == 0 {
            return (false, ends_at);
        }
        let mut leases = self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if leases.len() >= MAX_MEMORY_KEYS {
            leases.clear();
        }
        leases.insert(full, (index, granted - 1));
        (true, ends_at)
    }

    fn take_leased(&self, full: &str, index: i64) -> bool {
        let mut leases = self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match leases.get_mut(full) {
            Some((i, left)) if *i == index && *left > 0 => {
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
        let mut con = self.connection(now).await?;
        let ttl = ends_at - now + 1_000;
        let result: redis::RedisResult<i64> =
            self.incr.key(full).arg(ttl).arg(by).invoke_async(&mut con).await;
        match result {
            Ok(count) => {
                self.redis_ok();
                Some(count.max(0) as u64)
            }
            Err(e) => {
                self.redis_failed(now, &e);
                None
            }
        }
    }

    /// Stores a timestamp under `key` until `until`.
    pub async fn set_until(&self, key: &str, until: i64, now: i64) {
        let full = format!("{}{key}", self.prefix);
        if let Some(mut con) = self.connection(now).await {
            let ttl = (until - now).max(1) as u64;
            let result: redis::RedisResult<()> =
                redis::cmd("SET").arg(&full).arg(until).arg("PX").arg(ttl).query_async(&mut con).await;
            match result {
                Ok(()) => return self.redis_ok(),
                Err(e) => self.redis_failed(now, &e),
            }
        }
        self.memory.set(full, until, until);
    }

    /// The timestamp stored under `key`, if it has not passed.
    pub async fn get_until(&self, key: &str, now: i64) -> Option<i64> {
        let full = format!("{}{key}", self.prefix);
        if let Some(mut con) = self.connection(now).await {
            let result: redis::RedisResult<Option<i64>> =
                redis::cmd("GET").arg(&full).query_async(&mut con).await;
            match result {
                Ok(v) => {
                    self.redis_ok();
                    return v.filter(|until| *until > now);
                }
                Err(e) => self.redis_failed(now, &e),
            }
        }
        self.memory.get(&full, now).filter(|until| *until > now)
    }

    /// Forgets plain (not windowed) keys.
    pub async fn clear(&self, keys: &[&str], now: i64) {
        let keys: Vec<String> = keys.iter().map(|k| format!("{}{k}", self.prefix)).collect();
        self.memory.delete(&keys);
        if let Some(mut con) = self.connection(now).await {
            let result: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys[..]).query_async(&mut con).await;
            match result {
                Ok(()) => self.redis_ok(),
                Err(e) => self.redis_failed(now, &e),
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
        c.set_until("lock", 5000, 100).await;
        assert_eq!(c.get_until("lock", 4999).await, Some(5000));
        assert_eq!(c.get_until("lock", 5000).await, None);
        assert_eq!(c.hit_anchored("a", 1000, 500).await, Window { count: 1, ends_at: 1500 });
        assert_eq!(c.hit_anchored("a", 1000, 1400).await.count, 2);
        assert_eq!(c.hit_anchored("a", 1000, 1500).await, Window { count: 1, ends_at: 2500 });
        c.clear(&["lock", "a"], 1600).await;
        assert_eq!(c.get_until("lock", 200).await, None);
        assert_eq!(c.hit_anchored("a", 1000, 1600).await.count, 1);
        assert_eq!(c.mode(), Mode::Memory);
    }
}
