//! Passwords: setting a new one, mailing a reset link, checking the current one.

use axum::http::StatusCode;

use crate::{
    domain::{input::NewPassword, model::User},
    error::{ApiError, ApiResult},
    service::{
        audit::{Record, recorded},
        credentials::{Checked, check_password},
        links::{Purpose, link, mail_vars, send_link},
    },
    state::AppState,
    store::EndSessions,
};

/// Sets a new password for the user, ends all their sessions and lifts a lockout.
pub async fn replace_password(state: &AppState, user_id: &str, password: &NewPassword) -> ApiResult<()> {
    let Some(user) = state.store.user_by_id(user_id).await? else {
        return Err(ApiError::InvalidToken(StatusCode::BAD_REQUEST));
    };
    let hash = state.hasher.hash(password.as_str()).await?;
    let now = state.clock.now_ms();
    let change = state.store.replace_credentials(&user.id, &hash, EndSessions::All, true, now);
    recorded(state, Record::own("password-reset", &user), None, change).await?;
    state.lockout.clear(&state.counters, state.store.as_ref(), &user.lockout_key(), now).await
}

/// Mails the user a reset link; older reset links stop working.
pub async fn send_reset(state: &AppState, user: &User, redirect_to: Option<&str>) -> ApiResult<()> {
    // A newer request makes older links useless.
    state.store.delete_verifications(Purpose::Reset.prefix(), &user.id).await?;
    let query: Vec<(&str, &str)> = redirect_to.map(|r| ("callbackURL", r)).into_iter().collect();
    let vars = mail_vars(state, user);
    send_link(state, Purpose::Reset, &user.id, &user.email, ("reset", "reset"), vars, |token| {
        link(state, &format!("/reset-password/{token}"), &query)
    })
    .await
}

/// Checks the user's current password under the lockout (wrong ones count toward it, as on
/// sign-in): 400 `INVALID_PASSWORD` when wrong, 403 `ACCOUNT_LOCKED` while locked.
pub async fn check_current_password(state: &AppState, user: &User, password: &str) -> ApiResult<()> {
    let credential = state.store.credential_by_email(&user.email, user.app_key()).await?;
    let Some(hash) = credential.and_then(|c| c.password_hash) else {
        return Err(ApiError::CredentialAccountNotFound);
    };
    match check_password(state, &user.lockout_key(), password, Some(&hash)).await? {
        Checked::Correct { .. } => Ok(()),
        Checked::Wrong => Err(ApiError::InvalidPassword),
    }
}
