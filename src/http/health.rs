//! `GET /ok` and `GET /health` (under the base path and at the root).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use crate::{
    domain::time::format_ms,
    http::{layers::has_cookie, pages},
    service::sessions::base_cookie,
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/ok", get(ok)).route("/health", get(health))
}

pub fn root_router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/", get(home))
}

/// `GET /` where Gatehouse runs on its own origin (no app in front of it): a small page, so a
/// verification link's default redirect (`callbackURL=/`) never lands on a bare 404. Right after
/// a verification it says so.
async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let name = state.email_verified_cookie();
    let verified =
        headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).any(|v| has_cookie(v, &name));
    if !verified {
        let text =
            format!("{} is running. Sign-in happens in the app that uses it.", state.settings.app_name);
        return pages::message(&state, "Authentication server", &text);
    }
    let mut page =
        pages::message(&state, "Email verified", "Your email address is verified. You can close this tab.");
    let mut gone = base_cookie(&state, name);
    gone.set_max_age(time::Duration::ZERO);
    if let Ok(v) = HeaderValue::from_str(&gone.to_string()) {
        page.headers_mut().append(header::SET_COOKIE, v);
    }
    page
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
    let rate_limit = state.counters.mode().as_str();
    let body = json!({
        "status": word,
        "timestamp": format_ms(state.clock.now_ms()),
        "service": "gatehouse",
        "database": db,
        "rateLimit": rate_limit,
    });
    (status, Json(body)).into_response()
}
