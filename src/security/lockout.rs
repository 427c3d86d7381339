//! Account lockout: `LOCKOUT_MAX_FAILED_ATTEMPTS` failed password checks for one email (from any
//! address) within `LOCKOUT_DURATION_MINUTES` of the first lock it for that long: 403
//! `ACCOUNT_LOCKED`, even with the right password. Unknown emails are counted and locked alike,
//! so lockouts tell nothing about which emails exist.
//!
//! A check is *reserved* before the password is hashed, so however requests are timed at most
//! the limit of wrong passwords is ever evaluated per window: a request that finds every
//! reservation taken is refused without hashing. A success frees its own reservation only (the
//! failures stay counted for the window) and never lifts a lock set while it was hashing. A
//! password reset clears the state.
//!
//! The state lives in Redis when it is configured (several instances share it), otherwise (and
//! while Redis is down) in the database's `lockout` table: never in the in-process rate-limit
//! map, which a flood of requests could evict.

use std::sync::LazyLock;

use crate::{error::ApiResult, security::counters::Counters, store::lockouts::LockoutStore};

pub struct Lockout {
    pub max_failures: u64,
    pub duration_ms: i64,
}

/// A reservation: `KEYS[1]` the email's hash; `ARGV` now, window, max. 1 granted, 0 refused.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local now, win, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'a', 'w', 'l')
local a, w, l = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
if l > now then return 0 end
if w <= now then
  redis.call('HSET', KEYS[1], 'a', 1, 'f', 0, 'w', string.format('%.0f', now + win), 'l', 0)
  redis.call('PEXPIRE', KEYS[1], win + 60000)
  return 1
end
if a >= max then return 0 end
redis.call('HINCRBY', KEYS[1], 'a', 1)
return 1",
    )
});

/// A failure: `ARGV` now, max, duration. 1 when this failure set the lock.
static FAILED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local now, max, dur = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local f = redis.call('HINCRBY', KEYS[1], 'f', 1)
local l = tonumber(redis.call('HGET', KEYS[1], 'l')) or 0
if f >= max and l <= now then
  redis.call('HSET', KEYS[1], 'l', string.format('%.0f', now + dur))
  redis.call('PEXPIRE', KEYS[1], dur + 60000)
  if f == max then return 1 end
end
return 0",
    )
});

/// A success: `ARGV` now. Frees the reservation; 1 when locked now.
static SUCCEEDED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if (tonumber(redis.call('HGET', KEYS[1], 'a')) or 0) > 0 then redis.call('HINCRBY', KEYS[1], 'a', -1) end
if (tonumber(redis.call('HGET', KEYS[1], 'l')) or 0) > tonumber(ARGV[1]) then return 1 end
return 0",
    )
});

static CLEAR: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(r"return redis.call('DEL', KEYS[1])"));

fn key(email: &str) -> String {
    format!("lockout:{email}")
}

impl Lockout {
    /// Reserves a password check for `email`; false when it is locked (or every check of the
    /// window is taken): answer 403 `ACCOUNT_LOCKED` without hashing.
    pub async fn reserve(
        &self,
        counters: &Counters,
        db: &dyn LockoutStore,
        email: &str,
        now: i64,
    ) -> ApiResult<bool> {
        let max = i64::try_from(self.max_failures).unwrap_or(i64::MAX);
        if let Some(granted) =
            counters.script(&RESERVE, &key(email), &[now, self.duration_ms, max], now).await
        {
            return Ok(granted == 1);
        }
        Ok(db.lockout_reserve(email, now, self.duration_ms, self.max_failures).await?)
    }

    /// The reserved check failed; true exactly when this failure locked the email.
    pub async fn failed(
        &self,
        counters: &Counters,
        db: &dyn LockoutStore,
        email: &str,
        now: i64,
    ) -> ApiResult<bool> {
        let max = i64::try_from(self.max_failures).unwrap_or(i64::MAX);
        if let Some(locked) = counters.script(&FAILED, &key(email), &[now, max, self.duration_ms], now).await
        {
            return Ok(locked == 1);
        }
        Ok(db.lockout_failed(email, now, self.duration_ms, self.max_failures).await?)
    }

    /// The reserved check succeeded; true when the email is locked now (refuse the success).
    pub async fn succeeded(
        &self,
        counters: &Counters,
        db: &dyn LockoutStore,
        email: &str,
        now: i64,
    ) -> ApiResult<bool> {
        if let Some(locked) = counters.script(&SUCCEEDED, &key(email), &[now], now).await {
            return Ok(locked == 1);
        }
        Ok(db.lockout_succeeded(email, now).await?)
    }

    /// Forgets the email's failures and lock, wherever they are kept.
    pub async fn clear(
        &self,
        counters: &Counters,
        db: &dyn LockoutStore,
        email: &str,
        now: i64,
    ) -> ApiResult<()> {
        counters.script(&CLEAR, &key(email), &[], now).await;
        Ok(db.lockout_clear(email).await?)
    }
}
