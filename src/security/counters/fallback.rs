//! The one place that decides between the shared backend (Redis) and this process: try the
//! shared one unless it failed less than a second ago; on failure, say so once (`degraded`,
//! which `/health` reports), back off, and count in process meanwhile.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use super::{Backend, Unavailable, memory::Memory};

const RETRY_AFTER_FAILURE_MS: i64 = 1_000;

/// Where a count was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counted {
    /// In the shared backend: the window's total over every instance.
    Shared(u64),
    /// In this process (no shared backend, or it failed).
    Local(u64),
}

pub(super) struct Fallback<S> {
    pub(super) shared: Option<S>,
    pub(super) local: Memory,
    degraded: AtomicBool,
    skip_shared_until: AtomicI64,
}

impl<S: Backend> Fallback<S> {
    /// `degraded` until the shared backend first answers (when there is one).
    pub(super) fn new(shared: Option<S>) -> Self {
        let degraded = AtomicBool::new(shared.is_some());
        Self { shared, local: Memory::new(), degraded, skip_shared_until: AtomicI64::new(0) }
    }

    pub(super) fn degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Marks the shared backend as answering (it connected, or a call succeeded).
    pub(super) fn answered(&self) {
        self.skip_shared_until.store(0, Ordering::Relaxed);
        if self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!("rate limits: Redis answers; counting there");
        }
    }

    /// Adds `shared_by` to `key` in the shared backend, or else `local_by` in this process.
    pub(super) async fn add(
        &self,
        key: &str,
        shared_by: u64,
        local_by: u64,
        ttl_ms: i64,
        now: i64,
    ) -> Counted {
        match self.shared(now, |s| s.add(key, shared_by, ttl_ms)).await {
            Some(total) => Counted::Shared(total),
            // In process nothing fails; were it to, the request counts as over every limit.
            None => Counted::Local(self.local.add(key, local_by, ttl_ms).await.unwrap_or(u64::MAX)),
        }
    }

    /// Runs a script in the shared backend, else in process; `None` when neither can (the
    /// caller keeps that state elsewhere).
    pub(super) async fn script(
        &self,
        script: &redis::Script,
        key: &str,
        args: &[i64],
        now: i64,
    ) -> Option<i64> {
        match self.shared(now, |s| s.script(script, key, args)).await {
            Some(value) => Some(value),
            None => self.local.script(script, key, args).await.ok(),
        }
    }

    async fn shared<'a, T, F>(&'a self, now: i64, call: impl FnOnce(&'a S) -> F) -> Option<T>
    where
        F: Future<Output = Result<T, Unavailable>>,
    {
        let shared = self.shared.as_ref()?;
        if now < self.skip_shared_until.load(Ordering::Relaxed) {
            return None;
        }
        match call(shared).await {
            Ok(value) => {
                self.answered();
                Some(value)
            }
            Err(Unavailable(why)) => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %why, "rate limits: Redis failed; counting in process until it answers again");
                }
                self.skip_shared_until.store(now + RETRY_AFTER_FAILURE_MS, Ordering::Relaxed);
                None
            }
        }
    }
}
