//! Sessions: creating one (shared by sign-in and sign-up), `get-session` with its sliding
//! refresh, listing and revocation.

use axum::{
    Json as JsonOut, Router,
    extract::{FromRequestParts, RawQuery, State},
    http::request::Parts,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_cookies::{Cookie, Cookies};
use tower_sessions::{Expiry, Session};

use crate::{
    domain::{
        model::{SessionRow, Subscription, User},
        time::duration_ms,
    },
    error::{ApiError, ApiResult},
    http::{
        extract::{
            Authenticated, ClientInfo, Json, MaybeAuthenticated, NoBody, lenient_query, session_handle,
        },
        layers::no_store,
    },
    security::{keys, tokens::random_id},
    state::AppState,
    store::session_store::{SESSION_KEY, cycle_keeping_old},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/get-session", get(get_session))
        .route("/list-sessions", get(list_sessions))
        .route("/revoke-session", post(revoke_session))
        .route("/revoke-sessions", post(revoke_sessions))
        .route("/revoke-other-sessions", post(revoke_other_sessions))
}

/// The parts of a request that sign-in and sign-up share: the session handle, cookies, and
/// who is asking.
pub struct SignInContext {
    pub handle: tower_sessions::Session,
    pub cookies: Cookies,
    pub client: ClientInfo,
}

impl FromRequestParts<AppState> for SignInContext {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let handle = session_handle(parts)?;
        let cookies =
            Cookies::from_request_parts(parts, state).await.map_err(|(_, msg)| ApiError::internal(msg))?;
        let Ok(client) = ClientInfo::from_request_parts(parts, state).await;
        Ok(Self { handle, cookies, client })
    }
}

impl SignInContext {
    /// Starts a new session for `user` on this request.
    pub async fn start(self, state: &AppState, user: &User, remember_me: bool) -> ApiResult<SessionRow> {
        start_session(state, &self.handle, &self.cookies, user, remember_me, self.client).await
    }
}

/// Starts a new session for `user` on this request: a fresh token (never one the client sent),
/// the session cookie (`Max-Age` = the session's lifetime), and for `rememberMe: false` a
/// one-day session with a browser-session cookie. A previous session of the same user on this
/// request ends; another user's session on it is left alone (it is not this sign-in's to end).
pub async fn start_session(
    state: &AppState,
    handle: &Session,
    cookies: &Cookies,
    user: &User,
    remember_me: bool,
    client: ClientInfo,
) -> ApiResult<SessionRow> {
    leave_previous(handle, &user.id).await?;
    let now = state.clock.now_ms();
    let lifetime =
        if remember_me { state.settings.session_expires_in } else { std::time::Duration::from_secs(86_400) };
    let mut row = SessionRow {
        id: random_id(),
        token: String::new(),
        user_id: user.id.clone(),
        expires_at: now + duration_ms(lifetime),
        created_at: now,
        updated_at: now,
        ip_address: client.ip,
        user_agent: client.user_agent,
        active_organization_id: None,
        remember_me,
    };
    handle.insert(SESSION_KEY, &row).await?;
    handle.set_expiry(Some(cookie_expiry(&row, now)));
    handle.save().await?;
    row.token = handle.id().ok_or_else(|| ApiError::internal("session saved without an id"))?.to_string();

    // The marker cookie older versions set for rememberMe: false; the row says it now.
    let marker = state.dont_remember_cookie();
    if cookies.get(&marker).is_some() {
        cookies.remove(base_cookie(state, marker));
    }
    Ok(row)
}

/// Before a new session on a request that carried one: the same user's previous session ends
/// (no orphans, no fixation); another user's is kept, and the new session gets a new token.
async fn leave_previous(handle: &Session, user_id: &str) -> ApiResult<()> {
    if handle.id().is_none() {
        return Ok(());
    }
    let previous: Option<SessionRow> = handle.get(SESSION_KEY).await?;
    handle.clear().await;
    match previous {
        Some(p) if p.user_id != user_id => cycle_keeping_old(handle).await?,
        _ => handle.cycle_id().await?,
    }
    Ok(())
}

/// A cookie with the same attributes as the session cookie and no lifetime.
pub fn base_cookie(state: &AppState, name: String) -> Cookie<'static> {
    Cookie::build((name, ""))
        .path("/")
        .http_only(true)
        .same_site(tower_cookies::cookie::SameSite::Lax)
        .secure(state.settings.secure_cookies())
        .build()
}

/// The session cookie's lifetime: `Max-Age` = what is left of the session, in whole seconds
/// (exactly the configured lifetime for a new one); none for a `rememberMe: false` session.
fn cookie_expiry(session: &SessionRow, now: i64) -> Expiry {
    if !session.remember_me {
        return Expiry::OnSessionEnd;
    }
    let seconds = ((session.expires_at - now).max(0) + 999) / 1000;
    Expiry::OnInactivity(time::Duration::seconds(seconds))
}

/// Writes a changed session row back (saved, and its cookie re-set, when the response goes out),
/// keeping the cookie's lifetime: `Max-Age` for remembered sessions, none otherwise.
pub async fn store_session(state: &AppState, handle: &Session, session: &SessionRow) -> ApiResult<()> {
    handle.insert(SESSION_KEY, session).await?;
    handle.set_expiry(Some(cookie_expiry(session, state.clock.now_ms())));
    Ok(())
}

#[derive(Serialize)]
struct SessionAnswer<'a> {
    session: &'a SessionRow,
    user: &'a User,
    subscription: Subscription,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct GetSessionQuery {
    #[serde(default, deserialize_with = "lenient_bool")]
    disable_refresh: bool,
    // Accepted for compatibility; there is no cookie cache to bypass yet.
    #[serde(default, deserialize_with = "lenient_bool")]
    #[allow(dead_code)]
    disable_cookie_cache: bool,
}

fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(matches!(s.as_str(), "true" | "1" | ""))
}

/// `GET /get-session`: `{session, user, subscription}` or `null`, always 200. A session last
/// refreshed more than `SESSION_UPDATE_AGE` ago is pushed out (never past the absolute cap) and
/// its cookie re-set; `rememberMe: false` sessions are never extended.
async fn get_session(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    current: MaybeAuthenticated,
) -> ApiResult<Response> {
    let Some(Authenticated { mut session, user, subscription, handle }) = current.0 else {
        return Ok(no_store(JsonOut(serde_json::Value::Null).into_response()));
    };
    let query: GetSessionQuery = lenient_query(query);
    let now = state.clock.now_ms();
    let settings = &state.settings;
    if session.remember_me
        && !query.disable_refresh
        && now - session.updated_at >= duration_ms(settings.session_update_age)
    {
        let cap = session.created_at + duration_ms(settings.session_absolute_lifetime);
        session.expires_at = (now + duration_ms(settings.session_expires_in)).min(cap);
        session.updated_at = now;
        store_session(&state, &handle, &session).await?;
    }
    let subscription = Subscription::of(subscription.as_ref(), now);
    let plan = subscription.is_subscribed.then(|| subscription.product_id.clone()).flatten();
    let answer = SessionAnswer { session: &session, user: &user, subscription };
    let mut res = no_store(JsonOut(answer).into_response());
    if settings.jwt_on_get_session {
        // A JWT for services rides along; failing to mint one must not fail get-session.
        match state.jwt.session_jwt(state.store.as_ref(), &session, &user, plan, now).await {
            Ok(jwt) => {
                if let Ok(v) = HeaderValue::from_str(&jwt) {
                    res.headers_mut().insert("set-auth-jwt", v);
                    res.headers_mut().append(
                        header::ACCESS_CONTROL_EXPOSE_HEADERS,
                        HeaderValue::from_static("set-auth-jwt"),
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "could not mint the get-session JWT"),
        }
    }
    Ok(res)
}

/// `GET /list-sessions` (fresh session required): the user's live sessions.
async fn list_sessions(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let now = state.clock.now_ms();
    if now - auth.session.created_at > duration_ms(state.settings.session_fresh_age) {
        return Err(ApiError::SessionNotFresh);
    }
    let sessions = state.store.list_sessions(&auth.user.id, now).await?;
    Ok(no_store(JsonOut(sessions).into_response()))
}

#[derive(Deserialize)]
struct RevokeBody {
    token: String,
}

/// `POST /revoke-session {token}`: ends one of the caller's own sessions (raw or signed token).
async fn revoke_session(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RevokeBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    let token = keys::verify_cookie_value(&state.cookie_key, &state.session_cookie, &body.token)
        .unwrap_or(body.token);
    if token == auth.session.token {
        auth.handle.flush().await?;
    } else {
        state.store.delete_user_session(&auth.user.id, &token).await?;
    }
    Ok(JsonOut(json!({ "status": true })))
}

/// `POST /revoke-sessions`: ends every session of the caller, this one included.
async fn revoke_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_): Json<NoBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    state.store.delete_user_sessions(&auth.user.id, None).await?;
    auth.handle.flush().await?;
    Ok(JsonOut(json!({ "status": true })))
}

/// `POST /revoke-other-sessions`: ends every session of the caller but this one.
async fn revoke_other_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(_): Json<NoBody>,
) -> ApiResult<JsonOut<serde_json::Value>> {
    state.store.delete_user_sessions(&auth.user.id, Some(&auth.session.token)).await?;
    Ok(JsonOut(json!({ "status": true })))
}
