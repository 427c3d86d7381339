//! An in-process cache of live sessions (token → session, user and subscription), so
//! `get-session` can answer without a database round trip when that is safe.
//!
//! Safety rests on invalidation, not on timing: every write that changes or removes a session or
//! a user's cached fields goes through the store, which drops the affected entries here and, on
//! PostgreSQL, tells every other instance (LISTEN/NOTIFY). On PostgreSQL the cache is only used
//! while this instance is listening; a lost listener connection clears it. An epoch counter
//! stops a read that raced with an invalidation from putting the stale row back. Entries also
//! expire after a short TTL, which bounds what an out-of-band change (a row deleted by hand)
//! can leave behind.
//!
//! The entries live in `quick_cache` (S3-FIFO-like admission: a key seen once does not push out
//! keys read again and again; eviction by weight), bounded by `SESSION_CACHE_MAX_MB`: each entry
//! weighs what it holds (its strings' bytes plus a fixed part), so the bound is memory, not a
//! count. A user's custom fields are kept as their JSON text and read back on a hit.

use std::sync::{
    Arc, RwLock,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use quick_cache::{Weighter, sync::Cache};

use crate::domain::{
    fields::Fields,
    model::{SessionRow, SubscriptionRow, User},
};

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

type Key = [u8; 16];

/// The cache key for a session token: SHA-256, first 16 bytes.
fn key_bytes(token: &str) -> Key {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The cache key for a session token, in hex (as notifications carry it).
pub fn key_of(token: &str) -> String {
    key_bytes(token).iter().map(|b| format!("{b:02x}")).collect()
}

/// A hex key back to bytes (`None` for anything else).
fn key_from_hex(hex: &str) -> Option<Key> {
    let mut key = [0u8; 16];
    if hex.len() != 32 {
        return None;
    }
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(key)
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
    /// The user without their custom fields (those are `fields`).
    user: User,
    /// The custom fields as JSON text; `None` when there are none (most users).
    fields: Option<Box<str>>,
    subscription: Option<SubscriptionRow>,
    cached_at: i64,
    weight: u32,
}

/// Bytes an entry holds, roughly: its own size, its strings, and the cache's bookkeeping.
fn weight_of(session: &SessionRow, user: &User, fields: Option<&str>, sub: Option<&SubscriptionRow>) -> u32 {
    fn s(v: &str) -> usize {
        v.len()
    }
    fn o(v: &Option<String>) -> usize {
        v.as_deref().map_or(0, str::len)
    }
    let session = s(&session.id)
        + s(&session.token)
        + s(&session.user_id)
        + o(&session.ip_address)
        + o(&session.user_agent)
        + o(&session.active_organization_id)
        + o(&session.impersonated_by);
    let user = s(&user.id)
        + s(&user.name)
        + s(&user.email)
        + o(&user.image)
        + o(&user.username)
        + o(&user.display_username)
        + o(&user.app_id)
        + s(&user.role)
        + o(&user.ban_reason);
    let sub = sub.map_or(0, |r| {
        s(&r.id)
            + s(&r.plan)
            + s(&r.reference_id)
            + s(&r.status)
            + o(&r.stripe_customer_id)
            + o(&r.stripe_subscription_id)
    });
    // Arc header, key, value pointer and the cache's per-entry state; and the allocator's
    // overhead on the entry's strings (about 16 of them).
    const FIXED: usize = std::mem::size_of::<Entry>() + 16 + 48 + 16 * 16;
    u32::try_from(FIXED + session + user + sub + fields.map_or(0, str::len)).unwrap_or(u32::MAX)
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<Key, Arc<Entry>> for ByBytes {
    fn weight(&self, _key: &Key, entry: &Arc<Entry>) -> u64 {
        u64::from(entry.weight)
    }
}

pub struct SessionCache {
    entries: Cache<Key, Arc<Entry>, ByBytes>,
    /// Held (shared) by a put from its epoch check to its insert, and (exclusive) by an
    /// invalidation while it counts the epoch up: an invalidation that has returned has either
    /// removed a put's entry or made that put see the new epoch and give up.
    gate: RwLock<()>,
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

/// What an entry typically weighs (to size the cache's tables up front).
const TYPICAL_WEIGHT: u64 = 1_000;

impl SessionCache {
    /// A cache holding at most `max_bytes` of entries (at least one typical entry's worth).
    pub fn new(enabled: bool, ttl_ms: i64, max_bytes: u64) -> Self {
        let max_bytes = max_bytes.max(TYPICAL_WEIGHT);
        let items = usize::try_from(max_bytes / TYPICAL_WEIGHT).unwrap_or(usize::MAX);
        Self {
            entries: Cache::with_weighter(items, max_bytes, ByBytes),
            gate: RwLock::new(()),
            epoch: AtomicU64::new(0),
            enabled: AtomicBool::new(enabled),
            ttl_ms,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Take before reading the database; hand to [`put`](Self::put) afterwards.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub fn get(&self, token: &str, now: i64) -> Option<super::SessionBundle> {
        if !self.enabled.load(Ordering::Acquire) {
            // Off (or, on PostgreSQL, not listening yet): the database answers.
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let hit = self
            .entries
            .get(&key_bytes(token))
            .filter(|e| e.session.expires_at > now && now - e.cached_at < self.ttl_ms)
            .map(|e| {
                let mut user = e.user.clone();
                if let Some(text) = &e.fields {
                    user.fields = Fields::from(text.to_string());
                }
                (e.session.clone(), user, e.subscription.clone())
            });
        let counter = if hit.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Lookups answered from the cache, and lookups that went to the database, so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Entries held, and the bytes they weigh.
    pub fn size(&self) -> (usize, u64) {
        (self.entries.len(), self.entries.weight())
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
        let fields = (!user.fields.0.is_empty())
            .then(|| serde_json::to_string(&user.fields.0).ok().map(String::into_boxed_str))
            .flatten();
        let mut bare = user.clone();
        bare.fields = Fields::default();
        let weight = weight_of(session, &bare, fields.as_deref(), subscription);
        let key = key_bytes(&session.token);
        let entry = Entry {
            session: session.clone(),
            user: bare,
            fields,
            subscription: subscription.cloned(),
            cached_at: now,
            weight,
        };
        let _gate = self.gate.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.epoch.load(Ordering::SeqCst) == epoch {
            self.entries.insert(key, Arc::new(entry));
        }
    }

    pub fn invalidate(&self, what: &Invalidation) {
        {
            // Puts that checked the epoch before this have inserted by now (and are removed
            // below); later ones see the new epoch.
            let _gate = self.gate.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            self.epoch.fetch_add(1, Ordering::SeqCst);
        }
        match what {
            Invalidation::Session(hex) => match key_from_hex(hex) {
                Some(key) => {
                    self.entries.remove(&key);
                }
                None => self.entries.clear(),
            },
            // A user (their sessions, and those they opened as others), or an organization
            // (sessions whose active organization it is).
            Invalidation::User(u) => self.entries.retain(|_, e| {
                &e.user.id != u
                    && e.session.active_organization_id.as_ref() != Some(u)
                    && e.session.impersonated_by.as_ref() != Some(u)
            }),
            Invalidation::All => self.entries.clear(),
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
        let c = SessionCache::new(true, 100, 1 << 20);
        let (s, u) = rows("t1", "u1");
        c.put(c.epoch(), &s, &u, None, 10);
        assert!(c.get("t1", 50).is_some());
        assert!(c.get("t1", 110).is_none(), "ttl");
        assert!(c.get("t2", 50).is_none());
        let c = SessionCache::new(true, 10_000, 1 << 20);
        c.put(c.epoch(), &s, &u, None, 10);
        assert!(c.get("t1", 1_000).is_none(), "session expired");
    }

    #[test]
    fn invalidation_and_races() {
        let c = SessionCache::new(true, 10_000, 1 << 20);
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
        let c = SessionCache::new(false, 10_000, 1 << 20);
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
    fn bounded_by_memory_and_keeps_what_is_read_again() {
        let c = SessionCache::new(true, 60_000, 256 << 10);
        let (hot, u) = rows("hot", "u-hot");
        c.put(c.epoch(), &hot, &u, None, 0);
        for i in 0..20_000 {
            let (s, u) = rows(&format!("cold-{i}"), &format!("u{i}"));
            c.put(c.epoch(), &s, &u, None, 0);
            if i % 64 == 0 {
                assert!(c.get("hot", 1).is_some(), "a key read again and again stays, at {i}");
            }
        }
        let (len, weight) = c.size();
        assert!(weight <= 256 << 10, "weighs {weight}");
        assert!(len > 100 && len < 20_000, "holds {len}");
    }

    #[test]
    fn custom_fields_come_back() {
        let c = SessionCache::new(true, 60_000, 1 << 20);
        let (s, mut u) = rows("t", "u");
        u.fields.0.insert("plan".into(), serde_json::json!("gold"));
        c.put(c.epoch(), &s, &u, None, 0);
        let (_, back, _) = c.get("t", 1).unwrap();
        assert_eq!(back, u);
    }

    #[test]
    fn payloads_round_trip() {
        for i in [Invalidation::token("a:b"), Invalidation::User("u".into()), Invalidation::All] {
            assert_eq!(Invalidation::from_payload(&i.payload()), i);
        }
        assert!(!Invalidation::token("secret-token").payload().contains("secret-token"));
        let c = SessionCache::new(true, 60_000, 1 << 20);
        let (s, u) = rows("t", "u");
        c.put(c.epoch(), &s, &u, None, 0);
        c.invalidate(&Invalidation::from_payload(&Invalidation::token("t").payload()));
        assert!(c.get("t", 1).is_none(), "a notified key finds its entry");
    }
}
