//! Single-use tokens in links (email verification, password reset, email change) and the
//! `verify-email` / `send-verification-email` routes.
//!
//! A token is 256 random bits; only its HMAC is stored (`verification.identifier` is
//! `purpose:hmac`), it expires, and it is consumed with one `DELETE … RETURNING`, so of two
//! concurrent uses exactly one succeeds.

use axum::{
    Json as JsonOut, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    domain::{input::Email, model::User},
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, Json, MaybeAuthenticated, lenient_query},
        pages,
        session::base_cookie,
    },
    security::tokens::{random_hex, token_hash},
    state::AppState,
    store::{EndSessions, StoreError},
};

pub const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Verify,
    Reset,
    ChangeEmail,
    /// The link in the notice to the old address after an email change (`userId|oldEmail`).
    UndoEmailChange,
}

impl Purpose {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Verify => "verify:",
            Self::Reset => "reset:",
            Self::ChangeEmail => "change-email:",
            Self::UndoEmailChange => "undo-email:",
        }
    }

    /// How long a link of this purpose works: an hour; a week for undoing an email change (the
    /// old address's owner may not read mail every day).
    pub fn ttl_ms(self) -> i64 {
        match self {
            Self::UndoEmailChange => 7 * 24 * HOUR_MS,
            _ => HOUR_MS,
        }
    }
}

/// The stored identifier of a raw token (what the store keys it by).
pub fn identifier(state: &AppState, purpose: Purpose, raw: &str) -> String {
    format!("{}{}", purpose.prefix(), token_hash(&state.token_key, raw))
}

/// Stores a new token for `value` and returns the raw token (it exists only in the link).
pub async fn issue(state: &AppState, purpose: Purpose, value: &str, ttl_ms: i64) -> ApiResult<String> {
    let raw = random_hex(32);
    let now = state.clock.now_ms();
    state.store.insert_verification(&identifier(state, purpose, &raw), value, now + ttl_ms, now).await?;
    Ok(raw)
}

/// Consumes a token: its value, or `INVALID_TOKEN` / `TOKEN_EXPIRED` with `status`.
pub async fn consume(state: &AppState, purpose: Purpose, raw: &str, status: StatusCode) -> ApiResult<String> {
    if raw.is_empty() || raw.len() > 256 {
        return Err(ApiError::InvalidToken(status));
    }
    let taken = state.store.take_verification(&identifier(state, purpose, raw)).await?;
    check(state, taken, status)
}

/// Reads a token without consuming it (to show a form for it).
pub async fn peek(state: &AppState, purpose: Purpose, raw: &str, status: StatusCode) -> ApiResult<String> {
    if raw.is_empty() || raw.len() > 256 {
        return Err(ApiError::InvalidToken(status));
    }
    let found = state.store.peek_verification(&identifier(state, purpose, raw)).await?;
    check(state, found, status)
}

fn check(state: &AppState, found: Option<(String, i64)>, status: StatusCode) -> ApiResult<String> {
    match found {
        None => Err(ApiError::InvalidToken(status)),
        Some((_, expires_at)) if expires_at <= state.clock.now_ms() => Err(ApiError::TokenExpired(status)),
        Some((value, _)) => Ok(value),
    }
}

/// An absolute link under the configured base URL (never the request's Host).
pub fn link(state: &AppState, path: &str, query: &[(&str, &str)]) -> String {
    let base = state.settings.base_url.as_str().trim_end_matches('/');
    let mut url = format!("{base}{}{path}", state.settings.base_path);
    if !query.is_empty() {
        url.push('?');
        url.push_str(&serde_urlencoded::to_string(query).unwrap_or_default());
    }
    url
}

/// Adds `key=value` to a (trusted) callback URL, relative or absolute.
pub fn with_param(callback: &str, key: &str, value: &str) -> String {
    let sep = if callback.contains('?') { '&' } else { '?' };
    format!("{callback}{sep}{}", serde_urlencoded::to_string([(key, value)]).unwrap_or_default())
}

/// `302 Found` to `url` (what Better Auth answers; axum's `Redirect::to` would say 303).
pub fn found(url: &str) -> Response {
    match axum::http::HeaderValue::from_str(url) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => ApiError::InvalidCallbackUrl.into_response(),
    }
}

pub fn check_callback(state: &AppState, url: Option<&str>) -> ApiResult<()> {
    match url {
        Some(u) if !u.is_empty() && !state.origins.is_safe_callback(u) => Err(ApiError::InvalidCallbackUrl),
        _ => Ok(()),
    }
}

pub fn mail_vars(state: &AppState, user: &User) -> minijinja::Value {
    minijinja::context! {
        app_name => state.settings.app_name.clone(),
        name => user.name.clone(),
        email => user.email.clone(),
        expires_in => "1 hour",
    }
}

/// Where a verification link mailed on sign-in or sign-up returns the browser after verifying:
/// the request's `callbackURL`, else `/`.
pub fn return_to(callback: Option<&str>) -> String {
    callback.filter(|c| !c.is_empty()).unwrap_or("/").to_string()
}

/// Sends the verification link for `user`.
pub async fn send_verification(state: &AppState, user: &User, callback: Option<&str>) -> ApiResult<()> {
    let vars = mail_vars(state, user);
    send_link(state, Purpose::Verify, &user.id, &user.email, ("verify", "verify"), vars, |token| {
        let mut query = vec![("token", token)];
        query.extend(callback.map(|cb| ("callbackURL", cb)));
        link(state, "/verify-email", &query)
    })
    .await
}

/// Issues a `purpose` token for `value` (valid for the purpose's lifetime) and mails `to` the
/// link `link_for` builds from it, with `message` = (template, outbox kind).
pub async fn send_link(
    state: &AppState,
    purpose: Purpose,
    value: &str,
    to: &str,
    message: (&str, &'static str),
    vars: minijinja::Value,
    link_for: impl FnOnce(&str) -> String,
) -> ApiResult<()> {
    let token = issue(state, purpose, value, purpose.ttl_ms()).await?;
    let url = link_for(&token);
    state.mailer.send_template(message.0, message.1, to, Some(url), Some(token), vars, state.clock.now_ms());
    Ok(())
}

/// Runs mail work after the answer is decided, so the answer's timing cannot tell whether an
/// email exists; failures are logged.
pub fn in_background<F>(work: F)
where
    F: std::future::Future<Output = ApiResult<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = work.await {
            tracing::error!(error = %e, "background mail work failed");
        }
    });
}

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
    current: MaybeAuthenticated,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q: VerifyQuery = lenient_query(query);
    check_callback(&state, q.callback_url.as_deref())?;
    let outcome = apply_verification(&state, &q.token, current.0.as_ref()).await;
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
            Some(code) => Ok(found(&with_param(&cb, "error", code))),
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

async fn apply_verification(state: &AppState, raw: &str, current: Option<&Authenticated>) -> ApiResult<()> {
    let unauthorized = StatusCode::UNAUTHORIZED;
    match consume(state, Purpose::Verify, raw, unauthorized).await {
        Ok(user_id) => {
            return state.store.set_email_verified(&user_id, state.clock.now_ms()).await.map_err(Into::into);
        }
        Err(ApiError::InvalidToken(_)) => {}
        Err(e) => return Err(e),
    }
    let value = consume(state, Purpose::ChangeEmail, raw, unauthorized).await?;
    let (user_id, new_email) = value.split_once('|').ok_or(ApiError::InvalidToken(unauthorized))?;
    // The session that follows the link (if it is the user's) stays; every other one ends.
    let keep = current.filter(|auth| auth.user.id == user_id).map(|auth| auth.session.token.clone());
    // The change and its notice run to the end even if the client hangs up: a change never goes
    // without its undo link and mail.
    let (st, user_id, new_email) = (state.clone(), user_id.to_string(), new_email.to_string());
    tokio::spawn(async move { change_email(&st, &user_id, &new_email, keep.as_deref()).await })
        .await
        .map_err(ApiError::internal)?
}

/// Moves the user to `new_email` (ending every session but `keep`) with a new undo link stored in
/// the same transaction, then tells the old address, with that link (valid a week).
async fn change_email(state: &AppState, user_id: &str, new_email: &str, keep: Option<&str>) -> ApiResult<()> {
    let end = keep.map_or(EndSessions::All, EndSessions::AllBut);
    let undo = random_hex(32);
    let now = state.clock.now_ms();
    let undo_link =
        (identifier(state, Purpose::UndoEmailChange, &undo), now + Purpose::UndoEmailChange.ttl_ms());
    let old = match state.store.change_email(user_id, new_email, end, (&undo_link.0, undo_link.1), now).await
    {
        Ok(Some(old)) => old,
        Ok(None) => return Err(ApiError::InvalidToken(StatusCode::UNAUTHORIZED)),
        Err(StoreError::Conflict) => return Err(ApiError::UserExists),
        Err(e) => return Err(e.into()),
    };
    let Some(user) = state.store.user_by_id(user_id).await? else { return Ok(()) };
    let vars = minijinja::context! {
        new_email => new_email, old_email => old.clone(), expires_in => "7 days", ..mail_vars(state, &user)
    };
    let url = link(state, "/undo-email-change", &[("token", &undo)]);
    state.mailer.send_template("email-changed", "email-changed", &old, Some(url), Some(undo), vars, now);
    Ok(())
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
    current: MaybeAuthenticated,
    Json(body): Json<SendVerificationBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    check_callback(&state, body.callback_url.as_deref())?;
    let email = Email::parse(&body.email)?;
    if let Some(auth) = current.0
        && auth.user.email == email.as_str()
        && auth.user.email_verified
    {
        return Err(ApiError::EmailAlreadyVerified);
    }
    let st = state.clone();
    in_background(async move {
        let Some(found) = st.store.credential_by_email(email.as_str()).await? else { return Ok(()) };
        if !found.user.email_verified {
            send_verification(&st, &found.user, body.callback_url.as_deref()).await?;
        }
        Ok(())
    });
    Ok(JsonOut(json!({ "status": true })))
}
