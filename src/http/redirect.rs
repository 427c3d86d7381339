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
        Some(u) if !u.is_empty() && !state.safe_callback(u, Some(scope)) => Err(ApiError::InvalidCallbackUrl),
        _ => Ok(()),
    }
}

/// The callback URL of a mailed link a browser follows (no app): as [`check_callback`], any
/// app's origin allowed (the link's callback was checked in its app's scope when it was mailed,
/// and only its token's holder has the link).
pub fn check_link_callback(state: &AppState, url: Option<&str>) -> ApiResult<()> {
    match url {
        Some(u) if !u.is_empty() && !state.safe_callback(u, None) => Err(ApiError::InvalidCallbackUrl),
        _ => Ok(()),
    }
}
