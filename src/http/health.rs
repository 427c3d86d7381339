//! `GET /ok` and `GET /health` (under the base path and at the root).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use crate::{domain::time::format_ms, security::counters::Mode, state::AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/ok", get(ok)).route("/health", get(health))
}

pub fn root_router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn ok() -> Json<serde_json::Value> {
    Json(json!({ "ok": true }))
}

async fn health(State(state): State<AppState>) -> Response {
    let reachable =
        matches!(tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await, Ok(Ok(())));
    let (status, word, db) = if reachable {
        (StatusCode::OK, "healthy", "connected")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "disconnected")
    };
    let rate_limit = match state.counters.mode() {
        Mode::Memory => "memory",
        Mode::Redis => "redis",
        Mode::Degraded => "degraded",
    };
    let body = json!({
        "status": word,
        "timestamp": format_ms(state.clock.now_ms()),
        "service": "gatehouse",
        "database": db,
        "rateLimit": rate_limit,
    });
    (status, Json(body)).into_response()
}
