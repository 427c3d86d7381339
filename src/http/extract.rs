//! Request extractors: bodies (JSON, or form where allowed) with the contract's errors, and the
//! current session.

use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, header, request::Parts},
};
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use tower_sessions::Session;

use crate::{
    domain::model::{SessionRow, SubscriptionRow, User},
    error::ApiError,
    state::AppState,
    store::session_store::{SESSION_KEY, SUBSCRIPTION_KEY, USER_KEY},
};

/// A JSON body.
pub struct Json<T>(pub T);

/// The body of a route without input: still read, so the size and content-type rules apply.
#[derive(serde::Deserialize)]
pub struct NoBody {}
/// A JSON or `application/x-www-form-urlencoded` body (sign-in and sign-up).
pub struct JsonOrForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_body(req, state.settings.max_body_bytes, false).await.map(Json)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonOrForm<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        read_body(req, state.settings.max_body_bytes, true).await.map(JsonOrForm)
    }
}

enum Kind {
    Json,
    Form,
}

fn kind_of(headers: &HeaderMap, allow_form: bool) -> Option<Kind> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Some(Kind::Json),
        "application/x-www-form-urlencoded" if allow_form => Some(Kind::Form),
        _ => None,
    }
}

async fn read_body<T: DeserializeOwned>(req: Request, limit: usize, allow_form: bool) -> Result<T, ApiError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let kind = kind_of(&parts.headers, allow_form);
    let has_type = parts.headers.contains_key(header::CONTENT_TYPE);
    if has_type && kind.is_none() {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = axum::body::to_bytes(Body::new(body), limit).await.map_err(|_| ApiError::PayloadTooLarge)?;
    match kind {
        // No body at all: the same as `{}` (optional-field routes such as sign-out).
        None if bytes.iter().all(u8::is_ascii_whitespace) => parse_json(b"{}"),
        None => Err(ApiError::UnsupportedMediaType),
        Some(Kind::Json) if bytes.iter().all(u8::is_ascii_whitespace) => parse_json(b"{}"),
        Some(Kind::Json) => parse_json(&bytes),
        Some(Kind::Form) => {
            let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(&bytes));
            serde_path_to_error::deserialize(de)
                .map_err(|e| describe(e.path().to_string(), e.inner().to_string()))
        }
    }
}

fn form_urlencoded_parse(bytes: &[u8]) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(bytes)
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        if e.inner().is_syntax() || e.inner().is_eof() {
            ApiError::Validation("Invalid JSON body".into())
        } else {
            describe(e.path().to_string(), e.inner().to_string())
        }
    })?;
    de.end().map_err(|_| ApiError::Validation("Invalid JSON body".into()))?;
    Ok(value)
}

/// `[body.email] Required`-style messages, naming the field.
fn describe(path: String, message: String) -> ApiError {
    let (field, text) = match message.strip_prefix("missing field `") {
        Some(rest) => (rest.split('`').next().unwrap_or("").to_string(), "Required".to_string()),
        None => (path, message.split(" at line ").next().unwrap_or("").to_string()),
    };
    let field = if field == "." || field.is_empty() { String::new() } else { format!(".{field}") };
    // serde names the Rust type it expected at the top level; say what the client must send.
    let text = match text.split_once(", expected struct ") {
        Some((head, _)) => format!("{head}, expected a JSON object"),
        None => text,
    };
    ApiError::Validation(format!("[body{field}] {text}"))
}

/// Whether the request body is a form post (a built-in page's form, not a JSON client).
pub fn is_form(headers: &HeaderMap) -> bool {
    matches!(kind_of(headers, true), Some(Kind::Form))
}

/// A query string as `T`; missing or malformed parameters give `T::default()`'s values.
pub fn lenient_query<T: DeserializeOwned + Default>(raw: Option<String>) -> T {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok()).unwrap_or_default()
}

/// The signed-in user and session (protected routes: otherwise 401 `UNAUTHORIZED`).
pub struct Authenticated {
    pub session: SessionRow,
    pub user: User,
    /// The subscription of the active organization, else of the user.
    pub subscription: Option<SubscriptionRow>,
    pub handle: Session,
}

/// The session, if there is one (`get-session`).
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        let handle = session_handle(parts)?;
        let session: Option<SessionRow> = handle.get(SESSION_KEY).await?;
        let user: Option<User> = handle.get(USER_KEY).await?;
        let subscription: Option<SubscriptionRow> =
            handle.get::<Option<SubscriptionRow>>(SUBSCRIPTION_KEY).await?.flatten();
        Ok(Self(match (session, user) {
            (Some(session), Some(user)) => Some(Authenticated { session, user, subscription, handle }),
            _ => None,
        }))
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        MaybeAuthenticated::from_request_parts(parts, state).await?.0.ok_or(ApiError::Unauthorized)
    }
}

pub fn session_handle(parts: &Parts) -> Result<Session, ApiError> {
    parts.extensions.get::<Session>().cloned().ok_or_else(|| ApiError::internal("session layer missing"))
}

/// Who is asking: the peer address and user agent, recorded on new sessions.
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Behind a trusted proxy, the client's own address (as for rate limits).
        let forwarded: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| state.settings.trusted_proxies.client_ip(c.0.ip(), &forwarded).to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}
