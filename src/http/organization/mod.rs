//! Organizations (Better Auth's organization plugin): the organization itself (`crud`), its
//! members (`members`) and invitations (`invitations`). The session's `activeOrganizationId`
//! appears in every session object and picks the subscription looked up. Who may do what is
//! `domain::roles`.

mod crud;
mod invitations;
mod members;

use std::borrow::Cow;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{
    IntoParams, PartialSchema, ToSchema,
    openapi::{ObjectBuilder, RefOr, Schema, Type},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    domain::{
        input::Id,
        model::{InvitationRow, MemberRow, OrganizationRow, User},
        roles::{Denied, Permission, Role},
    },
    error::{ApiError, ApiResult},
    http::extract::{Authenticated, lenient_query},
    state::AppState,
};

const TAG: &str = "Organizations";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(crud::create))
        .routes(routes!(crud::update))
        .routes(routes!(crud::delete))
        .routes(routes!(crud::list))
        .routes(routes!(crud::set_active))
        .routes(routes!(crud::full_organization))
        .routes(routes!(crud::check_slug))
        .routes(routes!(members::active_member))
        .routes(routes!(members::list_members))
        .routes(routes!(members::update_member_role))
        .routes(routes!(members::remove_member))
        .routes(routes!(members::leave))
        .routes(routes!(invitations::invite_member))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(invitations::reject_invitation))
        .routes(routes!(invitations::cancel_invitation))
        .routes(routes!(invitations::list_invitations))
}

/// An id sent in a body is refused with 400 unless it has 1 to 255 bytes and no control
/// characters (see [`Id`]); the document says so.
impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An id (or slug): 1 to 255 bytes, no control characters"))
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some("^[^\\u0000-\\u001F\\u007F-\\u009F]+$"))
            .into()
    }
}

impl ToSchema for Id {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// A role name as a body gives it (read by [`Role::parse`]).
fn role_name() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["owner", "admin", "member"]))
        .description(Some("A role: `owner`, `admin` or `member` (case and surrounding spaces do not matter)"))
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

/// An organization.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct Organization {
    id: String,
    name: String,
    /// Lowercase letters, digits and dashes.
    slug: String,
    #[schema(required = true)]
    logo: Option<String>,
    /// The JSON value it was given; `null` when none.
    #[schema(required = true)]
    metadata: Option<Value>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "crate::domain::time::iso")]
    created_at: i64,
    /// Members need a second factor to make it their active organization.
    require_two_factor: bool,
}

/// The organization as the plugin answers it: `metadata` parsed back into JSON.
fn organization(org: &OrganizationRow) -> Organization {
    let metadata = org.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok());
    Organization {
        id: org.id.clone(),
        name: org.name.clone(),
        slug: org.slug.clone(),
        logo: org.logo.clone(),
        metadata,
        created_at: org.created_at,
        require_two_factor: org.require_two_factor,
    }
}

/// A new organization with its one member, the creator (`owner`).
#[derive(Serialize, ToSchema)]
struct CreatedOrganization {
    #[serde(flatten)]
    organization: Organization,
    members: Vec<MemberWithUser>,
}

/// An organization with its members and pending invitations.
#[derive(Serialize, ToSchema)]
struct FullOrganization {
    #[serde(flatten)]
    organization: Organization,
    members: Vec<MemberWithUser>,
    /// The pending ones.
    invitations: Vec<InvitationRow>,
}

/// The member's user, as other members see it.
#[derive(Serialize, ToSchema)]
struct MemberUser {
    id: String,
    name: String,
    email: String,
    #[schema(required = true)]
    image: Option<String>,
}

/// A membership with its user.
#[derive(Serialize, ToSchema)]
struct MemberWithUser {
    #[serde(flatten)]
    member: MemberRow,
    user: MemberUser,
}

fn member_with_user(member: &MemberRow, user: &User) -> MemberWithUser {
    let user = MemberUser {
        id: user.id.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        image: user.image.clone(),
    };
    MemberWithUser { member: member.clone(), user }
}

/// A slug: lowercase letters, digits and dashes, 1 to 64 characters.
fn parse_slug(raw: &str) -> ApiResult<String> {
    let slug = raw.trim().to_lowercase();
    let ok =
        !slug.is_empty() && slug.len() <= 64 && slug.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok { Ok(slug) } else { Err(ApiError::Validation("[body.slug] Invalid slug".into())) }
}

/// Which organization a read is about (neither: the active one).
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
struct OrgQuery {
    /// The organization's id (or its slug).
    #[param(value_type = Option<String>)]
    organization_id: Option<Id>,
    /// The organization's slug (or its id); `organizationId` wins.
    #[param(value_type = Option<String>)]
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
