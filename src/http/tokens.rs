//! Token pairs for API and mobile clients: `POST /token/pair`, `/token/refresh`, `/token/revoke`.
//! These speak RFC 6749's names (snake_case) and take a JSON or form body; errors keep the
//! contract's body. Every answer is `Cache-Control: no-store`.

use axum::{
    Json as JsonOut, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/token/pair", post(pair))
        .route("/token/refresh", post(refresh))
        .route("/token/revoke", post(revoke))
}

/// A pair as RFC 6749 names it.
#[derive(Serialize)]
struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    refresh_token_expires_in: i64,
}

fn token_answer(pair: Pair) -> Response {
    let answer = TokenAnswer {
        access_token: pair.access_token,
        token_type: "Bearer",
        expires_in: pair.expires_in,
        refresh_token: pair.refresh_token,
        refresh_token_expires_in: pair.refresh_token_expires_in,
    };
    no_store(JsonOut(answer).into_response())
}

/// `POST /token/pair` with a session (cookie or bearer): a pair bound to it.
async fn pair(
    State(state): State<AppState>,
    auth: Authenticated,
    JsonOrForm(_): JsonOrForm<NoBody>,
) -> ApiResult<Response> {
    let pair = tokens::issue(&state, &auth.session, &auth.user, auth.subscription.as_ref(), false).await?;
    Ok(token_answer(pair))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: Option<String>,
    /// Optional; when sent it must be `refresh_token`.
    grant_type: Option<String>,
}

/// `POST /token/refresh {refresh_token}`: a new pair; the token is spent.
async fn refresh(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<RefreshBody>,
) -> ApiResult<Response> {
    if body.grant_type.as_deref().is_some_and(|g| g != "refresh_token") {
        return Err(ApiError::Validation("[body.grant_type] Must be refresh_token".into()));
    }
    let token = required(body.refresh_token, "refresh_token")?;
    Ok(token_answer(tokens::refresh(&state, &scope, &token).await?))
}

#[derive(Deserialize)]
struct RevokeBody {
    token: Option<String>,
    // `token_type_hint` may come along; it is not needed to find the token, so it is not read.
}

/// `POST /token/revoke {token}` (RFC 7009): 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    scope: Scope,
    JsonOrForm(body): JsonOrForm<RevokeBody>,
) -> ApiResult<Response> {
    let token = required(body.token, "token")?;
    tokens::revoke(&state, &scope, &token).await?;
    Ok(no_store(JsonOut(json!({})).into_response()))
}
