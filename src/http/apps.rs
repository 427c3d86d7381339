//! Which app a request belongs to (middleware), and the [`Scope`] extractor handlers take.
//!
//! A valid `x-api-key` picks its app (and counts against the key's own limit); an invalid,
//! revoked or expired one is refused before anything else runs. Without a key, a request whose
//! origin one app lists belongs to that app: its `Origin`, else its `Referer`'s origin (a
//! browser sends no `Origin` on a same-origin GET such as get-session, but a `Referer`), as the
//! CSRF check reads it. Anything else is the default space.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    domain::app::Scope, error::ApiError, http::limits::too_many_requests, service::apps::KEY_PREFIX,
    state::AppState,
};

pub const API_KEY_HEADER: &str = "x-api-key";

/// Marks a request that carried a valid app key: a server's, not a browser's (browsers never
/// hold keys, and no page can make one send the header without a CORS preflight, which
/// Gatehouse answers without `x-api-key` among the allowed headers), so the CSRF check does not
/// ask it for an `Origin`.
#[derive(Debug, Clone, Copy)]
pub struct KeyHolder;

/// Middleware on every route under the base path: puts the request's [`Scope`] in its
/// extensions.
pub async fn app_scope(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match scope_of(&state, req.headers()).await {
        Ok((scope, by_key)) => {
            if by_key {
                req.extensions_mut().insert(KeyHolder);
            }
            req.extensions_mut().insert(scope);
            next.run(req).await
        }
        Err(refused) => refused,
    }
}

/// The request's scope, and whether a valid key chose it.
async fn scope_of(state: &AppState, headers: &HeaderMap) -> Result<(Scope, bool), Response> {
    let now = state.clock.now_ms();
    let store = state.store.as_ref();
    // A server without apps ignores a header that is not one of its keys (a gateway in front
    // may send one of its own); one of its keys is always checked (a new app's included).
    let ours = |v: &axum::http::HeaderValue| v.as_bytes().starts_with(KEY_PREFIX.as_bytes());
    let key = match headers.get(API_KEY_HEADER) {
        Some(v) if ours(v) => Some(v),
        Some(v) if state.apps.any(store, now).await.map_err(|e| ApiError::from(e).into_response())? => {
            Some(v)
        }
        _ => None,
    };
    if let Some(value) = key {
        let raw = value.to_str().unwrap_or_default().trim();
        let found =
            state.apps.by_key(store, raw, now).await.map_err(|e| ApiError::from(e).into_response())?;
        let Some(found) = found else { return Err(ApiError::InvalidApiKey.into_response()) };
        if state.settings.limits.enabled {
            let rule = state.settings.limits.app_key;
            let (allowed, ends_at) = state
                .counters
                .take(&format!("rl:app-key:{}", found.key_id), rule.max, rule.window_ms, now)
                .await;
            if !allowed {
                return Err(too_many_requests(ends_at - now));
            }
        }
        return Ok((Scope(Some(found.app)), true));
    }
    let origin =
        headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER)).and_then(|v| v.to_str().ok());
    let Some(origin) = origin else { return Ok((Scope::default(), false)) };
    let app =
        state.apps.by_origin(store, origin, now).await.map_err(|e| ApiError::from(e).into_response())?;
    Ok((Scope(app), false))
}

impl FromRequestParts<AppState> for Scope {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        parts.extensions.get::<Scope>().cloned().ok_or_else(|| ApiError::internal("app layer missing"))
    }
}

/// The request's scope from its extensions (for code that holds the request's parts).
pub fn scope_in(extensions: &axum::http::Extensions) -> Scope {
    extensions.get::<Scope>().cloned().unwrap_or_default()
}

/// A body's `appId` must name the request's app: 403 `APP_MISMATCH` when it names another,
/// 401 `API_KEY_REQUIRED` on a request that belongs to no app.
pub fn check_body_app(scope: &Scope, app_id: Option<&str>) -> Result<(), ApiError> {
    match (app_id, scope.app()) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(ApiError::ApiKeyRequired),
        (Some(named), Some(app)) if named == app.id || named == app.slug => Ok(()),
        (Some(_), Some(_)) => Err(ApiError::AppMismatch),
    }
}
