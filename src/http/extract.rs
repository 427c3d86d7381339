//! (Over 400 lines: every extractor a handler takes lives here — bodies, the session and its
//! rules for restricted and impersonated sessions, the client — so a handler's inputs are found in one file.)
//!
//! Request extractors: bodies (JSON, or form where allowed) with the contract's errors, and the
//! current session.

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request},
    http::{HeaderMap, header, request::Parts},
};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};
use tower_cookies::Cookies;
use tower_sessions::Session;

use crate::{
    domain::{
        app::Scope,
        fields::Source,
        model::{SessionRow, SubscriptionRow, User},
    },
    error::ApiError,
    http::{
        apps::{check_body_app, scope_in},
        body_limit::{declared_length, read_limited, too_large},
    },
    service::{
        sessions::{ClientInfo, SignInContext},
        sign_in::second_factor_setup_pending,
    },
    state::AppState,
    store::session_store::SESSION_KEY,
};

/// A JSON body.
pub struct Json<T>(pub T);

/// The body of a route without input: still read, so the size and content-type rules apply.
#[derive(serde::Deserialize, utoipa::ToSchema)]
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

/// A body's own fields, named so the rest of a body can be told apart from them.
pub trait BodyFields {
    const FIELDS: &'static [&'static str];
    /// Also taken as `application/x-www-form-urlencoded`.
    const FORMS: bool;
}

/// A JSON or form body as `T`, and its keys that are not `T`'s (nor `appId`): the custom user
/// fields it carries (see `domain::fields`), `null`s included.
pub struct WithExtras<T> {
    pub body: T,
    pub extras: serde_json::Map<String, serde_json::Value>,
    pub source: Source,
}

impl<T: DeserializeOwned + BodyFields> FromRequest<AppState> for WithExtras<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (kind, bytes) = read_raw(req, state.settings.max_body_bytes, T::FORMS).await?;
        let body = decode(&kind, &bytes)?;
        let mut extras = match kind {
            Some(Kind::Json) if !bytes.is_empty() => parse_json::<serde_json::Map<_, _>>(&bytes)?,
            Some(Kind::Form) => form_urlencoded_parse(&bytes)
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect(),
            _ => serde_json::Map::new(),
        };
        extras.retain(|key, _| key != "appId" && !T::FIELDS.contains(&key.as_str()));
        let source = match kind {
            Some(Kind::Form) => Source::Form,
            _ => Source::Json,
        };
        Ok(Self { body, extras, source })
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
    let (kind, bytes) = read_raw(req, limit, allow_form).await?;
    decode(&kind, &bytes)
}

/// The body's kind and bytes, within the size limit, of an allowed content type, naming no other
/// app than the request's.
async fn read_raw(req: Request, limit: usize, allow_form: bool) -> Result<(Option<Kind>, Bytes), ApiError> {
    let (parts, body) = req.into_parts();
    if declared_length(&parts.headers).is_some_and(|n| n > limit as u64) {
        return Err(too_large(&parts.headers, Body::new(body), 0).await);
    }
    let kind = kind_of(&parts.headers, allow_form);
    let has_type = parts.headers.contains_key(header::CONTENT_TYPE);
    if has_type && kind.is_none() {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_limited(&parts.headers, Body::new(body), limit).await?;
    check_body_app(&scope_in(&parts.extensions), body_app_id(&kind, &bytes).as_deref())?;
    Ok((kind, bytes))
}

fn decode<T: DeserializeOwned>(kind: &Option<Kind>, bytes: &[u8]) -> Result<T, ApiError> {
    match kind {
        // No body at all: the same as `{}` (optional-field routes such as sign-out).
        None if bytes.iter().all(u8::is_ascii_whitespace) => parse_json(b"{}"),
        None => Err(ApiError::UnsupportedMediaType),
        // Declared JSON: only a body of nothing at all is the empty object.
        Some(Kind::Json) if bytes.is_empty() => parse_json(b"{}"),
        // serde would read a struct from an array too (`[]`, `["a@b.c", "pw"]`): not a contract body.
        Some(Kind::Json) if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') => {
            Err(describe(String::new(), "expected a JSON object".into()))
        }
        Some(Kind::Json) => parse_json(bytes),
        Some(Kind::Form) => {
            let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(bytes));
            serde_path_to_error::deserialize(de)
                .map_err(|e| describe(e.path().to_string(), e.inner().to_string()))
        }
    }
}

/// The body's `appId`, if it names one (a JSON string or a form field; the last one when a key
/// repeats).
fn body_app_id(kind: &Option<Kind>, bytes: &[u8]) -> Option<String> {
    type Object = serde_json::Map<String, serde_json::Value>;
    // Most bodies name none: skip the second parse.
    if !bytes.windows(5).any(|w| w == b"appId") {
        return None;
    }
    match kind {
        Some(Kind::Json) => match serde_json::from_slice::<Object>(bytes).ok()?.remove("appId")? {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Null => None,
            // Not a string: it names no app, so it cannot be this request's.
            other => Some(other.to_string()),
        },
        Some(Kind::Form) => {
            form_urlencoded_parse(bytes).filter(|(k, _)| k == "appId").last().map(|(_, v)| v.into_owned())
        }
        None => None,
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

/// An optional body field that this route requires (400 `[body.field] Required`, as a missing
/// field is; an empty value counts as missing).
pub fn required(value: Option<String>, field: &str) -> Result<String, ApiError> {
    value.filter(|v| !v.is_empty()).ok_or_else(|| ApiError::Validation(format!("[body.{field}] Required")))
}

/// Whether the request body is a form post (a built-in page's form, not a JSON client).
pub fn is_form(headers: &HeaderMap) -> bool {
    matches!(kind_of(headers, true), Some(Kind::Form))
}

/// A query string as `T`; missing or malformed parameters give `T::default()`'s values.
pub fn lenient_query<T: DeserializeOwned + Default>(raw: Option<String>) -> T {
    raw.and_then(|q| serde_urlencoded::from_str(&q).ok()).unwrap_or_default()
}

/// A query string as `T` (none: `T::default()`); a malformed one (a repeated or wrongly typed
/// parameter) is 400 `VALIDATION_ERROR`, for the routes whose parameters change the answer.
pub fn strict_query<T: DeserializeOwned + Default>(raw: Option<String>) -> Result<T, ApiError> {
    match raw {
        None => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(&q).map_err(|e| ApiError::Validation(format!("[query] {e}"))),
    }
}

/// The signed-in user and session (protected routes: otherwise 401 `UNAUTHORIZED`).
pub struct Authenticated {
    pub session: SessionRow,
    pub user: User,
    /// The subscription of the active organization, else of the user.
    pub subscription: Option<SubscriptionRow>,
    pub handle: Session,
    /// The server requires a second factor and the user has none yet: the session may only
    /// enroll one (see [`RESTRICTED_ROUTES`]).
    pub restricted: bool,
}

impl Authenticated {
    /// 403 `IMPERSONATION_FORBIDS_THIS` on a session an admin opened as this user (see
    /// [`IMPERSONATION_DENIED`]).
    fn not_impersonated(&self) -> Result<(), ApiError> {
        match self.session.impersonated_by {
            None => Ok(()),
            Some(_) => Err(ApiError::Coded(
                axum::http::StatusCode::FORBIDDEN,
                "IMPERSONATION_FORBIDS_THIS",
                "An impersonated session cannot change the password, the email or the second factor, nor delete the user",
            )),
        }
    }
}

/// What a restricted session may call (enrolling a second factor); every other route that needs
/// a session answers 403 `TWO_FACTOR_REQUIRED`, and routes where a session is optional see none.
/// (`/sign-out` needs no session.)
const RESTRICTED_ROUTES: &[&str] = &[
    "/get-session",
    "/two-factor/enable",
    "/two-factor/get-totp-uri",
    "/two-factor/verify-totp",
    "/two-factor/send-otp",
    "/two-factor/verify-otp",
];

/// The session, if there is one (`get-session`). A restricted session counts as none outside
/// [`RESTRICTED_ROUTES`].
pub struct MaybeAuthenticated(pub Option<Authenticated>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let found = current_session(parts, state, false).await?;
        let denied = |auth: &Authenticated| {
            auth.session.impersonated_by.is_some() && route_in(parts, state, IMPERSONATION_DENIED)
        };
        Ok(Self(
            found.filter(|auth| (!auth.restricted || restricted_may_call(parts, state)) && !denied(auth)),
        ))
    }
}

/// The session whatever its app (not a restricted one), for what a browser navigation finishes
/// and a token binds to one user: a provider's redirect back, an email-change link. A
/// navigation carries no app; what it finishes names its own.
pub struct AnyAppSession(pub Option<Authenticated>);

impl FromRequestParts<AppState> for AnyAppSession {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let found = current_session(parts, state, true).await?;
        Ok(Self(found.filter(|auth| !auth.restricted)))
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;
    /// 401 `UNAUTHORIZED` without a session; 403 `TWO_FACTOR_REQUIRED` for a restricted one
    /// outside [`RESTRICTED_ROUTES`].
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let auth = current_session(parts, state, false).await?.ok_or(ApiError::Unauthorized)?;
        if auth.restricted && !restricted_may_call(parts, state) {
            return Err(ApiError::TwoFactorRequired);
        }
        if auth.session.impersonated_by.is_some() && route_in(parts, state, IMPERSONATION_DENIED) {
            auth.not_impersonated()?;
        }
        Ok(auth)
    }
}

/// The request's live session: the typed row straight from the store (and its cache); the
/// session layer's record (JSON) is only loaded when a handler writes the session. Only a session
/// of the request's app counts, unless `any_app`.
async fn current_session(
    parts: &Parts,
    state: &AppState,
    any_app: bool,
) -> Result<Option<Authenticated>, ApiError> {
    let handle = session_handle(parts)?;
    let Some(id) = handle.id() else { return Ok(None) };
    match state.store.session_with_user(&id.to_string(), state.clock.now_ms()).await? {
        // Another app's session (or an app's, outside it) counts as none here; its cookie is
        // left alone.
        Some((_, user, _)) if !any_app && !scope_in(&parts.extensions).admits(&user) => Ok(None),
        // A session that slipped in while its user was being banned (the ban ends every session
        // it finds; a sign-in racing it may add one after): none.
        Some((_, user, _)) if user.banned_at(state.clock.now_ms()) => Ok(None),
        // A session an admin opened as the user lasts only while that admin may still impersonate
        // (not removed, banned or demoted since).
        Some((session, _, _))
            if !impersonator_still_may(state, session.impersonated_by.as_deref()).await? =>
        {
            Ok(None)
        }
        Some((session, user, subscription)) => {
            let restricted = second_factor_setup_pending(state, &user);
            Ok(Some(Authenticated { session, user, subscription, handle, restricted }))
        }
        None => {
            // No such (live) session: the session layer's own load finds that out too, and
            // then removes the cookie when the response goes out.
            handle.get_value(SESSION_KEY).await?;
            Ok(None)
        }
    }
}

/// Whether the admin behind an impersonated session (if any) may still impersonate.
async fn impersonator_still_may(state: &AppState, admin_id: Option<&str>) -> Result<bool, ApiError> {
    let Some(admin_id) = admin_id else { return Ok(true) };
    let admin = state.store.user_by_id(admin_id).await?;
    Ok(admin.is_some_and(|a| {
        !a.banned_at(state.clock.now_ms())
            && crate::domain::admin::allows(&a, &state.settings.admin.user_ids, "user", "impersonate")
    }))
}

/// Whether the matched route (its template under the base path) is one a restricted session
/// may call.
fn restricted_may_call(parts: &Parts, state: &AppState) -> bool {
    route_in(parts, state, RESTRICTED_ROUTES)
}

/// What a session an admin opened as a user (impersonation) may not call: anything that changes
/// how the user signs in (password, email, username, passkeys, second factor, linked providers),
/// hands over their providers' tokens, ends their other sessions or deletes them. A prefix ends
/// in `/`.
const IMPERSONATION_DENIED: &[&str] = &[
    "/change-password",
    "/change-email",
    "/delete-user",
    "/update-user",
    "/remove-password",
    "/list-sessions",
    "/revoke-session",
    "/revoke-sessions",
    "/revoke-other-sessions",
    "/link-social",
    "/unlink-account",
    "/get-access-token",
    "/refresh-token",
    "/passkey/generate-register-options",
    "/passkey/verify-registration",
    "/passkey/delete-passkey",
    "/passkey/update-passkey",
    "/two-factor/",
];

/// Whether the matched route (under the base path) is one of `routes` (or under a prefix of
/// them that ends in `/`).
fn route_in(parts: &Parts, state: &AppState, routes: &[&str]) -> bool {
    let Some(matched) = parts.extensions.get::<MatchedPath>() else { return false };
    let path = matched.as_str();
    let route = path.strip_prefix(state.settings.base_path.as_str()).unwrap_or(path);
    routes.iter().any(|r| *r == route || (r.ends_with('/') && route.starts_with(r)))
}

pub fn session_handle(parts: &Parts) -> Result<Session, ApiError> {
    parts.extensions.get::<Session>().cloned().ok_or_else(|| ApiError::internal("session layer missing"))
}

/// The client's address: the socket peer, or behind a trusted proxy the address it forwards
/// (sessions record it; rate limits count by it). `None` without a socket (in-process calls).
pub fn client_ip(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> Option<IpAddr> {
    let ConnectInfo(peer) = extensions.get::<ConnectInfo<SocketAddr>>()?;
    let forwarded: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    Some(state.settings.trusted_proxies.client_ip(peer.ip(), &forwarded))
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = client_ip(state, &parts.headers, &parts.extensions).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}

impl FromRequestParts<AppState> for SignInContext {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let handle = session_handle(parts)?;
        let cookies =
            Cookies::from_request_parts(parts, state).await.map_err(|(_, msg)| ApiError::internal(msg))?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        let scope = Scope::from_request_parts(parts, state).await?;
        Ok(Self { handle, cookies, client, scope })
    }
}
