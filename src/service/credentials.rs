//! Password checks under the account lockout. Every route that takes a user's password (sign-in,
//! change-password, delete-user, and whatever comes next) checks it here, so wrong passwords
//! anywhere count toward the same lockout, and a locked account accepts none.

use crate::{
    domain::input::MAX_PASSWORD_LEN,
    error::{ApiError, ApiResult},
    http::verification::{Purpose, in_background, link, mail_vars, send_link},
    security::password::Verified,
    state::AppState,
};

/// The outcome of a password check that was allowed to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Right password; `rehash` when the stored hash should be upgraded.
    Correct { rehash: bool },
    /// Wrong password, or no such account (equal work either way).
    Wrong,
}

/// Checks `password` for `email` (normalised) against `stored` (the account's hash, `None` for
/// an unknown email). A check is reserved before hashing: 403 `ACCOUNT_LOCKED` without hashing
/// when the account is locked or every check of its window is taken, and also when a lock was set
/// while this check ran, even if the password was right. The failure that locks the account
/// mails its owner a reset link.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    stored: Option<&str>,
) -> ApiResult<Checked> {
    if password.chars().count() > MAX_PASSWORD_LEN {
        return Ok(Checked::Wrong);
    }
    let (lockout, counters, db) = (&state.lockout, state.counters.as_ref(), state.store.as_ref());
    if !lockout.reserve(counters, db, email, state.clock.now_ms()).await? {
        return Err(ApiError::AccountLocked);
    }
    let verified = state.hasher.verify(password, stored).await;
    let now = state.clock.now_ms();
    match verified {
        Ok(Verified::Yes { rehash }) => {
            if lockout.succeeded(counters, db, email, now).await? {
                return Err(ApiError::AccountLocked);
            }
            Ok(Checked::Correct { rehash })
        }
        Ok(Verified::No) => {
            if lockout.failed(counters, db, email, now).await? {
                let (st, email) = (state.clone(), email.to_string());
                in_background(async move { send_lock_notice(&st, &email).await });
            }
            Ok(Checked::Wrong)
        }
        Err(e) => {
            // The check never ran: give the reservation back.
            lockout.succeeded(counters, db, email, now).await?;
            Err(e)
        }
    }
}

/// Tells the owner (if the email has an account) that it is locked, with a reset link.
async fn send_lock_notice(state: &AppState, email: &str) -> ApiResult<()> {
    let Some(found) = state.store.credential_by_email(email).await? else { return Ok(()) };
    let minutes = state.lockout.duration_ms / 60_000;
    let vars = minijinja::context! { lock_minutes => minutes, ..mail_vars(state, &found.user) };
    send_link(state, Purpose::Reset, &found.user.id, email, ("locked", "reset"), vars, |token| {
        link(state, &format!("/reset-password/{token}"), &[])
    })
    .await
}
