//! Passwords: reset by emailed link (`request-password-reset` / `forget-password`,
//! `GET /reset-password/:token`, `POST /reset-password`) and `change-password`.

use axum::{
    Json as JsonOut,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        app::Scope,
        input::{Email, NewPassword},
        model::User,
    },
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        answers::Status,
        extract::{Authenticated, Json, JsonOrForm, is_form, lenient_query},
        layers::no_store,
        pages,
        redirect::{check_callback, found},
    },
    service::{
        audit::{Record, recorded},
        links::{Purpose, consume, in_background, owner_scope, peek, with_params},
        passwords::{check_current_password, replace_password, send_reset},
        sessions::SignInContext,
    },
    state::AppState,
    store::EndSessions,
};

const TAG: &str = "Passwords";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_password_reset))
        .routes(routes!(forget_password))
        .routes(routes!(reset_link))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ResetRequest {
    /// The account's email address.
    email: String,
    /// The app's page the emailed link leads to, with `?token=` (or `?error=`); without it, the
    /// built-in form.
    redirect_to: Option<String>,
}

/// The same answer whether or not the email exists.
#[derive(Serialize, ToSchema)]
struct ResetRequested {
    status: bool,
    message: &'static str,
}

/// `POST /request-password-reset`.
#[utoipa::path(post, path = "/request-password-reset", tag = TAG, summary = "Email a password reset link",
    request_body = ResetRequest,
    responses((status = 200, description = "A link is sent if the email belongs to an account (the same answer either way)", body = ResetRequested)))]
async fn request_password_reset(
    state: State<AppState>,
    scope: Scope,
    body: Json<ResetRequest>,
) -> ApiResult<JsonOut<ResetRequested>> {
    request_reset(state, scope, body).await
}

/// `POST /forget-password`: Better Auth's older name of `/request-password-reset`.
#[utoipa::path(post, path = "/forget-password", tag = TAG, summary = "Email a password reset link (older name)",
    request_body = ResetRequest,
    responses((status = 200, description = "A link is sent if the email belongs to an account (the same answer either way)", body = ResetRequested)))]
async fn forget_password(
    state: State<AppState>,
    scope: Scope,
    body: Json<ResetRequest>,
) -> ApiResult<JsonOut<ResetRequested>> {
    request_reset(state, scope, body).await
}

/// Emails a reset link; the answer is the same, and as fast, whether or not the email exists.
async fn request_reset(
    State(state): State<AppState>,
    scope: Scope,
    Json(body): Json<ResetRequest>,
) -> ApiResult<JsonOut<ResetRequested>> {
    check_callback(&state, &scope, body.redirect_to.as_deref())?;
    let email = Email::parse(&body.email)?;
    let st = state.clone();
    in_background(async move {
        let Some(found) = st.store.credential_by_email(email.as_str(), scope.key()).await? else {
            return Ok(());
        };
        send_reset(&st, &found.user, body.redirect_to.as_deref()).await
    });
    Ok(JsonOut(ResetRequested {
        status: true,
        message: "If this email exists in our system, check your email for the reset link",
    }))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct LinkQuery {
    /// The app's page to send the browser to, with `?token=` (or `?error=INVALID_TOKEN`);
    /// without it, the built-in form.
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

/// `GET /reset-password/:token`: to the app's page (`callbackURL?token=…`, or `?error=…`), or
/// the built-in form when there is no `callbackURL`. The token is not consumed here.
#[utoipa::path(get, path = "/reset-password/{token}", tag = TAG, summary = "Follow a password reset link",
    params(("token" = String, Path, description = "The token from the emailed link"), LinkQuery),
    responses(
        (status = 200, description = "Without `callbackURL`: the built-in new-password form, or a page saying the link is not valid",
            content_type = "text/html", body = String),
        (status = 302, description = "With `callbackURL`: to it, with `?token=` or `?error=INVALID_TOKEN`",
            headers(("location" = String, description = "The callback URL with `token` or `error`")))))]
async fn reset_link(
    State(state): State<AppState>,
    token: Result<Path<String>, axum::extract::rejection::PathRejection>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    // A token that does not even decode is just an invalid token.
    let token = token.map(|Path(t)| t).unwrap_or_default();
    let query: LinkQuery = lenient_query(query);
    let callback = query.callback_url.filter(|c| !c.is_empty());
    let scope = owner_scope(&state, &[Purpose::Reset], &token).await?;
    check_callback(&state, &scope, callback.as_deref())?;
    let valid = peek(&state, Purpose::Reset, &token, StatusCode::BAD_REQUEST).await;
    Ok(match (valid, callback) {
        (Ok(_), Some(cb)) => found(&with_params(&cb, &[("token", &token)])),
        (Err(_), Some(cb)) => found(&with_params(&cb, &[("error", "INVALID_TOKEN")])),
        (Ok(_), None) => pages::reset_form(&state, &token, None),
        (Err(_), None) => pages::message(
            &state,
            "Link not valid",
            "This password reset link is invalid, used or expired. Ask for a new one.",
        ),
    })
}

/// The token and the new password (`newPassword`, or `password` as the built-in form sends it).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ResetPasswordBody)]
struct ResetBody {
    /// The token from the emailed link (a missing one is an invalid token).
    #[serde(default)]
    #[schema(required = true)]
    token: String,
    /// The new password (required unless `password` is given).
    new_password: Option<String>,
    /// The same as `newPassword` (the built-in form's name for it).
    password: Option<String>,
}

/// `POST /reset-password {token, newPassword}` (JSON, or the built-in form): consumes the token
/// (of two concurrent uses one wins), sets the password, ends every session.
#[utoipa::path(post, path = "/reset-password", tag = TAG, summary = "Set a new password with a reset token",
    request_body(content((ResetBody = "application/json"), (ResetBody = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The password is set and every session ended: JSON for a JSON request, a page for the form",
            content((Status = "application/json"), (String = "text/html"))),
        (status = 400, description = "Invalid or expired token, no new password, or one the policy refuses (for the form: the form again saying why, or a page saying the link is not valid)",
            content((ErrorBody = "application/json"), (String = "text/html")))))]
async fn reset_password(
    State(state): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm<ResetBody>,
) -> ApiResult<Response> {
    let from_form = is_form(&headers);
    let raw = body
        .new_password
        .or(body.password)
        .ok_or_else(|| ApiError::Validation("[body.newPassword] Required".into()))?;
    // The JSON API is an app's (or the default space's): another app's token is refused before it
    // is used up. The built-in form is Gatehouse's own page, which no app's request reaches: the
    // token's user decides (the link mailed to them is the proof), their app's policy too.
    let scope = match from_form {
        false => scope,
        true => match token_owner(&state, &body.token).await {
            Ok(owner) => state.scope_of(&owner).await?,
            Err(e) if e.code().is_some() => return Ok(pages::invalid_link(&state)),
            Err(e) => return Err(e),
        },
    };
    let password = match NewPassword::parse(&raw, &scope.password_policy(&state.settings.passwords.policy)) {
        Ok(password) => password,
        // The form again, saying why (the link is not used up).
        Err(e) if from_form => return Ok(pages::reset_form(&state, &body.token, Some(&e.to_string()))),
        Err(e) => return Err(e),
    };
    let result = async {
        if !scope.admits(&token_owner(&state, &body.token).await?) {
            return Err(ApiError::InvalidToken(StatusCode::BAD_REQUEST));
        }
        let user_id = consume(&state, Purpose::Reset, &body.token, StatusCode::BAD_REQUEST).await?;
        replace_password(&state, &user_id, &password).await
    }
    .await;
    match (result, from_form) {
        (Ok(()), false) => Ok(JsonOut(Status::YES).into_response()),
        (Ok(()), true) => Ok(pages::message(
            &state,
            "Password changed",
            "Your password is changed and you were signed out everywhere. Sign in with the new one.",
        )),
        (Err(e), true) if e.code().is_some() => Ok(pages::invalid_link(&state)),
        (Err(e), _) => Err(e),
    }
}

/// The user a reset token (not used up) is for.
async fn token_owner(state: &AppState, token: &str) -> ApiResult<User> {
    let owner = peek(state, Purpose::Reset, token, StatusCode::BAD_REQUEST).await?;
    state.store.user_by_id(&owner).await?.ok_or(ApiError::InvalidToken(StatusCode::BAD_REQUEST))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ChangePasswordBody {
    current_password: String,
    new_password: String,
    /// End every session of the user and start a new one for this request.
    #[serde(default)]
    revoke_other_sessions: bool,
}

#[derive(Serialize, ToSchema)]
struct ChangePasswordAnswer {
    /// The new session's token with `revokeOtherSessions`; otherwise `null`.
    #[schema(required = true)]
    token: Option<String>,
    user: User,
}

/// `POST /change-password` (sensitive): `{token, user}`. With `revokeOtherSessions`, every
/// session of the user ends and this request gets a new one (a new token, in the answer and the
/// cookie), as Better Auth does; otherwise `token` is null and sessions stay.
#[utoipa::path(post, path = "/change-password", tag = TAG, summary = "Change the password",
    request_body = ChangePasswordBody,
    responses((status = 200, description = "Changed (with `revokeOtherSessions`, a new session cookie is set)", body = ChangePasswordAnswer),
        (status = 400, description = "The current password is wrong (`INVALID_PASSWORD`), or the new one is refused by the policy", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn change_password(
    State(state): State<AppState>,
    auth: Authenticated,
    ctx: SignInContext,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Response> {
    let policy = ctx.scope.password_policy(&state.settings.passwords.policy);
    let password = NewPassword::parse(&body.new_password, &policy)?;
    check_current_password(&state, &auth.user, &body.current_password).await?;
    let hash = state.hasher.hash(password.as_str()).await?;
    let end = if body.revoke_other_sessions { EndSessions::All } else { EndSessions::None };
    let now = state.clock.now_ms();
    let changed = Record::own("password-changed", &auth.user).from(&ctx.client);
    recorded(&state, changed, None, state.store.replace_credentials(&auth.user.id, &hash, end, false, now))
        .await?;
    let token = if body.revoke_other_sessions {
        Some(ctx.start(&state, &auth.user, auth.session.remember_me, None).await?.token)
    } else {
        None
    };
    Ok(no_store(JsonOut(ChangePasswordAnswer { token, user: auth.user }).into_response()))
}
