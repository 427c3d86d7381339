//! Invitations: `invite-member` (mail with an accept link, 48 hours), `accept-invitation`,
//! `reject-invitation` (the invited address only), `cancel-invitation`, `list-invitations`.

use axum::{
    Json as JsonOut,
    extract::{RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::{
    ALREADY_A_MEMBER, NO_ACTIVE, NOT_A_MEMBER, OrgQuery, TAG, org_error, require, role_name, target,
    target_by,
};
use crate::{
    domain::{
        input::{Email, Id},
        model::{InvitationRow, MemberRow},
        roles::{Permission, Role},
    },
    error::{ApiError, ApiResult},
    http::{
        extract::{Authenticated, Json},
        layers::no_store,
        limits::too_many_requests,
    },
    mail::inert::inert,
    security::tokens::random_id,
    service::{
        audit::{Record, recorded},
        links::HOUR_MS,
    },
    state::AppState,
    store::StoreError,
};

const INVITATION_TTL_MS: i64 = 48 * 3_600_000;
const INVITATION_NOT_FOUND: ApiError =
    org_error(StatusCode::BAD_REQUEST, "INVITATION_NOT_FOUND", "Invitation not found");

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct InviteMemberBody {
    email: String,
    /// The role given on accepting.
    #[schema(schema_with = role_name)]
    role: String,
    /// The organization (id or slug); the active one when absent.
    organization_id: Option<Id>,
    /// Renew (and mail again) a pending invitation to the same address instead of refusing.
    #[serde(default)]
    #[schema(required = false)]
    resend: bool,
}

/// `POST /organization/invite-member`: owners and admins (only owners may invite owners);
/// mails an accept link valid 48 hours; `resend` renews a pending invitation.
#[utoipa::path(post, path = "/organization/invite-member", tag = TAG,
    summary = "Invite someone to an organization",
    request_body = InviteMemberBody,
    responses((status = 200, description = "The invitation (new, or renewed with `resend`)",
        body = InvitationRow)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn invite_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InviteMemberBody>,
) -> ApiResult<Response> {
    let (org, me) = target_by(&state, &auth, body.organization_id).await?.ok_or(NO_ACTIVE)?;
    let email = Email::parse(&body.email)?;
    let role = Role::parse(&body.role)
        .ok_or_else(|| ApiError::Validation("[body.role] must be owner, admin or member".into()))?;
    let mine = Role::of_stored(&me.role);
    if !mine.can(Permission::ManageMembers) || (role == Role::Owner && mine != Role::Owner) {
        return Err(org_error(
            StatusCode::FORBIDDEN,
            "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION",
            "You are not allowed to invite users to this organization",
        ));
    }
    if let Some(found) = state.store.credential_by_email(email.as_str(), auth.user.app_key()).await?
        && state.store.membership(&org.id, &found.user.id).await?.is_some()
    {
        return Err(ALREADY_A_MEMBER);
    }
    let now = state.clock.now_ms();
    // Each invitation (or resend) sends mail: a cap per organization, on top of the mail rule
    // per client.
    let sent = state.counters.hit(&format!("invites:{}", org.id), HOUR_MS, now).await;
    if sent.count > state.settings.limits.invitations_per_hour {
        return Ok(too_many_requests(sent.ends_at - now));
    }
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
            return Err(org_error(
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
                role: role.as_str().into(),
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
        app_name => state.settings.app_name.clone(), inviter => inert(&auth.user.name),
        organization => inert(&org.name), role => invitation.role.clone(), expires_in => "48 hours",
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
    Ok(no_store(JsonOut(invitation).into_response()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct InvitationIdBody {
    invitation_id: Id,
}

/// An invitation the caller answered.
#[derive(Serialize, ToSchema)]
struct InvitationAnswer {
    /// Now `accepted` or `rejected`.
    invitation: InvitationRow,
    /// The new membership after accepting; `null` after rejecting.
    #[schema(required = true)]
    member: Option<MemberRow>,
}

/// A pending, unexpired invitation addressed to the caller, whose address must be verified
/// (otherwise anyone could sign up as the invited address and take the role).
async fn own_invitation(state: &AppState, auth: &Authenticated, id: &str) -> ApiResult<InvitationRow> {
    if !auth.user.email_verified {
        return Err(org_error(
            StatusCode::FORBIDDEN,
            "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION",
            "Email verification required before accepting or rejecting invitation",
        ));
    }
    let invitation = state.store.invitation(id).await?.ok_or(INVITATION_NOT_FOUND)?;
    if invitation.status != "pending" || invitation.expires_at <= state.clock.now_ms() {
        return Err(INVITATION_NOT_FOUND);
    }
    // Another app's invitation does not exist for this user, whatever the address.
    if state.store.organization(&invitation.organization_id, auth.user.app_key()).await?.is_none() {
        return Err(INVITATION_NOT_FOUND);
    }
    if invitation.email != auth.user.email {
        return Err(org_error(
            StatusCode::FORBIDDEN,
            "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION",
            "You are not the recipient of the invitation",
        ));
    }
    Ok(invitation)
}

/// `POST /organization/accept-invitation`: only the invited email; adds the member and makes
/// the organization active. `{invitation, member}`.
#[utoipa::path(post, path = "/organization/accept-invitation", tag = TAG, summary = "Accept an invitation",
    request_body = InvitationIdBody,
    responses((status = 200,
        description = "The accepted invitation and the new membership (the organization is now active)",
        body = InvitationAnswer)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn accept_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InvitationIdBody>,
) -> ApiResult<Response> {
    let mut invitation = own_invitation(&state, &auth, body.invitation_id.as_str()).await?;
    // It would become active: the invitee enrolls first.
    needs_no_second_factor(&state, &auth, &invitation.organization_id).await?;
    let member = MemberRow {
        id: random_id(),
        organization_id: invitation.organization_id.clone(),
        user_id: auth.user.id.clone(),
        role: invitation.role.clone(),
        created_at: state.clock.now_ms(),
    };
    let joined = Record::own("member-added", &auth.user).on("organization", &member.organization_id);
    let joined = joined
        .through(&auth.session)
        .with(json!({ "member": auth.user.id, "role": member.role, "invitation": invitation.id }));
    let accept = state.store.accept_invitation(&invitation.id, &member, &auth.session.token);
    match recorded(&state, joined, None, accept).await {
        Ok(true) => {}
        Ok(false) => return Err(INVITATION_NOT_FOUND),
        Err(StoreError::Conflict) => {
            return Err(ALREADY_A_MEMBER);
        }
        Err(e) => return Err(e.into()),
    }
    invitation.status = "accepted".into();
    Ok(no_store(JsonOut(InvitationAnswer { invitation, member: Some(member) }).into_response()))
}

/// `POST /organization/reject-invitation`: only the invited email. `{invitation, member: null}`.
#[utoipa::path(post, path = "/organization/reject-invitation", tag = TAG, summary = "Reject an invitation",
    request_body = InvitationIdBody,
    responses((status = 200, description = "The rejected invitation; `member` is `null`",
        body = InvitationAnswer)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn reject_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InvitationIdBody>,
) -> ApiResult<Response> {
    let mut invitation = own_invitation(&state, &auth, body.invitation_id.as_str()).await?;
    if !state.store.settle_invitation(&invitation.id, "rejected", None).await? {
        return Err(INVITATION_NOT_FOUND);
    }
    invitation.status = "rejected".into();
    Ok(no_store(JsonOut(InvitationAnswer { invitation, member: None }).into_response()))
}

/// 403 `TWO_FACTOR_REQUIRED` when the organization requires a second factor the caller lacks.
async fn needs_no_second_factor(
    state: &AppState,
    auth: &Authenticated,
    organization_id: &str,
) -> ApiResult<()> {
    if !auth.user.two_factor_enabled
        && state
            .store
            .organization(organization_id, auth.user.app_key())
            .await?
            .is_some_and(|o| o.require_two_factor)
    {
        return Err(ApiError::TwoFactorRequired);
    }
    Ok(())
}

/// `POST /organization/cancel-invitation`: owners and admins of the organization.
#[utoipa::path(post, path = "/organization/cancel-invitation", tag = TAG, summary = "Cancel an invitation",
    request_body = InvitationIdBody,
    responses((status = 200, description = "The invitation, now `canceled`", body = InvitationRow)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn cancel_invitation(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(body): Json<InvitationIdBody>,
) -> ApiResult<Response> {
    let mut invitation =
        state.store.invitation(body.invitation_id.as_str()).await?.ok_or(INVITATION_NOT_FOUND)?;
    let me = state.store.membership(&invitation.organization_id, &auth.user.id).await?.ok_or(NOT_A_MEMBER)?;
    needs_no_second_factor(&state, &auth, &invitation.organization_id).await?;
    let denied = org_error(
        StatusCode::FORBIDDEN,
        "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION",
        "You are not allowed to cancel this invitation",
    );
    require(&me, Permission::CancelInvitation, denied)?;
    if !state.store.settle_invitation(&invitation.id, "canceled", None).await? {
        return Err(INVITATION_NOT_FOUND);
    }
    invitation.status = "canceled".into();
    Ok(no_store(JsonOut(invitation).into_response()))
}

/// `GET /organization/list-invitations`: the organization's invitations (members only).
#[utoipa::path(get, path = "/organization/list-invitations", tag = TAG,
    summary = "List an organization's invitations",
    params(OrgQuery),
    responses((status = 200,
        description = "Every invitation (any status) of the organization asked for, else the active one",
        body = Vec<InvitationRow>)),
    security(("session" = []), ("bearer" = [])))]
pub(super) async fn list_invitations(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let (org, _) = target(&state, &auth, raw).await?.ok_or(NO_ACTIVE)?;
    let invitations = state.store.invitations_of(&org.id).await?;
    Ok(no_store(JsonOut(invitations).into_response()))
}
