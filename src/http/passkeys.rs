//! Passkeys (Better Auth's passkey plugin): `/passkey/*`. Registering needs a fresh session;
//! `verify-authentication` is passkey sign-in.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_cookies::Cookies;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        app::Scope,
        input::{Email, parse_name},
        model::{PasskeyRow, SessionRow, User},
        time::duration_ms,
    },
    error::{ApiError, ApiResult, ErrorBody, OrChallenge},
    http::{
        answers::Status,
        extract::{Authenticated, Json, MaybeAuthenticated, NoBody, lenient_query},
        layers::no_store,
    },
    service::{
        passkeys,
        sessions::{SignInContext, ensure_fresh_within},
        sign_in::{Admission, Proof, admit},
    },
    state::AppState,
    store::Removed,
};

const NOT_FOUND: ApiError = ApiError::Coded(StatusCode::NOT_FOUND, "PASSKEY_NOT_FOUND", "Passkey not found");
const LAST_WAY_IN: ApiError = ApiError::Coded(
    StatusCode::BAD_REQUEST,
    "CANNOT_REMOVE_LAST_SIGN_IN_METHOD",
    "This is your last way to sign in: add another before removing it",
);

const TAG: &str = "Passkeys";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_options))
        .routes(routes!(verify_registration))
        .routes(routes!(authenticate_options))
        .routes(routes!(verify_authentication))
        .routes(routes!(list))
        .routes(routes!(delete))
        .routes(routes!(update))
        .routes(routes!(sign_up_start))
        .routes(routes!(sign_up_finish))
        .routes(routes!(remove_password))
}

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Registering needs a session started within `SESSION_FRESH_AGE`; for a user with a second
/// factor, within 10 minutes (a passkey skips the second factor from then on, so a stolen older
/// session must not be able to add one).
fn fresh(state: &AppState, auth: &Authenticated) -> ApiResult<()> {
    let mut limit = duration_ms(state.settings.sessions.fresh_age);
    if auth.user.two_factor_enabled {
        limit = limit.min(10 * 60_000);
    }
    ensure_fresh_within(state, &auth.session, limit)
}

/// The query of `generate-register-options` (a malformed query counts as none).
#[derive(Deserialize, Default, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct RegisterQuery {
    /// `platform` or `cross-platform` to ask for that kind of authenticator; other values are
    /// ignored.
    authenticator_attachment: Option<String>,
    /// The user name the authenticator shows; the account's email unless given.
    name: Option<String>,
}

/// `GET /passkey/generate-register-options`: WebAuthn creation options for the signed-in user.
#[utoipa::path(get, path = "/passkey/generate-register-options", tag = TAG,
    summary = "Start registering a passkey",
    params(RegisterQuery),
    responses((status = 200, description = "WebAuthn `PublicKeyCredentialCreationOptions` as JSON \
        (SimpleWebAuthn's shape, not wrapped in `publicKey`); the user's passkeys are excluded", body = Object),
        (status = 400, description = "`PASSKEY_NOT_CONFIGURED`", body = ErrorBody),
        (status = 403, description = "`SESSION_NOT_FRESH`: sign in again first", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn register_options(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    fresh(&state, &auth)?;
    let q: RegisterQuery = lenient_query(query);
    let options = passkeys::registration_options(
        &state,
        &cookies,
        &auth.user,
        q.name.as_deref(),
        q.authenticator_attachment.as_deref(),
    )
    .await?;
    Ok(no_store(JsonOut(options).into_response()))
}

/// A new passkey's registration.
#[derive(Deserialize, ToSchema)]
struct PasskeyRegistrationBody {
    /// The `RegistrationResponseJSON` of the authenticator (WebAuthn `PublicKeyCredential`).
    #[schema(value_type = Object)]
    response: Value,
    /// The passkey's name (ignored above 255 characters).
    name: Option<String>,
}

/// `POST /passkey/verify-registration {response, name?}`: the new passkey.
#[utoipa::path(post, path = "/passkey/verify-registration", tag = TAG, summary = "Finish registering a passkey",
    request_body = PasskeyRegistrationBody,
    responses((status = 200, description = "The new passkey", body = PasskeyRow),
        (status = 400, description = "`FAILED_TO_VERIFY_REGISTRATION`, `PREVIOUSLY_REGISTERED`, \
            `CHALLENGE_NOT_FOUND`, `PASSKEY_NOT_CONFIGURED`", body = ErrorBody),
        (status = 403, description = "`SESSION_NOT_FRESH`: sign in again first", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn verify_registration(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    headers: HeaderMap,
    Json(body): Json<PasskeyRegistrationBody>,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    fresh(&state, &auth)?;
    let name = body.name.filter(|n| n.chars().count() <= 255);
    let row = passkeys::register(&state, &cookies, &auth.user, origin(&headers), body.response, name).await?;
    Ok(no_store(JsonOut(row).into_response()))
}

/// `GET /passkey/generate-authenticate-options`: WebAuthn request options (the signed-in user's
/// passkeys, else any discoverable one).
#[utoipa::path(get, path = "/passkey/generate-authenticate-options", tag = TAG,
    summary = "Start signing in with a passkey",
    responses((status = 200, description = "WebAuthn `PublicKeyCredentialRequestOptions` as JSON \
        (not wrapped in `publicKey`): the signed-in user's passkeys, else any discoverable one", body = Object),
        (status = 400, description = "`PASSKEY_NOT_CONFIGURED`", body = ErrorBody)))]
async fn authenticate_options(
    State(state): State<AppState>,
    current: MaybeAuthenticated,
    cookies: Cookies,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    let user = current.0.map(|auth| auth.user);
    let options = passkeys::authentication_options(&state, &cookies, user.as_ref()).await?;
    Ok(no_store(JsonOut(options).into_response()))
}

/// A passkey sign-in.
#[derive(Deserialize, ToSchema)]
struct PasskeyAuthenticationBody {
    /// The `AuthenticationResponseJSON` of the authenticator (WebAuthn `PublicKeyCredential`).
    #[schema(value_type = Object)]
    response: Value,
}

/// Signed in with a passkey.
#[derive(Serialize, ToSchema)]
struct PasskeySignIn {
    session: SessionRow,
    user: User,
}

/// `POST /passkey/verify-authentication {response}`: passkey sign-in, through the sign-in gate:
/// `{session, user}` and the session cookie.
#[utoipa::path(post, path = "/passkey/verify-authentication", tag = TAG, summary = "Sign in with a passkey",
    request_body = PasskeyAuthenticationBody,
    responses((status = 200, description = "Signed in (session cookie set); a passkey counts as both \
        factors, so the only challenge is `twoFactorSetupRequired` when the server requires a second factor",
        body = OrChallenge<PasskeySignIn>),
        (status = 400, description = "`AUTHENTICATION_FAILED`, `CHALLENGE_NOT_FOUND`, `PASSKEY_NOT_CONFIGURED`",
            body = ErrorBody),
        (status = 401, description = "`PASSKEY_NOT_FOUND`: an unknown credential", body = ErrorBody)))]
async fn verify_authentication(
    State(state): State<AppState>,
    ctx: SignInContext,
    headers: HeaderMap,
    Json(body): Json<PasskeyAuthenticationBody>,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    let user =
        passkeys::authenticate(&state, &ctx.cookies, &ctx.scope, origin(&headers), body.response).await?;
    let admission = Admission { proof: Proof::Passkey, remember_me: true, callback: None };
    let session = admit(&state, ctx, &user, admission).await?;
    Ok(no_store(JsonOut(PasskeySignIn { session, user }).into_response()))
}

/// `GET /passkey/list-user-passkeys`: the user's passkeys, oldest first.
#[utoipa::path(get, path = "/passkey/list-user-passkeys", tag = TAG, summary = "List the user's passkeys",
    responses((status = 200, description = "The user's passkeys, oldest first", body = Vec<PasskeyRow>)),
    security(("session" = []), ("bearer" = [])))]
async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let rows = state.store.passkeys_of(&auth.user.id).await?;
    Ok(no_store(JsonOut(rows).into_response()))
}

/// A passkey to delete.
#[derive(Deserialize, ToSchema)]
struct PasskeyIdBody {
    /// The passkey's `id`.
    id: String,
}

/// `POST /passkey/delete-passkey {id}`: `{status: true}`; 404 `PASSKEY_NOT_FOUND` for a passkey
/// that is not the user's; 400 `CANNOT_REMOVE_LAST_SIGN_IN_METHOD` for their last way in.
#[utoipa::path(post, path = "/passkey/delete-passkey", tag = TAG, summary = "Delete a passkey",
    request_body = PasskeyIdBody,
    responses((status = 200, description = "Deleted", body = Status),
        (status = 400, description = "`CANNOT_REMOVE_LAST_SIGN_IN_METHOD`: the user's last way to sign in",
            body = ErrorBody),
        (status = 404, description = "`PASSKEY_NOT_FOUND`: not one of the user's", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<PasskeyIdBody>,
) -> ApiResult<JsonOut<Status>> {
    match state.store.delete_passkey(&body.id, &auth.user.id, state.clock.now_ms()).await? {
        Removed::Done => Ok(JsonOut(Status::YES)),
        Removed::NotFound => Err(NOT_FOUND),
        Removed::LastWayIn => Err(LAST_WAY_IN),
    }
}

/// A passkey's new name.
#[derive(Deserialize, ToSchema)]
struct PasskeyUpdateBody {
    /// The passkey's `id`.
    id: String,
    /// 1 to 255 characters (trimmed).
    name: String,
}

/// A renamed passkey.
#[derive(Serialize, ToSchema)]
struct PasskeyUpdated {
    passkey: PasskeyRow,
}

/// `POST /passkey/update-passkey {id, name}`: `{passkey}`.
#[utoipa::path(post, path = "/passkey/update-passkey", tag = TAG, summary = "Rename a passkey",
    request_body = PasskeyUpdateBody,
    responses((status = 200, description = "Renamed", body = PasskeyUpdated),
        (status = 404, description = "`PASSKEY_NOT_FOUND`: not one of the user's", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<PasskeyUpdateBody>,
) -> ApiResult<Response> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::Validation("[body.name] 1 to 255 characters".into()));
    }
    let row = state.store.rename_passkey(&body.id, &auth.user.id, name).await?.ok_or(NOT_FOUND)?;
    Ok(no_store(JsonOut(PasskeyUpdated { passkey: row }).into_response()))
}

/// A new account to create with a passkey.
#[derive(Deserialize, ToSchema)]
struct PasskeySignUpStartBody {
    email: String,
    /// The user's name.
    name: String,
}

/// `POST /passkey/sign-up/start {email, name}`: registration options for a new account; a
/// 6-digit code goes to the address (outbox kind `passkey-sign-up`; the same answer whether or
/// not the address is taken: its owner gets a notice instead).
#[utoipa::path(post, path = "/passkey/sign-up/start", tag = TAG, summary = "Start signing up with a passkey",
    description = "Mails a 6-digit code to the address (the same answer whether or not the address is \
        taken: its owner gets a notice instead) and answers the options to register the passkey with.",
    request_body = PasskeySignUpStartBody,
    responses((status = 200, description = "WebAuthn `PublicKeyCredentialCreationOptions` as JSON \
        (not wrapped in `publicKey`)", body = Object),
        (status = 400, description = "`PASSKEY_NOT_CONFIGURED`, or an invalid email or name", body = ErrorBody)))]
async fn sign_up_start(
    State(state): State<AppState>,
    cookies: Cookies,
    scope: Scope,
    Json(body): Json<PasskeySignUpStartBody>,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    let email = Email::parse(&body.email)?;
    let name = parse_name(&body.name)?;
    let options = passkeys::sign_up_options(&state, &cookies, &scope, &email, name).await?;
    Ok(no_store(JsonOut(options).into_response()))
}

/// The new account's passkey and the code mailed to its address.
#[derive(Deserialize, ToSchema)]
struct PasskeySignUpFinishBody {
    /// The address `sign-up/start` was given.
    email: String,
    /// The 6-digit code mailed to it.
    code: String,
    /// The `RegistrationResponseJSON` of the authenticator (WebAuthn `PublicKeyCredential`).
    #[schema(value_type = Object)]
    response: Value,
}

/// Signed up with a passkey.
#[derive(Serialize, ToSchema)]
struct PasskeySignUp {
    token: String,
    user: User,
    session: SessionRow,
}

/// `POST /passkey/sign-up/finish {email, code, response}`: a verified user whose only way in is
/// that passkey, signed in: `{token, user, session}`.
#[utoipa::path(post, path = "/passkey/sign-up/finish", tag = TAG, summary = "Finish signing up with a passkey",
    request_body = PasskeySignUpFinishBody,
    responses((status = 200, description = "Signed up and in (session cookie set): a verified user whose \
        only way in is that passkey; `twoFactorSetupRequired` when the server requires a second factor",
        body = OrChallenge<PasskeySignUp>),
        (status = 400, description = "`INVALID_OTP`, `OTP_EXPIRED`, `FAILED_TO_VERIFY_REGISTRATION`, \
            `CHALLENGE_NOT_FOUND`, `PASSKEY_NOT_CONFIGURED`, or an invalid email", body = ErrorBody),
        (status = 403, description = "`TOO_MANY_ATTEMPTS`: request a new code", body = ErrorBody)))]
async fn sign_up_finish(
    State(state): State<AppState>,
    ctx: SignInContext,
    headers: HeaderMap,
    Json(body): Json<PasskeySignUpFinishBody>,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    let email = Email::parse(&body.email)?;
    let user = passkeys::sign_up(
        &state,
        &ctx.cookies,
        &ctx.scope,
        origin(&headers),
        &email,
        &body.code,
        body.response,
    )
    .await?;
    let admission = Admission { proof: Proof::NewAccount, remember_me: true, callback: None };
    let session = admit(&state, ctx, &user, admission).await?;
    let answer = PasskeySignUp { token: session.token.clone(), user, session };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /remove-password` (fresh session): `{status: true}`; the user then signs in with a
/// passkey or another provider. 400 `CANNOT_REMOVE_LAST_SIGN_IN_METHOD` without one,
/// `CREDENTIAL_ACCOUNT_NOT_FOUND` without a password.
#[utoipa::path(post, path = "/remove-password", tag = TAG, summary = "Remove the account's password",
    request_body(content = NoBody, description = "An empty object"),
    responses((status = 200, description = "Removed: the user signs in with a passkey or another provider",
        body = Status),
        (status = 400, description = "`CANNOT_REMOVE_LAST_SIGN_IN_METHOD` without another way in, \
            `CREDENTIAL_ACCOUNT_NOT_FOUND` without a password", body = ErrorBody),
        (status = 403, description = "`SESSION_NOT_FRESH`: sign in again first", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn remove_password(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_empty): Json<NoBody>,
) -> ApiResult<JsonOut<Status>> {
    fresh(&state, &auth)?;
    match state.store.remove_password(&auth.user.id, state.clock.now_ms()).await? {
        Removed::Done => Ok(JsonOut(Status::YES)),
        Removed::NotFound => Err(ApiError::CredentialAccountNotFound),
        Removed::LastWayIn => Err(LAST_WAY_IN),
    }
}
