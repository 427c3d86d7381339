//! The admin API (Better Auth's admin plugin, on its wire contract): users (`users.rs`), their
//! sessions, bans and impersonation (`sessions.rs`), and the permission check. Every route needs
//! a session whose user the permission table (`domain::admin`) allows; it acts within the
//! caller's app (another app's user does not exist for it), while `ADMIN_USER_IDS` names admins
//! wherever they are.

mod sessions;
mod users;

use axum::{
    Router,
    http::StatusCode,
    routing::{get, post},
};
use serde::Deserialize;

use crate::{
    domain::{admin, model::User},
    error::{ApiError, ApiResult},
    http::extract::Authenticated,
    service::audit::{Record, record},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/create-user", post(users::create_user))
        .route("/admin/list-users", get(users::list_users))
        .route("/admin/get-user", get(users::get_user))
        .route("/admin/update-user", post(users::update_user))
        .route("/admin/set-role", post(users::set_role))
        .route("/admin/remove-user", post(users::remove_user))
        .route("/admin/set-user-password", post(users::set_user_password))
        .route("/admin/has-permission", post(users::has_permission))
        .route("/admin/ban-user", post(sessions::ban_user))
        .route("/admin/unban-user", post(sessions::unban_user))
        .route("/admin/list-user-sessions", post(sessions::list_user_sessions))
        .route("/admin/revoke-user-session", post(sessions::revoke_user_session))
        .route("/admin/revoke-user-sessions", post(sessions::revoke_user_sessions))
        .route("/admin/impersonate-user", post(sessions::impersonate_user))
        .route("/admin/stop-impersonating", post(sessions::stop_impersonating))
}

const fn refused(code: &'static str, message: &'static str) -> ApiError {
    ApiError::Coded(StatusCode::FORBIDDEN, code, message)
}

const fn bad(code: &'static str, message: &'static str) -> ApiError {
    ApiError::Coded(StatusCode::BAD_REQUEST, code, message)
}

const USER_NOT_FOUND: ApiError = ApiError::Coded(StatusCode::NOT_FOUND, "USER_NOT_FOUND", "User not found");

/// 403 with `code` unless the caller may do `action` on `resource`.
fn require(
    state: &AppState,
    auth: &Authenticated,
    resource: &str,
    action: &str,
    code: &'static str,
) -> ApiResult<()> {
    if admin::allows(&auth.user, &state.settings.admin.user_ids, resource, action) {
        Ok(())
    } else {
        Err(refused(code, "You are not allowed to do this"))
    }
}

/// The user `id`, if they are in the caller's app (404 `USER_NOT_FOUND` otherwise).
async fn target(state: &AppState, auth: &Authenticated, id: &str) -> ApiResult<User> {
    match state.store.user_by_id(id).await? {
        Some(user) if user.app_id == auth.user.app_id => Ok(user),
        _ => Err(USER_NOT_FOUND),
    }
}

/// A `role` as Better Auth takes it: a string or a list of strings, each a role there is (400
/// `INVALID_ROLE_TYPE`, `YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE`); stored comma-joined.
fn parse_role(raw: &serde_json::Value) -> ApiResult<String> {
    let roles: Vec<&str> = match raw {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().ok_or(bad("INVALID_ROLE_TYPE", "Invalid role type")))
            .collect::<ApiResult<_>>()?,
        _ => return Err(bad("INVALID_ROLE_TYPE", "Invalid role type")),
    };
    if roles.is_empty() || roles.iter().any(|r| !admin::ROLES.contains(r)) {
        return Err(bad(
            "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
            "You are not allowed to set a non-existent role value",
        ));
    }
    Ok(roles.join(","))
}

/// Writes an admin action on `target` to the audit log.
async fn audit(
    state: &AppState,
    auth: &Authenticated,
    action: &'static str,
    target: &User,
    details: serde_json::Value,
) {
    let event = Record {
        action,
        success: true,
        actor: Some(&auth.user),
        impersonator: auth.session.impersonated_by.as_deref(),
        target: Some(("user", &target.id)),
        client: None,
        details,
    };
    record(state, event, None).await;
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserIdBody {
    user_id: String,
}
