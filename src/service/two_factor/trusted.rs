//! Trusted browsers: after a second factor with `trustDevice: true`, a `trustedDevice` row (30
//! days) and a signed cookie naming it. The gate skips the second factor for that user on that
//! browser, and rotates the device (new row and cookie) each time it does.

use tower_cookies::Cookies;

use crate::{
    domain::model::{TrustedDevice, User},
    error::ApiResult,
    security::tokens::random_hex,
    service::sessions::{expire_cookie, marked_cookie, set_marked_cookie},
    state::AppState,
};

const TRUST_MS: i64 = 30 * 24 * 3_600_000;
/// What a trust cookie's value starts with (see `sessions::set_marked_cookie`).
const MARK: &str = "trust.";

/// The device the browser's trust cookie names, if it carries a valid (signed) one.
fn device_id(state: &AppState, cookies: &Cookies) -> Option<String> {
    marked_cookie(state, cookies, &state.trust_device_cookie(), MARK)
}

/// Trusts this browser for `user_id` for 30 days (replacing the device it was for the user).
pub async fn trust(
    state: &AppState,
    cookies: &Cookies,
    user_id: &str,
    user_agent: Option<String>,
) -> ApiResult<()> {
    if let Some(old) = device_id(state, cookies) {
        state.store.take_trusted_device(&old, user_id).await?;
    }
    let now = state.clock.now_ms();
    let device = TrustedDevice {
        id: random_hex(16),
        user_id: user_id.to_string(),
        user_agent,
        created_at: now,
        expires_at: now + TRUST_MS,
    };
    state.store.insert_trusted_device(&device).await?;
    set_marked_cookie(state, cookies, state.trust_device_cookie(), MARK, &device.id, TRUST_MS);
    Ok(())
}

/// Whether this browser is trusted by `user`; if so, the device is rotated (of two concurrent
/// sign-ins with one cookie, one finds it). A cookie of another user's device is left alone.
pub async fn recognise(
    state: &AppState,
    cookies: &Cookies,
    user: &User,
    user_agent: Option<String>,
) -> ApiResult<bool> {
    let Some(id) = device_id(state, cookies) else { return Ok(false) };
    let Some(device) = state.store.take_trusted_device(&id, &user.id).await? else {
        return Ok(false);
    };
    if device.expires_at <= state.clock.now_ms() {
        expire_cookie(state, cookies, state.trust_device_cookie());
        return Ok(false);
    }
    trust(state, cookies, &user.id, user_agent).await?;
    Ok(true)
}
