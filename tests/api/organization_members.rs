//! Organizations, second part: update, delete, update-member-role, remove-member and leave; who
//! may do what, and the last-owner rule (also under races and on delete-user).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::{
    app, backend_tests,
    helpers::*,
    organization::{active_org, create, invite, slug},
};

const NOT_A_MEMBER: &str = "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION";
const ONLY_OWNER: &str = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER";
const NO_OWNER_LEFT: &str = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER";
const UPDATE_ORG: &str = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION";
const DELETE_ORG: &str = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION";
const INVITE: &str = "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION";
const CANCEL: &str = "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION";
const UPDATE_MEMBER: &str = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER";
const DELETE_MEMBER: &str = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Asserts a 200 and returns the body.
#[track_caller]
pub(crate) fn ok(res: TestResponse) -> Value {
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// A fresh user with a fresh organization (active for them): (cookie, email, organization).
pub(crate) async fn founder(app: &TestApp) -> (String, String, Value) {
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let org = ok(create(app, &cookie, &slug()).await);
    (cookie, email, org)
}

/// The creator's member id, from create's answer.
pub(crate) fn creator_member(org: &Value) -> Value {
    org["members"][0]["id"].clone()
}

/// Invites a fresh email with `role` into `owner`'s active organization, signs it up and accepts
/// (which makes that organization active for it): (cookie, email, member id).
pub(crate) async fn add_member(app: &TestApp, owner: &str, role: &str) -> (String, String, Value) {
    let email = unique_email();
    let invitation = ok(invite(app, owner, &email, role).await);
    let cookie = app.verified_cookie(&email).await;
    let body = json!({"invitationId": invitation["id"]});
    let accepted = ok(app.post("/organization/accept-invitation", body, Some(&cookie)).await);
    assert_eq!(accepted["member"]["role"], role, "{accepted}");
    (cookie, email, accepted["member"]["id"].clone())
}

/// `body` naming the organization when given (else the route falls back to the active one).
fn in_org(org_id: Option<&Value>, mut body: Value) -> Value {
    if let Some(id) = org_id {
        body["organizationId"] = id.clone();
    }
    body
}

async fn update(app: &TestApp, cookie: &str, org_id: Option<&Value>, data: Value) -> TestResponse {
    app.post("/organization/update", in_org(org_id, json!({"data": data})), Some(cookie)).await
}

pub(crate) async fn delete(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
    app.post("/organization/delete", json!({"organizationId": org_id}), Some(cookie)).await
}

pub(crate) async fn set_role(
    app: &TestApp,
    cookie: &str,
    org_id: Option<&Value>,
    member_id: &Value,
    role: &str,
) -> TestResponse {
    let body = in_org(org_id, json!({"memberId": member_id, "role": role}));
    app.post("/organization/update-member-role", body, Some(cookie)).await
}

/// `who` is a member id or an email.
pub(crate) async fn remove(app: &TestApp, cookie: &str, org_id: Option<&Value>, who: &Value) -> TestResponse {
    let body = in_org(org_id, json!({"memberIdOrEmail": who}));
    app.post("/organization/remove-member", body, Some(cookie)).await
}

pub(crate) async fn leave(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
    app.post("/organization/leave", json!({"organizationId": org_id}), Some(cookie)).await
}

async fn full_org(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
    let path = format!("/organization/get-full-organization?organizationId={}", s(org_id));
    app.get(&path, Some(cookie)).await
}

async fn list_members(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
    app.get(&format!("/organization/list-members?organizationId={}", s(org_id)), Some(cookie)).await
}

/// The organization's members as listed to `cookie` (`total` agreeing with the list).
pub(crate) async fn members(app: &TestApp, cookie: &str, org_id: &Value) -> Vec<Value> {
    let list = ok(list_members(app, cookie, org_id).await);
    let members = list["members"].as_array().cloned().unwrap_or_default();
    assert_eq!(list["total"], members.len(), "{list}");
    members
}

/// The role `member_id` has in the organization; `None` when it is not a member.
async fn role_of(app: &TestApp, cookie: &str, org_id: &Value, member_id: &Value) -> Option<String> {
    let members = members(app, cookie, org_id).await;
    members.iter().find(|m| m["id"] == *member_id).and_then(|m| m["role"].as_str()).map(str::to_string)
}

pub(crate) async fn owners(app: &TestApp, cookie: &str, org_id: &Value) -> usize {
    members(app, cookie, org_id).await.iter().filter(|m| m["role"] == "owner").count()
}

/// The ids in `cookie`'s `/organization/list`.
async fn listed(app: &TestApp, cookie: &str) -> Vec<Value> {
    let list = ok(app.get("/organization/list", Some(cookie)).await);
    list.as_array().expect("a list").iter().map(|o| o["id"].clone()).collect()
}

/// Whether `slug` is free, as check-slug tells `cookie`.
async fn slug_is_free(app: &TestApp, cookie: &str, slug: &Value) -> bool {
    app.post("/organization/check-slug", json!({"slug": slug}), Some(cookie)).await.status == StatusCode::OK
}

/// Everything a refused call could have changed: the organization's fields, its members' roles
/// and its pending invitations (sorted, so the order of the lists does not matter).
async fn snapshot(app: &TestApp, cookie: &str, org_id: &Value) -> Value {
    let full = ok(full_org(app, cookie, org_id).await);
    let pairs = |key: &str, field: &str| {
        let mut v: Vec<(String, String)> = full[key]
            .as_array()
            .expect("a list")
            .iter()
            .map(|x| (s(&x["id"]).to_string(), x[field].to_string()))
            .collect();
        v.sort();
        v
    };
    json!({
        "fields": [full["name"], full["slug"], full["logo"], full["metadata"]],
        "members": pairs("members", "role"),
        "invitations": pairs("invitations", "status"),
    })
}

// ---------------------------------------------------------------------------------------------
// The routes one by one

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

async fn update_changes_what_it_is_given(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let new_slug = slug();
    let logo = "https://example.com/logo.png";
    let data = json!({"name": "Renamed", "slug": new_slug, "logo": logo, "metadata": {"plan": "pro"}});
    let updated = ok(update(&app, &owner, None, data).await);
    let expected = json!({
        "id": id, "name": "Renamed", "slug": new_slug, "logo": logo, "metadata": {"plan": "pro"},
        "createdAt": org["createdAt"],
    });
    assert_eq!(updated, expected);
    let full = ok(full_org(&app, &owner, id).await);
    for key in ["name", "slug", "logo", "metadata"] {
        assert_eq!(full[key], expected[key], "{key}: {full}");
    }
    assert!(slug_is_free(&app, &owner, &org["slug"]).await, "the old slug is free again");

    // Only what is given changes; null clears logo and metadata; the own slug is no conflict.
    let other = ok(create(&app, &owner, &slug()).await); // now the active one
    let data = json!({"logo": null, "metadata": null, "slug": new_slug});
    let updated = ok(update(&app, &owner, Some(id), data).await);
    assert_eq!(updated["id"], *id);
    assert_eq!(
        [&updated["name"], &updated["slug"], &updated["logo"], &updated["metadata"]],
        [&json!("Renamed"), &json!(new_slug), &Value::Null, &Value::Null]
    );
    let untouched = ok(full_org(&app, &owner, &other["id"]).await);
    for key in ["name", "slug", "logo", "metadata"] {
        assert_eq!(untouched[key], other[key], "{key}: the active organization changed instead");
    }
}

async fn update_refusals_change_nothing(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let (member, _, _) = add_member(&app, &owner, "member").await;
    let lonely = app.signed_up_cookie(&unique_email()).await;
    let before = snapshot(&app, &owner, id).await;
    let rename = || json!({"name": "Renamed", "slug": slug()});

    update(&app, &lonely, None, rename()).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    update(&app, &lonely, Some(&json!("nope")), rename()).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    update(&app, &lonely, Some(id), rename()).await.assert_error(403, NOT_A_MEMBER);
    update(&app, &member, None, rename()).await.assert_error(403, UPDATE_ORG);
    let (_, _, taken) = founder(&app).await;
    let bad = [
        (json!({"name": "Renamed", "slug": taken["slug"]}), "ORGANIZATION_SLUG_ALREADY_TAKEN"),
        (json!({"name": "", "slug": slug()}), "VALIDATION_ERROR"),
        (json!({"name": "Renamed", "slug": "Bad Slug!"}), "VALIDATION_ERROR"),
    ];
    for (data, code) in bad {
        update(&app, &owner, Some(id), data).await.assert_error(400, code);
    }
    app.post("/organization/update", json!({"organizationId": id}), Some(&owner))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    assert_eq!(snapshot(&app, &owner, id).await, before);
}

async fn delete_is_for_the_owner_and_leaves_no_trace(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let (admin, _, _) = add_member(&app, &owner, "admin").await;
    let (member, _, _) = add_member(&app, &owner, "member").await;
    ok(invite(&app, &owner, &unique_email(), "member").await);
    let stranger = app.signed_up_cookie(&unique_email()).await;
    let before = snapshot(&app, &owner, id).await;
    for cookie in [&admin, &member] {
        delete(&app, cookie, id).await.assert_error(403, DELETE_ORG);
    }
    delete(&app, &stranger, id).await.assert_error(403, NOT_A_MEMBER);
    delete(&app, &owner, &json!("nope")).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    app.post("/organization/delete", json!({}), Some(&owner)).await.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(snapshot(&app, &owner, id).await, before);

    let deleted = ok(delete(&app, &owner, id).await);
    for key in ["id", "name", "slug", "logo", "metadata", "createdAt"] {
        assert_eq!(deleted[key], org[key], "{key}: {deleted}");
    }
    for (who, cookie) in [("owner", &owner), ("admin", &admin), ("member", &member)] {
        assert!(active_org(&app, cookie).await.is_null(), "{who}'s session still has it active");
        assert!(!listed(&app, cookie).await.contains(id), "{who} still lists it");
        full_org(&app, cookie, id).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    }
    let free = ok(app.post("/organization/check-slug", json!({"slug": org["slug"]}), Some(&owner)).await);
    assert_eq!(free, json!({"status": true}));
    delete(&app, &owner, id).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
}

async fn update_member_role_follows_rank(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let (id, owner_id) = (&org["id"], creator_member(&org));
    let (admin, _, admin_id) = add_member(&app, &owner, "admin").await;
    let (bob, _, bob_id) = add_member(&app, &owner, "member").await;
    let (_, _, carol_id) = add_member(&app, &owner, "member").await;

    // An owner changes a role; the organization defaults to the active one.
    let updated = ok(set_role(&app, &owner, None, &bob_id, "admin").await);
    assert_eq!(
        (&updated["id"], &updated["organizationId"], &updated["role"]),
        (&bob_id, id, &json!("admin")),
        "{updated}"
    );
    assert_eq!(role_of(&app, &owner, id, &bob_id).await.as_deref(), Some("admin"));
    ok(set_role(&app, &owner, Some(id), &bob_id, "member").await);

    let lonely = app.signed_up_cookie(&unique_email()).await;
    set_role(&app, &lonely, None, &bob_id, "admin").await.assert_error(400, "NO_ACTIVE_ORGANIZATION");
    set_role(&app, &lonely, Some(id), &bob_id, "admin").await.assert_error(403, NOT_A_MEMBER);
    let (_, _, elsewhere) = founder(&app).await;
    for outsider in [creator_member(&elsewhere), json!("nope")] {
        set_role(&app, &owner, Some(id), &outsider, "admin").await.assert_error(400, "MEMBER_NOT_FOUND");
    }
    set_role(&app, &owner, Some(id), &bob_id, "superuser").await.assert_error(400, "ROLE_NOT_FOUND");

    // Members change no one (not even themselves); admins neither touch owners nor make them.
    let refused = [
        (&bob, &carol_id, "admin"),
        (&bob, &bob_id, "admin"),
        (&admin, &owner_id, "member"),
        (&admin, &bob_id, "owner"),
    ];
    for (cookie, target, role) in refused {
        set_role(&app, cookie, Some(id), target, role).await.assert_error(403, UPDATE_MEMBER);
    }
    ok(set_role(&app, &admin, Some(id), &carol_id, "admin").await);
    let expected = [(&owner_id, "owner"), (&admin_id, "admin"), (&bob_id, "member"), (&carol_id, "admin")];
    for (member_id, role) in expected {
        assert_eq!(role_of(&app, &owner, id, member_id).await.as_deref(), Some(role), "{member_id}");
    }

    // The only owner cannot step down; with a second owner either may be demoted.
    set_role(&app, &owner, Some(id), &owner_id, "admin").await.assert_error(400, NO_OWNER_LEFT);
    assert_eq!(role_of(&app, &owner, id, &owner_id).await.as_deref(), Some("owner"));
    ok(set_role(&app, &owner, Some(id), &bob_id, "owner").await);
    assert_eq!(ok(set_role(&app, &owner, Some(id), &bob_id, "admin").await)["role"], "admin");
    ok(set_role(&app, &owner, Some(id), &bob_id, "owner").await);
    assert_eq!(ok(set_role(&app, &owner, Some(id), &owner_id, "member").await)["role"], "member");
    set_role(&app, &owner, Some(id), &bob_id, "member").await.assert_error(403, UPDATE_MEMBER);
    assert_eq!(owners(&app, &bob, id).await, 1);
}

async fn remove_member_follows_rank_and_takes_the_org_away(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let (id, owner_id) = (&org["id"], creator_member(&org));
    let (admin, _, _) = add_member(&app, &owner, "admin").await;
    let (bob, _, bob_id) = add_member(&app, &owner, "member").await;
    let (carol, carol_email, carol_id) = add_member(&app, &owner, "member").await;
    let lonely_email = unique_email();
    let lonely = app.signed_up_cookie(&lonely_email).await;

    remove(&app, &lonely, None, &bob_id).await.assert_error(400, "NO_ACTIVE_ORGANIZATION");
    remove(&app, &lonely, Some(id), &bob_id).await.assert_error(403, NOT_A_MEMBER);
    for nobody in [json!("nope"), json!(lonely_email)] {
        remove(&app, &owner, Some(id), &nobody).await.assert_error(400, "MEMBER_NOT_FOUND");
    }
    for (cookie, target) in [(&bob, &carol_id), (&bob, &bob_id), (&admin, &owner_id)] {
        remove(&app, cookie, Some(id), target).await.assert_error(403, DELETE_MEMBER);
    }
    remove(&app, &owner, None, &owner_id).await.assert_error(400, ONLY_OWNER);
    assert_eq!(members(&app, &owner, id).await.len(), 4);

    // By id (active organization), and by email (named organization, by an admin).
    let removed = ok(remove(&app, &owner, None, &bob_id).await);
    assert_eq!(
        (&removed["member"]["id"], &removed["member"]["organizationId"], &removed["member"]["role"]),
        (&bob_id, id, &json!("member")),
        "{removed}"
    );
    let removed = ok(remove(&app, &admin, Some(id), &json!(carol_email)).await);
    assert_eq!(removed["member"]["id"], carol_id, "{removed}");
    for (who, cookie) in [("bob", &bob), ("carol", &carol)] {
        assert!(active_org(&app, cookie).await.is_null(), "{who}'s session still has it active");
        assert!(!listed(&app, cookie).await.contains(id), "{who} still lists it");
        app.post("/organization/set-active", json!({"organizationId": id}), Some(cookie))
            .await
            .assert_error(403, NOT_A_MEMBER);
    }
    assert_eq!(members(&app, &owner, id).await.len(), 2);
    remove(&app, &owner, Some(id), &bob_id).await.assert_error(400, "MEMBER_NOT_FOUND");
}

async fn leave_refuses_the_only_owner(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let (admin, _, _) = add_member(&app, &owner, "admin").await;
    let (bob, _, bob_id) = add_member(&app, &owner, "member").await;
    let lonely = app.signed_up_cookie(&unique_email()).await;

    app.post("/organization/leave", json!({}), Some(&bob)).await.assert_error(400, "VALIDATION_ERROR");
    leave(&app, &bob, &json!("nope")).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    leave(&app, &lonely, id).await.assert_error(403, NOT_A_MEMBER);
    leave(&app, &owner, id).await.assert_error(400, ONLY_OWNER);
    assert_eq!(members(&app, &owner, id).await.len(), 3);

    let left = ok(leave(&app, &bob, id).await);
    assert_eq!(
        (&left["id"], &left["organizationId"], &left["role"]),
        (&bob_id, id, &json!("member")),
        "{left}"
    );
    assert!(active_org(&app, &bob).await.is_null());
    assert_eq!(members(&app, &owner, id).await.len(), 2);
    leave(&app, &bob, id).await.assert_error(403, NOT_A_MEMBER);

    // Leaving an organization that is not the active one keeps the active one.
    let own = ok(create(&app, &admin, &slug()).await);
    ok(leave(&app, &admin, id).await);
    assert_eq!(active_org(&app, &admin).await, own["id"]);
    assert_eq!(members(&app, &owner, id).await.len(), 1);
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
    let org = ok(create(app, creator, &slug()).await);
    let (actor, _, _) = add_member(app, creator, role).await;
    let (_, _, plain_id) = add_member(app, creator, "member").await;
    let invitation = ok(invite(app, creator, &unique_email(), "member").await);
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

// ---------------------------------------------------------------------------------------------
// The last owner

async fn the_last_owner_survives_a_race(backend: Backend) {
    let app = app!(backend);
    let creator = app.signed_up_cookie(&unique_email()).await;
    for round in 1..=5 {
        for demotion in [false, true] {
            let org = ok(create(&app, &creator, &slug()).await);
            let (id, creator_id) = (&org["id"], creator_member(&org));
            let (second, _, second_id) = add_member(&app, &creator, "owner").await;
            let (what, code, (a, b)) = if demotion {
                let both = tokio::join!(
                    set_role(&app, &creator, Some(id), &creator_id, "member"),
                    set_role(&app, &second, Some(id), &second_id, "member")
                );
                ("self-demotions", NO_OWNER_LEFT, both)
            } else {
                let both = tokio::join!(leave(&app, &creator, id), leave(&app, &second, id));
                ("leaves", ONLY_OWNER, both)
            };
            let outcomes = [(a, &creator), (b, &second)];
            let wins = outcomes.iter().filter(|(res, _)| res.status == StatusCode::OK).count();
            let texts = [outcomes[0].0.text(), outcomes[1].0.text()];
            assert_eq!(wins, 1, "round {round}, concurrent {what}: {texts:?}");
            let (loser, loser_cookie) =
                outcomes.iter().find(|(res, _)| res.status != StatusCode::OK).expect("a loser");
            loser.assert_error(400, code);
            assert_eq!(owners(&app, loser_cookie, id).await, 1, "round {round}, concurrent {what}");
        }
    }
}

pub(crate) async fn delete_account(app: &TestApp, cookie: &str) -> TestResponse {
    app.post("/delete-user", json!({"password": PASSWORD}), Some(cookie)).await
}

async fn delete_user_respects_the_last_owner(backend: Backend) {
    let app = app!(backend);
    let witness = app.signed_up_cookie(&unique_email()).await;

    // Alone in their organization: it goes with them.
    let (alone, _, solo) = founder(&app).await;
    ok(delete_account(&app, &alone).await);
    assert!(slug_is_free(&app, &witness, &solo["slug"]).await, "the organization is still there");
    full_org(&app, &witness, &solo["id"]).await.assert_error(400, "ORGANIZATION_NOT_FOUND");

    // The only owner of an organization with others: refused, and nothing is deleted.
    let (owner, owner_email, org) = founder(&app).await;
    let id = &org["id"];
    let (bob, _, bob_id) = add_member(&app, &owner, "admin").await;
    let solo = ok(create(&app, &owner, &slug()).await);
    delete_account(&app, &owner).await.assert_error(400, ONLY_OWNER);
    ok(app.sign_in(&owner_email, PASSWORD).await);
    assert_eq!(members(&app, &owner, id).await.len(), 2);
    assert!(!slug_is_free(&app, &witness, &solo["slug"]).await, "the refusal rolled back everything");

    // With another owner it goes through, and the organization stays with them.
    ok(set_role(&app, &owner, Some(id), &bob_id, "owner").await);
    ok(delete_account(&app, &owner).await);
    app.sign_in(&owner_email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let left = members(&app, &bob, id).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!((&left[0]["id"], &left[0]["role"]), (&bob_id, &json!("owner")));
    assert!(!slug_is_free(&app, &witness, &org["slug"]).await);
    assert!(slug_is_free(&app, &witness, &solo["slug"]).await, "their own organization went with them");
}

async fn unverified_users_cannot_create_when_verification_is_required(backend: Backend) {
    let app = app!(backend);
    let strict = app.sibling(|settings| settings.require_email_verification = true);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let org_slug = slug();
    create(&strict, &cookie, &org_slug).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    assert_eq!(listed(&app, &cookie).await, Vec::<Value>::new());
    let org = ok(create(&app, &cookie, &org_slug).await);
    assert_eq!(org["slug"], org_slug.as_str());
}

backend_tests!(
    every_route_needs_a_session,
    update_changes_what_it_is_given,
    update_refusals_change_nothing,
    delete_is_for_the_owner_and_leaves_no_trace,
    update_member_role_follows_rank,
    remove_member_follows_rank_and_takes_the_org_away,
    leave_refuses_the_only_owner,
    who_may_do_what,
    the_last_owner_survives_a_race,
    delete_user_respects_the_last_owner,
    unverified_users_cannot_create_when_verification_is_required,
);
