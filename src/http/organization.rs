//! Organizations (Better Auth's organization plugin), first part: `create`, `list`,
//! `set-active`, `get-full-organization`, `check-slug`, `get-active-member`. The session's
//! `activeOrganizationId` appears in every session object and picks the subscription looked up.

use axum::{
    Json as JsonOut, Router,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    domain::{
        input::parse_name,
        model::{MemberRow, OrganizationRow, User},
    },
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, Json, lenient_query},
        layers::no_store,
    },
    security::tokens::random_id,
    state::AppState,
    store::StoreError,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/organization/create", post(create))
        .route("/organization/list", get(list))
        .route("/organization/set-active", post(set_active))
        .route("/organization/get-full-organization", get(full_organization))
        .route("/organization/check-slug", post(check_slug))
        .route("/organization/get-active-member", get(active_member))
}

const NOT_FOUND: ApiError =
    ApiError::Org(StatusCode::BAD_REQUEST, "ORGANIZATION_NOT_FOUND", "Organization not found");
const NOT_A_MEMBER: ApiError = ApiError::Org(
    StatusCode::FORBIDDEN,
    "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION",
    "User is not a member of the organization",
);

/// The organization as the plugin answers it: `metadata` parsed back into JSON.
fn org_json(org: &OrganizationRow) -> Value {
    let metadata = org.metadata.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok());
    json!({
        "id": org.id, "name": org.name, "slug": org.slug, "logo": org.logo,
        "metadata": metadata, "createdAt": crate::domain::time::format_ms(org.created_at),
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

/// Points the session at `organization_id` (or none).
async fn set_active_org(
    state: &AppState,
    auth: &Authenticated,
    organization_id: Option<&str>,
) -> ApiResult<()> {
    state.store.set_active_organization(&auth.session.token, organization_id).await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    name: String,
    slug: String,
    logo: Option<String>,
    metadata: Option<Value>,
    #[serde(default)]
    keep_current_active_organization: bool,
}

/// `POST /organization/create`: the creator becomes `owner`; the organization becomes active
/// unless `keepCurrentActiveOrganization`.
async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<CreateBody>,
) -> ApiResult<Response> {
    if state.settings.require_email_verification && !auth.user.email_verified {
        return Err(ApiError::EmailNotVerified);
    }
    let name = parse_name(&body.name)?;
    if name.is_empty() {
        return Err(ApiError::Validation("[body.name] Required".into()));
    }
    let slug = parse_slug(&body.slug)?;
    let logo = body.logo.as_deref().map(crate::domain::input::parse_image).transpose()?;
    let now = state.clock.now_ms();
    let org = OrganizationRow {
        id: random_id(),
        name,
        slug,
        logo,
        metadata: body.metadata.filter(|m| !m.is_null()).map(|m| m.to_string()),
        created_at: now,
    };
    let owner = MemberRow {
        id: random_id(),
        organization_id: org.id.clone(),
        user_id: auth.user.id.clone(),
        role: "owner".into(),
        created_at: now,
    };
    match state.store.create_organization(&org, &owner).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => {
            return Err(ApiError::Org(
                StatusCode::BAD_REQUEST,
                "ORGANIZATION_ALREADY_EXISTS",
                "Organization already exists",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    if !body.keep_current_active_organization {
        set_active_org(&state, &auth, Some(&org.id)).await?;
    }
    let mut answer = org_json(&org);
    answer["members"] = json!([member_json(&owner, &auth.user)]);
    Ok(no_store(JsonOut(answer).into_response()))
}

/// `GET /organization/list`: the caller's organizations.
async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let orgs = state.store.organizations_of(&auth.user.id).await?;
    Ok(no_store(JsonOut(orgs.iter().map(org_json).collect::<Vec<_>>()).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetActiveBody {
    #[serde(default)]
    organization_id: Option<String>,
    #[serde(default)]
    organization_slug: Option<String>,
}

/// `POST /organization/set-active {organizationId | organizationSlug | null}`: the full
/// organization, or `null` after clearing. Non-members: 403.
async fn set_active(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<SetActiveBody>,
) -> ApiResult<Response> {
    let Some(key) = body.organization_id.or(body.organization_slug) else {
        set_active_org(&state, &auth, None).await?;
        return Ok(no_store(JsonOut(Value::Null).into_response()));
    };
    let org = state.store.organization(&key).await?.ok_or(NOT_FOUND)?;
    state.store.membership(&org.id, &auth.user.id).await?.ok_or(NOT_A_MEMBER)?;
    set_active_org(&state, &auth, Some(&org.id)).await?;
    Ok(no_store(JsonOut(full(&state, &org).await?).into_response()))
}

async fn full(state: &AppState, org: &OrganizationRow) -> ApiResult<Value> {
    let members = state.store.members(&org.id).await?;
    let mut answer = org_json(org);
    answer["members"] = members.iter().map(|(m, u)| member_json(m, u)).collect();
    answer["invitations"] = json!([]);
    Ok(answer)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OrgQuery {
    organization_id: Option<String>,
    organization_slug: Option<String>,
}

/// The organization a read names (`?organizationId` / `?organizationSlug`), else the active
/// one; the caller must be a member. `None` when there is neither.
async fn target(
    state: &AppState,
    auth: &Authenticated,
    raw: Option<String>,
) -> ApiResult<Option<(OrganizationRow, MemberRow)>> {
    let q: OrgQuery = lenient_query(raw);
    let Some(key) =
        q.organization_id.or(q.organization_slug).or_else(|| auth.session.active_organization_id.clone())
    else {
        return Ok(None);
    };
    let org = state.store.organization(&key).await?.ok_or(NOT_FOUND)?;
    let member = state.store.membership(&org.id, &auth.user.id).await?.ok_or(NOT_A_MEMBER)?;
    Ok(Some((org, member)))
}

/// `GET /organization/get-full-organization`: organization, members (with their user) and
/// invitations; `null` without an active organization.
async fn full_organization(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let answer = match target(&state, &auth, raw).await? {
        Some((org, _)) => full(&state, &org).await?,
        None => Value::Null,
    };
    Ok(no_store(JsonOut(answer).into_response()))
}

#[derive(Deserialize)]
struct SlugBody {
    slug: String,
}

/// `POST /organization/check-slug`: `{status: true}` when free, else 400
/// `ORGANIZATION_SLUG_ALREADY_TAKEN`.
async fn check_slug(
    State(state): State<AppState>,
    _auth: Authenticated,
    Json(body): Json<SlugBody>,
) -> ApiResult<Response> {
    let slug = parse_slug(&body.slug)?;
    if state.store.organization(&slug).await?.is_some_and(|o| o.slug == slug) {
        return Err(ApiError::Org(
            StatusCode::BAD_REQUEST,
            "ORGANIZATION_SLUG_ALREADY_TAKEN",
            "Slug is taken",
        ));
    }
    Ok(JsonOut(json!({ "status": true })).into_response())
}

/// `GET /organization/get-active-member`: the caller's membership in the active organization.
async fn active_member(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let Some((_, member)) = target(&state, &auth, None).await? else {
        return Err(ApiError::Org(
            StatusCode::BAD_REQUEST,
            "NO_ACTIVE_ORGANIZATION",
            "No active organization",
        ));
    };
    Ok(no_store(JsonOut(member_json(&member, &auth.user)).into_response()))
}
