//! Members: `get-active-member`, `list-members`, `update-member-role`, `remove-member`,
//! `leave`. Changes go through `Store::change_member`, which applies `domain::roles`' rules in the
//! transaction that makes them.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{
    ToSchema,
    openapi::{ArrayBuilder, OneOfBuilder},
};

use super::{
    MemberWithUser, NO_ACTIVE, OrgQuery, TAG, crud::OrganizationIdBody, member_with_user, membership_by,
    org_error, refusal, role_name, target, target_by,
};
use crate::{
    domain::{
        input::{Email, Id},
        model::MemberRow,
        roles::{Denied, MemberChange, Role},
    },
    error::{ApiError, ApiResult, ErrorBody},
    http::{
        extract::{Authenticated, Json},
        layers::no_store,
    },
    service::audit::{Record, recorded},
    state::AppState,
    store::MemberTarget,
};

/// `GET /organization/get-active-member`: the caller's membership in the active organization.
#[utoipa::path(get, path = "/organization/get-active-member", tag = TAG,
    summary = "Get the caller's membership in the active organization",
    responses((status = 200, description = "The caller's membership, with their user", body = MemberWithUser),
        (status = 400, description = "`NO_ACTIVE_ORGANIZATION`", body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn active_member(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let (_, member) = target(&state, &auth, None).await?.ok_or(NO_ACTIVE)?;
    Ok(no_store(JsonOut(member_with_user(&member, &auth.user)).into_response()))
}

/// An organization's members.
#[derive(Serialize, ToSchema)]
struct MemberList {
    members: Vec<MemberWithUser>,
    /// How many there are.
    total: usize,
}

/// `GET /organization/list-members`: `{members, total}` (members only).
#[utoipa::path(get, path = "/organization/list-members", tag = TAG,
    summary = "List an organization's members",
    params(OrgQuery),
    responses((status = 200, description = "The members of the organization asked for (else the active one)",
        body = MemberList),
        (status = 400, description = "`NO_ACTIVE_ORGANIZATION`, or the organization was not found",
            body = ErrorBody)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn list_members(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (org, _) = target(&state, &auth, raw).await?.ok_or(NO_ACTIVE)?;
    let members = state.store.members(&org.id).await?;
    let members: Vec<_> = members.iter().map(|(m, u)| member_with_user(m, u)).collect();
    Ok(no_store(JsonOut(MemberList { total: members.len(), members }).into_response()))
}

/// Applies `change` to `who` in the organization `key` names (else the active one); the store
/// decides under the organization's lock. Refusals answer with [`refusal`].
async fn change(
    state: &AppState,
    auth: &Authenticated,
    key: Option<Id>,
    who: MemberTarget<'_>,
    change: MemberChange,
) -> ApiResult<Result<MemberRow, Denied>> {
    // Leaving is allowed even where a second factor is required and the member has none.
    let found = match change {
        MemberChange::Leave => membership_by(state, auth, key).await?,
        _ => target_by(state, auth, key).await?,
    };
    let (org, _) = found.ok_or(NO_ACTIVE)?;
    let member = match who {
        MemberTarget::Id(id) | MemberTarget::Email(id) => id,
        MemberTarget::Caller => &auth.user.id,
    };
    let (action, mut details) = match change {
        MemberChange::SetRole(role) => {
            ("member-role-changed", json!({ "member": member, "role": role.as_str() }))
        }
        MemberChange::Remove => ("member-removed", json!({ "member": member })),
        MemberChange::Leave => ("member-left", json!({ "member": auth.user.id, "userId": auth.user.id })),
    };
    if matches!(change, MemberChange::Remove) {
        // The user removed (the event is theirs for webhooks), not the member id or email given.
        let members = state.store.members(&org.id).await?;
        let removed =
            members.iter().find(|(m, u)| m.id == *member || m.user_id == *member || u.email == *member);
        if let Some((m, _)) = removed {
            details["userId"] = json!(m.user_id);
        }
    }
    let event = Record::own(action, &auth.user).on("organization", &org.id);
    let event = event.through(&auth.session).with(details);
    Ok(recorded(state, event, None, state.store.change_member(&org.id, &auth.user.id, who, change)).await?)
}

/// One role: a name, or (as Better Auth's client may send it) a list of one name.
fn parse_role(raw: &Value) -> ApiResult<Role> {
    let name = match raw {
        Value::String(name) => name,
        Value::Array(names) if names.len() == 1 => names[0].as_str().unwrap_or_default(),
        _ => return Err(ApiError::Validation("[body.role] Expected one role name".into())),
    };
    Role::parse(name).ok_or(org_error(StatusCode::BAD_REQUEST, "ROLE_NOT_FOUND", "Role not found"))
}

/// `role`: a role name, or a list of one name.
fn role_schema() -> OneOfBuilder {
    let list = ArrayBuilder::new().items(role_name()).min_items(Some(1)).max_items(Some(1));
    OneOfBuilder::new().item(role_name()).item(list)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateMemberRoleBody {
    /// The new role: a name, or a list of one name.
    #[schema(schema_with = role_schema)]
    role: Value,
    /// The membership's id.
    member_id: Id,
    /// The organization (id or slug); the active one when absent.
    organization_id: Option<Id>,
}

const NOT_ALLOWED_TO_UPDATE: ApiError = org_error(
    StatusCode::FORBIDDEN,
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
    "You are not allowed to update this member",
);

/// `POST /organization/update-member-role {role, memberId, organizationId?}`: owners and admins;
/// only owners make or change owners; the last owner cannot step down. The updated member.
#[utoipa::path(post, path = "/organization/update-member-role", tag = TAG, summary = "Change a member's role",
    request_body = UpdateMemberRoleBody,
    responses((status = 200, description = "The updated membership", body = MemberRow)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn update_member_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateMemberRoleBody>,
) -> ApiResult<Response> {
    let role = parse_role(&body.role)?;
    let who = MemberTarget::Id(body.member_id.as_str());
    match change(&state, &auth, body.organization_id, who, MemberChange::SetRole(role)).await? {
        Ok(member) => Ok(no_store(JsonOut(member).into_response())),
        Err(Denied::LastOwner) => Err(org_error(
            StatusCode::BAD_REQUEST,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
            "You cannot leave the organization without an owner",
        )),
        Err(denied) => Err(refusal(denied, NOT_ALLOWED_TO_UPDATE)),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RemoveMemberBody {
    /// The membership's id, or the member's email.
    member_id_or_email: Id,
    /// The organization (id or slug); the active one when absent.
    organization_id: Option<Id>,
}

/// A membership that was removed.
#[derive(Serialize, ToSchema)]
struct RemovedMember {
    /// As it was.
    member: MemberRow,
}

/// `POST /organization/remove-member {memberIdOrEmail, organizationId?}`: owners and admins;
/// only owners remove owners; never the last one. `{member}` as it was.
#[utoipa::path(post, path = "/organization/remove-member", tag = TAG, summary = "Remove a member",
    request_body = RemoveMemberBody,
    responses((status = 200, description = "The membership as it was", body = RemovedMember)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RemoveMemberBody>,
) -> ApiResult<Response> {
    let email;
    let raw = body.member_id_or_email.as_str();
    // Ids never hold an `@`; an email may be written with a look-alike one (fullwidth `＠`).
    let who = match Email::parse(raw) {
        Ok(parsed) => {
            email = parsed;
            MemberTarget::Email(email.as_str())
        }
        Err(e) if raw.contains('@') => return Err(e),
        Err(_) => MemberTarget::Id(raw),
    };
    let not_allowed = org_error(
        StatusCode::FORBIDDEN,
        "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER",
        "You are not allowed to delete this member",
    );
    let member = change(&state, &auth, body.organization_id, who, MemberChange::Remove)
        .await?
        .map_err(|denied| refusal(denied, not_allowed))?;
    Ok(no_store(JsonOut(RemovedMember { member }).into_response()))
}

/// `POST /organization/leave {organizationId}`: any member but the last owner. The membership as
/// it was.
#[utoipa::path(post, path = "/organization/leave", tag = TAG, summary = "Leave an organization",
    request_body = OrganizationIdBody,
    responses((status = 200, description = "The caller's membership as it was", body = MemberRow)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn leave(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<OrganizationIdBody>,
) -> ApiResult<Response> {
    let key = Some(body.organization_id);
    let member = change(&state, &auth, key, MemberTarget::Caller, MemberChange::Leave)
        .await?
        // Leaving is never "not allowed" to a member: only the last-owner rule refuses it.
        .map_err(|denied| refusal(denied, super::NOT_A_MEMBER))?;
    Ok(no_store(JsonOut(member).into_response()))
}
