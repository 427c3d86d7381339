//! The JWTs `get-session` handed out lately, by session id, so the same one can be handed out
//! again while its content holds (signing is the costly part of that route). Bounded by weight.

use std::sync::Arc;

/// What the JWTs kept for reuse may weigh, unless `JwtService::reusing` says otherwise.
pub(super) const REUSE_DEFAULT_BYTES: u64 = 8 << 20;

/// The JWT last handed out for a session by `get-session`.
pub(super) struct Recent {
    pub kid: String,
    /// What the claims said, but for the times (`Claims::content_digest`): the token carries
    /// them already, so they are not kept twice.
    pub content: [u8; 16],
    pub token: String,
    pub minted_at: i64,
}

/// A kept JWT weighs its bytes, roughly: the token, its key, and a fixed part (the entry, the
/// `Arc`, the cache's bookkeeping).
#[derive(Clone)]
pub(super) struct RecentWeight;

impl quick_cache::Weighter<String, Arc<Recent>> for RecentWeight {
    fn weight(&self, id: &String, r: &Arc<Recent>) -> u64 {
        (r.kid.len() + r.token.len() + id.len() + std::mem::size_of::<Recent>() + 96) as u64
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
