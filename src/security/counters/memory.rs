//! Window counters in this process, bounded: keys name their window, so an old window is simply
//! a key nobody asks for any more, and the cache evicts it first.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use quick_cache::sync::Cache;

use super::{Backend, Unavailable};

/// In-process windows kept at most; past that the coldest are evicted (a flood of distinct
/// clients costs a bounded amount of memory and can only make limits forget, never lock anyone).
pub(super) const MAX_KEYS: usize = 100_000;

pub(super) struct Memory {
    pub(super) windows: Cache<String, Arc<AtomicU64>>,
}

impl Memory {
    pub(super) fn new() -> Self {
        Self { windows: Cache::new(MAX_KEYS) }
    }

    pub(super) fn incr(&self, key: &str, by: u64) -> u64 {
        let counter = self
            .windows
            .get_or_insert_with(key, || Ok::<_, std::convert::Infallible>(Arc::new(AtomicU64::new(0))))
            .unwrap_or_else(|never| match never {});
        counter.fetch_add(by, Ordering::Relaxed) + by
    }
}

impl Backend for Memory {
    /// Expiry is by eviction: a window's key is never asked for again once it has passed.
    async fn add(&self, key: &str, by: u64, _ttl_ms: i64) -> Result<u64, Unavailable> {
        Ok(self.incr(key, by))
    }

    /// No scripts in process: callers keep such state elsewhere (the database).
    async fn script(&self, _script: &redis::Script, _key: &str, _args: &[i64]) -> Result<i64, Unavailable> {
        Err(Unavailable("no scripts in process".into()))
    }
}
