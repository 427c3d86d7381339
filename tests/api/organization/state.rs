//! What membership changes leave behind: a member who goes loses the organization in every
//! session, its subscription and the JWT claims, on every instance; races between different
//! routes keep an owner and never answer 500; malformed input is a 400.

use axum::http::StatusCode;
use gatehouse::domain::model::SubscriptionRow;
use serde_json::{Value, json};

use crate::{
    app, backend_tests,
    helpers::{
        jwt::{segment, token},
        org::*,
        *,
    },
};

/// Gives the organization an active `team` subscription.
async fn subscribe(app: &TestApp, org_id: &Value) {
    let (now, org_id) = (app.clock().now_ms(), org_id.as_str().expect("id").to_string());
    let row = SubscriptionRow::manual(&org_id, "team", "active", None, now);
    app.state.store.put_subscription(&row).await.expect("subscription");
}

/// What a session says about the organization: (active organization, subscribed?, JWT `org`,
/// JWT `plan`).
async fn seen(app: &TestApp, cookie: &str) -> (Value, Value, Value, Value) {
    let session = app.get("/get-session", Some(cookie)).await.json();
    let claims = segment(&token(app, cookie).await, 1);
    (
        session["session"]["activeOrganizationId"].clone(),
        session["subscription"]["isSubscribed"].clone(),
        claims["org"].clone(),
        claims["plan"].clone(),
    )
}

async fn a_member_who_goes_loses_the_organization_everywhere(backend: Backend) {
    let app = app!(backend);
    for how in ["removed", "left", "deleted"] {
        let (owner, _, org) = founder(&app).await;
        let id = &org["id"];
        subscribe(&app, id).await;
        let (first, email, member_id) = add_member(&app, &owner, "member").await;
        // A second session of the member, pointed at the organization too.
        let second = app.sign_in(&email, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
        app.post("/organization/set-active", json!({"organizationId": id}), Some(&second)).await.assert_ok();
        let member_view = (id.clone(), json!(true), id.clone(), json!("team"));
        for cookie in [&first, &second] {
            assert_eq!(seen(&app, cookie).await, member_view, "{how}: before");
        }
        match how {
            "removed" => drop(remove(&app, &owner, Some(id), &member_id).await.assert_ok()),
            "left" => drop(leave(&app, &first, id).await.assert_ok()),
            _ => drop(delete(&app, &owner, id).await.assert_ok()),
        }
        for cookie in [&first, &second] {
            assert_eq!(
                seen(&app, cookie).await,
                (Value::Null, json!(false), Value::Null, Value::Null),
                "{how}"
            );
        }
    }
}

async fn racing_routes_keep_an_owner_and_never_fail(backend: Backend) {
    let app = app!(backend);
    for round in 1..=4 {
        // Deleting the organization while an admin removes a member who has it active.
        let (owner, _, org) = founder(&app).await;
        let id = &org["id"];
        let (admin, _, _) = add_member(&app, &owner, "admin").await;
        let (_, _, member_id) = add_member(&app, &owner, "member").await;
        let (deleted, removed) =
            tokio::join!(delete(&app, &owner, id), remove(&app, &admin, Some(id), &member_id));
        deleted.assert_ok();
        // Removed first, or found the organization (or the admin's membership) gone: never a
        // database error such as a deadlock.
        if removed.status != StatusCode::OK {
            let code = removed.json()["code"].clone();
            let gone = [(400, "ORGANIZATION_NOT_FOUND"), (403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION")];
            assert!(
                gone.iter().any(|(status, c)| removed.status.as_u16() == *status && code == *c),
                "round {round}: {}",
                removed.text()
            );
        }

        // set-active racing the removal: the removed member never keeps the organization.
        let (owner, _, org) = founder(&app).await;
        let id = &org["id"];
        let (member, _, member_id) = add_member(&app, &owner, "member").await;
        app.post("/organization/set-active", json!({"organizationId": null}), Some(&member))
            .await
            .assert_ok();
        let body = json!({"organizationId": id});
        let (_, removed) = tokio::join!(
            app.post("/organization/set-active", body, Some(&member)),
            remove(&app, &owner, Some(id), &member_id)
        );
        removed.assert_ok();
        assert!(active_org(&app, &member).await.is_null(), "round {round}: set-active undid the removal");

        // One owner deletes their account while the other leaves. Deleting always goes
        // through: first, it leaves the other as owner (who then cannot leave); second, the
        // organization has only the deleted user left and goes with them.
        let (first, _, org) = founder(&app).await;
        let id = &org["id"];
        let (second, _, _) = add_member(&app, &first, "owner").await;
        let (gone, left) = tokio::join!(delete_account(&app, &first), leave(&app, &second, id));
        gone.assert_ok();
        let witness = app.signed_up_cookie(&unique_email()).await;
        let slug_free =
            app.post("/organization/check-slug", json!({"slug": org["slug"]}), Some(&witness)).await;
        if left.status == StatusCode::OK {
            assert_eq!(slug_free.status, StatusCode::OK, "round {round}: an organization without members");
        } else {
            left.assert_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
            assert_eq!(owners(&app, &second, id).await, 1, "round {round}");
        }

        // An invitee accepts while the only owner deletes their account.
        let (owner, _, org) = founder(&app).await;
        let email = unique_email();
        let invitation = invite(&app, &owner, &email, "member").await.assert_ok();
        let invitee = app.verified_cookie(&email).await;
        let body = json!({"invitationId": invitation["id"]});
        let (gone, accepted) = tokio::join!(
            delete_account(&app, &owner),
            app.post("/organization/accept-invitation", body, Some(&invitee))
        );
        if accepted.status == StatusCode::OK {
            gone.assert_error(400, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
            assert_eq!(members(&app, &invitee, &org["id"]).await.len(), 2, "round {round}");
        } else {
            gone.assert_ok();
            accepted.assert_error(400, "INVITATION_NOT_FOUND");
            assert!(active_org(&app, &invitee).await.is_null(), "round {round}");
        }
    }
}

async fn malformed_input_is_a_400(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let (_, _, member_id) = add_member(&app, &owner, "member").await;
    let (_, _, elsewhere) = founder(&app).await;
    let nul = json!("ab\u{0}cd");
    let cases = [
        ("/organization/update-member-role", json!({"memberId": member_id, "role": 7}), "VALIDATION_ERROR"),
        ("/organization/update-member-role", json!({"memberId": member_id, "role": []}), "VALIDATION_ERROR"),
        (
            "/organization/update-member-role",
            json!({"memberId": member_id, "role": ["admin", "member"]}),
            "VALIDATION_ERROR",
        ),
        ("/organization/update-member-role", json!({"memberId": nul, "role": "admin"}), "VALIDATION_ERROR"),
        (
            "/organization/update-member-role",
            json!({"memberId": member_id, "role": "admin", "organizationId": nul}),
            "VALIDATION_ERROR",
        ),
        ("/organization/remove-member", json!({"memberIdOrEmail": "x@"}), "INVALID_EMAIL"),
        ("/organization/remove-member", json!({"memberIdOrEmail": nul}), "VALIDATION_ERROR"),
        ("/organization/remove-member", json!({"memberIdOrEmail": ""}), "VALIDATION_ERROR"),
        (
            "/organization/remove-member",
            json!({"memberIdOrEmail": creator_member(&elsewhere)}),
            "MEMBER_NOT_FOUND",
        ),
        ("/organization/leave", json!({"organizationId": nul}), "VALIDATION_ERROR"),
        ("/organization/delete", json!({"organizationId": nul}), "VALIDATION_ERROR"),
        ("/organization/delete", json!({"organizationId": 5}), "VALIDATION_ERROR"),
        ("/organization/update", json!({"data": []}), "VALIDATION_ERROR"),
        ("/organization/update", json!({"data": {"name": "x"}, "organizationId": nul}), "VALIDATION_ERROR"),
        ("/organization/set-active", json!({"organizationId": nul}), "VALIDATION_ERROR"),
        ("/organization/accept-invitation", json!({"invitationId": nul}), "VALIDATION_ERROR"),
        ("/organization/cancel-invitation", json!({"invitationId": "x".repeat(300)}), "VALIDATION_ERROR"),
    ];
    for (path, body, code) in cases {
        let answer = app.post(path, body.clone(), Some(&owner)).await.assert_error(400, code);
        let message = answer["message"].as_str().unwrap_or_default();
        let names_the_field = code != "VALIDATION_ERROR" || message.starts_with("[body");
        assert!(names_the_field && !message.contains("enum"), "{path} {body}: {message}");
    }
    // A malformed query names nothing: the active organization answers, not a database error.
    let res = app.get("/organization/list-members?organizationId=a%00b", Some(&owner)).await;
    assert_eq!(res.assert_ok()["total"], 2);
    assert_eq!(members(&app, &owner, id).await.len(), 2, "nothing changed");
    assert_eq!(set_role(&app, &owner, None, &member_id, "ADMIN").await.assert_ok()["role"], "admin");
}

/// Whether a get-session body shows no active organization (or no session).
fn no_active_org(session: &Value) -> bool {
    session["session"]["activeOrganizationId"].is_null()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_reaches_the_other_instance() {
    let Some((a, b)) = two_instances().await else { return };
    let (owner, _, org) = founder(&a).await;
    let (member, _, member_id) = add_member(&a, &owner, "member").await;
    // The other instance has the member's session cached with the organization active.
    assert_eq!(active_org(&b, &member).await, org["id"]);
    remove(&a, &owner, Some(&org["id"]), &member_id).await.assert_ok();
    let took = until_session(&b, &member, no_active_org).await;
    eprintln!("removal reached the other instance in {took:?}");
    let owner_org = active_org(&b, &owner).await;
    delete(&a, &owner, &org["id"]).await.assert_ok();
    assert_eq!(owner_org, org["id"]);
    until_session(&b, &owner, no_active_org).await;
}

backend_tests!(
    a_member_who_goes_loses_the_organization_everywhere,
    racing_routes_keep_an_owner_and_never_fail,
    malformed_input_is_a_400,
);
