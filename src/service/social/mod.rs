//! (Over 400 lines: the whole sign-in with another provider — start, callback, user resolution,
//! linking — reads as one flow; tokens, ID tokens and mailed links are modules of their own.)
//!
//! Sign-in with another provider: starting one (the state, PKCE verifier and nonce kept in a
//! `verification` row for ten minutes, the state also in a signed cookie), and finishing it at
//! the callback: the checks in Better Auth's order, then the user found, linked or created, and
//! admitted through the one sign-in gate. Every failure names a lower-snake `?error=` code.
//!
//! (About 400 lines: the callback's steps in order, read best in one place; the link mail,
//! provider tokens and ID tokens have files of their own.)

mod id_token;
mod link_mail;
mod tokens;

use axum::http::StatusCode;

pub use self::{
    id_token::{IdTokenSignIn, sign_in_with_id_token},
    link_mail::{accept_link, link_offer},
    tokens::{AccountKey, ProviderTokens, account_info, account_of, provider_tokens},
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        app::Scope,
        input::Email,
        model::{AccountRow, User},
    },
    error::{ApiError, ApiResult},
    oauth::{OAuthError, Profile, Provider, Tokens},
    security::tokens::{constant_time_eq, random_hex, random_id},
    service::{
        audit::{Record, recorded},
        links::{Purpose, consume, identifier, link, with_params},
        sessions::SignInContext,
        sign_in::{Admission, Proof, admit},
    },
    state::AppState,
    store::StoreError,
};

/// What a sign-in keeps between its start and the callback (no `Debug`: it holds the verifier).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pending {
    provider: String,
    callback_url: String,
    error_url: Option<String>,
    new_user_url: Option<String>,
    code_verifier: String,
    nonce: String,
    /// For `/link-social`: the signed-in user the identity is to be linked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_user_id: Option<String>,
    /// The app the sign-in is for (`None`: the default space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_id: Option<String>,
}

/// Why a callback signs nobody in: the `?error=` code, and whether a link went to the local
/// address meanwhile (`&pending=email`).
struct Refusal {
    code: String,
    link_mailed: bool,
}

impl From<&str> for Refusal {
    fn from(code: &str) -> Self {
        Self { code: code.to_string(), link_mailed: false }
    }
}

impl From<String> for Refusal {
    fn from(code: String) -> Self {
        Self { code, link_mailed: false }
    }
}

/// Anything unexpected (the store, sealing, mail) is logged and told as `internal_server_error`.
impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        tracing::error!(error = %e, "a sign-in with a provider failed");
        Self::from("internal_server_error")
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

/// Whether the provider vouches for the profile's address: it says the address is verified, or
/// it is one of `TRUSTED_PROVIDERS`.
fn vouches(state: &AppState, provider: &Provider, profile: &Profile) -> bool {
    profile.email_verified || state.settings.social.trusted_providers.contains(&provider.config.id)
}

/// A sign-in to start (the body of `POST /sign-in/social`, checked).
pub struct Start<'a> {
    pub provider: &'a str,
    pub callback_url: Option<&'a str>,
    pub new_user_url: Option<&'a str>,
    pub error_url: Option<&'a str>,
    pub scopes: &'a [String],
    pub login_hint: Option<&'a str>,
    /// `/link-social`: link to this (signed-in) user instead of signing in.
    pub link_user_id: Option<&'a str>,
    /// The app the sign-in is for (the provider's redirect back carries none).
    pub app_id: Option<&'a str>,
}

/// Where the browser goes, and the state its cookie must carry back.
pub struct Started {
    pub url: String,
    pub state: String,
}

/// The provider's redirect back (`GET /callback/:id`; no `Debug`: it holds the code).
#[derive(Default, Deserialize, Serialize, utoipa::ToSchema, utoipa::IntoParams)]
#[schema(as = ProviderCallback, description = "What the provider sends back (RFC 6749 names)")]
#[into_params(parameter_in = Query)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// The redirect URI a provider is given for `id`.
pub fn redirect_uri(state: &AppState, id: &str) -> String {
    link(state, &format!("/callback/{id}"), &[])
}

/// Gatehouse's own error page, where failures go without an `errorCallbackURL`.
pub fn default_error_url(state: &AppState) -> String {
    link(state, "/error", &[])
}

pub fn provider<'a>(state: &'a AppState, id: &str) -> ApiResult<&'a Provider> {
    state.providers.get(id).ok_or(ApiError::ProviderNotFound)
}

pub async fn start(state: &AppState, req: Start<'_>) -> ApiResult<Started> {
    let provider = provider(state, req.provider)?;
    let now = state.clock.now_ms();
    let raw = random_hex(16);
    let auth = provider
        .authorize(&state.providers.http, &redirect_uri(state, req.provider), &raw, req.scopes, req.login_hint, now)
        .await
        .map_err(|e| {
            tracing::error!(provider = req.provider, error = %e, "could not start a sign-in with the provider");
            ApiError::ServiceUnavailable
        })?;
    let pending = Pending {
        provider: req.provider.to_string(),
        callback_url: req.callback_url.filter(|c| !c.is_empty()).unwrap_or("/").to_string(),
        error_url: req.error_url.filter(|c| !c.is_empty()).map(str::to_string),
        new_user_url: req.new_user_url.filter(|c| !c.is_empty()).map(str::to_string),
        code_verifier: auth.verifier,
        nonce: auth.nonce,
        link_user_id: req.link_user_id.map(str::to_string),
        app_id: req.app_id.map(str::to_string),
    };
    let value = serde_json::to_string(&pending).map_err(ApiError::internal)?;
    let expires_at = now + Purpose::AuthState.ttl_ms();
    state
        .store
        .insert_verification(&identifier(state, Purpose::AuthState, &raw), &value, expires_at, now)
        .await?;
    Ok(Started { url: auth.url, state: raw })
}

/// Finishes a sign-in; the URL to send the browser to (the app's callback, or an error URL
/// with `?error=`). `cookie_state`: the state the browser's signed cookie carries.
/// `current_user`: who this browser is signed in as (a `/link-social` must come back to them).
pub async fn finish(
    state: &AppState,
    provider_id: &str,
    callback: Callback,
    cookie_state: Option<String>,
    current_user: Option<&str>,
    mut ctx: SignInContext,
) -> String {
    let default_error = default_error_url(state);
    let Some(raw) = callback.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 128) else {
        return with_error(&default_error, "state_not_found", None);
    };
    // The browser first: a request without this sign-in's cookie cannot use (or burn) its state.
    if !cookie_state.is_some_and(|c| constant_time_eq(c.as_bytes(), raw.as_bytes())) {
        return with_error(&default_error, "state_mismatch", None);
    }
    let pending = match consume(state, Purpose::AuthState, raw, StatusCode::BAD_REQUEST).await {
        Ok(value) => serde_json::from_str::<Pending>(&value).ok(),
        Err(ApiError::InvalidToken(_) | ApiError::TokenExpired(_)) => None,
        Err(e) => {
            tracing::error!(error = %e, "reading a sign-in state failed");
            return with_error(&default_error, "internal_server_error", None);
        }
    };
    let Some(pending) = pending else { return with_error(&default_error, "state_mismatch", None) };
    let error_url = pending.error_url.clone().unwrap_or(default_error);
    if pending.provider != provider_id {
        return with_error(&error_url, "state_mismatch", None);
    }
    // The sign-in belongs to the app it started in (gone since: refused).
    if let Some(id) = pending.app_id.as_deref() {
        let now = state.clock.now_ms();
        match state.apps.app(state.store.as_ref(), id, now).await {
            Ok(Some(app)) => ctx.scope = Scope(Some(app)),
            Ok(None) => return with_error(&error_url, "state_mismatch", None),
            Err(e) => {
                tracing::error!(error = %e, "reading the apps failed");
                return with_error(&error_url, "internal_server_error", None);
            }
        }
    } else {
        ctx.scope = Scope::default();
    }
    match sign_in(state, provider_id, &pending, callback, current_user, ctx).await {
        Ok(url) => url,
        Err(r) => {
            let url = refusal_url(state, &error_url, &r.code);
            with_error(url, &r.code, r.link_mailed.then_some(("pending", "email")))
        }
    }
}

/// Where a browser goes when a sign-in was refused with `code`: for a second factor to give or
/// set up, `TWO_FACTOR_PAGE_URL` when set; else `error_url`.
pub fn refusal_url<'a>(state: &'a AppState, error_url: &'a str, code: &str) -> &'a str {
    match &state.settings.two_factor.page_url {
        Some(page) if matches!(code, "two_factor_required" | "two_factor_setup_required") => page,
        _ => error_url,
    }
}

/// The steps after the state checked out; `Err` is the `?error=` code.
async fn sign_in(
    state: &AppState,
    provider_id: &str,
    pending: &Pending,
    callback: Callback,
    current_user: Option<&str>,
    ctx: SignInContext,
) -> Result<String, Refusal> {
    let provider = state.providers.get(provider_id).ok_or("oauth_provider_not_found")?;
    if let Some(error) = callback.error.as_deref() {
        return Err(provider_error(error).into());
    }
    let code = callback.code.as_deref().filter(|c| !c.is_empty()).ok_or("no_code")?;
    let http = &state.providers.http;
    let now = state.clock.now_ms();
    // RFC 9207: the `iss` a provider sends back must be its own; one that says it always sends
    // it must have sent it.
    if let Some((expected, always_sent)) = provider.issuer(http, now).await.map_err(|e| e.code())?
        && !crate::oauth::oidc::is_tenant_template(&expected)
    {
        match callback.iss.as_deref() {
            Some(iss) if iss.trim_end_matches('/') != expected.trim_end_matches('/') => {
                return Err("issuer_mismatch".into());
            }
            None if always_sent => return Err("issuer_missing".into()),
            _ => {}
        }
    }
    let (profile, tokens) = provider
        .finish(http, code, &pending.code_verifier, &pending.nonce, &redirect_uri(state, provider_id), now)
        .await
        .map_err(|e: OAuthError| {
            tracing::warn!(provider = provider_id, error = %e, "a sign-in with the provider failed");
            e.code()
        })?;
    if let Some(user_id) = &pending.link_user_id {
        if current_user != Some(user_id.as_str()) {
            return Err("unable_to_link_account".into());
        }
        link_to(state, provider, &profile, &tokens, user_id).await?;
        return Ok(pending.callback_url.clone());
    }
    let (user, is_new) =
        resolve_user(state, &ctx.scope, provider, &profile, &tokens, &pending.callback_url).await?;
    let admission =
        Admission { proof: Proof::Provider, remember_me: true, callback: Some(&pending.callback_url) };
    admit(state, ctx, &user, admission).await.map_err(|e| Refusal::from(gate_code(&e)))?;
    Ok(match (&pending.new_user_url, is_new) {
        (Some(url), true) => url.clone(),
        _ => pending.callback_url.clone(),
    })
}

/// The user this provider identity signs in: its linked user; else the local user with the same
/// email when the provider vouches for the address (says it is verified, or is trusted) and the
/// local address is verified too (an unverified local account gets a link by mail instead); else
/// a new user, only when the provider vouches for the address. True when created now.
async fn resolve_user(
    state: &AppState,
    scope: &Scope,
    provider: &Provider,
    profile: &Profile,
    tokens: &Tokens,
    callback_url: &str,
) -> Result<(User, bool), Refusal> {
    let id = &provider.config.id;
    let now = state.clock.now_ms();
    let account = account_row(state, id, &profile.account_id, tokens, String::new(), now)?;
    if let Some(linked) = state.store.account(id, &profile.account_id, scope.key()).await? {
        let user = state.store.user_by_id(&linked.user_id).await?.ok_or("unable_to_get_user_info")?;
        let refreshed =
            AccountRow { id: linked.id, user_id: linked.user_id, created_at: linked.created_at, ..account };
        state.store.update_account_tokens(&refreshed).await?;
        return Ok((user, false));
    }
    let email = profile.email.as_deref().ok_or("email_not_found")?;
    let email = Email::parse(email).map_err(|_| "email_not_found")?;
    let vouched = vouches(state, provider, profile);
    if let Some(local) = state.store.credential_by_email(email.as_str(), scope.key()).await? {
        if vouched && !local.user.email_verified {
            link_mail::offer_link(state, provider, &local.user, &account, callback_url).await?;
            return Err(Refusal { code: "account_not_linked".into(), link_mailed: true });
        }
        if !(vouched && local.user.email_verified) {
            return Err("account_not_linked".into());
        }
        let linked = AccountRow { user_id: local.user.id.clone(), ..account };
        match state.store.insert_account(&linked).await {
            Ok(()) => return Ok((local.user, false)),
            Err(StoreError::Conflict) => return Err("account_already_linked_to_different_user".into()),
            Err(e) => return Err(e.into()),
        }
    }
    if state.settings.social.disable_sign_up || provider.config.disable_sign_up {
        return Err("signup_disabled".into());
    }
    // An address nobody proved: whoever later proves the mailbox (an email code, a link) would
    // find this provider identity already in the account. (Better Auth creates it unverified.)
    if !vouched {
        return Err("email_not_verified".into());
    }
    let name = profile
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or_default().to_string());
    let app_id = scope.app_id().map(String::from);
    let user = User {
        email_verified: profile.email_verified,
        image: profile.image.clone(),
        fields: crate::domain::fields::defaults(&state.settings.user_fields),
        ..User::new(random_id(), name, email.as_str().to_string(), app_id, now)
    };
    let account = AccountRow { user_id: user.id.clone(), ..account };
    let signed_up = Record::own("sign-up", &user)
        .with(serde_json::json!({ "method": "Social", "provider": account.provider_id }));
    match recorded(state, signed_up, None, state.store.create_user_with_account(&user, &account)).await {
        Ok(()) => Ok((user, true)),
        // The address was taken meanwhile (or is held for an undone email change).
        Err(StoreError::Conflict) => Err("account_not_linked".into()),
        Err(e) => Err(e.into()),
    }
}

/// `/link-social`'s end: links the identity to the signed-in user under Better Auth's rules —
/// the provider vouches for its address, which is the user's own; an identity of another user
/// is refused; one already theirs gets its tokens refreshed.
async fn link_to(
    state: &AppState,
    provider: &Provider,
    profile: &Profile,
    tokens: &Tokens,
    user_id: &str,
) -> Result<(), Refusal> {
    let id = &provider.config.id;
    let now = state.clock.now_ms();
    let user = state.store.user_by_id(user_id).await?.ok_or("unable_to_link_account")?;
    let account = account_row(state, id, &profile.account_id, tokens, user.id.clone(), now)?;
    if let Some(linked) = state.store.account(id, &profile.account_id, user.app_key()).await? {
        if linked.user_id != user.id {
            return Err("account_already_linked_to_different_user".into());
        }
        let refreshed = AccountRow { id: linked.id, created_at: linked.created_at, ..account };
        return Ok(state.store.update_account_tokens(&refreshed).await?);
    }
    if !vouches(state, provider, profile) {
        return Err("unable_to_link_account".into());
    }
    let same =
        profile.email.as_deref().and_then(|e| Email::parse(e).ok()).is_some_and(|e| e.as_str() == user.email);
    if !same {
        return Err("email_does_not_match".into());
    }
    match state.store.insert_account(&account).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict) => Err("account_already_linked_to_different_user".into()),
        Err(e) => Err(e.into()),
    }
}

/// An `account` row for this identity with its tokens sealed.
fn account_row(
    state: &AppState,
    provider_id: &str,
    account_id: &str,
    tokens: &Tokens,
    user_id: String,
    now: i64,
) -> ApiResult<AccountRow> {
    let identity = format!("{provider_id}:{account_id}");
    let seal =
        |kind: &str, token: &str| state.token_sealer.seal(&identity, kind, token).map_err(ApiError::internal);
    Ok(AccountRow {
        id: random_id(),
        account_id: account_id.to_string(),
        provider_id: provider_id.to_string(),
        user_id,
        access_token: Some(tokens.access_token.as_str())
            .filter(|t| !t.is_empty())
            .map(|t| seal("access", t))
            .transpose()?,
        refresh_token: tokens.refresh_token.as_deref().map(|t| seal("refresh", t)).transpose()?,
        id_token: tokens.id_token.as_deref().map(|t| seal("id", t)).transpose()?,
        access_token_expires_at: tokens.access_token_expires_at,
        refresh_token_expires_at: None,
        scope: tokens.scope.clone(),
        created_at: now,
        updated_at: now,
    })
}

/// A provider's own `?error=` (e.g. `access_denied`), passed on only if it looks like a code.
fn provider_error(error: &str) -> String {
    let clean = error.len() <= 64 && error.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if clean { error.to_string() } else { "provider_error".into() }
}

/// The gate's refusal as a `?error=` code: `EMAIL_NOT_VERIFIED` → `email_not_verified`.
fn gate_code(error: &ApiError) -> String {
    match error.code() {
        Some("BANNED_USER") => "banned".into(),
        Some(code) => code.to_ascii_lowercase(),
        None => {
            tracing::error!(error = %error, "a sign-in with a provider failed at the gate");
            "internal_server_error".into()
        }
    }
}

/// `url` with `?error=code` (`&` when it has a query already), and one more parameter.
pub fn with_error(url: &str, code: &str, extra: Option<(&str, &str)>) -> String {
    let mut params = vec![("error", code)];
    params.extend(extra);
    with_params(url, &params)
}
