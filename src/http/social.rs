//! Sign-in with other providers (`/sign-in/social`, `/link-social`, `/callback/:id`), the page
//! failures land on (`/error`), and the link mailed to an unverified local account's address
//! (`/link-account`). The linked accounts themselves: `linked_accounts`.

use axum::{
    Json as JsonOut,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tower_cookies::Cookies;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{app::Scope, model::User, time::duration_ms},
    error::{ApiError, ApiResult, ErrorBody, OrChallenge},
    http::{
        extract::{AnyAppSession, Authenticated, Json, JsonOrForm, is_form, lenient_query},
        layers::no_store,
        pages,
        redirect::{check_callback, found},
        social_errors,
    },
    service::{
        sessions::{SignInContext, base_cookie},
        social::{self, Callback, Start},
    },
    state::AppState,
};

const TAG: &str = "Social sign-in";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(social_providers))
        .routes(routes!(sign_in_social))
        .routes(routes!(link_social))
        .routes(routes!(callback, callback_post))
        .routes(routes!(error_page))
        .routes(routes!(link_account_page, link_account))
}

/// `GET /social-providers`: the ids of the configured providers (`[]` when none), for a sign-in
/// page to show a button for each.
#[utoipa::path(get, path = "/social-providers", tag = TAG, summary = "The configured providers",
    responses((status = 200, description = "Provider ids, as `sign-in/social` takes them", body = Vec<String>)))]
async fn social_providers(State(state): State<AppState>) -> JsonOut<Vec<String>> {
    JsonOut(state.providers.ids())
}

/// Starts a sign-in (or a link) with another provider, or signs in with a provider's ID token.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SignInSocialBody {
    /// The provider's id, e.g. `google`, `github`.
    provider: String,
    #[serde(rename = "callbackURL")]
    callback_url: Option<String>,
    #[serde(rename = "newUserCallbackURL")]
    new_user_callback_url: Option<String>,
    #[serde(rename = "errorCallbackURL")]
    error_callback_url: Option<String>,
    /// Answer the URL without a `Location` header (`redirect: false`).
    #[serde(default)]
    #[schema(required = false)]
    disable_redirect: bool,
    /// Scopes to ask for besides the provider's defaults (at most 20, without spaces).
    #[serde(default)]
    #[schema(required = false)]
    scopes: Vec<String>,
    login_hint: Option<String>,
    /// Accepted for the client's sake; sign-up is not gated on it.
    #[allow(dead_code)]
    request_sign_up: Option<bool>,
    /// Sign in with a token the client already has (no redirect). Not for `/link-social`.
    id_token: Option<IdTokenBody>,
}

/// `idToken` of `/sign-in/social`: a token the client got from the provider itself.
#[derive(Deserialize, ToSchema)]
#[schema(as = SocialIdToken)]
#[serde(rename_all = "camelCase")]
struct IdTokenBody {
    token: String,
    nonce: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    /// Seconds or milliseconds since the epoch, as clients send it.
    expires_at: Option<i64>,
}

/// Where the browser goes to sign in at the provider.
#[derive(Serialize, ToSchema)]
struct SocialRedirect {
    /// The provider's authorization URL.
    url: String,
    /// Whether `Location` is set too (false with `disableRedirect`).
    redirect: bool,
}

/// Signed in with an ID token (the session cookie is set).
#[derive(Serialize, ToSchema)]
struct SocialIdTokenSignIn {
    /// Always false.
    redirect: bool,
    /// The session token.
    token: String,
    /// Always null.
    url: Option<String>,
    user: User,
}

// For the API description only.
/// The provider's URL to go to; or, with `idToken`, the signed-in answer.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, reason = "describes the answer; each branch serializes its own struct")]
enum SocialSignInAnswer {
    Redirect(SocialRedirect),
    IdToken(Box<SocialIdTokenSignIn>),
}

/// `POST /sign-in/social`: `{url, redirect}` and `Location` (unless `disableRedirect`), and the
/// signed state cookie that binds the sign-in to this browser (ten minutes).
#[utoipa::path(post, path = "/sign-in/social", tag = TAG, summary = "Sign in with another provider",
    request_body = SignInSocialBody,
    responses((status = 200,
        description = "The provider's URL to go to (and `Location` unless `disableRedirect`; the state cookie is set); \
            with `idToken`, signed in (session cookie set), or a second factor is needed",
        body = OrChallenge<SocialSignInAnswer>,
        headers(("location" = String, description = "The provider's URL, when `redirect` is true")))))]
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
    let answer = SocialIdTokenSignIn { redirect: false, token: session.token, url: None, user };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /link-social` (signed in): the same start, and the callback links the identity to this
/// user (its address must be theirs, and vouched for by the provider) and sends the browser back
/// to `callbackURL`, still signed in as before.
#[utoipa::path(post, path = "/link-social", tag = TAG, summary = "Link another provider to the signed-in user",
    request_body = SignInSocialBody,
    responses((status = 200,
        description = "The provider's URL to go to (and `Location` unless `disableRedirect`; the state cookie is set)",
        body = SocialRedirect,
        headers(("location" = String, description = "The provider's URL, when `redirect` is true")))),
    security(("session" = []), ("bearer" = [])))]
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
    let location = HeaderValue::from_str(&started.url);
    let mut res = no_store(JsonOut(SocialRedirect { url: started.url, redirect }).into_response());
    if redirect && let Ok(location) = location {
        res.headers_mut().insert(header::LOCATION, location);
    }
    Ok(res)
}

/// `GET /callback/:id`: 302 to the app (signed in) or to the error URL with `?error=`.
#[utoipa::path(get, path = "/callback/{id}", tag = TAG, summary = "The provider's redirect back",
    params(("id" = String, Path, description = "The provider's id"), Callback),
    responses((status = 302, description = "To the app (signed in, or linked), or to the error URL with `?error=<code>`",
        headers(("location" = String, description = "Where the browser goes next")))))]
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
        // Removed as it was set (its domain too).
        cookies.remove(base_cookie(&state, name));
    }
    let user = current.map(|auth| auth.user.id);
    let url = social::finish(&state, &id, params, cookie_state, user.as_deref(), ctx).await;
    found(&url)
}

/// `POST /callback/:id` (a provider's `form_post`): 302 to the GET form, so the browser sends its
/// `SameSite=Lax` cookies.
#[utoipa::path(post, path = "/callback/{id}", tag = TAG, summary = "The provider's form-post redirect back",
    params(("id" = String, Path, description = "The provider's id")),
    request_body(content((Callback = "application/x-www-form-urlencoded"), (Callback = "application/json"))),
    responses((status = 302, description = "To `GET /callback/{id}` with the same parameters",
        headers(("location" = String, description = "The GET callback URL")))))]
async fn callback_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonOrForm(params): JsonOrForm<Callback>,
) -> ApiResult<Response> {
    social::provider(&state, &id)?;
    let query = serde_urlencoded::to_string(&params).unwrap_or_default();
    Ok(found(&format!("{}?{query}", social::redirect_uri(&state, &id))))
}

/// The token of a mailed link-account link.
#[derive(Deserialize, Default, ToSchema, IntoParams)]
#[schema(as = LinkAccountToken)]
#[into_params(parameter_in = Query)]
struct TokenInput {
    /// The token from the mailed link.
    #[serde(default)]
    #[schema(required = true)]
    #[param(required = false)]
    token: String,
}

/// `GET /link-account?token=`: what the link would do, and a button; changes nothing.
#[utoipa::path(get, path = "/link-account", tag = TAG, summary = "The page of a mailed link-account link",
    params(TokenInput),
    responses(
        (status = 200, description = "What the link would do, and a button to do it", content_type = "text/html",
            body = String),
        (status = 400, description = "An invalid, used or expired link: a page saying so", content_type = "text/html",
            body = String)))]
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
#[utoipa::path(post, path = "/link-account", tag = TAG, summary = "Link a provider by a mailed link and sign in",
    request_body(content((TokenInput = "application/json"), (TokenInput = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "JSON: linked and signed in, or a second factor is needed. Form: linked, but \
            the sign-in was refused (locked account, unverified address), as a page",
            content((OrChallenge<LinkedAccount> = "application/json"), (String = "text/html"))),
        (status = 302, description = "Form: linked and signed in, to the sign-in's `callbackURL`; or to the error \
            URL when a second factor is needed", headers(("location" = String, description = "Where the browser goes next"))),
        (status = 400, description = "JSON: the contract's error. Form: a page saying the link is invalid, used or \
            expired", content((ErrorBody = "application/json"), (String = "text/html")))))]
async fn link_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    ctx: SignInContext,
    JsonOrForm(body): JsonOrForm<TokenInput>,
) -> ApiResult<Response> {
    let from_form = is_form(&headers);
    match social::accept_link(&state, &body.token, ctx).await {
        Ok(url) if from_form => Ok(found(&url)),
        Ok(url) => Ok(JsonOut(LinkedAccount { status: true, url }).into_response()),
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

/// Linked and signed in (the session cookie is set).
#[derive(Serialize, ToSchema)]
struct LinkedAccount {
    status: bool,
    /// The sign-in's `callbackURL`.
    url: String,
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
struct ErrorQuery {
    /// The lower-snake code of the failure, e.g. `state_mismatch`.
    error: Option<String>,
}

/// `GET /error?error=code`: what went wrong, in plain words, and the way back.
#[utoipa::path(get, path = "/error", tag = TAG, summary = "The page a failed sign-in lands on",
    params(ErrorQuery),
    responses((status = 200, description = "What went wrong, in plain words", content_type = "text/html", body = String)))]
async fn error_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let q: ErrorQuery = lenient_query(query);
    let code = q.error.unwrap_or_default();
    let text = social_errors::explain(&code);
    pages::message(&state, "Sign-in failed", text)
}
