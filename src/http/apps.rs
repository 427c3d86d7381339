//! Which app a request belongs to (middleware), and the [`Scope`] extractor handlers take.
//!
//! A valid `x-api-key` picks its app (and counts against the key's own limit); an invalid,
//! revoked or expired one is refused before anything else runs. Without a key, a request whose
//! `Origin` one app lists belongs to that app. Anything else is the default space.

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{HeaderMap, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{domain::app::Scope, error::ApiError, http::limits::too_many_requests, state::AppState};

pub const API_KEY_HEADER: &str = "x-api-key";

/// Middleware on every route under the base path: puts the request's [`Scope`] in its
/// extensions.
pub async fn app_scope(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    match scope_of(&state, req.headers()).await {
        Ok(scope) => {
            req.extensions_mut().insert(scope);
            next.run(req).await
        }
        Err(refused) => refused,
    }
}

async fn scope_of(state: &AppState, headers: &HeaderMap) -> Result<Scope, Response> {
    let now = state.clock.now_ms();
    let store = state.store.as_ref();
    if let Some(value) = headers.get(API_KEY_HEADER) {
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
        return Ok(Scope(Some(found.app)));
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(Scope::default());
    };
    let app =
        state.apps.by_origin(store, origin, now).await.map_err(|e| ApiError::from(e).into_response())?;
    Ok(Scope(app))
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
