//! `GET /token`, `GET /jwks`, `POST /verify-token`.

use axum::{
    Json as JsonOut, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use crate::{
    domain::{app::Scope, model::Subscription},
    error::{ApiError, ApiResult},
    http::{extract::Authenticated, layers::no_store},
    jwt::{Minted, Refusal},
    service::apps::audience,
    state::AppState,
};

/// How long verifiers may cache `/jwks`. A rotated-in key is unknown to a verifier holding an
/// older copy for at most this long; verifiers should refetch on an unknown `kid`.
const JWKS_MAX_AGE_SECS: u32 = 300;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/token", get(token))
        .route("/jwks", get(jwks))
        .route("/verify-token", post(verify_token))
}

/// `GET /token`: a JWT for the current session.
async fn token(State(state): State<AppState>, scope: Scope, auth: Authenticated) -> ApiResult<Response> {
    let now = state.clock.now_ms();
    let plan = Subscription::plan_of(auth.subscription.as_ref(), now);
    let who = (&auth.session, &auth.user);
    let minted = (Minted::Service, audience(&scope));
    let token = state.jwt.mint(state.store.as_ref(), who, plan, minted, now).await?;
    Ok(no_store(JsonOut(json!({ "token": token })).into_response()))
}

/// `GET /jwks`: the public keys, cacheable.
async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let keys = state.jwt.published(state.store.as_ref(), state.clock.now_ms()).await?;
    let mut res = JsonOut(json!({ "keys": keys })).into_response();
    let cache = format!("public, max-age={JWKS_MAX_AGE_SECS}");
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_str(&cache).map_err(ApiError::internal)?);
    Ok(res)
}

/// `POST /verify-token` with `Authorization: Bearer <jwt>`: `{valid: true, user}`, or 401
/// `INVALID_TOKEN` / `TOKEN_EXPIRED`. A token whose session has ended since it was minted is
/// still cryptographically valid; this answers 401 `INVALID_TOKEN` with `valid: false` for it.
/// Only tokens of the request's app are valid (with an app's `x-api-key`, that app's; else the
/// default space's).
async fn verify_token(
    State(state): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let Some(token) = bearer else { return Err(ApiError::InvalidToken(StatusCode::UNAUTHORIZED)) };
    let now = state.clock.now_ms();
    let claims = match state.jwt.verify(state.store.as_ref(), &token, audience(&scope), now).await {
        Ok(claims) => claims,
        Err(Refusal::Expired) => return Err(ApiError::TokenExpired(StatusCode::UNAUTHORIZED)),
        Err(Refusal::Invalid) => return Err(ApiError::InvalidToken(StatusCode::UNAUTHORIZED)),
    };
    let live = state
        .store
        .session_by_id(&claims.sid, now)
        .await?
        .filter(|(_, user)| scope.admits(user) && !user.banned_at(now));
    let Some((_, user)) = live else {
        let body = json!({
            "valid": false,
            "code": "INVALID_TOKEN",
            "error": "INVALID_TOKEN",
            "message": "The session this token was minted from has ended",
        });
        return Ok(no_store((StatusCode::UNAUTHORIZED, JsonOut(body)).into_response()));
    };
    Ok(no_store(JsonOut(json!({ "valid": true, "user": user })).into_response()))
}
