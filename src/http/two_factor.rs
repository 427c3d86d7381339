//! Second factors (Better Auth's two-factor plugin): `/two-factor/*`. The verify routes complete
//! a sign-in challenge (the two-factor cookie) or, for a signed-in user, confirm a factor (a first
//! TOTP code completes the enrollment).

use axum::{
    Json as JsonOut,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::model::{TrustedDevice, User},
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        answers::Status,
        extract::{Authenticated, Json, MaybeAuthenticated},
        layers::no_store,
    },
    service::{
        audit::{Record, recorded},
        sessions::{SignInContext, expire_cookie},
        sign_in::{Admission, Proof, admit},
        two_factor::{
            self, Enabled, INVALID_CODE, INVALID_TWO_FACTOR_COOKIE, Method,
            challenge::Pending,
            confirm_identity,
            factors::{self, Factor, Purpose},
            trusted,
        },
    },
    state::AppState,
};

const TAG: &str = "Two-factor authentication";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(get_totp_uri))
        .routes(routes!(generate_backup_codes))
        .routes(routes!(verify_totp))
        .routes(routes!(send_otp))
        .routes(routes!(verify_otp))
        .routes(routes!(verify_backup_code))
        .routes(routes!(list_trusted_devices))
        .routes(routes!(revoke_trusted_device))
}

/// Starts enrolling a second factor.
#[derive(Deserialize, ToSchema)]
struct TwoFactorEnableBody {
    /// The account's password; required when the user has one (else the session must be at most
    /// 10 minutes old).
    password: Option<String>,
    /// `totp` unless given.
    method: Option<Method>,
    /// The issuer shown in the authenticator app (at most 100 printable characters); the
    /// server's app name unless given.
    issuer: Option<String>,
}

/// `POST /two-factor/enable {password, method?, issuer?}`: `{method: "totp", totpURI, totpQrCode,
/// backupCodes}`, or `{method: "otp", backupCodes}` (a code is mailed); on once a first code is
/// verified.
#[utoipa::path(post, path = "/two-factor/enable", tag = TAG, summary = "Start enrolling a second factor",
    request_body = TwoFactorEnableBody,
    responses((status = 200, description = "Enrollment started; it completes once a first code is verified",
        body = Enabled)),
    security(("session" = []), ("bearer" = [])))]
async fn enable(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TwoFactorEnableBody>,
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

/// Confirms a sensitive change to the second factor.
#[derive(Deserialize, ToSchema)]
struct TwoFactorPasswordBody {
    /// The account's password; required when the user has one (else the session must be at most
    /// 10 minutes old).
    password: Option<String>,
}

/// `POST /two-factor/disable {password}`: `{status: true}`; trusted devices go too.
#[utoipa::path(post, path = "/two-factor/disable", tag = TAG, summary = "Turn the second factor off",
    request_body = TwoFactorPasswordBody,
    responses((status = 200, description = "Turned off; every trusted device is forgotten", body = Status)),
    security(("session" = []), ("bearer" = [])))]
async fn disable(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    Json(body): Json<TwoFactorPasswordBody>,
) -> ApiResult<JsonOut<Status>> {
    confirm_identity(&state, &auth.user, &auth.session, body.password.as_deref()).await?;
    let event = Record::own("two-factor-changed", &auth.user).with(json!({ "enabled": false }));
    recorded(&state, event, None, two_factor::disable(&state, &auth.user)).await?;
    expire_cookie(&state, &cookies, state.trust_device_cookie());
    Ok(JsonOut(Status::YES))
}

/// The TOTP URI of the user's authenticator.
#[derive(Serialize, ToSchema)]
struct TotpUri {
    /// The `otpauth://` URI (enrolled or being enrolled).
    #[serde(rename = "totpURI")]
    totp_uri: String,
}

/// `POST /two-factor/get-totp-uri {password}`: `{totpURI}`.
#[utoipa::path(post, path = "/two-factor/get-totp-uri", tag = TAG, summary = "Show the TOTP URI again",
    request_body = TwoFactorPasswordBody,
    responses((status = 200, description = "The authenticator's URI", body = TotpUri),
        (status = 400, description = "`TOTP_NOT_ENABLED`: no authenticator enrolled, or `INVALID_PASSWORD`",
            body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn get_totp_uri(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TwoFactorPasswordBody>,
) -> ApiResult<Response> {
    confirm_identity(&state, &auth.user, &auth.session, body.password.as_deref()).await?;
    let uri = two_factor::totp_uri(&state, &auth.user).await?;
    Ok(no_store(JsonOut(TotpUri { totp_uri: uri }).into_response()))
}

/// New backup codes.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NewBackupCodes {
    status: bool,
    /// Ten single-use codes (`xxxxx-xxxxx`), shown only now.
    backup_codes: Vec<String>,
}

/// `POST /two-factor/generate-backup-codes {password}`: `{status: true, backupCodes}`; the old
/// codes stop working.
#[utoipa::path(post, path = "/two-factor/generate-backup-codes", tag = TAG,
    summary = "Replace the backup codes",
    request_body = TwoFactorPasswordBody,
    responses((status = 200, description = "New codes; the old ones stop working", body = NewBackupCodes),
        (status = 400, description = "`TWO_FACTOR_NOT_ENABLED`, or `INVALID_PASSWORD`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn generate_backup_codes(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TwoFactorPasswordBody>,
) -> ApiResult<Response> {
    confirm_identity(&state, &auth.user, &auth.session, body.password.as_deref()).await?;
    let codes = two_factor::regenerate_backup_codes(&state, &auth.user).await?;
    Ok(no_store(JsonOut(NewBackupCodes { status: true, backup_codes: codes }).into_response()))
}

/// A second-factor code.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct TwoFactorVerifyBody {
    code: String,
    /// Trust this browser: its sign-ins skip the second factor for a while.
    #[serde(default)]
    trust_device: bool,
    /// Completing a sign-in challenge: start no session (`token` is then null).
    #[serde(default)]
    disable_session: bool,
}

/// A verified second factor.
#[derive(Serialize, ToSchema)]
struct TwoFactorVerified {
    /// The session token: of the session just started (null with `disableSession`), or of the
    /// signed-in caller's.
    #[schema(required = true)]
    token: Option<String>,
    user: User,
}

/// Which factor a verify route takes (a const parameter, so one handler serves the three routes).
const TOTP: u8 = 0;
const OTP: u8 = 1;
const BACKUP: u8 = 2;

/// `POST /two-factor/verify-totp {code, trustDevice?}`: `{token, user}`.
#[utoipa::path(post, path = "/two-factor/verify-totp", tag = TAG, summary = "Verify an authenticator code",
    description = "Completes the sign-in challenge of this browser (the two-factor cookie), else \
        confirms the code for the signed-in user (a first code completes the enrollment).",
    request_body = TwoFactorVerifyBody,
    responses((status = 200, description = "Verified", body = TwoFactorVerified),
        (status = 401, description = "`INVALID_CODE`, or `INVALID_TWO_FACTOR_COOKIE` without a challenge \
            or a session", body = ErrorBody)))]
async fn verify_totp(
    state: State<AppState>,
    ctx: SignInContext,
    current: MaybeAuthenticated,
    body: Json<TwoFactorVerifyBody>,
) -> ApiResult<Response> {
    verify_route::<TOTP>(state, ctx, current, body).await
}

/// `POST /two-factor/verify-otp {code, trustDevice?}`: `{token, user}`.
#[utoipa::path(post, path = "/two-factor/verify-otp", tag = TAG, summary = "Verify a mailed code",
    description = "Completes the sign-in challenge of this browser (the two-factor cookie), else \
        confirms the code for the signed-in user (a first code completes an email-code enrollment).",
    request_body = TwoFactorVerifyBody,
    responses((status = 200, description = "Verified", body = TwoFactorVerified),
        (status = 401, description = "`INVALID_CODE`, or `INVALID_TWO_FACTOR_COOKIE` without a challenge \
            or a session", body = ErrorBody)))]
async fn verify_otp(
    state: State<AppState>,
    ctx: SignInContext,
    current: MaybeAuthenticated,
    body: Json<TwoFactorVerifyBody>,
) -> ApiResult<Response> {
    verify_route::<OTP>(state, ctx, current, body).await
}

/// `POST /two-factor/verify-backup-code {code, trustDevice?, disableSession?}`: `{token, user}`.
#[utoipa::path(post, path = "/two-factor/verify-backup-code", tag = TAG, summary = "Verify a backup code",
    description = "Completes the sign-in challenge of this browser (the two-factor cookie), else \
        checks the code for the signed-in user. A backup code works once.",
    request_body = TwoFactorVerifyBody,
    responses((status = 200, description = "Verified", body = TwoFactorVerified),
        (status = 401, description = "`INVALID_BACKUP_CODE`, or `INVALID_TWO_FACTOR_COOKIE` without a \
            challenge or a session", body = ErrorBody)))]
async fn verify_backup_code(
    state: State<AppState>,
    ctx: SignInContext,
    current: MaybeAuthenticated,
    body: Json<TwoFactorVerifyBody>,
) -> ApiResult<Response> {
    verify_route::<BACKUP>(state, ctx, current, body).await
}

/// The three verify routes, one handler for each factor.
async fn verify_route<const KIND: u8>(
    State(state): State<AppState>,
    ctx: SignInContext,
    current: MaybeAuthenticated,
    Json(body): Json<TwoFactorVerifyBody>,
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
    body: &TwoFactorVerifyBody,
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
        return Ok(no_store(JsonOut(TwoFactorVerified { token, user: who.user }).into_response()));
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
    Ok(no_store(JsonOut(TwoFactorVerified { token: Some(auth.session.token), user }).into_response()))
}

/// `POST /two-factor/send-otp`: mails a code to the user of the browser's challenge, else to the
/// signed-in user. `{status: true}`.
#[utoipa::path(post, path = "/two-factor/send-otp", tag = TAG, summary = "Mail a second-factor code",
    description = "To the user of this browser's sign-in challenge (the two-factor cookie), else to \
        the signed-in user. The body is not read.",
    responses((status = 200, description = "A code was mailed", body = Status),
        (status = 401, description = "`INVALID_TWO_FACTOR_COOKIE`: neither a challenge nor a session",
            body = ErrorBody)))]
async fn send_otp(
    State(state): State<AppState>,
    cookies: Cookies,
    current: MaybeAuthenticated,
) -> ApiResult<JsonOut<Status>> {
    let (user, purpose) = match Pending::of(&state, &cookies).await? {
        Some(pending) => {
            let who = pending.challenger(&state).await?;
            (who.user, Purpose::SignIn { mail_proven: who.mail_proven })
        }
        None => (current.0.map(|auth| auth.user).ok_or(INVALID_TWO_FACTOR_COOKIE)?, Purpose::SignedIn),
    };
    factors::send_otp_for(&state, &user, purpose).await?;
    Ok(JsonOut(Status::YES))
}

/// `GET /two-factor/list-trusted-devices`: the user's trusted browsers, newest first.
#[utoipa::path(get, path = "/two-factor/list-trusted-devices", tag = TAG,
    summary = "List the browsers that skip the second factor",
    responses((status = 200, description = "The user's trusted browsers, newest first", body = Vec<TrustedDevice>)),
    security(("session" = []), ("bearer" = [])))]
async fn list_trusted_devices(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let devices = state.store.trusted_devices(&auth.user.id, state.clock.now_ms()).await?;
    Ok(no_store(JsonOut(devices).into_response()))
}

/// A trusted browser to forget.
#[derive(Deserialize, ToSchema)]
struct RevokeTrustedDeviceBody {
    /// The `id` of a trusted device.
    id: String,
}

/// `POST /two-factor/revoke-trusted-device {id}`: `{status: true}`; 404
/// `TRUSTED_DEVICE_NOT_FOUND` for a device that is not the user's.
#[utoipa::path(post, path = "/two-factor/revoke-trusted-device", tag = TAG, summary = "Forget a trusted browser",
    request_body = RevokeTrustedDeviceBody,
    responses((status = 200, description = "Forgotten: its next sign-in asks for the second factor", body = Status),
        (status = 404, description = "`TRUSTED_DEVICE_NOT_FOUND`: not one of the user's", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn revoke_trusted_device(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RevokeTrustedDeviceBody>,
) -> ApiResult<JsonOut<Status>> {
    if !state.store.delete_trusted_device(&auth.user.id, &body.id).await? {
        return Err(ApiError::Coded(
            StatusCode::NOT_FOUND,
            "TRUSTED_DEVICE_NOT_FOUND",
            "Trusted device not found",
        ));
    }
    Ok(JsonOut(Status::YES))
}
