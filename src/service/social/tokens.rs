//! The provider tokens of a user's accounts (`/get-access-token`, `/refresh-token`), opened,
//! and refreshed through the provider when due.

use axum::http::StatusCode;

use super::account_row;
use crate::{
    domain::model::AccountRow,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Which of the user's accounts a provider-token route means: the row `id` or the provider's
/// subject (`accountId`), and/or the provider.
pub struct AccountKey<'a> {
    pub account_id: Option<&'a str>,
    pub provider_id: Option<&'a str>,
}

/// A provider account's tokens, opened.
pub struct ProviderTokens {
    pub account: AccountRow,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
}

fn coded(code: &'static str, message: &'static str) -> ApiError {
    ApiError::Coded(StatusCode::BAD_REQUEST, code, message)
}

/// The user's account `key` names (`ACCOUNT_NOT_FOUND` otherwise).
pub async fn account_of(state: &AppState, user_id: &str, key: AccountKey<'_>) -> ApiResult<AccountRow> {
    let accounts = state.store.accounts_of(user_id).await?;
    let by_row = |k: &str| accounts.iter().find(|a| a.id == k);
    let found = match (key.account_id, key.provider_id) {
        // The row id; else the provider's subject, when exactly one of the accounts has it.
        (Some(k), None) => by_row(k).or_else(|| {
            let mut same = accounts.iter().filter(|a| a.account_id == k);
            same.next().filter(|_| same.next().is_none())
        }),
        (Some(k), Some(p)) => {
            accounts.iter().find(|a| a.provider_id == p && (a.id == k || a.account_id == k))
        }
        (None, Some(p)) => accounts.iter().find(|a| a.provider_id == p),
        (None, None) => None,
    };
    found.cloned().ok_or(ApiError::AccountNotFound)
}

/// The tokens of one of the user's provider accounts, refreshed first when `force`, or when the
/// access token has (nearly: 5 s) expired and there is a refresh token.
pub async fn provider_tokens(
    state: &AppState,
    user_id: &str,
    key: AccountKey<'_>,
    force: bool,
) -> ApiResult<ProviderTokens> {
    let account = account_of(state, user_id, key).await?;
    if state.providers.get(&account.provider_id).is_none() {
        return Err(coded("PROVIDER_NOT_SUPPORTED", "Provider not supported"));
    }
    let tokens = open_tokens(state, account)?;
    if !(force || expired(&tokens, state.clock.now_ms()) && tokens.refresh_token.is_some()) {
        return Ok(tokens);
    }
    // One refresh at a time per account: a rotating refresh token can be spent once, so whoever
    // waited takes what the refresh before it stored (even when asked to refresh: it just was).
    let turn = state.providers.refresh_turn(&tokens.account.id);
    let turn = tokio::time::timeout(std::time::Duration::from_secs(15), turn)
        .await
        .map_err(|_| ApiError::ServiceUnavailable)?;
    let row_id = tokens.account.id.clone();
    let latest =
        account_of(state, user_id, AccountKey { account_id: Some(&row_id), provider_id: None }).await?;
    let refreshed_meanwhile = latest.access_token != tokens.account.access_token
        || latest.refresh_token != tokens.account.refresh_token;
    let tokens = open_tokens(state, latest)?;
    let now = state.clock.now_ms();
    let expired_now = expired(&tokens, now);
    if refreshed_meanwhile && !expired_now || !(force || expired_now && tokens.refresh_token.is_some()) {
        return Ok(tokens);
    }
    let refresh =
        tokens.refresh_token.clone().ok_or(coded("REFRESH_TOKEN_NOT_FOUND", "Refresh token not found"))?;
    // The refresh and the write run to the end even if the client hangs up: a rotating provider
    // has spent the old refresh token once it answers. The turn goes with them.
    let (st, account) = (state.clone(), tokens.account);
    let stored = tokio::spawn(async move {
        let _turn = turn;
        refresh_and_store(&st, account, &refresh, now).await
    })
    .await
    .map_err(ApiError::internal)??;
    open_tokens(state, stored)
}

/// Whether the access token has (nearly: 5 s) expired.
fn expired(t: &ProviderTokens, now: i64) -> bool {
    t.account.access_token_expires_at.is_some_and(|at| at - now < 5_000)
}

/// New tokens from the provider for `account`, sealed and stored; the stored row.
async fn refresh_and_store(
    state: &AppState,
    account: AccountRow,
    refresh: &str,
    now: i64,
) -> ApiResult<AccountRow> {
    let provider = state
        .providers
        .get(&account.provider_id)
        .ok_or(coded("PROVIDER_NOT_SUPPORTED", "Provider not supported"))?;
    let fresh = provider.refresh(&state.providers.http, refresh, now).await.map_err(|e| {
        tracing::warn!(provider = %provider.config.id, error = %e, "refreshing a provider token failed");
        coded("FAILED_TO_REFRESH_ACCESS_TOKEN", "Failed to refresh access token")
    })?;
    let sealed =
        account_row(state, &provider.config.id, &account.account_id, &fresh, account.user_id.clone(), now)?;
    let mut stored = AccountRow {
        id: account.id.clone(),
        created_at: account.created_at,
        // Kept when the provider did not send new ones.
        id_token: sealed.id_token.or(account.id_token.clone()),
        scope: sealed.scope.or(account.scope.clone()),
        ..sealed
    };
    state.store.update_account_tokens(&stored).await?;
    stored.refresh_token = stored.refresh_token.or(account.refresh_token);
    Ok(stored)
}

fn open_tokens(state: &AppState, account: AccountRow) -> ApiResult<ProviderTokens> {
    let identity = format!("{}:{}", account.provider_id, account.account_id);
    let open = |kind: &str, stored: &Option<String>| {
        stored
            .as_deref()
            .map(|s| state.token_sealer.open(&identity, kind, s))
            .transpose()
            .map_err(ApiError::internal)
    };
    Ok(ProviderTokens {
        access_token: open("access", &account.access_token)?,
        refresh_token: open("refresh", &account.refresh_token)?,
        id_token: open("id", &account.id_token)?,
        account,
    })
}

/// `/account-info`: the provider's current view of one of the user's accounts.
pub async fn account_info(
    state: &AppState,
    user_id: &str,
    key: AccountKey<'_>,
) -> ApiResult<serde_json::Value> {
    let tokens = provider_tokens(state, user_id, key, false).await?;
    let failed = || coded("FAILED_TO_GET_ACCOUNT_INFO", "Failed to get account info");
    let provider = state.providers.get(&tokens.account.provider_id).ok_or_else(failed)?;
    let access_token = tokens.access_token.as_deref().ok_or_else(failed)?;
    let data =
        provider.user_info(&state.providers.http, access_token, state.clock.now_ms()).await.map_err(|e| {
            tracing::warn!(provider = %provider.config.id, error = %e, "reading account info failed");
            failed()
        })?;
    let text = |key: &str| data.get(key).filter(|v| !v.is_null()).cloned();
    let user = serde_json::json!({
        "id": text("sub").or_else(|| text("id")),
        "name": text("name").or_else(|| text("login")),
        "email": text("email"),
        "image": text("picture").filter(|p| p.is_string()).or_else(|| text("avatar_url"))
            .or_else(|| data.pointer("/picture/data/url").cloned()),
        "emailVerified": text("email_verified").unwrap_or(serde_json::Value::Bool(false)),
    });
    let account = &tokens.account;
    Ok(serde_json::json!({
        "user": user,
        "data": data,
        "account": {"id": account.id, "providerId": account.provider_id, "accountId": account.account_id},
    }))
}
