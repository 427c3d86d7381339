//! Sending the browser on: `302 Found`, query parameters on a callback URL, and the check that a
//! callback URL is one of ours.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use crate::{
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Adds `key=value` to a (trusted) callback URL, relative or absolute.
pub fn with_param(callback: &str, key: &str, value: &str) -> String {
    let sep = if callback.contains('?') { '&' } else { '?' };
    format!("{callback}{sep}{}", serde_urlencoded::to_string([(key, value)]).unwrap_or_default())
}

/// `302 Found` to `url` (what Better Auth answers; axum's `Redirect::to` would say 303).
pub fn found(url: &str) -> Response {
    match axum::http::HeaderValue::from_str(url) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(_) => ApiError::InvalidCallbackUrl.into_response(),
    }
}

pub fn check_callback(state: &AppState, url: Option<&str>) -> ApiResult<()> {
    match url {
        Some(u) if !u.is_empty() && !state.origins.is_safe_callback(u) => Err(ApiError::InvalidCallbackUrl),
        _ => Ok(()),
    }
}
