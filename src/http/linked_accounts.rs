//! The accounts a user signs in with (`/list-accounts`, `/unlink-account`, `/account-info`) and
//! their provider tokens (`/get-access-token`, `/refresh-token`).

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::model::AccountRow,
    error::{ApiError, ApiResult},
    http::{
        answers::Status,
        extract::{Authenticated, Json, lenient_query},
        layers::no_store,
    },
    service::{
        sessions::ensure_fresh,
        social::{self, AccountKey},
    },
    state::AppState,
    store::Unlinked,
};

const TAG: &str = "Linked accounts";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts))
        .routes(routes!(get_access_token))
        .routes(routes!(refresh_token))
        .routes(routes!(account_info))
        .routes(routes!(unlink_account))
}

/// One of the ways the user signs in (`credential` is the password).
#[derive(Serialize, ToSchema)]
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
#[utoipa::path(get, path = "/list-accounts", tag = TAG, summary = "List the user's accounts",
    responses((status = 200, description = "The user's accounts", body = Vec<ListedAccount>)),
    security(("session" = []), ("bearer" = [])))]
async fn list_accounts(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let accounts = state.store.accounts_of(&auth.user.id).await?;
    let listed: Vec<ListedAccount> = accounts.into_iter().map(ListedAccount::from).collect();
    Ok(no_store(JsonOut(listed).into_response()))
}

/// Which of the user's accounts: `accountId` (the account's `id`, or the provider's subject)
/// and/or `providerId`.
#[derive(Deserialize, ToSchema)]
#[schema(as = AccountSelector)]
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

fn scopes_of(account: &AccountRow) -> Vec<String> {
    account.scope.as_deref().unwrap_or("").split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A provider's access token for one of the user's accounts.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProviderAccessToken {
    access_token: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "crate::domain::time::iso_opt::serialize")]
    access_token_expires_at: Option<i64>,
    scopes: Vec<String>,
    id_token: Option<String>,
}

/// `POST /get-access-token {accountId | providerId}`: the provider's access token for one of
/// the user's accounts, refreshed first when it has expired and a refresh token is stored.
#[utoipa::path(post, path = "/get-access-token", tag = TAG, summary = "Get a provider's access token",
    request_body = TokenBody,
    responses((status = 200, description = "The access token (refreshed first if it had expired)",
        body = ProviderAccessToken)),
    security(("session" = []), ("bearer" = [])))]
async fn get_access_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TokenBody>,
) -> ApiResult<Response> {
    let t = social::provider_tokens(&state, &auth.user.id, body.key(), false).await?;
    let answer = ProviderAccessToken {
        access_token: t.access_token,
        access_token_expires_at: t.account.access_token_expires_at,
        scopes: scopes_of(&t.account),
        id_token: t.id_token,
    };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// A provider account's new tokens.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProviderTokensAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "crate::domain::time::iso_opt::serialize")]
    access_token_expires_at: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    #[serde(serialize_with = "crate::domain::time::iso_opt::serialize")]
    refresh_token_expires_at: Option<i64>,
    /// The granted scopes, comma-separated.
    scope: Option<String>,
    id_token: Option<String>,
    provider_id: String,
    account_id: String,
}

/// `POST /refresh-token {accountId | providerId}`: new provider tokens, now.
#[utoipa::path(post, path = "/refresh-token", tag = TAG, summary = "Refresh a provider's tokens",
    request_body = TokenBody,
    responses((status = 200, description = "The provider's new tokens", body = ProviderTokensAnswer)),
    security(("session" = []), ("bearer" = [])))]
async fn refresh_token(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TokenBody>,
) -> ApiResult<Response> {
    let t = social::provider_tokens(&state, &auth.user.id, body.key(), true).await?;
    let answer = ProviderTokensAnswer {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        access_token_expires_at: t.account.access_token_expires_at,
        refresh_token_expires_at: t.account.refresh_token_expires_at,
        scope: t.account.scope,
        id_token: t.id_token,
        provider_id: t.account.provider_id,
        account_id: t.account.account_id,
    };
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `POST /unlink-account` (fresh session): `{accountId}` (the row's `id`, or the provider's
/// subject) and/or `{providerId}`, as the official client sends them.
#[utoipa::path(post, path = "/unlink-account", tag = TAG, summary = "Unlink one of the user's accounts",
    request_body = TokenBody,
    responses((status = 200, description = "Unlinked (the last account cannot be: 400 `FAILED_TO_UNLINK_LAST_ACCOUNT`)",
        body = Status)),
    security(("session" = []), ("bearer" = [])))]
async fn unlink_account(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TokenBody>,
) -> ApiResult<JsonOut<Status>> {
    ensure_fresh(&state, &auth.session)?;
    let account = social::account_of(&state, &auth.user.id, body.key()).await?;
    match state.store.unlink_account(&auth.user.id, &account.id, state.clock.now_ms()).await? {
        Unlinked::Done => Ok(JsonOut(Status::YES)),
        Unlinked::NotFound => Err(ApiError::AccountNotFound),
        Unlinked::Last => Err(ApiError::FailedToUnlinkLastAccount),
    }
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct AccountInfoQuery {
    /// The account's `id`, or the provider's subject.
    account_id: Option<String>,
}

// For the API description only: the social service builds this answer as JSON.
/// What the provider says about one of the user's accounts now.
#[derive(ToSchema)]
#[allow(dead_code, reason = "describes the answer the service builds as JSON")]
struct AccountInfo {
    /// The main fields of `data`, whatever type the provider gave them (null when absent).
    user: AccountInfoUser,
    /// What the provider's user-info endpoint answered, as it answered it.
    #[schema(value_type = Object)]
    data: serde_json::Value,
    account: AccountInfoAccount,
}

/// The main fields of a provider's user info.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the answer the service builds as JSON")]
struct AccountInfoUser {
    id: serde_json::Value,
    name: serde_json::Value,
    email: serde_json::Value,
    image: serde_json::Value,
    email_verified: serde_json::Value,
}

/// The account the info is about.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code, reason = "describes the answer the service builds as JSON")]
struct AccountInfoAccount {
    id: String,
    provider_id: String,
    account_id: String,
}

/// `GET /account-info?accountId=`: what the provider says about one of the user's accounts now
/// (`data`, as it says it), the main fields of it (`user`), and the account.
#[utoipa::path(get, path = "/account-info", tag = TAG, summary = "What the provider says about an account",
    params(AccountInfoQuery),
    responses((status = 200, description = "The provider's current user info", body = AccountInfo)),
    security(("session" = []), ("bearer" = [])))]
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
