//! Passkeys (Better Auth's passkey plugin): `/passkey/*`. Registering needs a fresh session;
//! `verify-authentication` is passkey sign-in.

use axum::{
    Json as JsonOut, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_cookies::Cookies;

use crate::{
    domain::{
        app::Scope,
        input::{Email, parse_name},
        time::duration_ms,
    },
    error::{ApiError, ApiResult},
    http::{
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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/passkey/generate-register-options", get(register_options))
        .route("/passkey/verify-registration", post(verify_registration))
        .route("/passkey/generate-authenticate-options", get(authenticate_options))
        .route("/passkey/verify-authentication", post(verify_authentication))
        .route("/passkey/list-user-passkeys", get(list))
        .route("/passkey/delete-passkey", post(delete))
        .route("/passkey/update-passkey", post(update))
        .route("/passkey/sign-up/start", post(sign_up_start))
        .route("/passkey/sign-up/finish", post(sign_up_finish))
        .route("/remove-password", post(remove_password))
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

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RegisterQuery {
    authenticator_attachment: Option<String>,
    name: Option<String>,
}

/// `GET /passkey/generate-register-options`: WebAuthn creation options for the signed-in user.
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

#[derive(Deserialize)]
struct RegistrationBody {
    response: Value,
    name: Option<String>,
}

/// `POST /passkey/verify-registration {response, name?}`: the new passkey.
async fn verify_registration(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    headers: HeaderMap,
    Json(body): Json<RegistrationBody>,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    fresh(&state, &auth)?;
    let name = body.name.filter(|n| n.chars().count() <= 255);
    let row = passkeys::register(&state, &cookies, &auth.user, origin(&headers), body.response, name).await?;
    Ok(no_store(JsonOut(row).into_response()))
}

/// `GET /passkey/generate-authenticate-options`: WebAuthn request options (the signed-in user's
/// passkeys, else any discoverable one).
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

#[derive(Deserialize)]
struct AuthenticationBody {
    response: Value,
}

/// `POST /passkey/verify-authentication {response}`: passkey sign-in, through the sign-in gate:
/// `{session, user}` and the session cookie.
async fn verify_authentication(
    State(state): State<AppState>,
    ctx: SignInContext,
    headers: HeaderMap,
    Json(body): Json<AuthenticationBody>,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    let user =
        passkeys::authenticate(&state, &ctx.cookies, &ctx.scope, origin(&headers), body.response).await?;
    let admission = Admission { proof: Proof::Passkey, remember_me: true, callback: None };
    let session = admit(&state, ctx, &user, admission).await?;
    Ok(no_store(JsonOut(json!({ "session": session, "user": user })).into_response()))
}

/// `GET /passkey/list-user-passkeys`: the user's passkeys, oldest first.
async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let rows = state.store.passkeys_of(&auth.user.id).await?;
    Ok(no_store(JsonOut(rows).into_response()))
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
}

/// `POST /passkey/delete-passkey {id}`: `{status: true}`; 404 `PASSKEY_NOT_FOUND` for a passkey
/// that is not the user's; 400 `CANNOT_REMOVE_LAST_SIGN_IN_METHOD` for their last way in.
async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<IdBody>,
) -> ApiResult<JsonOut<Value>> {
    match state.store.delete_passkey(&body.id, &auth.user.id, state.clock.now_ms()).await? {
        Removed::Done => Ok(JsonOut(json!({ "status": true }))),
        Removed::NotFound => Err(NOT_FOUND),
        Removed::LastWayIn => Err(LAST_WAY_IN),
    }
}

#[derive(Deserialize)]
struct UpdateBody {
    id: String,
    name: String,
}

/// `POST /passkey/update-passkey {id, name}`: `{passkey}`.
async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Response> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::Validation("[body.name] 1 to 255 characters".into()));
    }
    let row = state.store.rename_passkey(&body.id, &auth.user.id, name).await?.ok_or(NOT_FOUND)?;
    Ok(no_store(JsonOut(json!({ "passkey": row })).into_response()))
}

#[derive(Deserialize)]
struct SignUpStartBody {
    email: String,
    name: String,
}

/// `POST /passkey/sign-up/start {email, name}`: registration options for a new account; a
/// 6-digit code goes to the address (outbox kind `passkey-sign-up`; the same answer whether or
/// not the address is taken: its owner gets a notice instead).
async fn sign_up_start(
    State(state): State<AppState>,
    cookies: Cookies,
    scope: Scope,
    Json(body): Json<SignUpStartBody>,
) -> ApiResult<Response> {
    passkeys::configured(&state)?;
    let email = Email::parse(&body.email)?;
    let name = parse_name(&body.name)?;
    let options = passkeys::sign_up_options(&state, &cookies, &scope, &email, name).await?;
    Ok(no_store(JsonOut(options).into_response()))
}

#[derive(Deserialize)]
struct SignUpFinishBody {
    email: String,
    code: String,
    response: Value,
}

/// `POST /passkey/sign-up/finish {email, code, response}`: a verified user whose only way in is
/// that passkey, signed in: `{token, user, session}`.
async fn sign_up_finish(
    State(state): State<AppState>,
    ctx: SignInContext,
    headers: HeaderMap,
    Json(body): Json<SignUpFinishBody>,
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
    let answer = json!({ "token": session.token, "user": user, "session": session });
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /remove-password` (fresh session): `{status: true}`; the user then signs in with a
/// passkey or another provider. 400 `CANNOT_REMOVE_LAST_SIGN_IN_METHOD` without one,
/// `CREDENTIAL_ACCOUNT_NOT_FOUND` without a password.
async fn remove_password(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_): Json<NoBody>,
) -> ApiResult<JsonOut<Value>> {
    fresh(&state, &auth)?;
    match state.store.remove_password(&auth.user.id, state.clock.now_ms()).await? {
        Removed::Done => Ok(JsonOut(json!({ "status": true }))),
        Removed::NotFound => Err(ApiError::CredentialAccountNotFound),
        Removed::LastWayIn => Err(LAST_WAY_IN),
    }
}
