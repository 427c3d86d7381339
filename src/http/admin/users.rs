//! `/admin/create-user`, `update-user`, `set-role`, `remove-user`, `set-user-password`,
//! `has-permission`. Reading users: `listing`.

use axum::{
    Json as JsonOut,
    extract::State,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{
    ToSchema,
    openapi::schema::{Object, ObjectBuilder, Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    Role, TAG, USER_NOT_FOUND, UserAnswer, UserIdBody, action, audited, bad, managed, parse_role, require,
    target,
};
use crate::{
    domain::{
        admin,
        fields::{self, By, Source},
        input::{Email, NewPassword, parse_image, parse_name},
        model::User,
    },
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        answers::{Status, Success},
        extract::{Authenticated, Json},
        layers::no_store,
    },
    security::tokens::random_id,
    service::{self, audit::event},
    state::AppState,
    store::{EndSessions, admin::AdminChanges},
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user))
        .routes(routes!(update_user))
        .routes(routes!(set_role))
        .routes(routes!(remove_user))
        .routes(routes!(set_user_password))
        .routes(routes!(has_permission))
}

/// A user to create in the caller's app.
#[derive(Deserialize, ToSchema)]
#[schema(as = AdminCreateUserBody)]
struct CreateBody {
    email: String,
    /// Checked against the app's password policy; without one the user has no password.
    password: Option<String>,
    name: String,
    /// `user` when left out.
    #[schema(value_type = Option<Role>)]
    role: Option<Value>,
    /// More fields of the user: `emailVerified` (boolean), `image` (string) and the declared
    /// custom fields (`USER_FIELDS`, typed: 400 otherwise) are read; other fields are ignored.
    #[serde(default)]
    #[schema(value_type = Object, required = false)]
    data: serde_json::Map<String, Value>,
}

/// `POST /admin/create-user`: `{user}` in the caller's app; without a password the user has no
/// credential account (they sign in another way, or an admin sets one).
#[utoipa::path(post, path = "/admin/create-user", tag = TAG, summary = "Create a user",
    request_body = CreateBody,
    responses((status = 200, description = "The new user", body = UserAnswer),
        (status = 400, description = "`USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL`, an invalid field or role", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn create_user(
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
    // The declared custom fields among `data`'s keys, typed (the rest of `data` is ignored, as before).
    let specs = &state.settings.user_fields;
    let declared = body.data.iter().filter(|(k, _)| specs.iter().any(|s| &s.name == *k));
    let declared = declared.map(|(k, v)| (k.clone(), v.clone())).collect();
    user.fields = fields::for_new_user(specs, declared, Source::Json, By::Admin).map_err(in_data)?;
    let created = action(&auth, "user-created", &user, json!({ "role": user.role }));
    let created = event(&created, user.app_id.as_deref(), state.clock.now_ms());
    let hooks = service::webhooks::endpoints_of_event(&state, &created).await;
    let store = state.store.as_ref();
    if !service::admin::create_user(store, &state.hasher, &user, password.as_ref(), created, hooks).await? {
        return Err(bad("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email."));
    }
    Ok(no_store(JsonOut(UserAnswer { user }).into_response()))
}

/// A custom field's error, named where the admin routes take it: `[body.data.age]`.
fn in_data(error: ApiError) -> ApiError {
    match error {
        ApiError::Validation(message) => ApiError::Validation(message.replacen("[body", "[body.data", 1)),
        other => other,
    }
}

/// A change to a user.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminUpdateUserBody)]
struct UpdateBody {
    user_id: String,
    #[schema(value_type = UserChanges)]
    data: serde_json::Map<String, Value>,
}

// For the API description only.
/// What `update-user` may change: at least one field; any other field, `password` and `id`
/// included, is refused with 400.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = AdminUserChanges, min_properties = 1)]
#[allow(dead_code, reason = "describes `data`; the handler reads it as a JSON object")]
struct UserChanges {
    /// The new name.
    #[schema(required = false)]
    name: String,
    /// The new image URL; `null` removes it.
    #[schema(required = false)]
    image: Option<String>,
    #[schema(required = false)]
    email_verified: bool,
    /// Needs the permission to set roles.
    #[schema(required = false)]
    role: Role,
}

/// `POST /admin/update-user {userId, data}`: the user. `data` may hold `name`, `image`,
/// `emailVerified`, `role` (which needs `set-role`) and the custom fields; a password is 400
/// `PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER`, an id `USER_ID_CANNOT_BE_UPDATED`.
#[utoipa::path(post, path = "/admin/update-user", tag = TAG, summary = "Change a user's name, image, verified email or role",
    request_body = UpdateBody,
    responses((status = 200, description = "The user as changed", body = User),
        (status = 400, description = "`NO_DATA_TO_UPDATE`, `PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER`, \
            `USER_ID_CANNOT_BE_UPDATED`, or a field that cannot be changed here", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn update_user(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Response> {
    require(&state, &auth, "user", "update", "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS")?;
    let mut changes = AdminChanges::default();
    let specs = &state.settings.user_fields;
    let mut custom = serde_json::Map::new();
    for (key, value) in &body.data {
        match key.as_str() {
            "password" => {
                return Err(bad(
                    "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
                    "Password cannot be updated via update user",
                ));
            }
            "id" => return Err(bad("USER_ID_CANNOT_BE_UPDATED", "User id cannot be updated")),
            "name" => {
                let name = value
                    .as_str()
                    .ok_or_else(|| ApiError::Validation("[body.data.name] Expected string".into()));
                changes.name = Some(parse_name(name?)?)
            }
            "image" => {
                changes.image = Some(match value {
                    Value::Null => None,
                    Value::String(image) => Some(parse_image(image)?),
                    _ => {
                        return Err(ApiError::Validation("[body.data.image] Expected string or null".into()));
                    }
                })
            }
            "emailVerified" => {
                changes.email_verified = Some(value.as_bool().ok_or_else(|| {
                    ApiError::Validation("[body.data.emailVerified] Expected boolean".into())
                })?)
            }
            "role" => {
                require(&state, &auth, "user", "set-role", "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE")?;
                changes.role = Some(parse_role(value)?);
            }
            declared if specs.iter().any(|s| s.name == declared) => {
                custom.insert(key.clone(), value.clone());
            }
            other => return Err(ApiError::Validation(format!("[body.data.{other}] cannot be updated here"))),
        }
    }
    if body.data.is_empty() {
        return Err(bad("NO_DATA_TO_UPDATE", "No data to update"));
    }
    let user = managed(&state, &auth, &body.user_id).await?;
    changes.fields = fields::patch(specs, custom, Source::Json, By::Admin).map_err(in_data)?;
    let fields: Vec<&String> = body.data.keys().collect();
    let what = ("user-updated", &user, json!({ "fields": fields }));
    let change = state.store.admin_update_user(&user.id, &changes, state.clock.now_ms());
    let updated = audited(&state, &auth, what, change).await?;
    Ok(no_store(JsonOut(updated.ok_or(USER_NOT_FOUND)?).into_response()))
}

/// A user's new role.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminSetRoleBody)]
struct RoleBody {
    user_id: String,
    #[schema(value_type = Role)]
    role: Value,
}

/// `POST /admin/set-role {userId, role}`: `{user}`.
#[utoipa::path(post, path = "/admin/set-role", tag = TAG, summary = "Set a user's role",
    request_body = RoleBody,
    responses((status = 200, description = "The user with their new role", body = UserAnswer),
        (status = 400, description = "`INVALID_ROLE_TYPE`, `YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE`", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn set_role(
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
    Ok(no_store(JsonOut(UserAnswer { user: updated.ok_or(USER_NOT_FOUND)? }).into_response()))
}

/// `POST /admin/remove-user {userId}`: `{success: true}`; not oneself.
#[utoipa::path(post, path = "/admin/remove-user", tag = TAG, summary = "Delete a user",
    request_body = UserIdBody,
    responses((status = 200, description = "The user and everything of theirs are deleted", body = Success),
        (status = 400, description = "`YOU_CANNOT_REMOVE_YOURSELF`, or \
            `YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER`", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn remove_user(
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
    Ok(JsonOut(Success::YES).into_response())
}

/// A user's new password.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminSetUserPasswordBody)]
struct PasswordBody {
    user_id: String,
    /// Checked against the policy of the user's app.
    new_password: String,
}

/// `POST /admin/set-user-password {userId, newPassword}`: `{status: true}` (the user's app's
/// policy; a user without a password gets their credential account). Sessions stay.
#[utoipa::path(post, path = "/admin/set-user-password", tag = TAG, summary = "Set a user's password",
    request_body = PasswordBody,
    responses((status = 200, description = "The password is set; the user's sessions stay", body = Status),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn set_user_password(
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
    Ok(JsonOut(Status::YES).into_response())
}

/// Whose permissions to check (a role, else a user, else the caller) and which.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AdminHasPermissionBody)]
struct PermissionBody {
    /// A user of the caller's app (another than the caller needs the permission to get users).
    user_id: Option<String>,
    /// A role to check instead of a user.
    role: Option<String>,
    /// The older name of `permissions` (read when `permissions` is absent).
    permission: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Resource to actions, e.g. `{"user": ["ban"]}`; all must be allowed. This or
    /// `permission` is required.
    permissions: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// Whether every permission asked for is allowed.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminPermissionAnswer)]
struct PermissionAnswer {
    /// Always `null`.
    #[schema(schema_with = null)]
    error: (),
    success: bool,
}

fn null() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// `POST /admin/has-permission {userId?, role?, permissions}`: `{error: null, success}` for the
/// caller, or another user of their app, or a role.
#[utoipa::path(post, path = "/admin/has-permission", tag = TAG, summary = "Check permissions of a role, a user or the caller",
    request_body = PermissionBody,
    responses((status = 200, description = "Whether all the permissions are allowed", body = PermissionAnswer),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
async fn has_permission(
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
    Ok(JsonOut(PermissionAnswer { error: (), success }).into_response())
}
