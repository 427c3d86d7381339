//! One-time codes and challenges with a limited number of tries, kept in `verification` rows
//! whose value ends in `:<tries so far>`. Every try uses up one attempt *before* anything is
//! compared, by compare-and-set on the stored value, so parallel guesses cannot share one.

use crate::{
    error::{ApiError, ApiResult},
    security::tokens::constant_time_eq,
    state::AppState,
};

/// What claiming one try of a row found.
pub enum Claim {
    /// A try is ours: the row's payload (its value before `:tries`) and how many tries there
    /// have been, this one included.
    Claimed {
        payload: String,
        tried: u32,
    },
    Missing,
    /// Expired (the row is deleted).
    Expired,
    /// Every try was used (the row is deleted).
    Exhausted,
}

/// Uses up one of `max` tries of the row `identifier`.
pub async fn claim(state: &AppState, identifier: &str, max: u32) -> ApiResult<Claim> {
    for _ in 0..8 {
        let Some((value, expires_at)) = state.store.peek_verification(identifier).await? else {
            return Ok(Claim::Missing);
        };
        let now = state.clock.now_ms();
        if expires_at <= now {
            state.store.take_verification(identifier).await?;
            return Ok(Claim::Expired);
        }
        let (payload, tries) =
            value.rsplit_once(':').ok_or_else(|| ApiError::internal("malformed code row"))?;
        let tries: u32 = tries.parse().map_err(ApiError::internal)?;
        if tries >= max {
            state.store.take_verification(identifier).await?;
            return Ok(Claim::Exhausted);
        }
        let next = format!("{payload}:{}", tries + 1);
        if state.store.swap_verification(identifier, &value, &next, now).await? {
            return Ok(Claim::Claimed { payload: payload.to_string(), tried: tries + 1 });
        }
    }
    // Lost every race: others are trying this row right now.
    Ok(Claim::Missing)
}

/// Stores `code` (by its HMAC) as the one live code under `identifier`, replacing any other.
pub async fn store_code(state: &AppState, identifier: &str, code: &str, ttl_ms: i64) -> ApiResult<()> {
    let now = state.clock.now_ms();
    state.store.take_verification(identifier).await?;
    let value = format!("{}:0", state.token_keys.hash(code));
    state.store.insert_verification(identifier, &value, now + ttl_ms, now).await?;
    Ok(())
}

/// How checking a code went.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    /// Right, and consumed (of two concurrent right answers, one gets this).
    Right,
    Wrong,
    Missing,
    Expired,
    /// No tries left (the code is gone).
    Exhausted,
}

/// Checks `code` against the code stored under `identifier` (at most `max` tries) and consumes it
/// when right. The last wrong try deletes it.
pub async fn check_code(state: &AppState, identifier: &str, code: &str, max: u32) -> ApiResult<Checked> {
    let (hash, tried) = match claim(state, identifier, max).await? {
        Claim::Claimed { payload, tried } => (payload, tried),
        Claim::Missing => return Ok(Checked::Missing),
        Claim::Expired => return Ok(Checked::Expired),
        Claim::Exhausted => return Ok(Checked::Exhausted),
    };
    // Under the current secret's key, or an older one's (a code sent before a secret rotation).
    if !state.token_keys.hashes(code.trim()).any(|h| constant_time_eq(h.as_bytes(), hash.as_bytes())) {
        if tried >= max {
            state.store.take_verification(identifier).await?;
            return Ok(Checked::Exhausted);
        }
        return Ok(Checked::Wrong);
    }
    // Consume: of two concurrent right answers, one deletes the row and the other finds none.
    match state.store.take_verification(identifier).await? {
        Some(_) => Ok(Checked::Right),
        None => Ok(Checked::Missing),
    }
}
