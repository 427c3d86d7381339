//! Token pairs for API and mobile clients: `POST /token/pair`, `/token/refresh`, `/token/revoke`.
//! These speak RFC 6749's names (snake_case) and take a JSON or form body; errors keep the
//! contract's body. Every answer is `Cache-Control: no-store`.

use axum::{
    Json as JsonOut,
    extract::State,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::app::Scope,
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, JsonOrForm, NoBody, required},
        layers::no_store,
    },
    service::tokens::{self, Pair},
    state::AppState,
};

const TAG: &str = "Tokens";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pair)).routes(routes!(refresh)).routes(routes!(revoke))
}

/// An access token and a refresh token, as RFC 6749 names them; lifetimes in seconds.
#[derive(Serialize, ToSchema)]
struct TokenPairAnswer {
    /// A JWT to send as `Authorization: Bearer`.
    access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    expires_in: i64,
    /// Single use: `/token/refresh` spends it and answers a new pair.
    refresh_token: String,
    refresh_token_expires_in: i64,
}

fn token_answer(pair: Pair) -> Response {
    let answer = TokenPairAnswer {
        access_token: pair.access_token,
        token_type: "Bearer",
        expires_in: pair.expires_in,
        refresh_token: pair.refresh_token,
        refresh_token_expires_in: pair.refresh_token_expires_in,
    };
    no_store(JsonOut(answer).into_response())
}

/// `POST /token/pair` with a session (cookie or bearer): a pair bound to it.
#[utoipa::path(post, path = "/token/pair", tag = TAG, summary = "Issue a token pair for the session",
    request_body(content((NoBody = "application/json"), (NoBody = "application/x-www-form-urlencoded")),
        description = "An empty object"),
    responses((status = 200, description = "A new pair, bound to the session", body = TokenPairAnswer)),
    security(("session" = []), ("bearer" = [])))]
async fn pair(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonOrForm(_empty): JsonOrForm<NoBody>,
) -> ApiResult<Response> {
    let pair = tokens::issue(&state, &auth.session, &auth.user, auth.subscription.as_ref(), false).await?;
    Ok(token_answer(pair))
}

/// A refresh token to spend (RFC 6749 §6).
#[derive(Deserialize, ToSchema)]
struct TokenRefreshBody {
    #[schema(value_type = String, required = true, min_length = 1)]
    refresh_token: Option<String>,
    /// Optional; when sent it must be `refresh_token`.
    #[schema(value_type = Option<String>, pattern = "^refresh_token$")]
    grant_type: Option<String>,
}

/// `POST /token/refresh {refresh_token}`: a new pair; the token is spent.
#[utoipa::path(post, path = "/token/refresh", tag = TAG, summary = "Spend a refresh token for a new pair",
    request_body(content((TokenRefreshBody = "application/json"), (TokenRefreshBody = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "A new pair; the refresh token sent is spent", body = TokenPairAnswer)))]
async fn refresh(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<TokenRefreshBody>,
) -> ApiResult<Response> {
    if body.grant_type.as_deref().is_some_and(|g| g != "refresh_token") {
        return Err(ApiError::Validation("[body.grant_type] Must be refresh_token".into()));
    }
    let token = required(body.refresh_token, "refresh_token")?;
    Ok(token_answer(tokens::refresh(&state, &scope, &token).await?))
}

/// A token to revoke (RFC 7009). `token_type_hint` may come along; it is not read.
#[derive(Deserialize, ToSchema)]
struct TokenRevokeBody {
    /// A refresh token.
    #[schema(value_type = String, required = true, min_length = 1)]
    token: Option<String>,
}

/// An empty object.
#[derive(Serialize, ToSchema)]
struct TokenRevoked {}

/// `POST /token/revoke {token}` (RFC 7009): 200 whether or not the token was known.
#[utoipa::path(post, path = "/token/revoke", tag = TAG, summary = "Revoke a refresh token",
    request_body(content((TokenRevokeBody = "application/json"), (TokenRevokeBody = "application/x-www-form-urlencoded"))),
    responses((status = 200, description = "Revoked (also when the token was not known)", body = TokenRevoked)))]
async fn revoke(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<TokenRevokeBody>,
) -> ApiResult<Response> {
    let token = required(body.token, "token")?;
    tokens::revoke(&state, &scope, &token).await?;
    Ok(no_store(JsonOut(TokenRevoked {}).into_response()))
}
