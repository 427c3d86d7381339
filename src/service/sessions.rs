//! Starting and refreshing sessions (for every way in) and the session cookie's attributes.

use tower_cookies::{Cookie, Cookies};
use tower_sessions::{Expiry, Session};

use crate::{
    domain::{
        audit::AuditEvent,
        model::{SessionRow, User},
        time::duration_ms,
    },
    error::{ApiError, ApiResult},
    security::tokens::random_id,
    service::audit::recorded_event,
    state::AppState,
    store::session_store::{SESSION_KEY, cycle_keeping_old},
};

/// The parts of a request that sign-in and sign-up share: the session handle, cookies, and
/// who is asking.
pub struct SignInContext {
    pub handle: tower_sessions::Session,
    pub cookies: Cookies,
    pub client: ClientInfo,
    /// The app the request belongs to: only its users are admitted.
    pub scope: crate::domain::app::Scope,
}

impl SignInContext {
    /// Starts a new session for `user` on this request, with `event` (a sign-in) written in the
    /// transaction that stores it.
    pub async fn start(
        self,
        state: &AppState,
        user: &User,
        remember_me: bool,
        event: Option<AuditEvent>,
    ) -> ApiResult<SessionRow> {
        let client = self.client;
        open(
            state,
            (&self.handle, &self.cookies),
            user,
            (lifetime(state, remember_me), remember_me),
            None,
            client,
            event,
        )
        .await
    }
}

/// The lifetime of a new session: a day for `rememberMe: false` (with a browser-session cookie).
fn lifetime(state: &AppState, remember_me: bool) -> std::time::Duration {
    if remember_me { state.settings.sessions.expires_in } else { std::time::Duration::from_secs(86_400) }
}

/// Starts a session of `user` that the admin `admin_id` opened (impersonation): it lasts
/// `IMPERSONATION_SESSION_DURATION` and is never extended; the admin's session on this request
/// is kept (it is another user's).
pub async fn start_impersonation(
    state: &AppState,
    handle: &Session,
    cookies: &Cookies,
    user: &User,
    admin_id: &str,
    client: ClientInfo,
    event: AuditEvent,
) -> ApiResult<SessionRow> {
    let lifetime = state.settings.admin.impersonation_lifetime;
    open(state, (handle, cookies), user, (lifetime, false), Some(admin_id.to_string()), client, Some(event))
        .await
}

/// Starts a new session for `user` on this request: a fresh token (never one the client sent)
/// and the session cookie (`Max-Age` = the session's lifetime; a browser-session cookie for
/// `rememberMe: false`). A previous session of the same user on this request ends; another
/// user's session on it is left alone (it is not this sign-in's to end).
async fn open(
    state: &AppState,
    (handle, cookies): (&Session, &Cookies),
    user: &User,
    (lifetime, remember_me): (std::time::Duration, bool),
    impersonated_by: Option<String>,
    client: ClientInfo,
    event: Option<AuditEvent>,
) -> ApiResult<SessionRow> {
    leave_previous(handle, &user.id).await?;
    let now = state.clock.now_ms();
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
        impersonated_by,
    };
    handle.insert(SESSION_KEY, &row).await?;
    handle.set_expiry(Some(cookie_expiry(&row, now)));
    // The event goes in the new row's transaction (not in the previous session's end, above).
    match event {
        Some(mut event) => {
            // The event names the session it started (its id, never its token).
            event.detail("session", &row.id);
            recorded_event(state, event, handle.save()).await?;
        }
        None => handle.save().await?,
    }
    row.token = handle.id().ok_or_else(|| ApiError::internal("session saved without an id"))?.to_string();

    // The marker cookie older versions set for rememberMe: false; the row says it now.
    expire_cookie(state, cookies, state.dont_remember_cookie());
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
    let cookie = Cookie::build((name, ""))
        .path("/")
        .http_only(true)
        .same_site(tower_cookies::cookie::SameSite::Lax)
        .secure(state.settings.secure_cookies());
    match &state.settings.cookie_domain {
        Some(domain) => cookie.domain(domain.clone()).build(),
        None => cookie.build(),
    }
}

/// Expires the cookie `name` (when the request carried one).
pub fn expire_cookie(state: &AppState, cookies: &Cookies, name: String) {
    if cookies.get(&name).is_some() {
        cookies.remove(base_cookie(state, name));
    }
}

/// Sets the signed cookie `name` to `mark` + `value` for `ttl_ms`, with the session cookie's
/// attributes. Cookie signatures cover only the value: the mark says what kind of value it is,
/// so a value signed for one cookie is no good in another.
pub fn set_marked_cookie(
    state: &AppState,
    cookies: &Cookies,
    name: String,
    mark: &str,
    value: &str,
    ttl_ms: i64,
) {
    let mut cookie = base_cookie(state, name);
    cookie.set_value(format!("{mark}{value}"));
    cookie.set_max_age(time::Duration::milliseconds(ttl_ms));
    cookies.signed(&state.cookie_key).add(cookie);
}

/// The value of the signed cookie `name` after its `mark` (see [`set_marked_cookie`]), if the
/// request carries a valid one (signed with the current secret or an older one).
pub fn marked_cookie(state: &AppState, cookies: &Cookies, name: &str, mark: &str) -> Option<String> {
    let cookie = cookies.get(name)?;
    let (value, _) = state.verify_signed(name, cookie.value())?;
    value.strip_prefix(mark).map(str::to_string)
}

/// The `Set-Cookie` value that gives a live session's cookie, signed with the current secret,
/// back to the client with the lifetime the session has left (none: the session ended).
pub async fn resigned_cookie(state: &AppState, token: &str) -> Option<String> {
    let now = state.clock.now_ms();
    let (session, _, _) = state.store.session_with_user(token, now).await.ok()??;
    let mut cookie = base_cookie(state, state.session_cookie.clone());
    cookie.set_value(crate::security::keys::sign_cookie_value(
        &state.cookie_key,
        &state.session_cookie,
        token,
    ));
    if let Expiry::OnInactivity(left) = cookie_expiry(&session, now) {
        cookie.set_max_age(left);
    }
    Some(cookie.to_string())
}

/// Slides `session` if it is due: a `rememberMe` session last refreshed more than
/// `SESSION_UPDATE_AGE` ago is pushed out by `SESSION_EXPIRES_IN`, never past the absolute cap.
/// True when it changed (the caller stores it).
pub fn slide(state: &AppState, session: &mut SessionRow, now: i64) -> bool {
    let settings = &state.settings.sessions;
    if !session.remember_me || now - session.updated_at < duration_ms(settings.update_age) {
        return false;
    }
    let cap = session.created_at + duration_ms(settings.absolute_lifetime);
    session.expires_at = (now + duration_ms(settings.expires_in)).min(cap);
    session.updated_at = now;
    true
}

/// 403 `SESSION_NOT_FRESH` unless `session` started within `max_age_ms` of now.
pub fn ensure_fresh_within(state: &AppState, session: &SessionRow, max_age_ms: i64) -> ApiResult<()> {
    if state.clock.now_ms() - session.created_at > max_age_ms {
        return Err(ApiError::SessionNotFresh);
    }
    Ok(())
}

/// 403 `SESSION_NOT_FRESH` unless `session` started within `SESSION_FRESH_AGE` (sensitive routes).
pub fn ensure_fresh(state: &AppState, session: &SessionRow) -> ApiResult<()> {
    ensure_fresh_within(state, session, duration_ms(state.settings.sessions.fresh_age))
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
/// keeping the cookie's lifetime: `Max-Age` for remembered sessions, none otherwise. False (and
/// nothing written) when the session ended since the request read it: the session layer's record
/// is loaded first, so a revocation racing this write can only win, never be undone by a row
/// written back as a new session.
pub async fn store_session(state: &AppState, handle: &Session, session: &SessionRow) -> ApiResult<bool> {
    if handle.get_value(SESSION_KEY).await?.is_none() {
        return Ok(false);
    }
    handle.insert(SESSION_KEY, session).await?;
    handle.set_expiry(Some(cookie_expiry(session, state.clock.now_ms())));
    Ok(true)
}

/// Who is asking: the peer address and user agent, recorded on new sessions.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
