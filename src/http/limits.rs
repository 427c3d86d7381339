//! Rate limits as middleware: requests are counted by the route they matched (its template, e.g.
//! `/reset-password/{token}`) and client; every path that matches no route shares one bucket per
//! client, so neither respelling a path nor inventing new ones creates counters. The rules are
//! `security::ratelimit`'s.

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    error::ApiError,
    http::extract::client_ip,
    security::{client_ip::limit_key, ratelimit::UNKNOWN_ROUTE},
    state::AppState,
};

/// Middleware on every route: counts the request against its route's rule; over the limit, 429
/// `RATE_LIMIT_EXCEEDED` with `Retry-After` and `X-Retry-After` (seconds).
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.settings.limits.enabled {
        return next.run(req).await;
    }
    // Route templates are already canonical: only the base path comes off.
    let route = match req.extensions().get::<MatchedPath>() {
        Some(matched) => {
            let path = matched.as_str();
            path.strip_prefix(state.settings.base_path.as_str())
                .filter(|p| p.starts_with('/'))
                .unwrap_or(path)
        }
        None => UNKNOWN_ROUTE,
    };
    // An app's requests count apart from the default space's and other apps'.
    let client =
        crate::http::apps::scope_in(req.extensions()).qualify(&client_key(&state, &req)).into_owned();
    match over_limit(&state, route, &client).await {
        Some(limited) => limited,
        None => next.run(req).await,
    }
}

/// The fallback for paths that match no route: counted in one bucket per client, then 404 with
/// an empty body.
pub async fn unknown_route(State(state): State<AppState>, req: Request) -> Response {
    if state.settings.limits.enabled {
        let client = client_key(&state, &req);
        if let Some(limited) = over_limit(&state, UNKNOWN_ROUTE, &client).await {
            return limited;
        }
    }
    StatusCode::NOT_FOUND.into_response()
}

/// Who the request counts for: the client's address (behind trusted proxies, the forwarded one).
fn client_key(state: &AppState, req: &Request) -> String {
    client_ip(state, req.headers(), req.extensions()).map_or_else(|| "unknown".to_string(), limit_key)
}

/// Counts a request under `route` for `client`: the 429 to answer when over the limit.
async fn over_limit(state: &AppState, route: &str, client: &str) -> Option<Response> {
    let rule = state.rules.for_path(route);
    let now = state.clock.now_ms();
    let (allowed, ends_at) =
        state.counters.take(&format!("rl:{route}:{client}"), rule.max, rule.window_ms, now).await;
    if allowed {
        return None;
    }
    state.metrics.rate_limited(route);
    Some(too_many_requests(ends_at - now))
}

/// 429 `RATE_LIMIT_EXCEEDED` with `Retry-After` and `X-Retry-After`: the seconds until `wait_ms`
/// has passed (at least one).
pub fn too_many_requests(wait_ms: i64) -> Response {
    let retry_after = ((wait_ms + 999) / 1000).max(1);
    let mut res = ApiError::RateLimited.into_response();
    let value = HeaderValue::from(retry_after);
    res.headers_mut().insert("retry-after", value.clone());
    res.headers_mut().insert("x-retry-after", value);
    res
}
