//! Checking a second factor: a TOTP code (each time step accepted once per user), an email code,
//! or a backup code (each used once). Tries count on the user's `twoFactor` row across
//! challenges, each before it is checked: ten without a success lock the second factor for 15
//! minutes (429 `ACCOUNT_TEMPORARILY_LOCKED`); a success clears the count.

use zeroize::Zeroizing;

use super::{
    BACKUP_CODES_NOT_ENABLED, INVALID_BACKUP_CODE, INVALID_CODE, LOCKED, OTP_HAS_EXPIRED, OTP_NOT_ENABLED,
    TOO_MANY_ATTEMPTS, TOTP_NOT_ENABLED, seal_codes,
};
use crate::{
    domain::model::{TwoFactorRow, User},
    error::{ApiError, ApiResult},
    security::{
        tokens::{constant_time_eq, random_digits},
        totp,
    },
    service::{
        codes::{Checked, check_code, store_code},
        links::{in_background, mail_vars},
    },
    state::AppState,
};

const MAX_FAILURES: i64 = 10;
const LOCK_MS: i64 = 15 * 60_000;
const OTP_TTL_MS: i64 = 3 * 60_000;
const OTP_TRIES: u32 = 5;

/// A second factor as the client sent it.
#[derive(Debug, Clone, Copy)]
pub enum Factor<'a> {
    Totp(&'a str),
    Otp(&'a str),
    Backup(&'a str),
}

/// What a factor is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Completing a sign-in challenge; `mail_proven` when its first factor was an email code.
    SignIn { mail_proven: bool },
    /// A signed-in user confirming a factor (a first code completes an enrollment).
    SignedIn,
}

/// Whether email codes are the user's second factor here: chosen instead of an authenticator
/// (none verified), and not after a first factor that was the mailbox too (one factor twice).
pub fn otp_allowed(row: &TwoFactorRow, purpose: Purpose) -> bool {
    !row.verified && purpose != Purpose::SignIn { mail_proven: true }
}

/// Checks `factor` for `user`: the user's `twoFactor` row (as it was before this check) when
/// right; otherwise the contract's error. Each try is counted before it is checked, and cleared
/// by a success.
pub async fn check(
    state: &AppState,
    user: &User,
    factor: Factor<'_>,
    purpose: Purpose,
) -> ApiResult<TwoFactorRow> {
    let row = state.store.two_factor(&user.id).await?;
    let allowed = row.as_ref().is_some_and(|row| match factor {
        Factor::Totp(_) => row.verified || purpose == Purpose::SignedIn,
        Factor::Otp(_) => otp_allowed(row, purpose),
        Factor::Backup(_) => user.two_factor_enabled,
    });
    let Some(row) = row.filter(|_| allowed) else {
        return Err(match factor {
            Factor::Totp(_) => TOTP_NOT_ENABLED,
            Factor::Otp(_) => OTP_NOT_ENABLED,
            Factor::Backup(_) => BACKUP_CODES_NOT_ENABLED,
        });
    };
    let now = state.clock.now_ms();
    if !state.store.reserve_second_factor_try(&user.id, now, MAX_FAILURES).await? {
        failed(state, user).await?;
        return Err(LOCKED);
    }
    let right = match factor {
        Factor::Totp(code) => totp_matches(state, &row, code, now).await?,
        Factor::Otp(code) => match check_code(state, &otp_identifier(&user.id), code, OTP_TRIES).await? {
            Checked::Right => true,
            Checked::Wrong | Checked::Missing => false,
            Checked::Expired => {
                failed(state, user).await?;
                return Err(OTP_HAS_EXPIRED);
            }
            Checked::Exhausted => {
                failed(state, user).await?;
                return Err(TOO_MANY_ATTEMPTS);
            }
        },
        Factor::Backup(code) => use_backup_code(state, user, code).await?,
    };
    if !right {
        failed(state, user).await?;
        return Err(match factor {
            Factor::Backup(_) => INVALID_BACKUP_CODE,
            _ => INVALID_CODE,
        });
    }
    state.store.second_factor_passed(&user.id).await?;
    Ok(row)
}

async fn failed(state: &AppState, user: &User) -> ApiResult<()> {
    let lock_until = state.clock.now_ms() + LOCK_MS;
    Ok(state.store.second_factor_failed(&user.id, MAX_FAILURES, lock_until).await?)
}

/// Whether `code` is the authenticator's code for now (±1 step), and its time step was not used
/// before: the step is recorded in the same statement that checks it (RFC 6238 §5.2).
async fn totp_matches(state: &AppState, row: &TwoFactorRow, code: &str, now: i64) -> ApiResult<bool> {
    let secret = open_secret(state, row)?;
    match totp::check(&secret, code, now) {
        Some(step) => Ok(state.store.use_totp_step(&row.user_id, step).await?),
        None => Ok(false),
    }
}

pub fn open_secret(state: &AppState, row: &TwoFactorRow) -> ApiResult<Zeroizing<String>> {
    state.factor_sealer.open(&row.user_id, "secret", &row.secret).map_err(ApiError::internal)
}

fn open_codes(state: &AppState, row: &TwoFactorRow) -> ApiResult<Vec<String>> {
    let json = state
        .factor_sealer
        .open(&row.user_id, "backupCodes", &row.backup_codes)
        .map_err(ApiError::internal)?;
    serde_json::from_str(&json).map_err(ApiError::internal)
}

/// Letters and digits only: `abcde-12345`, `abcde12345` and ` abcde-12345 ` are one code.
fn normalized(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).collect()
}

/// Uses one backup code: removed from the list by compare-and-set, so of two concurrent uses of
/// one code exactly one succeeds.
async fn use_backup_code(state: &AppState, user: &User, code: &str) -> ApiResult<bool> {
    let wanted = normalized(code);
    if wanted.is_empty() {
        return Ok(false);
    }
    for _ in 0..4 {
        let Some(row) = state.store.two_factor(&user.id).await? else { return Ok(false) };
        let mut codes = open_codes(state, &row)?;
        // Every code is compared, so the time taken does not tell which one matched.
        let mut found = None;
        for (i, c) in codes.iter().enumerate() {
            if constant_time_eq(normalized(c).as_bytes(), wanted.as_bytes()) {
                found = Some(i);
            }
        }
        let Some(i) = found else { return Ok(false) };
        codes.remove(i);
        let sealed = seal_codes(state, &user.id, &codes)?;
        if state.store.swap_backup_codes(&user.id, &row.backup_codes, &sealed).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The verification row of the user's live email code (one at a time).
fn otp_identifier(user_id: &str) -> String {
    format!("two-factor-otp:{user_id}")
}

/// Mails a code when email codes are the user's second factor for `purpose` (else 400
/// `OTP_NOT_ENABLED`).
pub async fn send_otp_for(state: &AppState, user: &User, purpose: Purpose) -> ApiResult<()> {
    let row = state.store.two_factor(&user.id).await?;
    if !row.is_some_and(|row| otp_allowed(&row, purpose)) {
        return Err(OTP_NOT_ENABLED);
    }
    send_otp(state, user).await
}

/// Mails the user a new 6-digit code (3 minutes, 5 tries), replacing any earlier one.
pub async fn send_otp(state: &AppState, user: &User) -> ApiResult<()> {
    let otp = random_digits(6);
    store_code(state, &otp_identifier(&user.id), &otp, OTP_TTL_MS).await?;
    let (st, user) = (state.clone(), user.clone());
    in_background(async move {
        let vars =
            minijinja::context! { otp => otp.clone(), expires_in => "3 minutes", ..mail_vars(&st, &user) };
        st.mailer.send_template(
            "otp",
            "two-factor-otp",
            &user.email,
            None,
            Some(otp),
            vars,
            st.clock.now_ms(),
        );
        Ok(())
    });
    Ok(())
}
