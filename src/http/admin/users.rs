//! `/admin/create-user`, `list-users`, `get-user`, `update-user`, `set-role`, `remove-user`,
//! `set-user-password`, `has-permission`.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{USER_NOT_FOUND, UserIdBody, action, audited, bad, managed, parse_role, require, target};
use crate::{
    domain::{
        admin,
        input::{Email, NewPassword, parse_image, parse_name},
        model::User,
    },
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, Json, lenient_query},
        layers::no_store,
    },
    security::tokens::random_id,
    service::{self, audit::event},
    state::AppState,
    store::{
        EndSessions,
        admin::{AdminChanges, Match, UserField, UserQuery},
    },
};

#[derive(Deserialize)]
pub(super) struct CreateBody {
    email: String,
    password: Option<String>,
    name: String,
    role: Option<Value>,
    #[serde(default)]
    data: serde_json::Map<String, Value>,
}

/// `POST /admin/create-user`: `{user}` in the caller's app; without a password the user has no
/// credential account (they sign in another way, or an admin sets one).
pub(super) async fn create_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<CreateBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "create", "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS")?;
    let email = Email::parse(&body.email)?;
    let name = parse_name(&body.name)?;
    let role = body.role.as_ref().map(parse_role).transpose()?;
    let scope = state.scope_of(&auth.user).await?;
    let policy = scope.password_policy(&state.settings.passwords.policy);
    let password = body.password.as_deref().map(|p| NewPassword::parse(p, &policy)).transpose()?;
    let now = state.clock.now_ms();
    let mut user = User::new(random_id(), name, email.as_str().to_string(), auth.user.app_id.clone(), now);
    user.role = role.unwrap_or(user.role);
    user.email_verified = body.data.get("emailVerified").and_then(Value::as_bool).unwrap_or(false);
    user.image = body.data.get("image").and_then(Value::as_str).map(parse_image).transpose()?;
    let created = action(&auth, "user-created", &user, json!({ "role": user.role }));
    let created = event(&created, None, state.clock.now_ms());
    if !service::admin::create_user(state.store.as_ref(), &state.hasher, &user, password.as_ref(), created)
        .await?
    {
        return Err(bad("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email."));
    }
    Ok(no_store(JsonOut(json!({ "user": user })).into_response()))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    search_value: Option<String>,
    search_operator: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    sort_by: Option<String>,
    sort_direction: Option<String>,
    filter_field: Option<String>,
    filter_value: Option<String>,
    filter_operator: Option<String>,
}

/// The most users one page holds.
const MAX_PAGE: u32 = 500;

fn match_of(raw: Option<&str>, default: Match) -> ApiResult<Match> {
    Ok(match raw {
        None | Some("") => default,
        Some("eq") => Match::Eq,
        Some("ne") => Match::Ne,
        Some("contains") => Match::Contains,
        Some("starts_with") => Match::StartsWith,
        Some("ends_with") => Match::EndsWith,
        Some(_) => return Err(ApiError::Validation("[query] unknown operator".into())),
    })
}

fn number(raw: Option<&str>, default: u32, name: &str) -> ApiResult<u32> {
    match raw {
        None | Some("") => Ok(default),
        Some(v) => v.parse().map_err(|_| ApiError::Validation(format!("[query.{name}] Expected a number"))),
    }
}

/// `GET /admin/list-users`: `{users, total, limit, offset}`. `searchValue` is looked for in the
/// email **and** the name (case-insensitive); one filter, one sort, a page of at most 500.
pub(super) async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "list", "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS")?;
    let q: ListQuery = lenient_query(raw);
    let limit = number(q.limit.as_deref(), 100, "limit")?.clamp(1, MAX_PAGE);
    let offset = number(q.offset.as_deref(), 0, "offset")?;
    let field = |raw: Option<&str>, default| match raw {
        None | Some("") => Ok(default),
        Some(f) => {
            UserField::parse(f).ok_or_else(|| ApiError::Validation(format!("[query] unknown field {f:?}")))
        }
    };
    let search = match q.search_value.filter(|v| !v.is_empty()) {
        Some(v) => Some((v, match_of(q.search_operator.as_deref(), Match::Contains)?)),
        None => None,
    };
    let filter = match q.filter_value {
        Some(v) => Some((
            field(q.filter_field.as_deref(), UserField::Email)?,
            match_of(q.filter_operator.as_deref(), Match::Eq)?,
            v,
        )),
        None => None,
    };
    let descending = match q.sort_direction.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::Validation("[query.sortDirection] asc or desc".into())),
    };
    let sort = (field(q.sort_by.as_deref(), UserField::CreatedAt)?, descending);
    let query = UserQuery { app: auth.user.app_key().to_string(), search, filter, sort, limit, offset };
    let (users, total) = state.store.list_users(&query).await?;
    Ok(no_store(
        JsonOut(json!({ "users": users, "total": total, "limit": limit, "offset": offset })).into_response(),
    ))
}

#[derive(Deserialize, Default)]
pub(super) struct IdQuery {
    id: Option<String>,
}

/// `GET /admin/get-user?id`: the user (no wrapper); 404 `USER_NOT_FOUND`.
pub(super) async fn get_user(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "get", "YOU_ARE_NOT_ALLOWED_TO_GET_USER")?;
    let id = lenient_query::<IdQuery>(raw).id.filter(|i| !i.is_empty());
    let id = id.ok_or_else(|| ApiError::Validation("[query.id] Required".into()))?;
    Ok(no_store(JsonOut(target(&state, &auth, &id).await?).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateBody {
    user_id: String,
    data: serde_json::Map<String, Value>,
}

/// `POST /admin/update-user {userId, data}`: the user. `data` may hold `name`, `image`,
/// `emailVerified` and `role` (which needs `set-role`); a password is 400
/// `PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER`, an id `USER_ID_CANNOT_BE_UPDATED`.
pub(super) async fn update_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "update", "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS")?;
    let mut changes = AdminChanges::default();
    for (key, value) in &body.data {
        match key.as_str() {
            "password" => {
                return Err(bad(
                    "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
                    "Password cannot be updated via update user",
                ));
            }
            "id" => return Err(bad("USER_ID_CANNOT_BE_UPDATED", "User id cannot be updated")),
            "name" => changes.name = Some(parse_name(value.as_str().unwrap_or_default())?),
            "image" => changes.image = Some(value.as_str().map(parse_image).transpose()?),
            "emailVerified" => {
                changes.email_verified = Some(value.as_bool().ok_or_else(|| {
                    ApiError::Validation("[body.data.emailVerified] Expected boolean".into())
                })?)
            }
            "role" => {
                require(&state, &auth, "user", "set-role", "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")?;
                changes.role = Some(parse_role(value)?);
            }
            other => return Err(ApiError::Validation(format!("[body.data.{other}] cannot be updated here"))),
        }
    }
    if body.data.is_empty() {
        return Err(bad("NO_DATA_TO_UPDATE", "No data to update"));
    }
    let user = managed(&state, &auth, &body.user_id).await?;
    let fields: Vec<&String> = body.data.keys().collect();
    let what = ("user-updated", &user, json!({ "fields": fields }));
    let change = state.store.admin_update_user(&user.id, &changes, state.clock.now_ms());
    let updated = audited(&state, &auth, what, change).await?;
    Ok(no_store(JsonOut(updated.ok_or(USER_NOT_FOUND)?).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RoleBody {
    user_id: String,
    role: Value,
}

/// `POST /admin/set-role {userId, role}`: `{user}`.
pub(super) async fn set_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RoleBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "set-role", "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")?;
    let role = parse_role(&body.role)?;
    let user = managed(&state, &auth, &body.user_id).await?;
    let what = ("role-changed", &user, json!({ "from": user.role, "to": role }));
    let changes = AdminChanges { role: Some(role.clone()), ..AdminChanges::default() };
    let change = state.store.admin_update_user(&user.id, &changes, state.clock.now_ms());
    let updated = audited(&state, &auth, what, change).await?;
    Ok(no_store(JsonOut(json!({ "user": updated.ok_or(USER_NOT_FOUND)? })).into_response()))
}

/// `POST /admin/remove-user {userId}`: `{success: true}`; not oneself.
pub(super) async fn remove_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UserIdBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "delete", "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS")?;
    if body.user_id == auth.user.id {
        return Err(bad("YOU_CANNOT_REMOVE_YOURSELF", "You cannot remove yourself"));
    }
    let user = managed(&state, &auth, &body.user_id).await?;
    let what = ("user-removed", &user, json!({ "email": user.email }));
    if audited(&state, &auth, what, state.store.delete_user(&user.id)).await?.is_err() {
        return Err(bad(
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
            "The user is the only owner of an organization with other members",
        ));
    }
    let now = state.clock.now_ms();
    state.lockout.clear(&state.counters, state.store.as_ref(), &user.lockout_key(), now).await?;
    Ok(JsonOut(json!({ "success": true })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PasswordBody {
    user_id: String,
    new_password: String,
}

/// `POST /admin/set-user-password {userId, newPassword}`: `{status: true}` (the user's app's
/// policy; a user without a password gets their credential account). Sessions stay.
pub(super) async fn set_user_password(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<PasswordBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "set-password", "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD")?;
    let user = managed(&state, &auth, &body.user_id).await?;
    let scope = state.scope_of(&user).await?;
    let password =
        NewPassword::parse(&body.new_password, &scope.password_policy(&state.settings.passwords.policy))?;
    let hash = state.hasher.hash(password.as_str()).await?;
    let change =
        state.store.replace_credentials(&user.id, &hash, EndSessions::None, false, state.clock.now_ms());
    audited(&state, &auth, ("password-set", &user, Value::Null), change).await?;
    Ok(JsonOut(json!({ "status": true })).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PermissionBody {
    user_id: Option<String>,
    role: Option<String>,
    permission: Option<std::collections::BTreeMap<String, Vec<String>>>,
    permissions: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// `POST /admin/has-permission {userId?, role?, permissions}`: `{error: null, success}` for the
/// caller, or another user of their app, or a role.
pub(super) async fn has_permission(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<PermissionBody>,
) -> ApiResult<Response> {
    let asked: Vec<(String, Vec<String>)> = body
        .permissions
        .or(body.permission)
        .ok_or_else(|| ApiError::Validation("[body.permissions] Required".into()))?
        .into_iter()
        .collect();
    let ids = &state.settings.admin.user_ids;
    let success = match (&body.role, &body.user_id) {
        (Some(role), _) => admin::allows_all(&asked, |r, a| admin::role_allows(role, r, a)),
        (None, Some(id)) => {
            if *id != auth.user.id {
                require(&state, &auth, "user", "get", "YOU_ARE_NOT_ALLOWED_TO_GET_USER")?;
            }
            let user = target(&state, &auth, id).await?;
            admin::allows_all(&asked, |r, a| admin::allows(&user, ids, r, a))
        }
        (None, None) => admin::allows_all(&asked, |r, a| admin::allows(&auth.user, ids, r, a)),
    };
    Ok(JsonOut(json!({ "error": null, "success": success })).into_response())
}
