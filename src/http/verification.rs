//! The `verify-email` / `send-verification-email` routes. The tokens behind the links are
//! `service::links`'; what following one does is `service::email_change`'s.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{app::Scope, input::Email},
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        answers::Status,
        extract::{AnyAppSession, Json, MaybeAuthenticated, lenient_query},
        pages,
        redirect::{check_callback, found},
    },
    service::{
        email_change::apply_link,
        links::{Purpose, in_background, owner_scope, send_verification, with_params},
        sessions::base_cookie,
    },
    state::AppState,
};

const TAG: &str = "Email verification";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_email)).routes(routes!(send_verification_email))
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct VerifyQuery {
    /// The token from the emailed link (a missing one is an invalid token).
    #[serde(default)]
    token: String,
    /// Where to send the browser afterwards (`?error=CODE` appended on failure).
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// `GET /verify-email?token=&callbackURL=`: verifies the email (or completes an email change).
/// With `callbackURL`: 302 there (`?error=CODE` on failure). Without: JSON, or a small page for
/// browsers.
#[utoipa::path(get, path = "/verify-email", tag = TAG, summary = "Follow an email verification (or email change) link",
    params(VerifyQuery),
    responses(
        (status = 200, description = "Without `callbackURL`: verified (JSON), or for a browser (`Accept: text/html`) a page saying whether it worked",
            content((Status = "application/json"), (String = "text/html"))),
        (status = 302, description = "With `callbackURL`: to it, with `?error=CODE` when the link did not work",
            headers(("location" = String, description = "The callback URL"))),
        (status = 401, description = "Without `callbackURL`, for a JSON request: the token is invalid, used (`INVALID_TOKEN`) or expired (`TOKEN_EXPIRED`)",
            body = ErrorBody)))]
async fn verify_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    AnyAppSession(current): AnyAppSession,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q: VerifyQuery = lenient_query(query);
    let scope = owner_scope(&state, &[Purpose::Verify, Purpose::ChangeEmail], &q.token).await?;
    check_callback(&state, &scope, q.callback_url.as_deref())?;
    // The session following the link stays if it is the link's user's (whatever their app).
    let outcome = apply_link(&state, &q.token, current.as_ref().map(|auth| &auth.session)).await;
    let callback = q.callback_url.filter(|c| !c.is_empty());
    match (outcome, callback) {
        (Ok(()), Some(cb)) => {
            // Gatehouse's own `/` page (when no app serves it) says "verified" for a minute.
            let mut res = found(&cb);
            let mut cookie = base_cookie(&state, state.email_verified_cookie());
            cookie.set_value("1");
            cookie.set_max_age(time::Duration::seconds(60));
            if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            Ok(res)
        }
        (Err(e), Some(cb)) => match e.code() {
            Some(code) => Ok(found(&with_params(&cb, &[("error", code)]))),
            None => Err(e),
        },
        (Ok(()), None) if wants_html(&headers) => Ok(pages::message(
            &state,
            "Email verified",
            "Your email address is verified. You can close this page.",
        )),
        (Ok(()), None) => Ok(JsonOut(Status::YES).into_response()),
        (Err(e), None) if wants_html(&headers) && e.code().is_some() => Ok(pages::message(
            &state,
            "Link not valid",
            "This verification link is invalid, used or expired. Ask for a new one.",
        )),
        (Err(e), None) => Err(e),
    }
}

#[derive(Deserialize, ToSchema)]
struct SendVerificationBody {
    /// The address to verify.
    email: String,
    /// Where the link leads after verifying.
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

/// `POST /send-verification-email`: the same answer whether or not the email exists.
#[utoipa::path(post, path = "/send-verification-email", tag = TAG, summary = "Email a verification link",
    request_body = SendVerificationBody,
    responses((status = 200, description = "A link is sent if the email belongs to an unverified account (the same answer either way)", body = Status),
        (status = 400, description = "`EMAIL_ALREADY_VERIFIED` when it is the signed-in user's own verified address, or the body is not valid", body = ErrorBody)))]
async fn send_verification_email(
    State(state): State<AppState>,
    scope: Scope,
    current: MaybeAuthenticated,
    Json(body): Json<SendVerificationBody>,
) -> ApiResult<JsonOut<Status>> {
    check_callback(&state, &scope, body.callback_url.as_deref())?;
    let email = Email::parse(&body.email)?;
    if let Some(auth) = current.0
        && auth.user.email == email.as_str()
        && auth.user.email_verified
    {
        return Err(ApiError::EmailAlreadyVerified);
    }
    let st = state.clone();
    in_background(async move {
        let Some(found) = st.store.credential_by_email(email.as_str(), scope.key()).await? else {
            return Ok(());
        };
        if !found.user.email_verified {
            send_verification(&st, &found.user, body.callback_url.as_deref()).await?;
        }
        Ok(())
    });
    Ok(JsonOut(Status::YES))
}
