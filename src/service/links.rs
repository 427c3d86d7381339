//! Single-use tokens in links (email verification, password reset, email change and its undo):
//! issuing, consuming, building the link, mailing it.
//!
//! A token is 256 random bits; only its HMAC is stored (`verification.identifier` is
//! `purpose:hmac`), it expires, and it is consumed with one `DELETE … RETURNING`, so of two
//! concurrent uses exactly one succeeds.

use axum::http::StatusCode;

use crate::{
    domain::{app::Scope, model::User},
    error::{ApiError, ApiResult},
    security::tokens::random_hex,
    state::AppState,
};

pub const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Verify,
    Reset,
    ChangeEmail,
    /// The link in the notice to the old address after an email change (`userId|oldEmail`).
    UndoEmailChange,
    /// A sign-in with another provider under way (its state parameter).
    AuthState,
    /// A provider identity waiting for the local address's owner to link it.
    LinkAccount,
    /// A sign-in waiting for its second factor (`userId|remember:tries`).
    TwoFactor,
}

impl Purpose {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Verify => "verify:",
            Self::Reset => "reset:",
            Self::ChangeEmail => "change-email:",
            Self::UndoEmailChange => "undo-email:",
            Self::AuthState => "auth-state:",
            Self::LinkAccount => "link-account:",
            Self::TwoFactor => "two-factor:",
        }
    }

    /// How long a link of this purpose works: an hour; a week for undoing an email change (the
    /// old address's owner may not read mail every day).
    pub fn ttl_ms(self) -> i64 {
        match self {
            Self::UndoEmailChange => 7 * 24 * HOUR_MS,
            Self::AuthState | Self::TwoFactor => 10 * 60_000,
            _ => HOUR_MS,
        }
    }
}

/// The stored identifier of a raw token (what the store keys it by).
pub fn identifier(state: &AppState, purpose: Purpose, raw: &str) -> String {
    format!("{}{}", purpose.prefix(), state.token_keys.hash(raw))
}

/// Every identifier a raw token stored under `prefix` may have: the current secret's first.
pub fn identifiers<'a>(
    state: &'a AppState,
    prefix: &'a str,
    raw: &'a str,
) -> impl Iterator<Item = String> + 'a {
    state.token_keys.hashes(raw).map(move |hash| format!("{prefix}{hash}"))
}

/// Takes the verification row stored under the first of `ids` that has one.
pub async fn take_first(
    state: &AppState,
    ids: impl Iterator<Item = String>,
) -> ApiResult<Option<(String, i64)>> {
    for id in ids {
        if let Some(taken) = state.store.take_verification(&id).await? {
            return Ok(Some(taken));
        }
    }
    Ok(None)
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
    check(state, take_first(state, identifiers(state, purpose.prefix(), raw)).await?, status)
}

/// Reads a token without consuming it (to show a form for it).
pub async fn peek(state: &AppState, purpose: Purpose, raw: &str, status: StatusCode) -> ApiResult<String> {
    if raw.is_empty() || raw.len() > 256 {
        return Err(ApiError::InvalidToken(status));
    }
    check(state, stored(state, purpose, raw).await?.map(|(_, found)| found), status)
}

/// The identifier a raw token is stored under (the current secret's, or an older one's) and what
/// is stored there.
pub async fn stored(
    state: &AppState,
    purpose: Purpose,
    raw: &str,
) -> ApiResult<Option<(String, (String, i64))>> {
    for id in identifiers(state, purpose.prefix(), raw) {
        if let Some(found) = state.store.peek_verification(&id).await? {
            return Ok(Some((id, found)));
        }
    }
    Ok(None)
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

/// A (trusted) URL, relative or absolute, with `params` added to its query.
/// The parameters go before any `#fragment` (a browser keeps a fragment across redirects: after
/// it they would travel on to wherever the page redirects next).
pub fn with_params(url: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = url.split_once('#').map_or((url, None), |(b, f)| (b, Some(f)));
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}{}", serde_urlencoded::to_string(params).unwrap_or_default());
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// The scope of the user a mailed link's token (not used up) is for, found under the first of
/// `purposes` that knows it (its value is the user id, or `userId|…`); the default space for an
/// unknown token. A browser following the link carries no app: its callback is checked in this.
pub async fn owner_scope(state: &AppState, purposes: &[Purpose], raw: &str) -> ApiResult<Scope> {
    for purpose in purposes {
        let Ok(value) = peek(state, *purpose, raw, StatusCode::BAD_REQUEST).await else { continue };
        let user_id = value.split('|').next().unwrap_or_default();
        if let Some(user) = state.store.user_by_id(user_id).await? {
            return state.scope_of(&user).await;
        }
    }
    Ok(Scope::default())
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
