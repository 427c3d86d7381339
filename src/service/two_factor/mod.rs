//! Second factors (Better Auth's two-factor plugin): enrolling a TOTP authenticator or email
//! codes, backup codes, and turning it off. Checking a factor is `factors`; the sign-in
//! challenge the gate issues is `challenge`; trusted browsers are `trusted`.

pub mod challenge;
pub mod factors;
pub mod trusted;

use axum::http::StatusCode;
use rand::{Rng, distributions::Alphanumeric};
use serde::Serialize;

use crate::{
    domain::model::{SessionRow, TwoFactorRow, User},
    error::{ApiError, ApiResult},
    security::{
        tokens::random_id,
        totp::{self, qr_svg_data_url},
    },
    service::{
        credentials::{Checked, check_password},
        links::{in_background, mail_vars},
        sessions::ensure_fresh_within,
    },
    state::AppState,
};

pub const INVALID_CODE: ApiError = ApiError::Coded(StatusCode::UNAUTHORIZED, "INVALID_CODE", "Invalid code");
pub const INVALID_BACKUP_CODE: ApiError =
    ApiError::Coded(StatusCode::UNAUTHORIZED, "INVALID_BACKUP_CODE", "Invalid backup code");
pub const INVALID_TWO_FACTOR_COOKIE: ApiError =
    ApiError::Coded(StatusCode::UNAUTHORIZED, "INVALID_TWO_FACTOR_COOKIE", "Invalid two factor cookie");
pub const TOTP_ALREADY_ENABLED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "TOTP_ALREADY_ENABLED", "TOTP already enabled");
pub const TOTP_NOT_ENABLED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "TOTP_NOT_ENABLED", "TOTP not enabled");
pub const OTP_NOT_ENABLED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "OTP_NOT_ENABLED", "OTP not enabled");
pub const BACKUP_CODES_NOT_ENABLED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "BACKUP_CODES_NOT_ENABLED", "Backup codes aren't enabled");
pub const TWO_FACTOR_NOT_ENABLED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "TWO_FACTOR_NOT_ENABLED", "Two factor isn't enabled");
pub const OTP_HAS_EXPIRED: ApiError =
    ApiError::Coded(StatusCode::BAD_REQUEST, "OTP_HAS_EXPIRED", "OTP has expired");
pub const TOO_MANY_ATTEMPTS: ApiError = ApiError::Coded(
    StatusCode::BAD_REQUEST,
    "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE",
    "Too many attempts. Please request a new code.",
);
pub const LOCKED: ApiError = ApiError::Coded(
    StatusCode::TOO_MANY_REQUESTS,
    "ACCOUNT_TEMPORARILY_LOCKED",
    "Too many failed attempts: the second factor is locked for 15 minutes",
);

/// How recently a user without a password must have signed in to change their second factor.
const FRESH_MS: i64 = 10 * 60_000;
const BACKUP_CODES: usize = 10;

/// The methods a challenge offers: TOTP once an authenticator was verified, else email codes
/// (unless the first factor was the mailbox too: then backup codes only).
pub fn methods(row: Option<&TwoFactorRow>, mail_proven: bool) -> Vec<&'static str> {
    match row {
        Some(row) if row.verified => vec!["totp"],
        Some(row) if factors::otp_allowed(row, factors::Purpose::SignIn { mail_proven }) => vec!["otp"],
        _ => Vec::new(),
    }
}

/// Sensitive changes need the password (400 `INVALID_PASSWORD` when wrong, checked under the
/// sign-in lockout); a user without one confirms with a session started in the last 10 minutes
/// (else 403 `SESSION_NOT_FRESH`).
pub async fn confirm_identity(
    state: &AppState,
    user: &User,
    session: &SessionRow,
    password: Option<&str>,
) -> ApiResult<()> {
    let credential = state.store.credential_by_email(&user.email, user.app_key()).await?;
    match (credential.and_then(|c| c.password_hash), password) {
        (Some(hash), Some(password)) => {
            match check_password(state, &user.lockout_key(), password, Some(&hash)).await? {
                Checked::Correct { .. } => Ok(()),
                Checked::Wrong => Err(ApiError::InvalidPassword),
            }
        }
        (Some(_), None) => Err(ApiError::Validation("[body.password] Required".into())),
        (None, _) => ensure_fresh_within(state, session, FRESH_MS),
    }
}

/// A second factor to enroll: `totp` (an authenticator app) or `otp` (codes mailed to the
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = TwoFactorMethod)]
pub enum Method {
    Totp,
    Otp,
}

/// What enabling answers: a TOTP enrollment to confirm with a first code, or email codes (on at
/// once).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = TwoFactorEnrollment)]
pub struct Enabled {
    method: Method,
    /// With `totp`: the `otpauth://` URI to add to an authenticator app.
    #[serde(rename = "totpURI", skip_serializing_if = "Option::is_none")]
    totp_uri: Option<String>,
    /// With `totp`: the URI as a QR code (an SVG `data:` URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    totp_qr_code: Option<String>,
    /// Ten single-use backup codes (`xxxxx-xxxxx`), shown only now.
    #[serde(skip_serializing_if = "Option::is_none")]
    backup_codes: Option<Vec<String>>,
}

/// `enable`: starts an enrollment, refused when an authenticator is verified. TOTP: a new secret
/// and backup codes (shown once); email codes: a code is mailed. Either way the second factor is
/// on only once a first code is verified (a new enrollment replaces one never completed).
pub async fn enable(
    state: &AppState,
    user: &User,
    method: Method,
    issuer: Option<&str>,
) -> ApiResult<Enabled> {
    if state.store.two_factor(&user.id).await?.is_some_and(|r| r.verified) {
        return Err(TOTP_ALREADY_ENABLED);
    }
    let (row, secret, codes) = new_row(state, user)?;
    if !state.store.begin_two_factor(&row).await? {
        return Err(TOTP_ALREADY_ENABLED);
    }
    if method == Method::Otp {
        factors::send_otp(state, user).await?;
        return Ok(Enabled { method, totp_uri: None, totp_qr_code: None, backup_codes: Some(codes) });
    }
    let uri = totp::uri(&secret, issuer.unwrap_or(&default_issuer(state)), &user.email);
    Ok(Enabled {
        method,
        totp_qr_code: Some(qr_svg_data_url(&uri)),
        totp_uri: Some(uri),
        backup_codes: Some(codes),
    })
}

fn default_issuer(state: &AppState) -> String {
    state.settings.two_factor.issuer.clone().unwrap_or_else(|| state.settings.app_name.clone())
}

/// A new `twoFactor` row (not verified) with its secret and backup codes in the clear.
fn new_row(state: &AppState, user: &User) -> ApiResult<(TwoFactorRow, String, Vec<String>)> {
    let secret = totp::new_secret();
    let codes = new_backup_codes();
    let sealer = &state.factor_sealer;
    let row = TwoFactorRow {
        id: random_id(),
        secret: sealer.seal(&user.id, "secret", &secret).map_err(ApiError::internal)?,
        backup_codes: seal_codes(state, &user.id, &codes)?,
        user_id: user.id.clone(),
        verified: false,
        failed_verification_count: 0,
        locked_until: None,
        last_used_step: None,
    };
    Ok((row, secret, codes))
}

/// Ten codes of ten letters and digits, shown as `xxxxx-xxxxx` (Better Auth's format).
fn new_backup_codes() -> Vec<String> {
    let mut rng = rand::thread_rng();
    (0..BACKUP_CODES)
        .map(|_| {
            let raw: String = (&mut rng).sample_iter(&Alphanumeric).take(10).map(char::from).collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect()
}

fn seal_codes(state: &AppState, user_id: &str, codes: &[String]) -> ApiResult<String> {
    let json = serde_json::to_string(codes).map_err(ApiError::internal)?;
    state.factor_sealer.seal(user_id, "backupCodes", &json).map_err(ApiError::internal)
}

/// The TOTP URI of the user's authenticator (enrolled or being enrolled).
pub async fn totp_uri(state: &AppState, user: &User) -> ApiResult<String> {
    let row = state.store.two_factor(&user.id).await?.ok_or(TOTP_NOT_ENABLED)?;
    let secret = factors::open_secret(state, &row)?;
    Ok(totp::uri(&secret, &default_issuer(state), &user.email))
}

/// New backup codes replace the old ones; the user is told by mail.
pub async fn regenerate_backup_codes(state: &AppState, user: &User) -> ApiResult<Vec<String>> {
    if !user.two_factor_enabled {
        return Err(TWO_FACTOR_NOT_ENABLED);
    }
    let codes = new_backup_codes();
    let sealed = seal_codes(state, &user.id, &codes)?;
    // Compare-and-set against the list read, so a backup code used meanwhile cannot come back.
    for _ in 0..4 {
        let row = state.store.two_factor(&user.id).await?.ok_or(TWO_FACTOR_NOT_ENABLED)?;
        if state.store.swap_backup_codes(&user.id, &row.backup_codes, &sealed).await? {
            notify(state, user, "backup-codes-regenerated", "New backup codes were generated");
            return Ok(codes);
        }
    }
    Err(ApiError::internal("backup codes kept changing"))
}

/// Turns the second factor off: the row, every trusted device, the flag; the user is told by
/// mail (when it was on).
pub async fn disable(state: &AppState, user: &User) -> ApiResult<()> {
    state.store.disable_two_factor(&user.id, state.clock.now_ms()).await?;
    if user.two_factor_enabled {
        notify(state, user, "two-factor-disabled", "Two-factor authentication was turned off");
    }
    Ok(())
}

fn notify(state: &AppState, user: &User, kind: &'static str, what: &'static str) {
    let (st, user) = (state.clone(), user.clone());
    in_background(async move {
        let vars = minijinja::context! { what => what, ..mail_vars(&st, &user) };
        st.mailer.send_template("two-factor-notice", kind, &user.email, None, None, vars, st.clock.now_ms());
        Ok(())
    });
}
