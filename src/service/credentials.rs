//! Password checks under the account lockout. Every route that takes a user's password (sign-in,
//! change-password, delete-user, and whatever comes next) checks it here, so wrong passwords
//! anywhere count toward the same lockout, and a locked account accepts none.

use std::time::Duration;

use crate::{
    domain::input::PASSWORD_HARD_MAX,
    error::{ApiError, ApiResult},
    security::{
        lockout::{Attempt, GatePass, Reservation},
        password::Verified,
    },
    service::links::{Purpose, in_background, link, mail_vars, send_link},
    state::AppState,
};

/// A check waits at most this long for its turn (then 403 `ACCOUNT_LOCKED`): on this instance
/// checks of one email queue first come, first served, at most the lockout's limit at once, so a
/// burst of right passwords (one user on many devices, a service account) is served in order;
/// while checks on other instances hold every reservation, it looks again every `BUSY_POLL`.
const BUSY_WAIT: Duration = Duration::from_secs(3);
const BUSY_POLL: Duration = Duration::from_millis(50);

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
    if password.chars().count() > PASSWORD_HARD_MAX {
        return Ok(Checked::Wrong);
    }
    let (pass, reservation) = reserve(state, email).await?;
    let mut pending = Pending {
        state: state.clone(),
        email: email.to_string(),
        reservation: Some(reservation),
        _pass: pass,
    };
    let verified = state.hasher.verify(password, stored).await;
    let reservation = pending.settle()?;
    // Settled to the end even if the client hangs up now: a failure is always counted.
    let (st, owned_email) = (state.clone(), email.to_string());
    tokio::spawn(async move { settle(&st, &owned_email, reservation, verified).await })
        .await
        .map_err(ApiError::internal)?
}

/// Settles a reserved check with its result.
async fn settle(
    state: &AppState,
    email: &str,
    reservation: Reservation,
    verified: ApiResult<Verified>,
) -> ApiResult<Checked> {
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

/// A turn and a reserved check for `email` (waiting briefly while all are taken by running ones).
async fn reserve(state: &AppState, email: &str) -> ApiResult<(GatePass, Reservation)> {
    let (lockout, counters, db) = (&state.lockout, state.counters.as_ref(), state.store.as_ref());
    let wait = async {
        let pass = lockout.gates.enter(email, lockout.max_failures).await?;
        loop {
            match lockout.reserve(counters, db, email, state.clock.now_ms()).await? {
                Attempt::Granted(reservation) => return Ok((pass, reservation)),
                Attempt::Locked => return Err(ApiError::AccountLocked),
                Attempt::Busy => tokio::time::sleep(BUSY_POLL).await,
            }
        }
    };
    tokio::time::timeout(BUSY_WAIT, wait).await.unwrap_or(Err(ApiError::AccountLocked))
}

/// A reservation not yet settled. If the request is dropped while hashing (the client went
/// away), it is given back, so abandoned requests cannot hold an account's checks; the client
/// never saw an answer, so nothing was learnt.
struct Pending {
    state: AppState,
    email: String,
    reservation: Option<Reservation>,
    /// This check's turn: the next in the queue goes once this one is settled (or given up).
    _pass: GatePass,
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

/// Tells the owner (if the lockout key is an account's address, see `User::lockout_key`) that it
/// is locked, with a reset link.
async fn send_lock_notice(state: &AppState, key: &str) -> ApiResult<()> {
    let (app, email) = crate::domain::app::unqualify(key);
    let Some(found) = state.store.credential_by_email(email, app).await? else { return Ok(()) };
    let locked = crate::service::audit::Record {
        actor: None,
        ..crate::service::audit::Record::own("account-locked", &found.user)
    };
    crate::service::audit::record(state, locked, found.user.app_id.as_deref()).await;
    let minutes = state.lockout.duration_ms / 60_000;
    let vars = minijinja::context! { lock_minutes => minutes, ..mail_vars(state, &found.user) };
    send_link(state, Purpose::Reset, &found.user.id, email, ("locked", "reset"), vars, |token| {
        link(state, &format!("/reset-password/{token}"), &[])
    })
    .await
}
