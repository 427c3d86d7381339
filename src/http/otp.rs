//! Email OTP (Better Auth's emailOTP plugin): 6-digit codes instead of links, for verifying an
//! email, signing in, or resetting a password. A code lives 5 minutes, is stored as an HMAC,
//! and burns after 3 wrong tries; of two concurrent correct uses exactly one wins.

use axum::{
    Json as JsonOut,
    extract::State,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{
    ToSchema,
    openapi::{Object, ObjectBuilder, schema::Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        app::Scope,
        input::{Email, NewPassword},
        model::User,
    },
    error::{ApiError, ApiResult, OrChallenge},
    http::{answers::Success, extract::Json, layers::no_store},
    security::tokens::random_digits,
    service::{
        codes::{Checked, check_code, store_code},
        email_change::mark_verified,
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

const TAG: &str = "Email OTP";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send_otp))
        .routes(routes!(verify_email))
        .routes(routes!(sign_in))
        .routes(routes!(reset_password))
}

/// Where a code is stored: by kind and address, within the request's app.
fn identifier(scope: &Scope, kind: &str, email: &str) -> String {
    format!("otp:{kind}:{}", scope.qualify(email))
}

/// `type`'s schema: one of [`TYPES`].
fn otp_type() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(TYPES.iter().copied()))
        .description(Some("What the code is for"))
        .build()
}

/// Asks for a code by email.
#[derive(Deserialize, ToSchema)]
struct EmailOtpSend {
    email: String,
    #[serde(rename = "type")]
    #[schema(schema_with = otp_type)]
    kind: String,
}

/// `POST /email-otp/send-verification-otp {email, type}`: `{success: true}` whether or not the
/// email exists; a new code replaces the previous one.
#[utoipa::path(post, path = "/email-otp/send-verification-otp", tag = TAG, summary = "Email a one-time code",
    request_body = EmailOtpSend,
    responses((status = 200, description = "Sent, if an account has the address (the same answer when none has)",
        body = Success)))]
async fn send_otp(
    State(state): State<AppState>,
    scope: Scope,
    Json(body): Json<EmailOtpSend>,
) -> ApiResult<JsonOut<Success>> {
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
    Ok(JsonOut(Success::YES))
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

/// An address and the code mailed to it.
#[derive(Deserialize, ToSchema)]
struct EmailOtp {
    email: String,
    /// The 6-digit code.
    otp: String,
}

/// The address is verified (no session is started).
#[derive(Serialize, ToSchema)]
struct EmailOtpVerified {
    status: bool,
    /// Always null.
    #[schema(required = true)]
    token: Option<String>,
    user: User,
}

/// `POST /email-otp/verify-email {email, otp}`: `{status: true, token: null, user}`.
#[utoipa::path(post, path = "/email-otp/verify-email", tag = TAG, summary = "Verify an email address with a code",
    request_body = EmailOtp,
    responses((status = 200, description = "Verified", body = EmailOtpVerified)))]
async fn verify_email(
    State(state): State<AppState>,
    scope: Scope,
    Json(body): Json<EmailOtp>,
) -> ApiResult<Response> {
    let email = Email::parse(&body.email)?;
    let mut user = check_otp(&state, &scope, "email-verification", &email, &body.otp).await?;
    let now = state.clock.now_ms();
    mark_verified(&state, &user).await?;
    user.email_verified = true;
    user.updated_at = now;
    let answer = EmailOtpVerified { status: true, token: None, user };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// Signed in (the session cookie is set).
#[derive(Serialize, ToSchema)]
struct EmailOtpSignIn {
    /// The session token.
    token: String,
    user: User,
}

/// `POST /sign-in/email-otp {email, otp}`: a new session, `{token, user}`.
#[utoipa::path(post, path = "/sign-in/email-otp", tag = TAG, summary = "Sign in with an emailed code",
    request_body = EmailOtp,
    responses((status = 200, description = "Signed in (session cookie set), or a second factor is needed",
        body = OrChallenge<EmailOtpSignIn>)))]
async fn sign_in(
    State(state): State<AppState>,
    ctx: SignInContext,
    Json(body): Json<EmailOtp>,
) -> ApiResult<Response> {
    let email = Email::parse(&body.email)?;
    let mut user = check_otp(&state, &ctx.scope, "sign-in", &email, &body.otp).await?;
    if !user.email_verified {
        // Receiving the code proves the address.
        mark_verified(&state, &user).await?;
        user.email_verified = true;
    }
    let admission = Admission { proof: Proof::EmailCode, remember_me: true, callback: None };
    let session = admit(&state, ctx, &user, admission).await?;
    Ok(no_store(JsonOut(EmailOtpSignIn { token: session.token, user }).into_response()))
}

/// A new password, authorized by a code mailed to the address.
#[derive(Deserialize, ToSchema)]
struct EmailOtpReset {
    email: String,
    /// The 6-digit code.
    otp: String,
    /// The new password.
    password: String,
}

/// `POST /email-otp/reset-password {email, otp, password}`: `{success: true}`; every session ends.
#[utoipa::path(post, path = "/email-otp/reset-password", tag = TAG, summary = "Reset the password with an emailed code",
    request_body = EmailOtpReset,
    responses((status = 200, description = "The password is replaced; every session of the user ended", body = Success)))]
async fn reset_password(
    State(state): State<AppState>,
    scope: Scope,
    Json(body): Json<EmailOtpReset>,
) -> ApiResult<JsonOut<Success>> {
    let email = Email::parse(&body.email)?;
    let password =
        NewPassword::parse(&body.password, &scope.password_policy(&state.settings.passwords.policy))?;
    let user = check_otp(&state, &scope, "forget-password", &email, &body.otp).await?;
    replace_password(&state, &user.id, &password).await?;
    Ok(JsonOut(Success::YES))
}
