//! The sign-in challenge: when the gate finds a second factor on, it starts no session but
//! stores a challenge (`verification` row `two-factor:<hmac>`, value `userId|<remember><mail>:tries`
//! with `mail` 1 when the first factor was an email code; 10 minutes, 5 tries) and sets the signed
//! two-factor cookie naming it. A right second factor
//! within those tries consumes the challenge and starts the session.

use tower_cookies::Cookies;

use super::{INVALID_TWO_FACTOR_COOKIE, TOO_MANY_ATTEMPTS, methods};
use crate::{
    domain::model::User,
    error::{ApiError, ApiResult},
    security::tokens::random_hex,
    service::{
        codes::{Claim, claim},
        links::{Purpose, identifier, stored},
        sessions::{expire_cookie, marked_cookie, set_marked_cookie},
    },
    state::AppState,
};

const TRIES: u32 = 5;
/// What a challenge cookie's value starts with (see `sessions::set_marked_cookie`).
const MARK: &str = "2fa.";

/// Starts a challenge for `user` on this response; the methods it offers.
pub async fn issue(
    state: &AppState,
    cookies: &Cookies,
    user: &User,
    remember_me: bool,
    mail_proven: bool,
) -> ApiResult<Vec<&'static str>> {
    let raw = random_hex(20);
    let now = state.clock.now_ms();
    let value = format!("{}|{}{}:0", user.id, u8::from(remember_me), u8::from(mail_proven));
    let ttl = Purpose::TwoFactor.ttl_ms();
    state
        .store
        .insert_verification(&identifier(state, Purpose::TwoFactor, &raw), &value, now + ttl, now)
        .await?;
    set_marked_cookie(state, cookies, state.two_factor_cookie(), MARK, &raw, ttl);
    let row = state.store.two_factor(&user.id).await?;
    Ok(methods(row.as_ref(), mail_proven))
}

/// A challenge this browser holds (its cookie verified, its row not yet checked).
pub struct Pending {
    identifier: String,
}

impl Pending {
    /// The challenge the request's two-factor cookie names, if it has a live one.
    pub async fn of(state: &AppState, cookies: &Cookies) -> ApiResult<Option<Self>> {
        let Some(raw) = marked_cookie(state, cookies, &state.two_factor_cookie(), MARK) else {
            return Ok(None);
        };
        // Kept under the current secret's key, or an older one's (made before a rotation).
        let Some((identifier, (_, expires_at))) = stored(state, Purpose::TwoFactor, &raw).await? else {
            return Ok(None);
        };
        Ok((expires_at > state.clock.now_ms()).then_some(Self { identifier }))
    }

    /// Uses one of the challenge's tries. A burnt or vanished challenge answers the contract's
    /// error.
    pub async fn attempt(&self, state: &AppState) -> ApiResult<Challenger> {
        let payload = match claim(state, &self.identifier, TRIES).await? {
            Claim::Claimed { payload, .. } => payload,
            Claim::Exhausted => return Err(TOO_MANY_ATTEMPTS),
            Claim::Missing | Claim::Expired => return Err(INVALID_TWO_FACTOR_COOKIE),
        };
        user_of(state, &payload).await
    }

    /// Who the challenge is for, without using a try (to mail them a code).
    pub async fn challenger(&self, state: &AppState) -> ApiResult<Challenger> {
        let (value, _) =
            state.store.peek_verification(&self.identifier).await?.ok_or(INVALID_TWO_FACTOR_COOKIE)?;
        user_of(state, &value).await
    }

    /// Consumes the challenge after its second factor passed: false when another request did
    /// first.
    pub async fn consume(&self, state: &AppState, cookies: &Cookies) -> ApiResult<bool> {
        expire_cookie(state, cookies, state.two_factor_cookie());
        Ok(state.store.take_verification(&self.identifier).await?.is_some())
    }
}

/// Who a challenge is for, and how the sign-in began.
pub struct Challenger {
    pub user: User,
    pub remember_me: bool,
    /// The first factor was an email code.
    pub mail_proven: bool,
}

/// The challenger of a challenge's value (`userId|<remember><mail>`, maybe `:tries` after it).
async fn user_of(state: &AppState, value: &str) -> ApiResult<Challenger> {
    let (user_id, flags) = value.split_once('|').ok_or_else(|| ApiError::internal("malformed challenge"))?;
    let user = state.store.user_by_id(user_id).await?.ok_or(INVALID_TWO_FACTOR_COOKIE)?;
    let flags = flags.as_bytes();
    Ok(Challenger {
        user,
        remember_me: flags.first() == Some(&b'1'),
        mail_proven: flags.get(1) != Some(&b'0'),
    })
}
