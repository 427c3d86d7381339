//! Sending the browser on: `302 Found`, and the check that a callback URL is one of ours (query
//! parameters on it: `service::links::with_params`).

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    domain::app::Scope,
    error::{ApiError, ApiResult},
    state::AppState,
};

/// `302 Found` to `url` (what Better Auth answers; axum's `Redirect::to` would say 303).
pub fn found(url: &str) -> Response {
    match axum::http::HeaderValue::from_str(url) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => ApiError::InvalidCallbackUrl.into_response(),
    }
}

/// A callback URL a request of `scope` names: a safe relative path, or on a trusted origin or
/// one of the request's app (403 `INVALID_CALLBACK_URL` otherwise).
pub fn check_callback(state: &AppState, scope: &Scope, url: Option<&str>) -> ApiResult<()> {
    match url {
        Some(u) if !u.is_empty() && !state.safe_callback(u, scope) => Err(ApiError::InvalidCallbackUrl),
        _ => Ok(()),
    }
}
