//! Second factors (Better Auth's two-factor plugin): `/two-factor/*`. The verify routes complete
//! a sign-in challenge (the two-factor cookie) or, for a signed-in user, confirm a factor (a first
//! TOTP code completes the enrollment).

use axum::{
    Json as JsonOut, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;
use tower_cookies::Cookies;

use crate::{
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, Json, MaybeAuthenticated},
        layers::no_store,
    },
    service::{
        audit::{Record, recorded},
        sessions::{SignInContext, expire_cookie},
        sign_in::{Admission, Proof, admit},
        two_factor::{
            self, INVALID_CODE, INVALID_TWO_FACTOR_COOKIE, Method,
            challenge::Pending,
            confirm_identity,
            factors::{self, Factor, Purpose},
            trusted,
        },
    },
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/two-factor/enable", post(enable))
        .route("/two-factor/disable", post(disable))
        .route("/two-factor/get-totp-uri", post(get_totp_uri))
        .route("/two-factor/generate-backup-codes", post(generate_backup_codes))
        .route("/two-factor/verify-totp", post(verify_route::<TOTP>))
        .route("/two-factor/send-otp", post(send_otp))
        .route("/two-factor/verify-otp", post(verify_route::<OTP>))
        .route("/two-factor/verify-backup-code", post(verify_route::<BACKUP>))
        .route("/two-factor/list-trusted-devices", get(list_trusted_devices))
        .route("/two-factor/revoke-trusted-device", post(revoke_trusted_device))
}

#[derive(Deserialize)]
struct EnableBody {
    password: Option<String>,
    method: Option<Method>,
    issuer: Option<String>,
}

/// `POST /two-factor/enable {password, method?, issuer?}`: `{method: "totp", totpURI, totpQrCode,
/// backupCodes}`, or `{method: "otp", backupCodes}` (a code is mailed); on once a first code is
/// verified.
async fn enable(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<EnableBody>,
) -> ApiResult<Response> {
    let issuer = body.issuer.as_deref().map(str::trim).filter(|i| !i.is_empty());
    if issuer.is_some_and(|i| i.chars().count() > 100 || i.chars().any(char::is_control)) {
        return Err(ApiError::Validation("[body.issuer] at most 100 printable characters".into()));
    }
    confirm_identity(&state, &auth.user, &auth.session, body.password.as_deref()).await?;
    let method = body.method.unwrap_or(Method::Totp);
    let event =
        Record::own("two-factor-changed", &auth.user).with(json!({ "enrolling": format!("{method:?}") }));
    let enabled =
        recorded(&state, event, None, two_factor::enable(&state, &auth.user, method, issuer)).await?;
    Ok(no_store(JsonOut(enabled).into_response()))
}

#[derive(Deserialize)]
struct PasswordBody {
    password: Option<String>,
}

/// `POST /two-factor/disable {password}`: `{status: true}`; trusted devices go too.
async fn disable(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    Json(body): Json<PasswordBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    confirm_identity(&state, &auth.user, &auth.session, body.password.as_deref()).await?;
    let event = Record::own("two-factor-changed", &auth.user).with(json!({ "enabled": false }));
    recorded(&state, event, None, two_factor::disable(&state, &auth.user)).await?;
    expire_cookie(&state, &cookies, state.trust_device_cookie());
    Ok(JsonOut(json!({ "status": true })))
}

/// `POST /two-factor/get-totp-uri {password}`: `{totpURI}`.
async fn get_totp_uri(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<PasswordBody>,
) -> ApiResult<Response> {
    confirm_identity(&state, &auth.user, &auth.session, body.password.as_deref()).await?;
    let uri = two_factor::totp_uri(&state, &auth.user).await?;
    Ok(no_store(JsonOut(json!({ "totpURI": uri })).into_response()))
}

/// `POST /two-factor/generate-backup-codes {password}`: `{status: true, backupCodes}`; the old
/// codes stop working.
async fn generate_backup_codes(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<PasswordBody>,
) -> ApiResult<Response> {
    confirm_identity(&state, &auth.user, &auth.session, body.password.as_deref()).await?;
    let codes = two_factor::regenerate_backup_codes(&state, &auth.user).await?;
    Ok(no_store(JsonOut(json!({ "status": true, "backupCodes": codes })).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyBody {
    code: String,
    #[serde(default)]
    trust_device: bool,
    #[serde(default)]
    disable_session: bool,
}

/// Which factor a verify route takes (a const parameter, so one handler serves the three routes).
const TOTP: u8 = 0;
const OTP: u8 = 1;
const BACKUP: u8 = 2;

/// `POST /two-factor/verify-totp`, `/verify-otp` `{code, trustDevice?}` and
/// `/verify-backup-code {code, trustDevice?, disableSession?}`: `{token, user}`.
async fn verify_route<const KIND: u8>(
    State(state): State<AppState>,
    ctx: SignInContext,
    current: MaybeAuthenticated,
    Json(body): Json<VerifyBody>,
) -> ApiResult<Response> {
    let factor = match KIND {
        TOTP => Factor::Totp(&body.code),
        OTP => Factor::Otp(&body.code),
        _ => Factor::Backup(&body.code),
    };
    verify(&state, ctx, current, factor, &body).await
}

/// A second factor: completes the browser's sign-in challenge when it has one (the session
/// starts, through the sign-in gate), else confirms the factor for the signed-in user (a first
/// TOTP code turns the second factor on). Neither: 401 `INVALID_TWO_FACTOR_COOKIE`.
async fn verify(
    state: &AppState,
    ctx: SignInContext,
    current: MaybeAuthenticated,
    factor: Factor<'_>,
    body: &VerifyBody,
) -> ApiResult<Response> {
    let cookies = ctx.cookies.clone();
    let agent = ctx.client.user_agent.clone();
    if let Some(pending) = Pending::of(state, &cookies).await? {
        let who = pending.attempt(state).await?;
        let purpose = Purpose::SignIn { mail_proven: who.mail_proven };
        factors::check(state, &who.user, factor, purpose).await?;
        if !pending.consume(state, &cookies).await? {
            return Err(INVALID_TWO_FACTOR_COOKIE);
        }
        let token = if body.disable_session {
            None
        } else {
            let admission =
                Admission { proof: Proof::SecondFactor, remember_me: who.remember_me, callback: None };
            Some(admit(state, ctx, &who.user, admission).await?.token)
        };
        if body.trust_device {
            trusted::trust(state, &cookies, &who.user.id, agent).await?;
        }
        return Ok(no_store(JsonOut(json!({ "token": token, "user": who.user })).into_response()));
    }
    let Some(auth) = current.0 else { return Err(INVALID_TWO_FACTOR_COOKIE) };
    let row = factors::check(state, &auth.user, factor, Purpose::SignedIn).await?;
    let mut user = auth.user;
    // A first code completes the enrollment under way (a TOTP code also verifies the
    // authenticator).
    let totp = matches!(factor, Factor::Totp(_));
    let completes =
        (totp && !row.verified) || (!user.two_factor_enabled && !matches!(factor, Factor::Backup(_)));
    if completes {
        let event = Record::own("two-factor-changed", &user).with(json!({ "enabled": true }));
        let change = state.store.enable_two_factor(&user.id, &row.id, totp, state.clock.now_ms());
        if !recorded(state, event, None, change).await? {
            // Another enrollment replaced the one this code was for.
            return Err(INVALID_CODE);
        }
        user.two_factor_enabled = true;
    }
    if body.trust_device {
        trusted::trust(state, &cookies, &user.id, agent).await?;
    }
    Ok(no_store(JsonOut(json!({ "token": auth.session.token, "user": user })).into_response()))
}

/// `POST /two-factor/send-otp`: mails a code to the user of the browser's challenge, else to the
/// signed-in user. `{status: true}`.
async fn send_otp(
    State(state): State<AppState>,
    cookies: Cookies,
    current: MaybeAuthenticated,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let (user, purpose) = match Pending::of(&state, &cookies).await? {
        Some(pending) => {
            let who = pending.challenger(&state).await?;
            (who.user, Purpose::SignIn { mail_proven: who.mail_proven })
        }
        None => (current.0.map(|auth| auth.user).ok_or(INVALID_TWO_FACTOR_COOKIE)?, Purpose::SignedIn),
    };
    factors::send_otp_for(&state, &user, purpose).await?;
    Ok(JsonOut(json!({ "status": true })))
}

/// `GET /two-factor/list-trusted-devices`: the user's trusted browsers, newest first.
async fn list_trusted_devices(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let devices = state.store.trusted_devices(&auth.user.id, state.clock.now_ms()).await?;
    Ok(no_store(JsonOut(devices).into_response()))
}

#[derive(Deserialize)]
struct RevokeBody {
    id: String,
}

/// `POST /two-factor/revoke-trusted-device {id}`: `{status: true}`; 404
/// `TRUSTED_DEVICE_NOT_FOUND` for a device that is not the user's.
async fn revoke_trusted_device(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RevokeBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    if !state.store.delete_trusted_device(&auth.user.id, &body.id).await? {
        return Err(ApiError::Coded(
            StatusCode::NOT_FOUND,
            "TRUSTED_DEVICE_NOT_FOUND",
            "Trusted device not found",
        ));
    }
    Ok(JsonOut(json!({ "status": true })))
}
