//! `GET /token`, `GET /jwks`, `POST /verify-token`.

use axum::{
    Json as JsonOut,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use jsonwebtoken::jwk::Jwk;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        app::Scope,
        model::{Subscription, User},
    },
    error::{ApiError, ApiResult, ErrorBody},
    http::{extract::Authenticated, layers::no_store},
    jwt::{Minted, Refusal},
    service::apps::audience,
    state::AppState,
};

/// How long verifiers may cache `/jwks`. A rotated-in key is unknown to a verifier holding an
/// older copy for at most this long; verifiers should refetch on an unknown `kid`.
const JWKS_MAX_AGE_SECS: u32 = 300;

const TAG: &str = "JWT";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(token)).routes(routes!(jwks)).routes(routes!(verify_token))
}

/// A JWT for the current session.
#[derive(Serialize, ToSchema)]
struct SessionJwt {
    /// The signed JWT (verify it against `/jwks`).
    token: String,
}

/// The public keys JWTs are signed with.
#[derive(Serialize, ToSchema)]
struct Jwks {
    /// JSON Web Keys (RFC 7517); a token's `kid` names one.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<Jwk>,
}

/// A valid token: the user of its (live) session.
#[derive(Serialize, ToSchema)]
struct TokenVerified {
    valid: bool,
    user: User,
}

/// A token that is not (or no longer) valid: the error body, with `valid: false` when the token
/// itself is sound but its session has ended.
#[derive(Serialize, ToSchema)]
struct TokenRefused {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    valid: Option<bool>,
    #[serde(flatten)]
    error: ErrorBody,
}

/// `GET /token`: a JWT for the current session.
#[utoipa::path(get, path = "/token", tag = TAG, summary = "A JWT for the current session",
    responses((status = 200, description = "A JWT naming the session, its user and plan", body = SessionJwt)),
    security(("session" = []), ("bearer" = [])))]
async fn token(State(state): State<AppState>, scope: Scope, auth: Authenticated) -> ApiResult<Response> {
    let now = state.clock.now_ms();
    let plan = Subscription::plan_of(auth.subscription.as_ref(), now);
    let who = (&auth.session, &auth.user);
    let minted = (Minted::Service, audience(&scope));
    let token = state.jwt.mint(state.store.as_ref(), who, plan, minted, now).await?;
    Ok(no_store(JsonOut(SessionJwt { token }).into_response()))
}

/// `GET /jwks`: the public keys, cacheable.
#[utoipa::path(get, path = "/jwks", tag = TAG, summary = "The public keys that verify JWTs",
    responses((status = 200, description = "The key set (cacheable for a few minutes; refetch on an unknown `kid`)", body = Jwks,
        headers(("cache-control" = String, description = "`public, max-age=300`")))))]
async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let keys = state.jwt.published(state.store.as_ref(), state.clock.now_ms()).await?;
    let mut res = JsonOut(Jwks { keys }).into_response();
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
#[utoipa::path(post, path = "/verify-token", tag = TAG, summary = "Check a JWT and get its user",
    description = "The JWT (from `/token` or `set-auth-jwt`) goes in `Authorization: Bearer`; no body is read.",
    responses((status = 200, description = "The token is valid and its session live", body = TokenVerified),
        (status = 401, description = "No token, or an invalid (`INVALID_TOKEN`) or expired (`TOKEN_EXPIRED`) one; `valid: false` when its session has ended",
            body = TokenRefused)),
    security(("jwt" = [])))]
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
        let body = TokenRefused {
            valid: Some(false),
            error: ErrorBody {
                code: "INVALID_TOKEN",
                error: "INVALID_TOKEN",
                message: "The session this token was minted from has ended".into(),
            },
        };
        return Ok(no_store((StatusCode::UNAUTHORIZED, JsonOut(body)).into_response()));
    };
    Ok(no_store(JsonOut(TokenVerified { valid: true, user }).into_response()))
}
