//! Organizations (Better Auth's organization plugin), in files after the route modules: the
//! organization itself (`crud`), its members (`members`) and invitations (`invitations`), and what
//! membership changes leave behind (`state`). Here, what holds across the routes: each needs a
//! session, and who may do what.

mod crud;
mod invitations;
mod members;
mod state;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::{
    app, backend_tests,
    helpers::{org::*, *},
};

async fn every_route_needs_a_session(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let (id, me) = (&org["id"], creator_member(&org));
    let calls = [
        ("/organization/update", json!({"organizationId": id, "data": {"name": "Renamed"}})),
        ("/organization/delete", json!({"organizationId": id})),
        ("/organization/update-member-role", json!({"organizationId": id, "memberId": me, "role": "admin"})),
        ("/organization/remove-member", json!({"organizationId": id, "memberIdOrEmail": me})),
        ("/organization/leave", json!({"organizationId": id})),
    ];
    let before = snapshot(&app, &owner, id).await;
    for (path, body) in calls {
        app.post(path, body, None).await.assert_error(401, "UNAUTHORIZED");
    }
    assert_eq!(snapshot(&app, &owner, id).await, before);
}

// ---------------------------------------------------------------------------------------------
// Who may do what

#[derive(Clone, Copy, Debug)]
enum Action {
    UpdateName,
    DeleteOrg,
    InviteMember,
    InviteOwner,
    CancelInvitation,
    MakeMemberAdmin,
    MakeMemberOwner,
    DemoteCreator,
    RemoveMember,
    RemoveCreator,
    ListMembers,
    FullOrganization,
    Leave,
}
use Action::*;

const ROLES: [&str; 3] = ["owner", "admin", "member"];

/// Each action, the code its refusal carries ("" when no role is refused), and whether an
/// owner, an admin and a member may do it.
const WHO_MAY: &[(Action, &str, [bool; 3])] = &[
    (UpdateName, UPDATE_ORG, [true, true, false]),
    (DeleteOrg, DELETE_ORG, [true, false, false]),
    (InviteMember, INVITE, [true, true, false]),
    (InviteOwner, INVITE, [true, false, false]),
    (CancelInvitation, CANCEL, [true, true, false]),
    (MakeMemberAdmin, UPDATE_MEMBER, [true, true, false]),
    (MakeMemberOwner, UPDATE_MEMBER, [true, false, false]),
    (DemoteCreator, UPDATE_MEMBER, [true, false, false]),
    (RemoveMember, DELETE_MEMBER, [true, true, false]),
    (RemoveCreator, DELETE_MEMBER, [true, false, false]),
    (ListMembers, "", [true, true, true]),
    (FullOrganization, "", [true, true, true]),
    (Leave, "", [true, true, true]),
];

/// A fresh organization of `creator` with the actor (holding `role`), a plain member and a
/// pending invitation.
struct Case {
    org_id: Value,
    creator_id: Value,
    actor: String,
    plain_id: Value,
    invitation_id: Value,
}

async fn setup_case(app: &TestApp, creator: &str, role: &str) -> Case {
    let org = create(app, creator, &slug()).await.assert_ok();
    let (actor, _, _) = add_member(app, creator, role).await;
    let (_, _, plain_id) = add_member(app, creator, "member").await;
    let invitation = invite(app, creator, &unique_email(), "member").await.assert_ok();
    Case {
        org_id: org["id"].clone(),
        creator_id: creator_member(&org),
        actor,
        plain_id,
        invitation_id: invitation["id"].clone(),
    }
}

async fn perform(app: &TestApp, case: &Case, action: Action) -> TestResponse {
    let (actor, id) = (case.actor.as_str(), &case.org_id);
    match action {
        UpdateName => update(app, actor, Some(id), json!({"name": "Renamed"})).await,
        DeleteOrg => delete(app, actor, id).await,
        InviteMember => invite(app, actor, &unique_email(), "member").await,
        InviteOwner => invite(app, actor, &unique_email(), "owner").await,
        CancelInvitation => {
            let body = json!({"invitationId": case.invitation_id});
            app.post("/organization/cancel-invitation", body, Some(actor)).await
        }
        MakeMemberAdmin => set_role(app, actor, Some(id), &case.plain_id, "admin").await,
        MakeMemberOwner => set_role(app, actor, Some(id), &case.plain_id, "owner").await,
        DemoteCreator => set_role(app, actor, Some(id), &case.creator_id, "member").await,
        RemoveMember => remove(app, actor, Some(id), &case.plain_id).await,
        RemoveCreator => remove(app, actor, Some(id), &case.creator_id).await,
        ListMembers => list_members(app, actor, id).await,
        FullOrganization => full_org(app, actor, id).await,
        Leave => leave(app, actor, id).await,
    }
}

async fn who_may_do_what(backend: Backend) {
    let app = app!(backend);
    let creator = app.signed_up_cookie(&unique_email()).await;
    for (i, role) in ROLES.into_iter().enumerate() {
        for &(action, code, allowed) in WHO_MAY {
            let case = setup_case(&app, &creator, role).await;
            let before = snapshot(&app, &creator, &case.org_id).await;
            let res = perform(&app, &case, action).await;
            if allowed[i] {
                assert_eq!(res.status, StatusCode::OK, "{role} {action:?}: {}", res.text());
                continue;
            }
            let body: Value = serde_json::from_slice(&res.body).unwrap_or_default();
            assert_eq!(
                (res.status.as_u16(), &body["code"]),
                (403, &json!(code)),
                "{role} {action:?}: {}",
                res.text()
            );
            let after = snapshot(&app, &creator, &case.org_id).await;
            assert_eq!(after, before, "{role} {action:?} was refused but changed something");
        }
    }
}

backend_tests!(every_route_needs_a_session, who_may_do_what,);
