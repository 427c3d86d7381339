//! Usernames and availability: `POST /sign-in/username`, `/is-username-available`,
//! `/is-email-available` (served unless `EMAIL_AVAILABILITY_CHECK=false`).

use axum::{Json as JsonOut, Router, extract::State, http::StatusCode, response::Response, routing::post};
use serde::Deserialize;
use serde_json::json;

use crate::{
    domain::{
        app::Scope,
        input::{Email, Username, UsernameProblem},
    },
    error::{ApiError, ApiResult},
    http::{
        auth::{PasswordSignIn, sign_in_with_password},
        extract::{JsonOrForm, required},
        redirect::check_callback,
    },
    service::{sessions::SignInContext, usernames},
    state::AppState,
};

pub fn router(email_check: bool) -> Router<AppState> {
    let router = Router::new()
        .route("/sign-in/username", post(sign_in))
        .route("/is-username-available", post(is_username_available));
    match email_check {
        true => router.route("/is-email-available", post(is_email_available)),
        false => router,
    }
}

const WRONG: ApiError =
    ApiError::Coded(StatusCode::UNAUTHORIZED, "INVALID_USERNAME_OR_PASSWORD", "Invalid username or password");

/// `POST /sign-in/username`: as `/sign-in/email`, by username (422 for one that cannot exist).
/// The lockout counts per account: an existing username's attempts count on its email's counter,
/// so typing the email or the username makes no difference; an unknown one has a counter of its
/// own (and costs the same hash). Every failure is 401 `INVALID_USERNAME_OR_PASSWORD`.
async fn sign_in(
    State(state): State<AppState>,
    ctx: SignInContext,
    JsonOrForm(mut body): JsonOrForm<PasswordSignIn>,
) -> ApiResult<Response> {
    check_callback(&state, &ctx.scope, body.callback_url.as_deref())?;
    let raw = body.username.take().ok_or_else(|| ApiError::Validation("[body.username] Required".into()))?;
    if raw.is_empty() {
        return Err(WRONG);
    }
    let username = Username::parse(&raw).map_err(|p| p.at(StatusCode::UNPROCESSABLE_ENTITY))?;
    let credential = state.store.credential_by_username(username.as_str(), ctx.scope.key()).await?;
    let lockout_key = match &credential {
        Some(found) => found.user.lockout_key().into_owned(),
        // No email has no `@`: this cannot be another account's counter.
        None => ctx.scope.qualify(&format!("username:{}", username.as_str())).into_owned(),
    };
    match sign_in_with_password(&state, ctx, &lockout_key, credential, body).await {
        Err(ApiError::InvalidCredentials) => Err(WRONG),
        other => other,
    }
}

#[derive(Deserialize)]
struct UsernameBody {
    username: Option<String>,
}

/// `POST /is-username-available {username}` → `{available}`; 422 for a name that is not valid.
async fn is_username_available(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<UsernameBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let raw = body.username.filter(|u| !u.is_empty());
    let raw = raw.ok_or_else(|| UsernameProblem::Invalid.at(StatusCode::UNPROCESSABLE_ENTITY))?;
    Ok(JsonOut(json!({ "available": usernames::available(&state, &raw, scope.key()).await? })))
}

#[derive(Deserialize)]
struct EmailBody {
    email: Option<String>,
}

/// `POST /is-email-available {email}` → `{available}`: false when an account has the address or
/// an undo link holds it. It tells anyone which addresses have accounts, so it has a strict rate
/// rule of its own and can be turned off (see the README).
async fn is_email_available(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<EmailBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let email = Email::parse(&required(body.email, "email")?)?;
    let taken = state.store.email_taken(email.as_str(), scope.key(), state.clock.now_ms()).await?;
    Ok(JsonOut(json!({ "available": !taken })))
}
