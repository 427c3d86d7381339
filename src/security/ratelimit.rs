//! Rate limits per client and route: a general rule (100 requests per 10 s), a stricter one for
//! sign-in and sign-up, a strict one for routes that send mail, and custom rules from settings.
//! Requests are counted by the route they matched (its template, e.g. `/reset-password/{token}`),
//! and every path that matches no route shares one bucket per client, so neither respelling a
//! path nor inventing new ones creates counters.

use axum::{
    extract::{ConnectInfo, MatchedPath, Request, State},
    http::{HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::ApiError, security::client_ip::limit_key, state::AppState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub max: u64,
    pub window_ms: i64,
}

/// Routes that check a password or a one-time code: the strict sign-in rule.
const LOGIN_PATHS: &[&str] = &[
    "/sign-in/email",
    "/sign-up/email",
    "/sign-in/email-otp",
    "/email-otp/verify-email",
    "/email-otp/reset-password",
];
const MAIL_PATHS: &[&str] = &[
    "/send-verification-email",
    "/request-password-reset",
    "/forget-password",
    "/email-otp/send-verification-otp",
    "/change-email",
    "/organization/invite-member",
];
/// The bucket every path that matches no route shares (per client).
const UNKNOWN_ROUTE: &str = "(unknown)";

#[derive(Debug, Clone)]
pub struct Rules {
    pub general: Rule,
    pub login: Rule,
    pub mail: Rule,
    /// Exact (normalised) paths under the base path, e.g. `/get-session`.
    pub custom: Vec<(String, Rule)>,
}

impl Rules {
    pub fn new(login: Rule) -> Self {
        Self {
            general: Rule { max: 100, window_ms: 10_000 },
            login,
            mail: Rule { max: 3, window_ms: 60_000 },
            custom: Vec::new(),
        }
    }

    /// `/path=MAX/SECONDS, …` (`RATE_LIMIT_RULES`).
    pub fn parse_custom(list: &str) -> Option<Vec<(String, Rule)>> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (path, limit) = item.split_once('=')?;
                let (max, secs) = limit.split_once('/')?;
                let rule = Rule {
                    max: max.trim().parse().ok()?,
                    window_ms: secs.trim().parse::<i64>().ok()? * 1000,
                };
                (rule.window_ms > 0 && path.trim().starts_with('/'))
                    .then(|| (normalize(path.trim(), ""), rule))
            })
            .collect()
    }

    pub fn for_path(&self, path: &str) -> Rule {
        if let Some((_, rule)) = self.custom.iter().find(|(p, _)| p == path) {
            return *rule;
        }
        if LOGIN_PATHS.contains(&path) {
            self.login
        } else if MAIL_PATHS.contains(&path) {
            self.mail
        } else {
            self.general
        }
    }
}

/// The path a rule is looked up by (a matched route, or a custom rule's path): percent-decoded,
/// lowercased, repeated slashes collapsed, no trailing slash, relative to the base path.
pub fn normalize(path: &str, base_path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy().to_lowercase();
    let mut out = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    let base = base_path.to_lowercase();
    match out.strip_prefix(base.as_str()) {
        Some(rest) if !base.is_empty() && (rest.is_empty() || rest.starts_with('/')) => {
            if rest.is_empty() {
                "/".into()
            } else {
                rest.to_string()
            }
        }
        _ if out.is_empty() => "/".into(),
        _ => out,
    }
}

/// Middleware on every route: counts the request against its route's rule; over the limit, 429
/// `RATE_LIMIT_EXCEEDED` with `Retry-After` and `X-Retry-After` (seconds).
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.settings.rate_limit_enabled {
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
    let client = client_key(&state, &req);
    match over_limit(&state, route, &client).await {
        Some(limited) => limited,
        None => next.run(req).await,
    }
}

/// The fallback for paths that match no route: counted in one bucket per client, then 404 with
/// an empty body.
pub async fn unknown_route(State(state): State<AppState>, req: Request) -> Response {
    if state.settings.rate_limit_enabled {
        let client = client_key(&state, &req);
        if let Some(limited) = over_limit(&state, UNKNOWN_ROUTE, &client).await {
            return limited;
        }
    }
    StatusCode::NOT_FOUND.into_response()
}

/// Who the request counts for: the client's address (behind trusted proxies, the forwarded one).
fn client_key(state: &AppState, req: &Request) -> String {
    match req.extensions().get::<ConnectInfo<std::net::SocketAddr>>() {
        Some(ConnectInfo(peer)) => {
            let forwarded: Vec<&str> =
                req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
            limit_key(state.settings.trusted_proxies.client_ip(peer.ip(), &forwarded))
        }
        None => "unknown".to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_normalise_to_one_path() {
        for p in [
            "/api/auth/sign-in/email",
            "/api/auth//sign-in/email",
            "/api/auth/sign-in/email/",
            "/API/AUTH/Sign-In/Email",
            "/api/auth/sign-in%2Femail",
            "/api/auth/%73ign-in/email",
            "//api/auth/sign-in/email",
        ] {
            assert_eq!(normalize(p, "/api/auth"), "/sign-in/email", "{p}");
        }
        assert_eq!(normalize("/health", "/api/auth"), "/health");
        assert_eq!(normalize("/api/authx/ok", "/api/auth"), "/api/authx/ok");
    }

    #[test]
    fn rules() {
        let mut rules = Rules::new(Rule { max: 20, window_ms: 900_000 });
        rules.custom = Rules::parse_custom("/get-session=1000/10, /OK/=5/1").unwrap();
        assert_eq!(rules.for_path("/sign-in/email").max, 20);
        assert_eq!(rules.for_path("/forget-password").max, 3);
        assert_eq!(rules.for_path("/get-session"), Rule { max: 1000, window_ms: 10_000 });
        assert_eq!(rules.for_path("/ok"), Rule { max: 5, window_ms: 1000 });
        assert_eq!(rules.for_path("/list-sessions").max, 100);
        assert!(Rules::parse_custom("/x=1").is_none());
        assert!(Rules::parse_custom("x=1/1").is_none());
    }
}
