//! Organizations (Better Auth's organization plugin): the organization itself (`crud`), its
//! members (`members`) and invitations (`invitations`). The session's `activeOrganizationId`
//! appears in every session object and picks the subscription looked up. Who may do what is
//! `domain::roles`.

mod crud;
mod invitations;
mod members;

use axum::{
    Router,
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    domain::{
        input::Id,
        model::{MemberRow, OrganizationRow, User},
        roles::{Denied, Permission, Role},
    },
    error::{ApiError, ApiResult},
    http::extract::{Authenticated, lenient_query},
    state::AppState,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organization/create", post(crud::create))
        .route("/organization/update", post(crud::update))
        .route("/organization/delete", post(crud::delete))
        .route("/organization/list", get(crud::list))
        .route("/organization/set-active", post(crud::set_active))
        .route("/organization/get-full-organization", get(crud::full_organization))
        .route("/organization/check-slug", post(crud::check_slug))
        .route("/organization/get-active-member", get(members::active_member))
        .route("/organization/list-members", get(members::list_members))
        .route("/organization/update-member-role", post(members::update_member_role))
        .route("/organization/remove-member", post(members::remove_member))
        .route("/organization/leave", post(members::leave))
        .route("/organization/invite-member", post(invitations::invite_member))
        .route("/organization/accept-invitation", post(invitations::accept_invitation))
        .route("/organization/reject-invitation", post(invitations::reject_invitation))
        .route("/organization/cancel-invitation", post(invitations::cancel_invitation))
        .route("/organization/list-invitations", get(invitations::list_invitations))
}

/// The plugin's error with its code; the message is the plugin's too.
const fn org_error(status: StatusCode, code: &'static str, message: &'static str) -> ApiError {
    ApiError::Coded(status, code, message)
}

const NOT_FOUND: ApiError =
    org_error(StatusCode::BAD_REQUEST, "ORGANIZATION_NOT_FOUND", "Organization not found");
const NOT_A_MEMBER: ApiError = org_error(
    StatusCode::FORBIDDEN,
    "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
    "User is not a member of the organization",
);
const NO_ACTIVE: ApiError =
    org_error(StatusCode::BAD_REQUEST, "NO_ACTIVE_ORGANIZATION", "No active organization");
const MEMBER_NOT_FOUND: ApiError = org_error(StatusCode::BAD_REQUEST, "MEMBER_NOT_FOUND", "Member not found");
const ONLY_OWNER: ApiError = org_error(
    StatusCode::BAD_REQUEST,
    "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER",
    "You cannot leave the organization as the only owner",
);
const ALREADY_A_MEMBER: ApiError = org_error(
    StatusCode::BAD_REQUEST,
    "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
    "User is already a member of this organization",
);

/// The error for a refusal by the store; `not_allowed` is the route's own.
fn refusal(denied: Denied, not_allowed: ApiError) -> ApiError {
    match denied {
        Denied::OrganizationNotFound => NOT_FOUND,
        Denied::NotAMember => NOT_A_MEMBER,
        Denied::MemberNotFound => MEMBER_NOT_FOUND,
        Denied::NotAllowed => not_allowed,
        Denied::LastOwner => ONLY_OWNER,
    }
}

/// 403 unless `member`'s role grants `permission`; `denied` is the route's own error.
fn require(member: &MemberRow, permission: Permission, denied: ApiError) -> ApiResult<()> {
    if Role::of_stored(&member.role).can(permission) { Ok(()) } else { Err(denied) }
}

/// The organization as the plugin answers it: `metadata` parsed back into JSON.
fn org_json(org: &OrganizationRow) -> Value {
    let metadata = org.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok());
    json!({
        "id": org.id, "name": org.name, "slug": org.slug, "logo": org.logo,
        "metadata": metadata, "createdAt": crate::domain::time::format_ms(org.created_at),
        "requireTwoFactor": org.require_two_factor,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberWithUser<'a> {
    #[serde(flatten)]
    member: &'a MemberRow,
    user: Value,
}

fn member_json(member: &MemberRow, user: &User) -> Value {
    let user = json!({ "id": user.id, "name": user.name, "email": user.email, "image": user.image });
    serde_json::to_value(MemberWithUser { member, user }).unwrap_or(Value::Null)
}

/// A slug: lowercase letters, digits and dashes, 1 to 64 characters.
fn parse_slug(raw: &str) -> ApiResult<String> {
    let slug = raw.trim().to_lowercase();
    let ok =
        !slug.is_empty() && slug.len() <= 64 && slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok { Ok(slug) } else { Err(ApiError::Validation("[body.slug] Invalid slug".into())) }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OrgQuery {
    organization_id: Option<Id>,
    organization_slug: Option<Id>,
}

/// The organization a read names (`?organizationId` / `?organizationSlug`), else the active
/// one; the caller must be a member. `None` when there is neither.
async fn target(
    state: &AppState,
    auth: &Authenticated,
    raw: Option<String>,
) -> ApiResult<Option<(OrganizationRow, MemberRow)>> {
    let q: OrgQuery = lenient_query(raw);
    target_by(state, auth, q.organization_id.or(q.organization_slug)).await
}

/// The organization `key` (id or slug) names, else the active one, with the caller's
/// membership (403 for non-members); `None` when there is neither. An organization that requires
/// a second factor is 403 `TWO_FACTOR_REQUIRED` to members without one.
async fn target_by(
    state: &AppState,
    auth: &Authenticated,
    key: Option<Id>,
) -> ApiResult<Option<(OrganizationRow, MemberRow)>> {
    let found = membership_by(state, auth, key).await?;
    if found.as_ref().is_some_and(|(org, _)| org.require_two_factor && !auth.user.two_factor_enabled) {
        return Err(ApiError::TwoFactorRequired);
    }
    Ok(found)
}

/// As [`target_by`], whatever the organization requires (for leaving it).
async fn membership_by(
    state: &AppState,
    auth: &Authenticated,
    key: Option<Id>,
) -> ApiResult<Option<(OrganizationRow, MemberRow)>> {
    let Some(key) = key.map(Id::into_string).or_else(|| auth.session.active_organization_id.clone()) else {
        return Ok(None);
    };
    let org = state.store.organization(&key, auth.user.app_key()).await?.ok_or(NOT_FOUND)?;
    let member = state.store.membership(&org.id, &auth.user.id).await?.ok_or(NOT_A_MEMBER)?;
    Ok(Some((org, member)))
}
