//! `/admin/ban-user`, `unban-user`, `list-user-sessions`, `revoke-user-session`,
//! `revoke-user-sessions`, `impersonate-user`, `stop-impersonating`.
//!
//! Impersonation opens a session of the target marked `impersonatedBy` (for
//! `IMPERSONATION_SESSION_DURATION`, never extended) and parks the admin's session token in the
//! signed `…admin_session` cookie; stopping ends that session and puts the admin's back. A bearer
//! client gets the new token in `set-auth-token` (and keeps its own to go back to).

use axum::{
    Json as JsonOut,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_cookies::Cookies;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    TAG, USER_NOT_FOUND, UserAnswer, UserIdBody, action, audited, bad, managed, refused, require, target,
};
use crate::{
    domain::{
        admin,
        model::{SessionRow, User},
    },
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        answers::Success,
        extract::{Authenticated, Json, NoBody},
        layers::no_store,
    },
    security::keys,
    service::audit::{Record, event, recorded},
    service::sessions::{
        ClientInfo, base_cookie, expire_cookie, marked_cookie, set_marked_cookie, start_impersonation,
    },
    state::AppState,
    store::admin::Ban,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ban_user))
        .routes(routes!(unban_user))
        .routes(routes!(list_user_sessions))
        .routes(routes!(revoke_user_session))
        .routes(routes!(revoke_user_sessions))
        .routes(routes!(impersonate_user))
        .routes(routes!(stop_impersonating))
}

/// A ban.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminBanUserBody)]
struct BanBody {
    user_id: String,
    /// Kept to 500 characters; `No reason` when absent or blank.
    ban_reason: Option<String>,
    /// Seconds until the ban ends (at most 100 years); no end when absent.
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    ban_expires_in: Option<u64>,
}

/// `POST /admin/ban-user {userId, banReason?, banExpiresIn?}`: `{user}`; every session of the
/// user ends at once (on every instance), and every way in answers 403 `BANNED_USER` until the
/// ban is lifted or expires.
#[utoipa::path(post, path = "/admin/ban-user", tag = TAG, summary = "Ban a user and end their sessions",
    request_body = BanBody,
    responses((status = 200, description = "The banned user", body = UserAnswer),
        (status = 400, description = "`YOU_CANNOT_BAN_YOURSELF`, or `banExpiresIn` out of range", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn ban_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<BanBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")?;
    if body.user_id == auth.user.id {
        return Err(bad("YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself"));
    }
    let user = managed(&state, &auth, &body.user_id).await?;
    let now = state.clock.now_ms();
    let expires = admin::ban_end(now, body.ban_expires_in)
        .map_err(|why| ApiError::Validation(format!("[body.banExpiresIn] {why}")))?;
    let reason = body.ban_reason.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "No reason".into());
    let reason: String = reason.chars().take(500).collect();
    let what = ("user-banned", &user, json!({ "reason": reason, "expires": expires }));
    let ban = Ban { reason, expires };
    let banned = audited(&state, &auth, what, state.store.ban_user(&user.id, &ban, now)).await?;
    Ok(no_store(JsonOut(UserAnswer { user: banned.ok_or(USER_NOT_FOUND)? }).into_response()))
}

/// `POST /admin/unban-user {userId}`: `{user}`.
#[utoipa::path(post, path = "/admin/unban-user", tag = TAG, summary = "Lift a user's ban",
    request_body = UserIdBody,
    responses((status = 200, description = "The user, no longer banned", body = UserAnswer),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn unban_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UserIdBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "ban", "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS")?;
    let user = managed(&state, &auth, &body.user_id).await?;
    let what = ("user-unbanned", &user, serde_json::Value::Null);
    let unbanned =
        audited(&state, &auth, what, state.store.unban_user(&user.id, state.clock.now_ms())).await?;
    Ok(no_store(JsonOut(UserAnswer { user: unbanned.ok_or(USER_NOT_FOUND)? }).into_response()))
}

/// A user's sessions.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminSessionList)]
struct SessionList {
    /// Each session's `token` is its `id` (which `revoke-user-session` takes), never the token.
    sessions: Vec<SessionRow>,
}

/// `POST /admin/list-user-sessions {userId}`: `{sessions}` (impersonation sessions included).
#[utoipa::path(post, path = "/admin/list-user-sessions", tag = TAG, summary = "List a user's sessions",
    request_body = UserIdBody,
    responses((status = 200, description = "The user's live sessions, impersonation sessions included", body = SessionList),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn list_user_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UserIdBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "session", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS")?;
    let user = managed(&state, &auth, &body.user_id).await?;
    let mut sessions = state.store.list_sessions(&user.id, state.clock.now_ms()).await?;
    // Another user's token would sign the admin in as them, past every rule of impersonation:
    // the session's id stands in for it (revoke-user-session takes either).
    for s in &mut sessions {
        s.token = s.id.clone();
    }
    Ok(no_store(JsonOut(SessionList { sessions }).into_response()))
}

/// One session to end.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminRevokeUserSessionBody)]
struct TokenBody {
    /// The session's token (raw or as signed in the cookie), or its id as `list-user-sessions`
    /// gives it.
    session_token: String,
}

/// `POST /admin/revoke-user-session {sessionToken}`: `{success: true}` (a session of a user of
/// the caller's app; raw or signed token).
#[utoipa::path(post, path = "/admin/revoke-user-session", tag = TAG, summary = "End one session of a user",
    request_body = TokenBody,
    responses((status = 200, description = "The session is ended (also when there was none)", body = Success)),
    security(("session" = []), ("bearer" = [])))]
async fn revoke_user_session(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<TokenBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")?;
    let signed = state.verify_signed(&state.session_cookie, &body.session_token);
    let token = signed.map_or(body.session_token, |(token, _)| token);
    if let Some((owner, token)) = state.store.user_of_session(&token, state.clock.now_ms()).await? {
        let user = managed(&state, &auth, &owner).await?;
        let what = ("session-revoked", &user, serde_json::Value::Null);
        audited(&state, &auth, what, state.store.delete_user_session(&user.id, &token)).await?;
    }
    Ok(JsonOut(Success::YES).into_response())
}

/// `POST /admin/revoke-user-sessions {userId}`: `{success: true}`.
#[utoipa::path(post, path = "/admin/revoke-user-sessions", tag = TAG, summary = "End every session of a user",
    request_body = UserIdBody,
    responses((status = 200, description = "The user's sessions are ended", body = Success),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn revoke_user_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UserIdBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "session", "revoke", "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS")?;
    let user = managed(&state, &auth, &body.user_id).await?;
    let what = ("sessions-revoked", &user, serde_json::Value::Null);
    audited(&state, &auth, what, state.store.delete_user_sessions(&user.id, None)).await?;
    Ok(JsonOut(Success::YES).into_response())
}

/// What the admin-session cookie's value starts with (see `set_marked_cookie`).
const ADMIN_SESSION_MARK: &str = "admin-session:";

/// A session opened as another user.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminImpersonation)]
struct Impersonation {
    session: SessionRow,
    user: User,
}

/// `POST /admin/impersonate-user {userId}`: `{session, user}` of a new session of the target,
/// marked `impersonatedBy`; the admin's session waits in the admin-session cookie.
#[utoipa::path(post, path = "/admin/impersonate-user", tag = TAG, summary = "Sign in as another user",
    request_body = UserIdBody,
    responses((status = 200, description = "The new session (cookie set; `set-auth-token` for a bearer client) and its user",
            body = Impersonation),
        (status = 400, description = "`ALREADY_IMPERSONATING`, `YOU_CANNOT_IMPERSONATE_YOURSELF`", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn impersonate_user(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    client: ClientInfo,
    Json(body): Json<UserIdBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "impersonate", "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS")?;
    if auth.session.impersonated_by.is_some() {
        return Err(bad("ALREADY_IMPERSONATING", "Stop impersonating first"));
    }
    if body.user_id == auth.user.id {
        return Err(bad("YOU_CANNOT_IMPERSONATE_YOURSELF", "You cannot impersonate yourself"));
    }
    let user = target(&state, &auth, &body.user_id).await?;
    let ids = &state.settings.admin.user_ids;
    if admin::is_admin(&user, ids) && !admin::allows(&auth.user, ids, "user", "impersonate-admins") {
        return Err(refused("YOU_CANNOT_IMPERSONATE_ADMINS", "You cannot impersonate admins"));
    }
    if user.banned {
        return Err(ApiError::BannedUser);
    }
    let parked_ms = (auth.session.expires_at - state.clock.now_ms()).max(0);
    let admin_token = auth.session.token.clone();
    let started = action(&auth, "impersonation-started", &user, serde_json::Value::Null);
    let started = event(&started, None, state.clock.now_ms());
    let session =
        start_impersonation(&state, &auth.handle, &cookies, &user, &auth.user.id, client, started).await?;
    set_marked_cookie(
        &state,
        &cookies,
        state.admin_session_cookie(),
        ADMIN_SESSION_MARK,
        &admin_token,
        parked_ms,
    );
    Ok(no_store(JsonOut(Impersonation { session, user }).into_response()))
}

/// The admin's own session again.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminImpersonationEnded)]
struct Restored {
    /// The admin's session, or `null` for a bearer client (which holds its own token) or when it
    /// has ended meanwhile.
    session: Option<SessionRow>,
    /// The admin; `null` only if they no longer exist.
    user: Option<User>,
}

/// `POST /admin/stop-impersonating`: ends the impersonation session and puts the admin's back
/// (`{session, user}` of the admin; `session` is null for a bearer client, which holds its own
/// token). 400 `NOT_IMPERSONATING` on any other session.
#[utoipa::path(post, path = "/admin/stop-impersonating", tag = TAG, summary = "End an impersonation, back to the admin's session",
    request_body(content = NoBody, description = "An empty object"),
    responses((status = 200, description = "The impersonation session is ended; the admin's session cookie is back", body = Restored),
        (status = 400, description = "`NOT_IMPERSONATING`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn stop_impersonating(
    State(state): State<AppState>,
    auth: Authenticated,
    cookies: Cookies,
    Json(_empty): Json<NoBody>,
) -> ApiResult<Response> {
    let Some(admin_id) = auth.session.impersonated_by.clone() else {
        return Err(ApiError::Coded(
            StatusCode::BAD_REQUEST,
            "NOT_IMPERSONATING",
            "You are not impersonating anyone",
        ));
    };
    let now = state.clock.now_ms();
    let stopped = Record::own("impersonation-stopped", &auth.user);
    let stopped = Record { impersonator: Some(&admin_id), actor: None, ..stopped };
    let app = auth.user.app_id.as_deref();
    recorded(&state, stopped, app, state.store.delete_session(&auth.session.token)).await?;
    let parked = marked_cookie(&state, &cookies, &state.admin_session_cookie(), ADMIN_SESSION_MARK);
    expire_cookie(&state, &cookies, state.admin_session_cookie());
    let restored = match parked {
        Some(token) => state.store.session_with_user(&token, now).await?.filter(|(_, u, _)| u.id == admin_id),
        None => None,
    };
    let Some((session, user, _)) = restored else {
        let admin = state.store.user_by_id(&admin_id).await?;
        expire_cookie(&state, &cookies, state.session_cookie.clone());
        return Ok(no_store(JsonOut(Restored { session: None, user: admin }).into_response()));
    };
    // The admin's session cookie again (the session layer is not told: it would end it).
    let mut cookie = base_cookie(&state, state.session_cookie.clone());
    cookie.set_value(keys::sign_cookie_value(&state.cookie_key, &state.session_cookie, &session.token));
    cookie.set_max_age(time::Duration::milliseconds((session.expires_at - now).max(0)));
    cookies.add(cookie);
    Ok(no_store(JsonOut(Restored { session: Some(session), user: Some(user) }).into_response()))
}
