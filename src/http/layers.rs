//! Middleware: request ids, Bearer tokens, the `set-auth-token` header, origin (CSRF) checks, and
//! JSON bodies for errors produced below the handlers.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::ApiError, security::keys, state::AppState};

const SET_AUTH_TOKEN: &str = "set-auth-token";

/// `Authorization: Bearer <token>` (raw or signed) authenticates exactly like the cookie: it is
/// turned into the signed session cookie before the session layer reads cookies. On the way out,
/// a response that sets the session cookie also carries `set-auth-token`.
///
/// A session cookie (or Bearer value) signed with an older secret (`BETTER_AUTH_SECRETS`) is
/// signed again with the current one, here and in the answer's cookie and `set-auth-token`, so
/// clients move to the current secret as they come back.
pub async fn bearer_and_auth_token(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut resigned = resign_session_cookie(&state, &mut req);
    if let Some((signed, token)) = bearer_cookie_value(&state, &req) {
        let cookie = format!("{}={signed}", state.session_cookie);
        let merged = match req.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()) {
            // The cookie, when present, wins; Bearer fills in only when it is absent.
            Some(existing) if has_cookie(existing, &state.session_cookie) => None,
            Some(existing) => Some(format!("{existing}; {cookie}")),
            None => Some(cookie),
        };
        if let Some(value) = merged.and_then(|v| HeaderValue::from_str(&v).ok()) {
            req.headers_mut().insert(header::COOKIE, value);
            // Only a Bearer value that is the request's session is signed again.
            resigned = resigned.or(token);
        }
    }
    let mut res = next.run(req).await;
    let prefix = format!("{}=", state.session_cookie);
    let sets_session = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&prefix)));
    if let (Some(token), false) = (resigned, sets_session)
        && let Some(cookie) = crate::service::sessions::resigned_cookie(&state, &token).await
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        res.headers_mut().append(header::SET_COOKIE, value);
        // An answer that hands out a session is nobody else's (`/jwks` is otherwise public).
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    let token = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix(&prefix))
        .map(|v| v.split(';').next().unwrap_or(""))
        .find(|v| !v.is_empty())
        .and_then(|v| HeaderValue::from_str(v).ok());
    if let Some(token) = token {
        res.headers_mut().insert(SET_AUTH_TOKEN, token);
        res.headers_mut()
            .append(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(SET_AUTH_TOKEN));
    }
    res
}

/// Whether a `Cookie` header value names the cookie `name`.
pub fn has_cookie(header_value: &str, name: &str) -> bool {
    header_value.split(';').any(|pair| pair.trim().split_once('=').is_some_and(|(n, _)| n == name))
}

/// Signs the request's session cookie again when an older secret signed it; its token then.
fn resign_session_cookie(state: &AppState, req: &mut Request) -> Option<String> {
    let header_value = req.headers().get(header::COOKIE)?.to_str().ok()?;
    let mut token = None;
    let pairs: Vec<String> = header_value
        .split(';')
        .map(|pair| match pair.trim().split_once('=') {
            Some((name, value)) if name == state.session_cookie && token.is_none() => {
                match state.verify_signed(name, value) {
                    Some((raw, true)) => {
                        let fresh = keys::sign_cookie_value(&state.cookie_key, name, &raw);
                        token = Some(raw);
                        format!("{name}={fresh}")
                    }
                    _ => pair.trim().to_string(),
                }
            }
            _ => pair.trim().to_string(),
        })
        .collect();
    let value = HeaderValue::from_str(&pairs.join("; ")).ok()?;
    if token.is_some() {
        req.headers_mut().insert(header::COOKIE, value);
    }
    token
}

/// The signed cookie value for the request's Bearer token, if it has a well-formed one, and its
/// token when an older secret had signed it.
fn bearer_cookie_value(state: &AppState, req: &Request) -> Option<(String, Option<String>)> {
    let auth = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    // (`.` and `%`: a Better Auth signed value, of a session imported from it.)
    if !token.chars().all(|c| c.is_ascii_alphanumeric() || "-_=+/.%".contains(c)) || token.len() > 256 {
        return None;
    }
    match state.verify_signed(&state.session_cookie, token) {
        Some((_, false)) => Some((token.to_string(), None)),
        Some((raw, true)) => {
            Some((keys::sign_cookie_value(&state.cookie_key, &state.session_cookie, &raw), Some(raw)))
        }
        // A raw Better Auth token (32 letters and digits, as its bearer plugin takes them) is
        // the token of the session imported from it; this server's own raw tokens are 22 long.
        None if token.len() == 32 && token.chars().all(|c| c.is_ascii_alphanumeric()) => {
            let ours = keys::imported_session_token(token);
            Some((keys::sign_cookie_value(&state.cookie_key, &state.session_cookie, &ours), None))
        }
        None => Some((keys::sign_cookie_value(&state.cookie_key, &state.session_cookie, token), None)),
    }
}

/// CORS for the origins [`AppState::cors_allows`] (exactly listed ones, with credentials): the
/// origin echoed (never `*`) with `Allow-Credentials`, `Vary: Origin`; preflights answered for
/// `GET`/`POST` with `content-type` and `authorization`; the headers clients read exposed. Any
/// other origin gets no CORS headers, so browsers keep its pages from reading answers. Built once;
/// [`cors`] applies it (shared: the state of a `from_fn` layer is cloned for every request).
pub fn cors_layer(state: &AppState) -> tower_http::cors::CorsLayer {
    let allowed = {
        let st = state.clone();
        move |origin: &HeaderValue, parts: &axum::http::request::Parts| {
            let scope = parts.extensions.get::<crate::domain::app::Scope>();
            matches!((origin.to_str(), scope), (Ok(o), Some(scope)) if st.cors_allows(o, scope))
        }
    };
    let exposed = [SET_AUTH_TOKEN, "set-auth-jwt", "retry-after", "x-retry-after", "x-request-id"];
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::predicate(allowed.clone()))
        .allow_credentials(tower_http::cors::AllowCredentials::predicate(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .expose_headers(exposed.map(header::HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(600))
}

/// Applies [`cors_layer`] to requests with an `Origin`; a request without one (no browser's
/// cross-origin call) passes untouched: an `OPTIONS` is no preflight, no CORS headers are added.
pub async fn cors(
    State(layer): State<Arc<tower_http::cors::CorsLayer>>,
    req: Request,
    next: Next,
) -> Response {
    use tower::{Layer, ServiceExt};
    if !req.headers().contains_key(header::ORIGIN) {
        return next.run(req).await;
    }
    match layer.layer(next).oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// CSRF: a state-changing request that carries cookies must come from a trusted origin. Sign-in
/// and sign-up are checked whenever the request looks like it came from a browser (login CSRF).
/// Requests with no cookie and no browser headers (curl, servers) pass.
pub async fn origin_check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let has_cookie = headers.contains_key(header::COOKIE);
    let browserish = headers.contains_key(header::ORIGIN)
        || headers.contains_key(header::REFERER)
        || headers.keys().any(|k| k.as_str().starts_with("sec-fetch-"));
    let path = req.uri().path();
    // A provider's form post back is cross-site by design, and changes nothing: it is answered
    // with a redirect to the GET form, where state and PKCE protect the sign-in.
    let route = path.strip_prefix(state.settings.base_path.as_str()).unwrap_or(path);
    if route.strip_prefix("/callback/").is_some_and(|id| !id.contains('/')) {
        return next.run(req).await;
    }
    // Routes that start a session without needing one (login CSRF).
    let is_login = path.ends_with("/sign-in/email")
        || path.ends_with("/sign-in/username")
        || path.ends_with("/sign-up/email")
        || path.ends_with("/sign-in/email-otp")
        || path.ends_with("/sign-in/social")
        || path.ends_with("/link-account");
    if !(has_cookie || (is_login && browserish)) {
        return next.run(req).await;
    }
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "null");
    match origin {
        // A server with an app's key, and nothing only a browser sends (Node's fetch sends
        // `Sec-Fetch-Mode`, never `Sec-Fetch-Site` nor `Sec-Fetch-Dest`).
        None if req.extensions().get::<crate::http::apps::KeyHolder>().is_some()
            && !["origin", "referer", "sec-fetch-site", "sec-fetch-dest"]
                .iter()
                .any(|h| headers.contains_key(*h)) =>
        {
            next.run(req).await
        }
        None => ApiError::MissingOrNullOrigin.into_response(),
        Some(o) if !state.trusts_origin(o, &crate::http::apps::scope_in(req.extensions())) => {
            ApiError::InvalidOrigin.into_response()
        }
        Some(_) => next.run(req).await,
    }
}

/// Errors raised below the handlers (the session layer's 500s, axum's 405s) get the contract's
/// shape: JSON bodies for 5xx, and an unknown method is an unknown route (404, empty body).
pub async fn contract_errors(req: Request, next: Next) -> Response {
    let (res, database_away) = crate::error::watching_the_database(next.run(req)).await;
    let status = res.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return StatusCode::NOT_FOUND.into_response();
    }
    if status.is_server_error() && !res.headers().contains_key(header::CONTENT_TYPE) {
        // A bare 500 from the session layer when saving with the database away is a 503 too.
        if status == StatusCode::SERVICE_UNAVAILABLE || database_away {
            return ApiError::ServiceUnavailable.into_response();
        }
        let (parts, _) = res.into_parts();
        let mut fresh = ApiError::internal("error below the handlers (see the log above)").into_response();
        *fresh.status_mut() = parts.status;
        return fresh;
    }
    res
}

/// `Cache-Control: no-store` for answers carrying sessions, tokens or personal data.
pub fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The request's id: the `x-request-id` a client or proxy sent (1 to 64 of `A-Z a-z 0-9 . _ : -`),
/// else a new one. It is in the request's log span and goes back as `x-request-id`.
#[derive(Clone)]
pub struct RequestId(pub HeaderValue);

const X_REQUEST_ID: &str = "x-request-id";

pub async fn request_id(mut req: Request, next: Next) -> Response {
    let plain = |v: &&HeaderValue| {
        (1..=64).contains(&v.len())
            && v.as_bytes().iter().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(b))
    };
    let id = req.headers().get(X_REQUEST_ID).filter(plain).cloned().unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    res.headers_mut().insert(X_REQUEST_ID, id);
    res
}

/// This process's prefix (random, so ids of several instances do not collide) and a counter.
fn new_request_id() -> HeaderValue {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let prefix = PREFIX.get_or_init(|| crate::security::tokens::random_hex(4));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    HeaderValue::from_str(&format!("{prefix}-{n:x}")).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// The log span of a request: method, route as matched (never the path itself, nor the query:
/// either may hold a token, e.g. `/reset-password/{token}`) and id.
pub fn request_span(req: &Request) -> tracing::Span {
    let id = req.extensions().get::<RequestId>().and_then(|r| r.0.to_str().ok()).unwrap_or("-");
    let route = req.extensions().get::<axum::extract::MatchedPath>().map_or("unmatched", |m| m.as_str());
    tracing::info_span!("request", method = %req.method(), route, request_id = id)
}
