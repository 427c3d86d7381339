//! Password checks under the account lockout. Every route that takes a user's password (sign-in,
//! change-password, delete-user, and whatever comes next) checks it here, so wrong passwords
//! anywhere count toward the same lockout, and a locked account accepts none.

use std::time::Duration;

use crate::{
    domain::input::MAX_PASSWORD_LEN,
    error::{ApiError, ApiResult},
    http::verification::{Purpose, in_background, link, mail_vars, send_link},
    security::{
        lockout::{Attempt, Reservation},
        password::Verified,
    },
    state::AppState,
};

/// While every check of an email's window is taken by checks still running, a new one waits for
/// a free one this many times, this long apart (then 403 `ACCOUNT_LOCKED`): a burst of right
/// passwords (one user on many devices, a service account) is served, not refused.
const BUSY_RETRIES: u32 = 40;
const BUSY_PAUSE: Duration = Duration::from_millis(25);

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
/// while the account is locked (or every check of its window stays taken), and also when a lock
/// was set while this check ran, even if the password was right. The failure that locks the
/// account mails its owner a reset link.
pub async fn check_password(
    state: &AppState,
    email: &str,
    password: &str,
    stored: Option<&str>,
) -> ApiResult<Checked> {
    if password.chars().count() > MAX_PASSWORD_LEN {
        return Ok(Checked::Wrong);
    }
    let reservation = Some(reserve(state, email).await?);
    let mut pending = Pending { state: state.clone(), email: email.to_string(), reservation };
    let verified = state.hasher.verify(password, stored).await;
    let reservation = pending.settle()?;
    let (lockout, counters, db) = (&state.lockout, state.counters.as_ref(), state.store.as_ref());
    let now = state.clock.now_ms();
    match verified {
        Ok(Verified::Yes { rehash }) => {
            if lockout.release(counters, db, email, reservation, now).await? {
                return Err(ApiError::AccountLocked);
            }
            Ok(Checked::Correct { rehash })
        }
        Ok(Verified::No) => {
            if lockout.failed(counters, db, email, reservation, now).await? {
                let (st, email) = (state.clone(), email.to_string());
                in_background(async move { send_lock_notice(&st, &email).await });
            }
            Ok(Checked::Wrong)
        }
        Err(e) => {
            // The check never ran: give the reservation back.
            lockout.release(counters, db, email, reservation, now).await?;
            Err(e)
        }
    }
}

/// A check for `email`, once one is free (waiting briefly while all are taken by running ones).
async fn reserve(state: &AppState, email: &str) -> ApiResult<Reservation> {
    let (lockout, counters, db) = (&state.lockout, state.counters.as_ref(), state.store.as_ref());
    for _ in 0..BUSY_RETRIES {
        match lockout.reserve(counters, db, email, state.clock.now_ms()).await? {
            Attempt::Granted(reservation) => return Ok(reservation),
            Attempt::Locked => return Err(ApiError::AccountLocked),
            Attempt::Busy => tokio::time::sleep(BUSY_PAUSE).await,
        }
    }
    Err(ApiError::AccountLocked)
}

/// A reservation not yet settled. If the request is dropped while hashing (the client went
/// away), it is given back, so abandoned requests cannot hold an account's checks; the client
/// never saw an answer, so nothing was learnt.
struct Pending {
    state: AppState,
    email: String,
    reservation: Option<Reservation>,
}

impl Pending {
    fn settle(&mut self) -> ApiResult<Reservation> {
        self.reservation.take().ok_or_else(|| ApiError::internal("password check settled twice"))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(reservation) = self.reservation.take() {
            let (state, email) = (self.state.clone(), std::mem::take(&mut self.email));
            tokio::spawn(async move {
                let (lockout, counters, db) = (&state.lockout, state.counters.as_ref(), state.store.as_ref());
                let now = state.clock.now_ms();
                if let Err(e) = lockout.release(counters, db, &email, reservation, now).await {
                    tracing::warn!(error = %e, "could not give back an abandoned password check");
                }
            });
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
