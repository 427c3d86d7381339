//! The admin API (Better Auth's admin plugin, on its wire contract): users (`users.rs`), their
//! sessions, bans and impersonation (`sessions.rs`), and the permission check. Every route needs
//! a session whose user the permission table (`domain::admin`) allows; it acts within the
//! caller's app (another app's user does not exist for it), while `ADMIN_USER_IDS` names admins
//! wherever they are.

mod listing;
mod sessions;
mod users;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    domain::{admin, model::User},
    error::{ApiError, ApiResult},
    http::extract::Authenticated,
    service::audit::{Record, recorded},
    state::AppState,
};

const TAG: &str = "Admin";

pub fn router() -> OpenApiRouter<AppState> {
    users::router().merge(listing::router()).merge(sessions::router())
}

/// Better Auth's messages for the admin plugin's codes (as `adminClient.$ERROR_CODES` has them).
const MESSAGES: &[(&str, &str)] = &[
    ("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email."),
    ("YOU_CANNOT_BAN_YOURSELF", "You cannot ban yourself"),
    ("YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE", "You are not allowed to change users role"),
    ("YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS", "You are not allowed to create users"),
    ("YOU_ARE_NOT_ALLOWED_TO_LIST_USERS", "You are not allowed to list users"),
    ("YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS", "You are not allowed to list users sessions"),
    ("YOU_ARE_NOT_ALLOWED_TO_BAN_USERS", "You are not allowed to ban users"),
    ("YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS", "You are not allowed to impersonate users"),
    ("YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS", "You are not allowed to revoke users sessions"),
    ("YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS", "You are not allowed to delete users"),
    ("YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD", "You are not allowed to set users password"),
    ("YOU_ARE_NOT_ALLOWED_TO_GET_USER", "You are not allowed to get user"),
    ("NO_DATA_TO_UPDATE", "No data to update"),
    ("YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS", "You are not allowed to update users"),
    ("YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself"),
    ("YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE", "You are not allowed to set a non-existent role value"),
    ("YOU_CANNOT_IMPERSONATE_ADMINS", "You cannot impersonate admins"),
    ("INVALID_ROLE_TYPE", "Invalid role type"),
    (
        "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
        "Password cannot be updated through update-user. Use the set-user-password endpoint instead",
    ),
    ("USER_ID_CANNOT_BE_UPDATED", "User id cannot be updated"),
];

fn coded(status: StatusCode, code: &'static str, fallback: &'static str) -> ApiError {
    let message = MESSAGES.iter().find(|(c, _)| *c == code).map_or(fallback, |(_, m)| m);
    ApiError::Coded(status, code, message)
}

/// 403 with the code's message (`fallback` for Gatehouse's own codes).
fn refused(code: &'static str, fallback: &'static str) -> ApiError {
    coded(StatusCode::FORBIDDEN, code, fallback)
}

/// 400 with the code's message (`fallback` for Gatehouse's own codes).
fn bad(code: &'static str, fallback: &'static str) -> ApiError {
    coded(StatusCode::BAD_REQUEST, code, fallback)
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

/// The user `id` to change or act as: as [`target`], and another admin only for a caller who may
/// `impersonate-admins` (403 `YOU_CANNOT_MANAGE_ADMINS`): setting an admin's password, banning or
/// removing them would reach further than impersonating them.
async fn managed(state: &AppState, auth: &Authenticated, id: &str) -> ApiResult<User> {
    let user = target(state, auth, id).await?;
    if user.id == auth.user.id && auth.session.impersonated_by.is_some() {
        // A session someone opened as this admin changes nothing of theirs.
        return Err(refused(
            "YOU_CANNOT_MANAGE_ADMINS",
            "An impersonated session cannot change its own user",
        ));
    }
    let ids = &state.settings.admin.user_ids;
    if user.id != auth.user.id
        && admin::is_admin(&user, ids)
        && !admin::allows(&auth.user, ids, "user", "impersonate-admins")
    {
        return Err(refused(
            "YOU_CANNOT_MANAGE_ADMINS",
            "Only admins who may impersonate admins may change or end another admin",
        ));
    }
    Ok(user)
}

/// A `role` from a body (see `domain::admin::parse_role`).
fn parse_role(raw: &serde_json::Value) -> ApiResult<String> {
    admin::parse_role(raw).map_err(|code| match code {
        "INVALID_ROLE_TYPE" => bad(code, "Invalid role type"),
        _ => bad(
            "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
            "You are not allowed to set a non-existent role value",
        ),
    })
}

/// An admin action on `target`, as the audit log records it.
fn action<'a>(
    auth: &'a Authenticated,
    action: &'static str,
    target: &'a User,
    details: serde_json::Value,
) -> Record<'a> {
    Record {
        action,
        success: true,
        actor: Some(&auth.user),
        impersonator: auth.session.impersonated_by.as_deref(),
        target: Some(("user", &target.id)),
        client: None,
        details,
    }
}

/// Makes `change`, an admin action on `target`, with its audit event in its transaction.
async fn audited<F: std::future::Future>(
    state: &AppState,
    auth: &Authenticated,
    (what, target, details): (&'static str, &User, serde_json::Value),
    change: F,
) -> F::Output {
    recorded(state, action(auth, what, target, details), None, change).await
}

/// A body naming one user of the caller's app.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminUserIdBody)]
pub(super) struct UserIdBody {
    /// The user's id.
    user_id: String,
}

/// A user, as the action left them.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminUserAnswer)]
pub(super) struct UserAnswer {
    user: User,
}

// For the API description only.
/// A role: `admin` or `user`, or several of them.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = AdminRole)]
#[allow(dead_code, reason = "describes a role field; the handlers read it as a JSON value")]
pub(super) enum Role {
    /// One role (`admin` or `user`), or several separated by commas.
    One(String),
    /// Several roles, each `admin` or `user`.
    Many(Vec<String>),
}
