//! `GET /metrics` (at the root, beside `/health`): the Prometheus text exposition, only with
//! `Authorization: Bearer <METRICS_TOKEN>`; without `METRICS_TOKEN` there is no such route (404)
//! and requests are not measured at all.

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use subtle::ConstantTimeEq;

use crate::{domain::time::Stopwatch, error::ApiError, metrics::Route, state::AppState};

#[allow(clippy::disallowed_methods, reason = "the root's routes are not part of the API description")]
pub fn root_router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.settings.metrics_token else { return StatusCode::NOT_FOUND.into_response() };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let given = given.and_then(|v| v.strip_prefix("Bearer ")).unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
        let mut refused = ApiError::Unauthorized.into_response();
        refused.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return refused;
    }
    let text = state.metrics.render(&state.readings().await);
    let mut res = text.into_response();
    let kind = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    res.headers_mut().insert(header::CONTENT_TYPE, kind);
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Counts and times every request by its matched route (applied per route and to the fallback,
/// so the route pattern is known; `unmatched` for the fallback).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Stopwatch::start();
    let method = req.method().clone();
    let route = Route(req.extensions().get::<MatchedPath>().cloned());
    let res = next.run(req).await;
    state.metrics.request(&method, route, res.status().as_u16(), started.elapsed());
    res
}
