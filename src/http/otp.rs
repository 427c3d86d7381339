//! Email OTP (Better Auth's emailOTP plugin): 6-digit codes instead of links, for verifying an
//! email, signing in, or resetting a password. A code lives 5 minutes, is stored as an HMAC,
//! and burns after 3 wrong tries; of two concurrent correct uses exactly one wins.

use axum::{
    Json as JsonOut, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    domain::{
        app::Scope,
        input::{Email, NewPassword},
        model::User,
    },
    error::{ApiError, ApiResult},
    http::{extract::Json, layers::no_store},
    security::tokens::random_digits,
    service::{
        codes::{Checked, check_code, store_code},
        links::{in_background, mail_vars},
        passwords::replace_password,
        sessions::SignInContext,
        sign_in::{Admission, Proof, admit},
    },
    state::AppState,
};

const OTP_TTL_MS: i64 = 5 * 60_000;
const MAX_ATTEMPTS: u32 = 3;
const TYPES: &[&str] = &["email-verification", "sign-in", "forget-password"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/email-otp/send-verification-otp", post(send_otp))
        .route("/email-otp/verify-email", post(verify_email))
        .route("/sign-in/email-otp", post(sign_in))
        .route("/email-otp/reset-password", post(reset_password))
}

/// Where a code is stored: by kind and address, within the request's app.
fn identifier(scope: &Scope, kind: &str, email: &str) -> String {
    format!("otp:{kind}:{}", scope.qualify(email))
}

#[derive(Deserialize)]
struct SendBody {
    email: String,
    #[serde(rename = "type")]
    kind: String,
}

/// `POST /email-otp/send-verification-otp {email, type}`: `{success: true}` whether or not the
/// email exists; a new code replaces the previous one.
async fn send_otp(
    State(state): State<AppState>,
    scope: Scope,
    Json(body): Json<SendBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let email = Email::parse(&body.email)?;
    let Some(kind) = TYPES.iter().find(|t| **t == body.kind) else {
        return Err(ApiError::Validation(format!("[body.type] must be one of {}", TYPES.join(", "))));
    };
    let st = state.clone();
    in_background(async move {
        let Some(found) = st.store.credential_by_email(email.as_str(), scope.key()).await? else {
            return Ok(());
        };
        let otp = random_digits(6);
        store_code(&st, &identifier(&scope, kind, email.as_str()), &otp, OTP_TTL_MS).await?;
        let now = st.clock.now_ms();
        let vars = minijinja::context! { otp => otp.clone(), expires_in => "5 minutes", ..mail_vars(&st, &found.user) };
        st.mailer.send_template("otp", "otp", email.as_str(), None, Some(otp), vars, now);
        Ok(())
    });
    Ok(JsonOut(json!({ "success": true })))
}

/// Checks a code and consumes it; wrong codes count against it.
async fn check_otp(state: &AppState, scope: &Scope, kind: &str, email: &Email, otp: &str) -> ApiResult<User> {
    match check_code(state, &identifier(scope, kind, email.as_str()), otp, MAX_ATTEMPTS).await? {
        Checked::Right => {}
        Checked::Wrong | Checked::Missing => return Err(ApiError::InvalidOtp),
        Checked::Expired => return Err(ApiError::OtpExpired),
        Checked::Exhausted => return Err(ApiError::TooManyAttempts),
    }
    let found = state.store.credential_by_email(email.as_str(), scope.key()).await?;
    found.map(|c| c.user).ok_or(ApiError::InvalidOtp)
}

#[derive(Deserialize)]
struct OtpBody {
    email: String,
    otp: String,
}

/// `POST /email-otp/verify-email {email, otp}`: `{status: true, token: null, user}`.
async fn verify_email(
    State(state): State<AppState>,
    scope: Scope,
    Json(body): Json<OtpBody>,
) -> ApiResult<Response> {
    let email = Email::parse(&body.email)?;
    let mut user = check_otp(&state, &scope, "email-verification", &email, &body.otp).await?;
    let now = state.clock.now_ms();
    state.store.set_email_verified(&user.id, now).await?;
    user.email_verified = true;
    user.updated_at = now;
    Ok(no_store(JsonOut(json!({ "status": true, "token": null, "user": user })).into_response()))
}

/// `POST /sign-in/email-otp {email, otp}`: a new session, `{token, user}`.
async fn sign_in(
    State(state): State<AppState>,
    ctx: SignInContext,
    Json(body): Json<OtpBody>,
) -> ApiResult<Response> {
    let email = Email::parse(&body.email)?;
    let mut user = check_otp(&state, &ctx.scope, "sign-in", &email, &body.otp).await?;
    if !user.email_verified {
        // Receiving the code proves the address.
        state.store.set_email_verified(&user.id, state.clock.now_ms()).await?;
        user.email_verified = true;
    }
    let admission = Admission { proof: Proof::EmailCode, remember_me: true, callback: None };
    let session = admit(&state, ctx, &user, admission).await?;
    Ok(no_store(JsonOut(json!({ "token": session.token, "user": user })).into_response()))
}

#[derive(Deserialize)]
struct ResetBody {
    email: String,
    otp: String,
    password: String,
}

/// `POST /email-otp/reset-password {email, otp, password}`: `{success: true}`; every session ends.
async fn reset_password(
    State(state): State<AppState>,
    scope: Scope,
    Json(body): Json<ResetBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let email = Email::parse(&body.email)?;
    let password =
        NewPassword::parse(&body.password, &scope.password_policy(&state.settings.passwords.policy))?;
    let user = check_otp(&state, &scope, "forget-password", &email, &body.otp).await?;
    replace_password(&state, &user.id, &password).await?;
    Ok(JsonOut(json!({ "success": true })))
}
