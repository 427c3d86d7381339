//! The organization itself: `create`, `update`, `delete`, `list`, `set-active`,
//! `get-full-organization`, `check-slug`.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use super::{
    NOT_A_MEMBER, NOT_FOUND, member_json, org_error, org_json, parse_slug, refusal, target, target_by,
};
use crate::{
    domain::{
        input::{Id, parse_image, parse_name},
        model::{MemberRow, OrganizationChanges, OrganizationRow},
        roles::Role,
    },
    error::{ApiError, ApiResult},
    http::{
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

fn answer(value: Value) -> Response {
    no_store(JsonOut(value).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateBody {
    name: String,
    slug: String,
    logo: Option<String>,
    metadata: Option<Value>,
    #[serde(default)]
    keep_current_active_organization: bool,
}

/// `POST /organization/create`: the creator becomes `owner`; the organization becomes active
/// unless `keepCurrentActiveOrganization`.
pub(super) async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<CreateBody>,
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
    let mut created = org_json(&org);
    created["members"] = json!([member_json(&owner, &auth.user)]);
    Ok(answer(created))
}

/// `Some(None)` for an explicit `null`, `None` when absent.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateData {
    name: Option<String>,
    slug: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    logo: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    metadata: Option<Option<Value>>,
    require_two_factor: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateBody {
    data: UpdateData,
    organization_id: Option<Id>,
}

/// `POST /organization/update {data: {name?, slug?, logo?, metadata?, requireTwoFactor?},
/// organizationId?}`: owners and admins (`requireTwoFactor`: owners only); `null` clears the logo
/// or metadata. The updated organization.
pub(super) async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateBody>,
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
        Ok(Ok(org)) => Ok(answer(org_json(&org))),
        Ok(Err(denied)) => Err(refusal(denied, not_allowed)),
        Err(StoreError::Conflict) => Err(SLUG_TAKEN),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrganizationIdBody {
    pub(super) organization_id: Id,
}

/// `POST /organization/delete {organizationId}`: owners only. Members and invitations go with
/// it, and every session that had it active has none. The organization as it was.
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
    Ok(answer(org_json(&deleted.map_err(|denied| refusal(denied, not_allowed))?)))
}

/// `GET /organization/list`: the caller's organizations.
pub(super) async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let orgs = state.store.organizations_of(&auth.user.id).await?;
    Ok(answer(orgs.iter().map(org_json).collect()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SetActiveBody {
    #[serde(default)]
    organization_id: Option<Id>,
    #[serde(default)]
    organization_slug: Option<Id>,
}

/// `POST /organization/set-active {organizationId | organizationSlug | null}`: the full
/// organization, or `null` after clearing. Non-members: 403.
pub(super) async fn set_active(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<SetActiveBody>,
) -> ApiResult<Response> {
    let Some(key) = body.organization_id.or(body.organization_slug) else {
        state.store.set_active_organization(&auth.session.token, &auth.user.id, None).await?;
        return Ok(answer(Value::Null));
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

async fn full(state: &AppState, org: &OrganizationRow) -> ApiResult<Value> {
    let members = state.store.members(&org.id).await?;
    let mut answer = org_json(org);
    answer["members"] = members.iter().map(|(m, u)| member_json(m, u)).collect();
    let invitations = state.store.invitations_of(&org.id).await?;
    answer["invitations"] = invitations.iter().filter(|i| i.status == "pending").map(|i| json!(i)).collect();
    Ok(answer)
}

/// `GET /organization/get-full-organization`: organization, members (with their user) and
/// invitations; `null` without an active organization.
pub(super) async fn full_organization(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let full = match target(&state, &auth, raw).await? {
        Some((org, _)) => full(&state, &org).await?,
        None => Value::Null,
    };
    Ok(answer(full))
}

#[derive(Deserialize)]
pub(super) struct SlugBody {
    slug: String,
}

/// `POST /organization/check-slug`: `{status: true}` when free, else 400
/// `ORGANIZATION_SLUG_ALREADY_TAKEN`.
pub(super) async fn check_slug(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<SlugBody>,
) -> ApiResult<Response> {
    let slug = parse_slug(&body.slug)?;
    if state.store.organization(&slug, auth.user.app_key()).await?.is_some_and(|o| o.slug == slug) {
        return Err(SLUG_TAKEN);
    }
    Ok(JsonOut(json!({ "status": true })).into_response())
}
