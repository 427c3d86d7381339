//! An in-process cache of live sessions (token → session and user), so `get-session` can answer
//! without a database round trip when that is safe.
//!
//! Safety rests on invalidation, not on timing: every write that changes or removes a session or
//! a user's cached fields goes through the store, which drops the affected entries here and, on
//! PostgreSQL, tells every other instance (LISTEN/NOTIFY). On PostgreSQL the cache is only used
//! while this instance is listening; a lost listener connection clears it. An epoch counter
//! stops a read that raced with an invalidation from putting the stale row back. Entries also
//! expire after a short TTL, which bounds what an out-of-band change (a row deleted by hand)
//! can leave behind.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use crate::domain::model::{SessionRow, SubscriptionRow, User};

const SHARDS: usize = 16;
const MAX_PER_SHARD: usize = 8192;
/// The LISTEN/NOTIFY channel instances share.
pub const CHANNEL: &str = "gatehouse_session_cache";

/// What changed: one session, or everything cached for a user. Sessions are named by a hash of
/// their token, so notifications (visible to any database client) never carry a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Session(String),
    User(String),
    All,
}

/// The cache key for a session token: SHA-256, first 16 bytes, hex.
pub fn key_of(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())[..16].iter().map(|b| format!("{b:02x}")).collect()
}

impl Invalidation {
    pub fn token(token: &str) -> Self {
        Self::Session(key_of(token))
    }

    pub fn payload(&self) -> String {
        match self {
            Self::Session(k) => format!("t:{k}"),
            Self::User(u) => format!("u:{u}"),
            Self::All => "*".into(),
        }
    }

    pub fn from_payload(p: &str) -> Self {
        match p.split_once(':') {
            Some(("t", k)) => Self::Session(k.to_string()),
            Some(("u", u)) => Self::User(u.to_string()),
            _ => Self::All,
        }
    }
}

struct Entry {
    session: SessionRow,
    user: User,
    subscription: Option<SubscriptionRow>,
    cached_at: i64,
}

pub struct SessionCache {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    epoch: AtomicU64,
    enabled: AtomicBool,
    ttl_ms: i64,
    /// Lookups answered here, and not (for `/metrics`).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCache").field("enabled", &self.enabled.load(Ordering::Relaxed)).finish()
    }
}

impl SessionCache {
    pub fn new(enabled: bool, ttl_ms: i64) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            epoch: AtomicU64::new(0),
            enabled: AtomicBool::new(enabled),
            ttl_ms,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Entry>> {
        let h = key.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        &self.shards[h % SHARDS]
    }

    fn lock<'a>(m: &'a Mutex<HashMap<String, Entry>>) -> std::sync::MutexGuard<'a, HashMap<String, Entry>> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take before reading the database; hand to [`put`](Self::put) afterwards.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, token: &str, now: i64) -> Option<super::SessionBundle> {
        if !self.enabled.load(Ordering::Acquire) {
            // Off (or, on PostgreSQL, not listening yet): the database answers.
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let key = key_of(token);
        let shard = Self::lock(self.shard(&key));
        let hit = shard
            .get(&key)
            .filter(|e| e.session.expires_at > now && now - e.cached_at < self.ttl_ms)
            .map(|e| (e.session.clone(), e.user.clone(), e.subscription.clone()));
        let counter = if hit.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Lookups answered from the cache, and lookups that went to the database, so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Caches a row read from the database, unless anything was invalidated since `epoch`.
    pub fn put(
        &self,
        epoch: u64,
        session: &SessionRow,
        user: &User,
        subscription: Option<&SubscriptionRow>,
        now: i64,
    ) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let key = key_of(&session.token);
        let mut shard = Self::lock(self.shard(&key));
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if shard.len() >= MAX_PER_SHARD {
            shard.retain(|_, e| now - e.cached_at < self.ttl_ms && e.session.expires_at > now);
            if shard.len() >= MAX_PER_SHARD {
                shard.clear();
            }
        }
        let entry = Entry {
            session: session.clone(),
            user: user.clone(),
            subscription: subscription.cloned(),
            cached_at: now,
        };
        shard.insert(key, entry);
    }

    pub fn invalidate(&self, what: &Invalidation) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match what {
            Invalidation::Session(k) => {
                Self::lock(self.shard(k)).remove(k);
            }
            // A user (their sessions, and those they opened as others), or an organization
            // (sessions whose active organization it is).
            Invalidation::User(u) => {
                for shard in &self.shards {
                    Self::lock(shard).retain(|_, e| {
                        &e.user.id != u
                            && e.session.active_organization_id.as_ref() != Some(u)
                            && e.session.impersonated_by.as_ref() != Some(u)
                    });
                }
            }
            Invalidation::All => {
                for shard in &self.shards {
                    Self::lock(shard).clear();
                }
            }
        }
    }

    /// Turns the cache on or off (off also empties it).
    pub fn set_enabled(&self, on: bool) {
        self.invalidate(&Invalidation::All);
        self.enabled.store(on, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(token: &str, user: &str) -> (SessionRow, User) {
        let s = SessionRow {
            id: "s".into(),
            token: token.into(),
            user_id: user.into(),
            expires_at: 1_000,
            created_at: 0,
            updated_at: 0,
            ip_address: None,
            user_agent: None,
            active_organization_id: None,
            remember_me: true,
            impersonated_by: None,
        };
        let u = User::new(user.into(), "n".into(), "e@x.y".into(), None, 0);
        (s, u)
    }

    #[test]
    fn hit_miss_expiry_ttl() {
        let c = SessionCache::new(true, 100);
        let (s, u) = rows("t1", "u1");
        c.put(c.epoch(), &s, &u, None, 10);
        assert!(c.get("t1", 50).is_some());
        assert!(c.get("t1", 110).is_none(), "ttl");
        assert!(c.get("t2", 50).is_none());
        let c = SessionCache::new(true, 10_000);
        c.put(c.epoch(), &s, &u, None, 10);
        assert!(c.get("t1", 1_000).is_none(), "session expired");
    }

    #[test]
    fn invalidation_and_races() {
        let c = SessionCache::new(true, 10_000);
        let (s1, u1) = rows("t1", "u1");
        let (s2, u2) = rows("t2", "u2");
        c.put(c.epoch(), &s1, &u1, None, 0);
        c.put(c.epoch(), &s2, &u2, None, 0);
        c.invalidate(&Invalidation::User("u1".into()));
        assert!(c.get("t1", 1).is_none());
        assert!(c.get("t2", 1).is_some());
        c.invalidate(&Invalidation::token("t2"));
        assert!(c.get("t2", 1).is_none());
        // A read that started before an invalidation must not cache its (stale) row.
        let before = c.epoch();
        c.invalidate(&Invalidation::token("t1"));
        c.put(before, &s1, &u1, None, 2);
        assert!(c.get("t1", 3).is_none());
    }

    #[test]
    fn disabled_cache_answers_nothing() {
        let c = SessionCache::new(false, 10_000);
        let (s, u) = rows("t", "u");
        c.put(c.epoch(), &s, &u, None, 0);
        assert!(c.get("t", 1).is_none());
        c.set_enabled(true);
        c.put(c.epoch(), &s, &u, None, 0);
        assert!(c.get("t", 1).is_some());
        c.set_enabled(false);
        assert!(c.get("t", 1).is_none());
    }

    #[test]
    fn payloads_round_trip() {
        for i in [Invalidation::token("a:b"), Invalidation::User("u".into()), Invalidation::All] {
            assert_eq!(Invalidation::from_payload(&i.payload()), i);
        }
        assert!(!Invalidation::token("secret-token").payload().contains("secret-token"));
    }
}
