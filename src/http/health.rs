//! `GET /ok` and `GET /health` (under the base path and at the root).

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::time::format_ms,
    http::{layers::has_cookie, pages},
    service::sessions::base_cookie,
    state::AppState,
};

const TAG: &str = "Health";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ok)).routes(routes!(health))
}

/// At the root, outside the base path and the API description.
#[allow(clippy::disallowed_methods, reason = "the root's routes are not part of the API description")]
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

/// `{ok: true}`.
#[derive(Serialize, ToSchema)]
struct OkAnswer {
    ok: bool,
}

/// `GET /ok`: the server answers (nothing else is checked).
#[utoipa::path(get, path = "/ok", tag = TAG, summary = "Whether the server answers",
    responses((status = 200, description = "The server is up", body = OkAnswer)))]
async fn ok() -> Json<OkAnswer> {
    Json(OkAnswer { ok: true })
}

/// The server's state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Health {
    /// `healthy`, or `unhealthy` when the database does not answer.
    status: &'static str,
    /// The time of the check (ISO 8601).
    #[schema(format = DateTime)]
    timestamp: String,
    /// `gatehouse`.
    service: &'static str,
    /// `connected` or `disconnected`.
    database: &'static str,
    /// Where the rate-limit counters are kept: `memory`, `redis`, or `degraded`.
    rate_limit: &'static str,
}

/// `GET /health` (also at the root, undescribed): 200 when the database answers within two
/// seconds, else 503; the same body either way.
#[utoipa::path(get, path = "/health", tag = TAG, summary = "Whether the server and its database are healthy",
    responses((status = 200, description = "Healthy", body = Health),
        (status = 503, description = "The database did not answer", body = Health)))]
async fn health(State(state): State<AppState>) -> Response {
    let reachable =
        matches!(tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await, Ok(Ok(())));
    let (status, word, db) = if reachable {
        (StatusCode::OK, "healthy", "connected")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "disconnected")
    };
    let rate_limit = state.counters.mode().as_str();
    let body = Health {
        status: word,
        timestamp: format_ms(state.clock.now_ms()),
        service: "gatehouse",
        database: db,
        rate_limit,
    };
    (status, Json(body)).into_response()
}
