//! The JWTs `get-session` handed out lately, by session id, so the same one can be handed out
//! again while its content holds (signing is the costly part of that route). Bounded by weight.

use std::sync::Arc;

use super::Claims;

/// What the JWTs kept for reuse may weigh, unless `JwtService::reusing` says otherwise.
pub(super) const REUSE_DEFAULT_BYTES: u64 = 8 << 20;

/// The JWT last handed out for a session by `get-session`.
pub(super) struct Recent {
    pub kid: String,
    pub claims: Claims,
    pub token: String,
    pub minted_at: i64,
}

/// A kept JWT weighs its bytes, roughly: the token, the claims' strings, and a fixed part.
#[derive(Clone)]
pub(super) struct RecentWeight;

impl quick_cache::Weighter<String, Arc<Recent>> for RecentWeight {
    fn weight(&self, id: &String, r: &Arc<Recent>) -> u64 {
        let c = &r.claims;
        let strings = [&c.sub, &c.email, &c.name, &c.sid, &c.iss, &c.aud, &r.kid, &r.token, id];
        let optional = [&c.org, &c.plan, &c.app];
        let bytes = strings.iter().map(|s| s.len()).sum::<usize>()
            + optional.iter().map(|s| s.as_deref().map_or(0, str::len)).sum::<usize>()
            + std::mem::size_of::<Recent>()
            + 64;
        bytes as u64
    }
}

pub(super) type RecentCache = quick_cache::sync::Cache<String, Arc<Recent>, RecentWeight>;

pub(super) fn recent_cache(max_bytes: u64) -> RecentCache {
    RecentCache::with_weighter(
        usize::try_from(max_bytes / 1024).unwrap_or(1024).max(16),
        max_bytes,
        RecentWeight,
    )
}
