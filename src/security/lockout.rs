//! Account lockout: `LOCKOUT_MAX_FAILED_ATTEMPTS` failed password checks for one email (from any
//! address) within `LOCKOUT_DURATION_MINUTES` of the first lock it for that long: 403
//! `ACCOUNT_LOCKED`, even with the right password. Unknown emails are counted and locked alike,
//! so lockouts tell nothing about which emails exist.
//!
//! A check is *reserved* before the password is hashed, so however requests are timed at most
//! the limit of wrong passwords is ever evaluated per window. A success frees its own reservation
//! only (the failures stay counted for the window) and never lifts a lock set while it was
//! hashing. A password reset clears the state.
//!
//! The state lives in Redis when it is configured (several instances share it), otherwise in the
//! database's `lockout` table: never in the in-process rate-limit map, which a flood of requests
//! could evict. A check is settled in the store that granted it; every lock is also written to the
//! database, and the database's lock is honoured on the Redis path too, so a lock outlives a Redis
//! outage and an outage never hands out a second allowance on top of a lock.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, Mutex},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{
    error::{ApiError, ApiResult},
    security::counters::Counters,
    store::{Lockouts, Reserved},
};

pub struct Lockout {
    pub max_failures: u64,
    pub duration_ms: i64,
    /// Checks of one email running on this instance, at most the limit at once; the rest queue.
    pub gates: CheckGates,
}

type Gates = Arc<Mutex<HashMap<String, Arc<Semaphore>>>>;

/// A first-come, first-served queue per email in front of the reservations: no more checks of one
/// email run here at once than the lockout allows, and a burst of them is served in order instead
/// of polling the store. An email's queue exists only while someone is in it.
#[derive(Default)]
pub struct CheckGates {
    open: Gates,
}

/// A place in an email's queue, then a running check; leaving (drop) frees it.
pub struct GatePass {
    _permit: Option<OwnedSemaphorePermit>,
    _ticket: Ticket,
}

/// Removes the email's queue when its last member leaves (also when a wait is given up).
struct Ticket {
    open: Gates,
    email: String,
    queue: Arc<Semaphore>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map's reference and this one: nobody else is queued or running.
        if Arc::strong_count(&self.queue) == 2 {
            open.remove(&self.email);
        }
    }
}

impl CheckGates {
    /// Waits for a turn to check a password for `email`; at most `per_email` run at once.
    pub async fn enter(&self, email: &str, per_email: u64) -> ApiResult<GatePass> {
        let queue = {
            let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let permits = usize::try_from(per_email).unwrap_or(usize::MAX).clamp(1, Semaphore::MAX_PERMITS);
            open.entry(email.to_string()).or_insert_with(|| Arc::new(Semaphore::new(permits))).clone()
        };
        let ticket = Ticket { open: self.open.clone(), email: email.to_string(), queue };
        let permit = ticket.queue.clone().acquire_owned().await.map_err(ApiError::internal)?;
        Ok(GatePass { _permit: Some(permit), _ticket: ticket })
    }
}

/// Where a granted check is counted, and in which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    in_redis: bool,
    window_ends_at: i64,
}

/// The answer to [`Lockout::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Granted(Reservation),
    Locked,
    /// Every check of the window is taken and some are still running.
    Busy,
}

/// `KEYS[1]` the email's hash; `ARGV` now, window, max. The window's end when granted; -1
/// locked (or failures at the limit); -2 busy.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local now, win, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'a', 'f', 'w', 'l')
local a, f, w, l = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0
if l > now then return -1 end
if w <= now then
  w = now + win
  redis.call('HSET', KEYS[1], 'a', 1, 'f', 0, 'w', string.format('%.0f', w), 'l', 0)
  redis.call('PEXPIRE', KEYS[1], win + 60000)
  return w
end
if f >= max then return -1 end
if a >= max then return -2 end
redis.call('HINCRBY', KEYS[1], 'a', 1)
return w",
    )
});

/// A failure: `ARGV` now, max, duration. 1 when this failure set the lock.
static FAILED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local now, max, dur = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'a', 1, 'f', 0, 'w', string.format('%.0f', now + dur), 'l', 0)
  redis.call('PEXPIRE', KEYS[1], dur + 60000)
end
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

/// A release: `ARGV` now, the reservation's window end. Frees the reservation if its window is
/// still the current one; 1 when locked now.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local v = redis.call('HMGET', KEYS[1], 'a', 'w', 'l')
if tonumber(v[2]) == tonumber(ARGV[2]) and (tonumber(v[1]) or 0) > 0 then redis.call('HINCRBY', KEYS[1], 'a', -1) end
if (tonumber(v[3]) or 0) > tonumber(ARGV[1]) then return 1 end
return 0",
    )
});

/// `ARGV` now: 1 when the email is locked.
static LOCKED: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if (tonumber(redis.call('HGET', KEYS[1], 'l')) or 0) > tonumber(ARGV[1]) then return 1 end return 0",
    )
});

static CLEAR: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(r"return redis.call('DEL', KEYS[1])"));

fn key(email: &str) -> String {
    format!("lockout:{email}")
}

impl Lockout {
    fn max(&self) -> i64 {
        i64::try_from(self.max_failures).unwrap_or(i64::MAX)
    }

    /// Reserves a password check for `email`, in Redis when it answers (and the database holds
    /// no lock), else in the database.
    pub async fn reserve(
        &self,
        counters: &Counters,
        db: &dyn Lockouts,
        email: &str,
        now: i64,
    ) -> ApiResult<Attempt> {
        if counters.redis_configured() {
            if db.lockout_refuses(email, now, self.max_failures).await? {
                return Ok(Attempt::Locked);
            }
            let args = [now, self.duration_ms, self.max()];
            match counters.script(&RESERVE, &key(email), &args, now).await {
                Some(-1) => return Ok(Attempt::Locked),
                Some(-2) => return Ok(Attempt::Busy),
                Some(window_ends_at) => {
                    return Ok(Attempt::Granted(Reservation { in_redis: true, window_ends_at }));
                }
                None => {}
            }
        }
        Ok(match db.lockout_reserve(email, now, self.duration_ms, self.max_failures).await? {
            Reserved::Granted { window_ends_at } => {
                Attempt::Granted(Reservation { in_redis: false, window_ends_at })
            }
            Reserved::Locked => Attempt::Locked,
            Reserved::Busy => Attempt::Busy,
        })
    }

    /// The reserved check failed; true exactly when this failure locked the email. Counted where
    /// the check was reserved (in the database if Redis fails meanwhile); a lock set in Redis is
    /// written to the database too.
    pub async fn failed(
        &self,
        counters: &Counters,
        db: &dyn Lockouts,
        email: &str,
        reservation: Reservation,
        now: i64,
    ) -> ApiResult<bool> {
        if reservation.in_redis {
            let args = [now, self.max(), self.duration_ms];
            if let Some(locked) = counters.script(&FAILED, &key(email), &args, now).await {
                // A copy in the database: a Redis outage then starts from these failures, not
                // from none, and a lock set here outlives it.
                db.lockout_failed(email, now, self.duration_ms, self.max_failures, true).await?;
                if locked == 1 {
                    db.lockout_lock(email, now + self.duration_ms, now).await?;
                }
                return Ok(locked == 1);
            }
        }
        Ok(db.lockout_failed(email, now, self.duration_ms, self.max_failures, reservation.in_redis).await?)
    }

    /// The reserved check succeeded (or never ran): frees the reservation; true when the email
    /// is locked now (refuse the success).
    pub async fn release(
        &self,
        counters: &Counters,
        db: &dyn Lockouts,
        email: &str,
        reservation: Reservation,
        now: i64,
    ) -> ApiResult<bool> {
        if reservation.in_redis {
            // A lock may be in Redis, or (set during an outage) in the database.
            let args = [now, reservation.window_ends_at];
            let locked = counters.script(&RELEASE, &key(email), &args, now).await == Some(1);
            return Ok(locked || db.lockout_refuses(email, now, self.max_failures).await?);
        }
        Ok(db.lockout_release(email, reservation.window_ends_at, now).await?)
    }

    /// Whether the email is locked now (for ways in that check no password).
    pub async fn locked(
        &self,
        counters: &Counters,
        db: &dyn Lockouts,
        email: &str,
        now: i64,
    ) -> ApiResult<bool> {
        if db.lockout_refuses(email, now, self.max_failures).await? {
            return Ok(true);
        }
        Ok(counters.redis_configured() && counters.script(&LOCKED, &key(email), &[now], now).await == Some(1))
    }

    /// Forgets the email's failures and lock, wherever they are kept.
    pub async fn clear(
        &self,
        counters: &Counters,
        db: &dyn Lockouts,
        email: &str,
        now: i64,
    ) -> ApiResult<()> {
        counters.script(&CLEAR, &key(email), &[], now).await;
        Ok(db.lockout_clear(email).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn queues(gates: &CheckGates) -> usize {
        gates.open.lock().unwrap().len()
    }

    #[tokio::test]
    async fn queues_hold_the_limit_in_order_and_vanish_when_empty() {
        let gates = CheckGates::default();
        let first = gates.enter("a@example.com", 2).await.unwrap();
        let second = gates.enter("a@example.com", 2).await.unwrap();
        assert_eq!(queues(&gates), 1);
        // A third waits; giving up the wait leaves no trace once the others are done.
        let third = tokio::time::timeout(Duration::from_millis(20), gates.enter("a@example.com", 2)).await;
        assert!(third.is_err(), "the limit holds");
        drop(first);
        let third = gates.enter("a@example.com", 2).await.unwrap();
        drop((second, third));
        assert_eq!(queues(&gates), 0);
        let waiting = tokio::time::timeout(Duration::from_millis(5), async {
            let _held = gates.enter("b@example.com", 1).await.unwrap();
            gates.enter("b@example.com", 1).await
        })
        .await;
        assert!(waiting.is_err());
        assert_eq!(queues(&gates), 0);
    }
}
