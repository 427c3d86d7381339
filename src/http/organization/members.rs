//! Members: `get-active-member`, `list-members`, `update-member-role`, `remove-member`,
//! `leave`. Changes go through `Store::change_member`, which applies `domain::roles`' rules in the
//! transaction that makes them.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    NO_ACTIVE, crud::OrganizationIdBody, member_json, membership_by, org_error, refusal, target, target_by,
};
use crate::{
    domain::{
        input::{Email, Id},
        model::MemberRow,
        roles::{Denied, MemberChange, Role},
    },
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, Json},
        layers::no_store,
    },
    service::audit::{Record, recorded},
    state::AppState,
    store::MemberTarget,
};

/// `GET /organization/get-active-member`: the caller's membership in the active organization.
pub(super) async fn active_member(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let (_, member) = target(&state, &auth, None).await?.ok_or(NO_ACTIVE)?;
    Ok(no_store(JsonOut(member_json(&member, &auth.user)).into_response()))
}

/// `GET /organization/list-members`: `{members, total}` (members only).
pub(super) async fn list_members(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (org, _) = target(&state, &auth, raw).await?.ok_or(NO_ACTIVE)?;
    let members = state.store.members(&org.id).await?;
    let list: Vec<_> = members.iter().map(|(m, u)| member_json(m, u)).collect();
    Ok(no_store(JsonOut(json!({ "total": list.len(), "members": list })).into_response()))
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
    let (action, details) = match change {
        MemberChange::SetRole(role) => {
            ("member-role-changed", json!({ "member": member, "role": role.as_str() }))
        }
        MemberChange::Remove => ("member-removed", json!({ "member": member })),
        MemberChange::Leave => ("member-left", json!({ "member": member })),
    };
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateRoleBody {
    role: Value,
    member_id: Id,
    organization_id: Option<Id>,
}

const NOT_ALLOWED_TO_UPDATE: ApiError = org_error(
    StatusCode::FORBIDDEN,
    "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER",
    "You are not allowed to update this member",
);

/// `POST /organization/update-member-role {role, memberId, organizationId?}`: owners and admins;
/// only owners make or change owners; the last owner cannot step down. The updated member.
pub(super) async fn update_member_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<UpdateRoleBody>,
) -> ApiResult<Response> {
    let role = parse_role(&body.role)?;
    let who = MemberTarget::Id(body.member_id.as_str());
    match change(&state, &auth, body.organization_id, who, MemberChange::SetRole(role)).await? {
        Ok(member) => Ok(no_store(JsonOut(json!(member)).into_response())),
        Err(Denied::LastOwner) => Err(org_error(
            StatusCode::BAD_REQUEST,
            "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER",
            "You cannot leave the organization without an owner",
        )),
        Err(denied) => Err(refusal(denied, NOT_ALLOWED_TO_UPDATE)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RemoveBody {
    member_id_or_email: Id,
    organization_id: Option<Id>,
}

/// `POST /organization/remove-member {memberIdOrEmail, organizationId?}`: owners and admins;
/// only owners remove owners; never the last one. `{member}` as it was.
pub(super) async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<RemoveBody>,
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
    Ok(no_store(JsonOut(json!({ "member": member })).into_response()))
}

/// `POST /organization/leave {organizationId}`: any member but the last owner. The membership as
/// it was.
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
    Ok(no_store(JsonOut(json!(member)).into_response()))
}
