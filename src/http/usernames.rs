//! Usernames and availability: `POST /sign-in/username`, `/is-username-available`,
//! `/is-email-available` (served unless `EMAIL_AVAILABILITY_CHECK=false`).

use axum::{Json as JsonOut, extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        app::Scope,
        input::{Email, Username, UsernameProblem},
    },
    error::{ApiError, ApiResult, ErrorBody, OrChallenge},
    http::{
        auth::{PasswordSignIn, SignInAnswer, sign_in_with_password},
        extract::{JsonOrForm, required},
        redirect::check_callback,
    },
    service::{sessions::SignInContext, usernames},
    state::AppState,
};

const TAG: &str = "Usernames";

pub fn router(email_check: bool) -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new().routes(routes!(sign_in)).routes(routes!(is_username_available));
    match email_check {
        true => router.routes(routes!(is_email_available)),
        false => router,
    }
}

const WRONG: ApiError =
    ApiError::Coded(StatusCode::UNAUTHORIZED, "INVALID_USERNAME_OR_PASSWORD", "Invalid username or password");

/// `POST /sign-in/username`: as `/sign-in/email`, by username (422 for one that cannot exist).
/// The lockout counts per account: an existing username's attempts count on its email's counter,
/// so typing the email or the username makes no difference; an unknown one has a counter of its
/// own (and costs the same hash). Every failure is 401 `INVALID_USERNAME_OR_PASSWORD`.
#[utoipa::path(post, path = "/sign-in/username", tag = TAG, summary = "Sign in with username and password",
    request_body(content((PasswordSignIn = "application/json"), (PasswordSignIn = "application/x-www-form-urlencoded")),
        description = "`username` (required here) and `password`; `email` is not read"),
    responses(
        (status = 200, description = "Signed in (session cookie set), or a second factor is needed",
            body = OrChallenge<SignInAnswer>),
        (status = 422, description = "Not a username that can exist", body = ErrorBody)))]
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

/// A username to check.
#[derive(Deserialize, ToSchema)]
struct UsernameAvailabilityBody {
    /// Missing or empty is 422, as a name that is not valid.
    #[schema(value_type = String, required = true, min_length = 1)]
    username: Option<String>,
}

/// Whether the username or address is free.
#[derive(Serialize, ToSchema)]
struct Availability {
    available: bool,
}

/// `POST /is-username-available {username}` → `{available}`; 422 for a name that is not valid.
#[utoipa::path(post, path = "/is-username-available", tag = TAG, summary = "Check whether a username is free",
    request_body(content((UsernameAvailabilityBody = "application/json"),
        (UsernameAvailabilityBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Whether the username is free in this app", body = Availability),
        (status = 422, description = "Not a valid username", body = ErrorBody)))]
async fn is_username_available(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<UsernameAvailabilityBody>,
) -> ApiResult<JsonOut<Availability>> {
    let raw = body.username.filter(|u| !u.is_empty());
    let raw = raw.ok_or_else(|| UsernameProblem::Invalid.at(StatusCode::UNPROCESSABLE_ENTITY))?;
    Ok(JsonOut(Availability { available: usernames::available(&state, &raw, scope.key()).await? }))
}

/// An address to check.
#[derive(Deserialize, ToSchema)]
struct EmailAvailabilityBody {
    /// Missing or empty is 400.
    #[schema(value_type = String, required = true, min_length = 1)]
    email: Option<String>,
}

/// `POST /is-email-available {email}` → `{available}`: false when an account has the address or
/// an undo link holds it. It tells anyone which addresses have accounts, so it has a strict rate
/// rule of its own and can be turned off (see the README).
#[utoipa::path(post, path = "/is-email-available", tag = TAG, summary = "Check whether an email address is free",
    request_body(content((EmailAvailabilityBody = "application/json"),
        (EmailAvailabilityBody = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Whether no account (nor an undo link) holds the address in this app",
        body = Availability)))]
async fn is_email_available(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<EmailAvailabilityBody>,
) -> ApiResult<JsonOut<Availability>> {
    let email = Email::parse(&required(body.email, "email")?)?;
    let taken = state.store.email_taken(email.as_str(), scope.key(), state.clock.now_ms()).await?;
    Ok(JsonOut(Availability { available: !taken }))
}
