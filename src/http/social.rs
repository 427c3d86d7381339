//! Sign-in with other providers (`/sign-in/social`, `/link-social`, `/callback/:id`), the
//! accounts a user signs in with (`/list-accounts`, `/unlink-account`) and their provider tokens
//! (`/get-access-token`, `/refresh-token`), the page failures land on (`/error`), and the
//! link mailed to an unverified local account's address (`/link-account`).
//!
//! (Just over 400 lines: eleven routes of one feature, each parse-call-answer; the error page
//! holds the plain-words text of every code.)

use axum::{
    Json as JsonOut, Router,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
    routing::post,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_cookies::{Cookie, Cookies};

use crate::{
    domain::{app::Scope, model::AccountRow, time::duration_ms},
    error::{ApiError, ApiResult},
    http::{
        extract::{AnyAppSession, Authenticated, Json, JsonOrForm, is_form, lenient_query},
        layers::no_store,
        pages,
        redirect::{check_callback, found},
    },
    service::{
        sessions::{SignInContext, base_cookie, ensure_fresh},
        social::{self, AccountKey, Callback, Start},
    },
    state::AppState,
    store::Unlinked,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in/social", post(sign_in_social))
        .route("/link-social", post(link_social))
        .route("/callback/{id}", get(callback).post(callback_post))
        .route("/list-accounts", get(list_accounts))
        .route("/get-access-token", post(get_access_token))
        .route("/refresh-token", post(refresh_token))
        .route("/account-info", get(account_info))
        .route("/unlink-account", post(unlink_account))
        .route("/error", get(error_page))
        .route("/link-account", get(link_account_page).post(link_account))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInSocialBody {
    provider: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    #[serde(rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
    #[serde(rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    #[serde(default)]
    disable_redirect: bool,
    #[serde(default)]
    scopes: Vec<String>,
    login_hint: Option<String>,
    /// Accepted for the client's sake; sign-up is not gated on it.
    #[allow(dead_code)]
    request_sign_up: Option<bool>,
    id_token: Option<IdTokenBody>,
}

/// `idToken` of `/sign-in/social`: a token the client got from the provider itself.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdTokenBody {
    token: String,
    nonce: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    /// Seconds or milliseconds since the epoch, as clients send it.
    expires_at: Option<i64>,
}

/// `POST /sign-in/social`: `{url, redirect}` and `Location` (unless `disableRedirect`), and the
/// signed state cookie that binds the sign-in to this browser (ten minutes).
async fn sign_in_social(
    State(state): State<AppState>,
    cookies: Cookies,
    ctx: SignInContext,
    Json(body): Json<SignInSocialBody>,
) -> ApiResult<Response> {
    match &body.id_token {
        Some(id_token) => sign_in_with_id_token(&state, &body, id_token, ctx).await,
        None => start(&state, &cookies, &body, None, &ctx.scope).await,
    }
}

/// The `idToken` branch: 200 `{redirect: false, token, url: null, user}` and the session cookie.
async fn sign_in_with_id_token(
    state: &AppState,
    body: &SignInSocialBody,
    id_token: &IdTokenBody,
    ctx: SignInContext,
) -> ApiResult<Response> {
    check_callback(state, &ctx.scope, body.callback_url.as_deref())?;
    if id_token.token.is_empty() || id_token.token.len() > 16 * 1024 {
        return Err(ApiError::InvalidToken(axum::http::StatusCode::UNAUTHORIZED));
    }
    // Seconds or milliseconds; anything else (negative, absurd) is ignored.
    let expires_at = id_token
        .expires_at
        .filter(|t| (0..100_000_000_000_000).contains(t))
        .map(|t| if t < 100_000_000_000 { t * 1000 } else { t });
    let request = social::IdTokenSignIn {
        provider: &body.provider,
        token: &id_token.token,
        nonce: id_token.nonce.as_deref(),
        access_token: id_token.access_token.as_deref(),
        refresh_token: id_token.refresh_token.as_deref(),
        expires_at,
        callback_url: body.callback_url.as_deref(),
    };
    let (session, user) = social::sign_in_with_id_token(state, request, ctx).await?;
    let answer = json!({ "redirect": false, "token": session.token, "url": null, "user": user });
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /link-social` (signed in): the same start, and the callback links the identity to this
/// user (its address must be theirs, and vouched for by the provider) and sends the browser back
/// to `callbackURL`, still signed in as before.
async fn link_social(
    State(state): State<AppState>,
    auth: Authenticated,
    scope: Scope,
    cookies: Cookies,
    Json(body): Json<SignInSocialBody>,
) -> ApiResult<Response> {
    start(&state, &cookies, &body, Some(&auth.user.id), &scope).await
}

async fn start(
    state: &AppState,
    cookies: &Cookies,
    body: &SignInSocialBody,
    link_user_id: Option<&str>,
    scope: &Scope,
) -> ApiResult<Response> {
    for url in [&body.callback_url, &body.new_user_callback_url, &body.error_callback_url] {
        check_callback(state, scope, url.as_deref())?;
    }
    social::provider(state, &body.provider)?;
    if body.id_token.is_some() {
        // Linking by ID token is not built: the redirect flow links.
        return Err(ApiError::IdTokenNotSupported);
    }
    if body.scopes.len() > 20 || body.scopes.iter().any(|s| s.is_empty() || s.len() > 200 || s.contains(' '))
    {
        return Err(ApiError::Validation("[body.scopes] Invalid scope".into()));
    }
    let started = social::start(
        state,
        Start {
            provider: &body.provider,
            callback_url: body.callback_url.as_deref(),
            new_user_url: body.new_user_callback_url.as_deref(),
            error_url: body.error_callback_url.as_deref(),
            scopes: &body.scopes,
            login_hint: body.login_hint.as_deref().filter(|h| h.len() <= 320),
            link_user_id,
            app_id: scope.app_id(),
        },
    )
    .await?;
    let mut cookie = base_cookie(state, state.oauth_state_cookie());
    cookie.set_value(started.state);
    cookie.set_max_age(time::Duration::milliseconds(duration_ms(std::time::Duration::from_secs(600))));
    cookies.signed(&state.cookie_key).add(cookie);
    let redirect = !body.disable_redirect;
    let mut res = no_store(JsonOut(json!({ "url": started.url, "redirect": redirect })).into_response());
    if redirect && let Ok(location) = HeaderValue::from_str(&started.url) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    Ok(res)
}

/// `GET /callback/:id`: 302 to the app (signed in) or to the error URL with `?error=`.
async fn callback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    cookies: Cookies,
    AnyAppSession(current): AnyAppSession,
    ctx: SignInContext,
) -> Response {
    let params: Callback = lenient_query(query);
    let name = state.oauth_state_cookie();
    let cookie_state = cookies.get(&name).and_then(|c| state.verify_signed(&name, c.value())).map(|(v, _)| v);
    if cookie_state.is_some() {
        cookies.remove(Cookie::build((name, "")).path("/").build());
    }
    let user = current.map(|auth| auth.user.id);
    let url = social::finish(&state, &id, params, cookie_state, user.as_deref(), ctx).await;
    found(&url)
}

/// `POST /callback/:id` (a provider's `form_post`): 302 to the GET form, so the browser sends its
/// `SameSite=Lax` cookies.
async fn callback_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonOrForm(params): JsonOrForm<Callback>,
) -> ApiResult<Response> {
    social::provider(&state, &id)?;
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    Ok(found(&format!("{}?{query}", social::redirect_uri(&state, &id))))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ListedAccount {
    id: String,
    provider_id: String,
    account_id: String,
    user_id: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    created_at: i64,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    updated_at: i64,
    scopes: Vec<String>,
}

impl From<AccountRow> for ListedAccount {
    fn from(a: AccountRow) -> Self {
        let scopes =
            a.scope.as_deref().unwrap_or("").split(',').filter(|s| !s.is_empty()).map(str::to_string);
        Self {
            id: a.id,
            provider_id: a.provider_id,
            account_id: a.account_id,
            user_id: a.user_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
            scopes: scopes.collect(),
        }
    }
}

/// `GET /list-accounts`: the ways the user signs in, never a token or a hash.
async fn list_accounts(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let accounts = state.store.accounts_of(&auth.user.id).await?;
    let listed: Vec<ListedAccount> = accounts.into_iter().map(ListedAccount::from).collect();
    Ok(no_store(JsonOut(listed).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    account_id: Option<String>,
    provider_id: Option<String>,
}

impl TokenBody {
    fn key(&self) -> AccountKey<'_> {
        AccountKey { account_id: self.account_id.as_deref(), provider_id: self.provider_id.as_deref() }
    }
}

fn iso(ms: Option<i64>) -> serde_json::Value {
    ms.map_or(serde_json::Value::Null, |ms| crate::domain::time::format_ms(ms).into())
}

fn scopes_of(account: &AccountRow) -> Vec<&str> {
    account.scope.as_deref().unwrap_or("").split(',').filter(|s| !s.is_empty()).collect()
}

/// `POST /get-access-token {accountId | providerId}`: the provider's access token for one of
/// the user's accounts, refreshed first when it has expired and a refresh token is stored.
async fn get_access_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TokenBody>,
) -> ApiResult<Response> {
    let t = social::provider_tokens(&state, &auth.user.id, body.key(), false).await?;
    let answer = json!({
        "accessToken": t.access_token,
        "accessTokenExpiresAt": iso(t.account.access_token_expires_at),
        "scopes": scopes_of(&t.account),
        "idToken": t.id_token,
    });
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /refresh-token {accountId | providerId}`: new provider tokens, now.
async fn refresh_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TokenBody>,
) -> ApiResult<Response> {
    let t = social::provider_tokens(&state, &auth.user.id, body.key(), true).await?;
    let answer = json!({
        "accessToken": t.access_token,
        "refreshToken": t.refresh_token,
        "accessTokenExpiresAt": iso(t.account.access_token_expires_at),
        "refreshTokenExpiresAt": iso(t.account.refresh_token_expires_at),
        "scope": t.account.scope,
        "idToken": t.id_token,
        "providerId": t.account.provider_id,
        "accountId": t.account.account_id,
    });
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /unlink-account` (fresh session): `{accountId}` (the row's `id`, or the provider's
/// subject) and/or `{providerId}`, as the official client sends them.
async fn unlink_account(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TokenBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    ensure_fresh(&state, &auth.session)?;
    let account = social::account_of(&state, &auth.user.id, body.key()).await?;
    match state.store.unlink_account(&auth.user.id, &account.id, state.clock.now_ms()).await? {
        Unlinked::Done => Ok(JsonOut(json!({ "status": true }))),
        Unlinked::NotFound => Err(ApiError::AccountNotFound),
        Unlinked::Last => Err(ApiError::FailedToUnlinkLastAccount),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AccountInfoQuery {
    account_id: Option<String>,
}

/// `GET /account-info?accountId=`: what the provider says about one of the user's accounts now
/// (`data`, as it says it), the main fields of it (`user`), and the account.
async fn account_info(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let q: AccountInfoQuery = lenient_query(query);
    let key = AccountKey { account_id: Some(q.account_id.as_deref().unwrap_or_default()), provider_id: None };
    let info = social::account_info(&state, &auth.user.id, key).await?;
    Ok(no_store(JsonOut(info).into_response()))
}

#[derive(Deserialize, Default)]
struct TokenInput {
    #[serde(default)]
    token: String,
}

/// `GET /link-account?token=`: what the link would do, and a button; changes nothing.
async fn link_account_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> ApiResult<Response> {
    let q: TokenInput = lenient_query(query);
    match social::link_offer(&state, &q.token).await {
        Ok((provider, email)) => Ok(pages::link_account_form(&state, &q.token, &provider, &email)),
        Err(e) if e.code().is_some() => Ok(pages::invalid_link(&state)),
        Err(e) => Err(e),
    }
}

/// `POST /link-account {token}` (the page's form, or JSON): links the provider identity, signs
/// this browser in and sends it to the sign-in's `callbackURL` (JSON: `{status, url}`).
async fn link_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: SignInContext,
    JsonOrForm(body): JsonOrForm<TokenInput>,
) -> ApiResult<Response> {
    let from_form = is_form(&headers);
    match social::accept_link(&state, &body.token, ctx).await {
        Ok(url) if from_form => Ok(found(&url)),
        Ok(url) => Ok(JsonOut(json!({ "status": true, "url": url })).into_response()),
        // The link was made, but the gate refused the session (a locked account, an address
        // that must be verified): say that, not "link not valid".
        Err(e @ (ApiError::AccountLocked | ApiError::EmailNotVerified)) if from_form => {
            Ok(pages::message(&state, "Linked, but not signed in", &e.to_string()))
        }
        // A second factor to give, or to set up (the challenge cookie or session is set).
        Err(e @ (ApiError::SecondFactorNeeded(_) | ApiError::SecondFactorSetupNeeded)) if from_form => {
            let code = e.code().unwrap_or_default().to_ascii_lowercase();
            let error_url = social::default_error_url(&state);
            Ok(found(&social::with_error(social::refusal_url(&state, &error_url, &code), &code, None)))
        }
        Err(e) if from_form && e.code().is_some() => Ok(pages::invalid_link(&state)),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize, Default)]
struct ErrorQuery {
    error: Option<String>,
}

/// `GET /error?error=code`: what went wrong, in plain words, and the way back.
async fn error_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let q: ErrorQuery = lenient_query(query);
    let code = q.error.unwrap_or_default();
    let text = match code.as_str() {
        "state_not_found" | "state_mismatch" => {
            "The sign-in could not be matched to this browser. This usually means cookies are blocked, the \
             sign-in took longer than ten minutes, or it started on another domain or in another browser. \
             Allow cookies for this site and start again."
        }
        "account_not_linked" => {
            "An account with this email already exists here. If we sent you an email, follow its link to \
             connect this sign-in to your account; otherwise sign in with your password first."
        }
        "account_already_linked_to_different_user" => {
            "This provider account is already linked to another user."
        }
        "email_not_found" => "The provider did not share an email address, which is needed to sign in.",
        "email_not_verified" => {
            "The email address is not verified: the provider has not verified it, or this site needs a \
             verified address before you sign in (check your inbox for a verification link)."
        }
        "signup_disabled" => "New accounts cannot be created this way. Ask for an invitation or sign in.",
        "account_locked" => "This account is locked after too many failed sign-ins. Try again later.",
        "issuer_mismatch" | "issuer_missing" => {
            "The answer did not come from the provider this sign-in started with."
        }
        "invalid_code" | "no_code" => "The provider's answer could not be used. Start the sign-in again.",
        "access_denied" => "The sign-in was cancelled at the provider.",
        _ => "The sign-in did not complete. Start it again; if it keeps failing, tell the site's operator.",
    };
    pages::message(&state, "Sign-in failed", text)
}
