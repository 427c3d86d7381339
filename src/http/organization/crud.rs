//! The organization itself: `create`, `update`, `delete`, `list`, `set-active`,
//! `get-full-organization`, `check-slug`.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{
    CreatedOrganization, FullOrganization, NOT_A_MEMBER, NOT_FOUND, OrgQuery, Organization, TAG,
    member_with_user, org_error, organization, parse_slug, refusal, target, target_by,
};
use crate::{
    domain::{
        input::{Id, parse_image, parse_name},
        model::{MemberRow, OrganizationChanges, OrganizationRow},
        roles::Role,
    },
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        answers::Status,
        extract::{Authenticated, Json},
        layers::no_store,
    },
    security::tokens::random_id,
    service::audit::{Record, recorded},
    state::AppState,
    store::StoreError,
};

const SLUG_TAKEN: ApiError =
    org_error(StatusCode::BAD_REQUEST, "ORGANIZATION_SLUG_ALREADY_TAKEN", "Organization slug already taken");

/// A name that is valid and not empty.
fn required_name(raw: &str) -> ApiResult<String> {
    let name = parse_name(raw)?;
    if name.is_empty() {
        return Err(ApiError::Validation("[body.name] Required".into()));
    }
    Ok(name)
}

/// Metadata as stored: JSON text, or nothing for `null`.
fn metadata_text(metadata: Option<Value>) -> Option<String> {
    metadata.filter(|m| !m.is_null()).map(|m| m.to_string())
}

fn answer(value: impl Serialize) -> Response {
    no_store(JsonOut(value).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateOrganizationBody {
    /// Not blank; at most 256 characters once trimmed.
    name: String,
    /// Lowercase letters, digits and dashes, 1 to 64 (stored trimmed and lowercased).
    slug: String,
    logo: Option<String>,
    /// Any JSON value, answered back as given.
    metadata: Option<Value>,
    /// Leave the session's active organization as it is (by default the new one becomes active).
    #[serde(default)]
    #[schema(required = false)]
    keep_current_active_organization: bool,
}

/// `POST /organization/create`: the creator becomes `owner`; the organization becomes active
/// unless `keepCurrentActiveOrganization`.
#[utoipa::path(post, path = "/organization/create", tag = TAG, summary = "Create an organization",
    request_body = CreateOrganizationBody,
    responses((status = 200, description = "The organization, with its creator as owner",
        body = CreatedOrganization)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<CreateOrganizationBody>,
) -> ApiResult<Response> {
    let scope = state.scope_of(&auth.user).await?;
    if scope.require_email_verification(state.settings.sessions.require_email_verification)
        && !auth.user.email_verified
    {
        return Err(ApiError::EmailNotVerified);
    }
    let now = state.clock.now_ms();
    let org = OrganizationRow {
        id: random_id(),
        name: required_name(&body.name)?,
        slug: parse_slug(&body.slug)?,
        logo: body.logo.as_deref().map(parse_image).transpose()?,
        metadata: metadata_text(body.metadata),
        created_at: now,
        require_two_factor: false,
        app_id: auth.user.app_id.clone(),
    };
    let owner = MemberRow {
        id: random_id(),
        organization_id: org.id.clone(),
        user_id: auth.user.id.clone(),
        role: Role::Owner.as_str().into(),
        created_at: now,
    };
    let created = Record::own("organization-created", &auth.user).on("organization", &org.id);
    let created = created.through(&auth.session).with(json!({ "slug": org.slug }));
    match recorded(&state, created, None, state.store.create_organization(&org, &owner)).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(org_error(
                StatusCode::BAD_REQUEST,
                "ORGANIZATION_ALREADY_EXISTS",
                "Organization already exists",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    if !body.keep_current_active_organization {
        state.store.set_active_organization(&auth.session.token, &auth.user.id, Some(&org.id)).await?;
    }
    let members = vec![member_with_user(&owner, &auth.user)];
    Ok(answer(CreatedOrganization { organization: organization(&org), members }))
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What to change; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateOrganizationData {
    name: Option<String>,
    /// Lowercase letters, digits and dashes, 1 to 64 (stored trimmed and lowercased).
    slug: Option<String>,
    /// `null` removes the logo.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, required = false)]
    logo: Option<Option<String>>,
    /// Any JSON value; `null` removes the metadata.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Value>, required = false)]
    metadata: Option<Option<Value>>,
    /// Owners only, and only with a second factor of their own.
    require_two_factor: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateOrganizationBody {
    data: UpdateOrganizationData,
    /// The organization (id or slug); the active one when absent.
    organization_id: Option<Id>,
}

/// `POST /organization/update {data: {name?, slug?, logo?, metadata?, requireTwoFactor?},
/// organizationId?}`: owners and admins (`requireTwoFactor`: owners only); `null` clears the logo
/// or metadata. The updated organization.
#[utoipa::path(post, path = "/organization/update", tag = TAG, summary = "Update an organization",
    request_body = UpdateOrganizationBody,
    responses((status = 200, description = "The updated organization", body = Organization)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateOrganizationBody>,
) -> ApiResult<Response> {
    let (org, member) = target_by(&state, &auth, body.organization_id).await?.ok_or(NOT_FOUND)?;
    let data = body.data;
    if data.require_two_factor.is_some() {
        // Owners only, and only with a second factor of their own (so they cannot lock
        // themselves out, and a stolen password alone cannot lift the requirement).
        if member.role != Role::Owner.as_str() {
            return Err(org_error(
                StatusCode::FORBIDDEN,
                "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
                "Only owners can require a second factor",
            ));
        }
        if !auth.user.two_factor_enabled {
            return Err(ApiError::TwoFactorRequired);
        }
    }
    let changes = OrganizationChanges {
        name: data.name.as_deref().map(required_name).transpose()?,
        slug: data.slug.as_deref().map(parse_slug).transpose()?,
        logo: data.logo.map(|logo| logo.as_deref().map(parse_image).transpose()).transpose()?,
        metadata: data.metadata.map(metadata_text),
        require_two_factor: data.require_two_factor,
    };
    let not_allowed = org_error(
        StatusCode::FORBIDDEN,
        "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION",
        "You are not allowed to update this organization",
    );
    match state.store.update_organization(&org.id, &auth.user.id, &changes).await {
        Ok(Ok(org)) => Ok(answer(organization(&org))),
        Ok(Err(denied)) => Err(refusal(denied, not_allowed)),
        Err(StoreError::Conflict) => Err(SLUG_TAKEN),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrganizationIdBody {
    /// The organization (id or slug).
    pub(super) organization_id: Id,
}

/// `POST /organization/delete {organizationId}`: owners only. Members and invitations go with
/// it, and every session that had it active has none. The organization as it was.
#[utoipa::path(post, path = "/organization/delete", tag = TAG, summary = "Delete an organization",
    request_body = OrganizationIdBody,
    responses((status = 200, description = "The organization as it was", body = Organization)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<OrganizationIdBody>,
) -> ApiResult<Response> {
    let (org, _) = target_by(&state, &auth, Some(body.organization_id)).await?.ok_or(NOT_FOUND)?;
    let not_allowed = org_error(
        StatusCode::FORBIDDEN,
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION",
        "You are not allowed to delete this organization",
    );
    let event = Record::own("organization-deleted", &auth.user).on("organization", &org.id);
    let event = event.through(&auth.session).with(json!({ "slug": org.slug }));
    let deleted =
        recorded(&state, event, None, state.store.delete_organization(&org.id, &auth.user.id)).await?;
    Ok(answer(organization(&deleted.map_err(|denied| refusal(denied, not_allowed))?)))
}

/// `GET /organization/list`: the caller's organizations.
#[utoipa::path(get, path = "/organization/list", tag = TAG, summary = "List the caller's organizations",
    responses((status = 200, description = "The organizations the caller is a member of",
        body = Vec<Organization>)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let orgs = state.store.organizations_of(&auth.user.id).await?;
    Ok(answer(orgs.iter().map(organization).collect::<Vec<_>>()))
}

/// The organization to make active; neither field (absent or `null`) clears it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SetActiveOrganizationBody {
    /// The organization (id or slug).
    #[serde(default)]
    #[schema(required = false)]
    organization_id: Option<Id>,
    /// The organization (slug or id); `organizationId` wins.
    #[serde(default)]
    #[schema(required = false)]
    organization_slug: Option<Id>,
}

/// `POST /organization/set-active {organizationId | organizationSlug | null}`: the full
/// organization, or `null` after clearing. Non-members: 403.
#[utoipa::path(post, path = "/organization/set-active", tag = TAG,
    summary = "Set the session's active organization",
    request_body = SetActiveOrganizationBody,
    responses((status = 200, description = "The full organization now active, or `null` after clearing",
        body = Option<FullOrganization>)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn set_active(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<SetActiveOrganizationBody>,
) -> ApiResult<Response> {
    let Some(key) = body.organization_id.or(body.organization_slug) else {
        state.store.set_active_organization(&auth.session.token, &auth.user.id, None).await?;
        return Ok(answer(None::<FullOrganization>));
    };
    let org = state.store.organization(key.as_str(), auth.user.app_key()).await?.ok_or(NOT_FOUND)?;
    if org.require_two_factor && !auth.user.two_factor_enabled {
        // Members are told why; anyone else learns nothing about the organization.
        let member = state.store.membership(&org.id, &auth.user.id).await?;
        return Err(if member.is_some() { ApiError::TwoFactorRequired } else { NOT_A_MEMBER });
    }
    if !state.store.set_active_organization(&auth.session.token, &auth.user.id, Some(&org.id)).await? {
        return Err(NOT_A_MEMBER);
    }
    Ok(answer(full(&state, &org).await?))
}

async fn full(state: &AppState, org: &OrganizationRow) -> ApiResult<FullOrganization> {
    let members = state.store.members(&org.id).await?;
    let members = members.iter().map(|(m, u)| member_with_user(m, u)).collect();
    let invitations = state.store.invitations_of(&org.id).await?;
    let invitations = invitations.into_iter().filter(|i| i.status == "pending").collect();
    Ok(FullOrganization { organization: organization(org), members, invitations })
}

/// `GET /organization/get-full-organization`: organization, members (with their user) and
/// invitations; `null` without an active organization.
#[utoipa::path(get, path = "/organization/get-full-organization", tag = TAG,
    summary = "Get an organization with its members and pending invitations",
    params(OrgQuery),
    responses((status = 200,
        description = "The organization asked for (else the active one), or `null` when there is none",
        body = Option<FullOrganization>)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn full_organization(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let full = match target(&state, &auth, raw).await? {
        Some((org, _)) => Some(full(&state, &org).await?),
        None => None,
    };
    Ok(answer(full))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CheckSlugBody {
    /// Compared trimmed and lowercased.
    slug: String,
}

/// `POST /organization/check-slug`: `{status: true}` when free, else 400
/// `ORGANIZATION_SLUG_ALREADY_TAKEN`.
#[utoipa::path(post, path = "/organization/check-slug", tag = TAG, summary = "Check that a slug is free",
    request_body = CheckSlugBody,
    responses((status = 200, description = "The slug is free", body = Status),
        (status = 400, description = "`ORGANIZATION_SLUG_ALREADY_TAKEN`, or not a valid slug",
            body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn check_slug(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<CheckSlugBody>,
) -> ApiResult<Response> {
    let slug = parse_slug(&body.slug)?;
    if state.store.organization(&slug, auth.user.app_key()).await?.is_some_and(|o| o.slug == slug) {
        return Err(SLUG_TAKEN);
    }
    Ok(JsonOut(Status::YES).into_response())
}
