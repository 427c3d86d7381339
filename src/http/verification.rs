//! The `verify-email` / `send-verification-email` routes. The tokens behind the links are
//! `service::links`'; what following one does is `service::email_change`'s.

use axum::{
    Json as JsonOut, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    domain::{app::Scope, input::Email},
    error::{ApiError, ApiResult},
    http::{
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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/verify-email", get(verify_email))
        .route("/send-verification-email", post(send_verification_email))
}

#[derive(Deserialize, Default)]
struct VerifyQuery {
    #[serde(default)]
    token: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// `GET /verify-email?token=&callbackURL=`: verifies the email (or completes an email change).
/// With `callbackURL`: 302 there (`?error=CODE` on failure). Without: JSON, or a small page for
/// browsers.
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
        (Ok(()), None) => Ok(JsonOut(json!({ "status": true })).into_response()),
        (Err(e), None) if wants_html(&headers) && e.code().is_some() => Ok(pages::message(
            &state,
            "Link not valid",
            "This verification link is invalid, used or expired. Ask for a new one.",
        )),
        (Err(e), None) => Err(e),
    }
}

#[derive(Deserialize)]
struct SendVerificationBody {
    email: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
}

/// `POST /send-verification-email`: the same answer whether or not the email exists.
async fn send_verification_email(
    State(state): State<AppState>,
    scope: Scope,
    current: MaybeAuthenticated,
    Json(body): Json<SendVerificationBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
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
    Ok(JsonOut(json!({ "status": true })))
}
