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
        model::{InvitationRow, MemberRow, OrganizationRow, User},
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
        .route("/organization/list-members", get(list_members))
        .route("/organization/invite-member", post(invite_member))
        .route("/organization/accept-invitation", post(accept_invitation))
        .route("/organization/reject-invitation", post(reject_invitation))
        .route("/organization/cancel-invitation", post(cancel_invitation))
        .route("/organization/list-invitations", get(list_invitations))
}

const INVITATION_TTL_MS: i64 = 48 * 3_600_000;
const ROLES: &[&str] = &["owner", "admin", "member"];
const INVITATION_NOT_FOUND: ApiError =
    ApiError::Org(StatusCode::BAD_REQUEST, "INVITATION_NOT_FOUND", "Invitation not found");

/// Owners and admins manage members and invitations; members only read.
fn can_manage(member: &MemberRow) -> bool {
    matches!(member.role.as_str(), "owner" | "admin")
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
    let invitations = state.store.invitations_of(&org.id).await?;
    answer["invitations"] = invitations.iter().filter(|i| i.status == "pending").map(|i| json!(i)).collect();
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
    target_by(state, auth, q.organization_id.or(q.organization_slug)).await
}

/// The organization `key` (id or slug) names, else the active one, with the caller's
/// membership (403 for non-members); `None` when there is neither.
async fn target_by(
    state: &AppState,
    auth: &Authenticated,
    key: Option<String>,
) -> ApiResult<Option<(OrganizationRow, MemberRow)>> {
    let Some(key) = key.or_else(|| auth.session.active_organization_id.clone()) else {
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

/// `GET /organization/list-members`: `{members, total}` (members only).
async fn list_members(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (org, _) = target(&state, &auth, raw).await?.ok_or(NO_ACTIVE)?;
    let members = state.store.members(&org.id).await?;
    let list: Vec<Value> = members.iter().map(|(m, u)| member_json(m, u)).collect();
    Ok(no_store(JsonOut(json!({ "total": list.len(), "members": list })).into_response()))
}

const NO_ACTIVE: ApiError =
    ApiError::Org(StatusCode::BAD_REQUEST, "NO_ACTIVE_ORGANIZATION", "No active organization");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InviteBody {
    email: String,
    role: String,
    organization_id: Option<String>,
    #[serde(default)]
    resend: bool,
}

/// `POST /organization/invite-member`: owners and admins (only owners may invite owners);
/// mails an accept link valid 48 hours; `resend` renews a pending invitation.
async fn invite_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InviteBody>,
) -> ApiResult<Response> {
    let (org, me) = target_by(&state, &auth, body.organization_id).await?.ok_or(NO_ACTIVE)?;
    let email = crate::domain::input::Email::parse(&body.email)?;
    if !ROLES.contains(&body.role.as_str()) {
        return Err(ApiError::Validation("[body.role] must be owner, admin or member".into()));
    }
    if !can_manage(&me) || (body.role == "owner" && me.role != "owner") {
        return Err(ApiError::Org(
            StatusCode::FORBIDDEN,
            "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
            "You are not allowed to invite users to this organization",
        ));
    }
    if let Some(found) = state.store.credential_by_email(email.as_str()).await?
        && state.store.membership(&org.id, &found.user.id).await?.is_some()
    {
        return Err(ApiError::Org(
            StatusCode::BAD_REQUEST,
            "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
            "User is already a member of this organization",
        ));
    }
    let now = state.clock.now_ms();
    let pending = state
        .store
        .invitations_of(&org.id)
        .await?
        .into_iter()
        .find(|i| i.email == email.as_str() && i.status == "pending" && i.expires_at > now);
    let invitation = match pending {
        Some(mut existing) if body.resend => {
            existing.expires_at = now + INVITATION_TTL_MS;
            state.store.settle_invitation(&existing.id, "pending", Some(existing.expires_at)).await?;
            existing
        }
        Some(_) => {
            return Err(ApiError::Org(
                StatusCode::BAD_REQUEST,
                "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION",
                "User is already invited to this organization",
            ));
        }
        None => {
            let invitation = InvitationRow {
                id: random_id(),
                organization_id: org.id.clone(),
                email: email.as_str().to_string(),
                role: body.role.clone(),
                status: "pending".into(),
                expires_at: now + INVITATION_TTL_MS,
                inviter_id: auth.user.id.clone(),
                created_at: now,
            };
            state.store.insert_invitation(&invitation).await?;
            invitation
        }
    };
    // The app's page for it (which signs the invitee in and calls accept-invitation).
    let origin = state.settings.base_url.origin().ascii_serialization();
    let url = format!("{origin}/accept-invitation/{}", invitation.id);
    let vars = minijinja::context! {
        app_name => state.settings.app_name.clone(), inviter => auth.user.name.clone(),
        organization => org.name.clone(), role => invitation.role.clone(), expires_in => "48 hours",
    };
    state.mailer.send_template(
        "invite",
        "invite",
        &invitation.email,
        Some(url),
        Some(invitation.id.clone()),
        vars,
        now,
    );
    Ok(no_store(JsonOut(json!(invitation)).into_response()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvitationBody {
    invitation_id: String,
}

/// A pending, unexpired invitation addressed to the caller.
async fn own_invitation(state: &AppState, auth: &Authenticated, id: &str) -> ApiResult<InvitationRow> {
    let invitation = state.store.invitation(id).await?.ok_or(INVITATION_NOT_FOUND)?;
    if invitation.status != "pending" || invitation.expires_at <= state.clock.now_ms() {
        return Err(INVITATION_NOT_FOUND);
    }
    if invitation.email != auth.user.email {
        return Err(ApiError::Org(
            StatusCode::FORBIDDEN,
            "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
            "You are not the recipient of the invitation",
        ));
    }
    Ok(invitation)
}

/// `POST /organization/accept-invitation`: only the invited email; adds the member and makes
/// the organization active. `{invitation, member}`.
async fn accept_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InvitationBody>,
) -> ApiResult<Response> {
    let mut invitation = own_invitation(&state, &auth, &body.invitation_id).await?;
    let member = MemberRow {
        id: random_id(),
        organization_id: invitation.organization_id.clone(),
        user_id: auth.user.id.clone(),
        role: invitation.role.clone(),
        created_at: state.clock.now_ms(),
    };
    match state.store.accept_invitation(&invitation.id, &member).await {
        Ok(true) => {}
        Ok(false) => return Err(INVITATION_NOT_FOUND),
        Err(StoreError::Conflict) => {
            return Err(ApiError::Org(
                StatusCode::BAD_REQUEST,
                "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION",
                "User is already a member of this organization",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    set_active_org(&state, &auth, Some(&invitation.organization_id)).await?;
    invitation.status = "accepted".into();
    Ok(no_store(JsonOut(json!({ "invitation": invitation, "member": member })).into_response()))
}

/// `POST /organization/reject-invitation`: only the invited email. `{invitation, member: null}`.
async fn reject_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InvitationBody>,
) -> ApiResult<Response> {
    let mut invitation = own_invitation(&state, &auth, &body.invitation_id).await?;
    if !state.store.settle_invitation(&invitation.id, "rejected", None).await? {
        return Err(INVITATION_NOT_FOUND);
    }
    invitation.status = "rejected".into();
    Ok(no_store(JsonOut(json!({ "invitation": invitation, "member": null })).into_response()))
}

/// `POST /organization/cancel-invitation`: owners and admins of the organization.
async fn cancel_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InvitationBody>,
) -> ApiResult<Response> {
    let mut invitation = state.store.invitation(&body.invitation_id).await?.ok_or(INVITATION_NOT_FOUND)?;
    let me = state.store.membership(&invitation.organization_id, &auth.user.id).await?.ok_or(NOT_A_MEMBER)?;
    if !can_manage(&me) {
        return Err(ApiError::Org(
            StatusCode::FORBIDDEN,
            "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
            "You are not allowed to cancel this invitation",
        ));
    }
    if !state.store.settle_invitation(&invitation.id, "canceled", None).await? {
        return Err(INVITATION_NOT_FOUND);
    }
    invitation.status = "canceled".into();
    Ok(no_store(JsonOut(json!(invitation)).into_response()))
}

/// `GET /organization/list-invitations`: the organization's invitations (members only).
async fn list_invitations(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (org, _) = target(&state, &auth, raw).await?.ok_or(NO_ACTIVE)?;
    let invitations = state.store.invitations_of(&org.id).await?;
    Ok(no_store(JsonOut(json!(invitations)).into_response()))
}
