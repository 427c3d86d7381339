//! Mandatory second factors: server-wide (`TWO_FACTOR_REQUIRED`: a restricted session that can
//! only enroll) and per organization (`requireTwoFactor`: not active for members without one).

use serde_json::json;

use super::*;
use crate::{app, backend_tests, helpers::*};

async fn a_restricted_session_can_only_enroll(backend: Backend) {
    let app = app!(backend, |s| s.two_factor.required = true);
    let email = unique_email();
    let res = app.sign_up(&email).await;
    assert_eq!(
        res.assert_ok(),
        json!({"twoFactorRedirect": true, "twoFactorSetupRequired": true, "twoFactorMethods": []})
    );
    let cookie = app.cookie_of(&res);
    let session = app.session(&cookie).await;
    assert_eq!(session["session"]["restricted"], true, "{session}");
    let jwt_res = app.get("/get-session", Some(&cookie)).await;
    assert!(jwt_res.header("set-auth-jwt").is_none(), "no JWT for a restricted session");
    app.get("/list-sessions", Some(&cookie)).await.assert_error(403, "TWO_FACTOR_REQUIRED");
    app.get("/token", Some(&cookie)).await.assert_error(403, "TWO_FACTOR_REQUIRED");
    app.post("/update-user", json!({"name": "X"}), Some(&cookie))
        .await
        .assert_error(403, "TWO_FACTOR_REQUIRED");
    // Where a session is optional, a restricted one counts as none.
    app.post("/two-factor/verify-backup-code", json!({"code": "x"}), Some(&cookie))
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    // Signing in again: restricted again.
    let again = app.sign_in(&email, PASSWORD).await;
    assert_eq!(again.assert_ok()["twoFactorSetupRequired"], true);
    // Enrolling lifts the restriction on this session.
    enroll(&app, &cookie).await;
    let session = app.session(&cookie).await;
    assert!(session["session"].get("restricted").is_none(), "{session}");
    app.get("/list-sessions", Some(&cookie)).await.assert_ok();
    assert!(app.get("/token", Some(&cookie)).await.assert_ok()["token"].is_string());
    // From now on the sign-in asks for the second factor.
    assert_eq!(app.sign_in(&email, PASSWORD).await.assert_ok()["twoFactorMethods"], json!(["totp"]));
    app.post("/sign-out", json!({}), Some(&cookie)).await.assert_ok();
}

async fn an_organization_can_require_a_second_factor(backend: Backend) {
    let app = app!(backend);
    // Only an owner with a second factor of their own sets the requirement.
    let (plain_owner, _, plain_org) = org::founder(&app).await;
    org::update(&app, &plain_owner, Some(&plain_org["id"]), json!({"requireTwoFactor": true}))
        .await
        .assert_error(403, "TWO_FACTOR_REQUIRED");
    let owner = enrolled(&app).await.cookie;
    let org = org::create(&app, &owner, &org::slug()).await.assert_ok();
    let org_id = org["id"].clone();
    let (admin, _, _) = org::add_member(&app, &owner, "admin").await;
    let (member, _, _) = org::add_member(&app, &owner, "member").await;
    org::update(&app, &admin, Some(&org_id), json!({"requireTwoFactor": true}))
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION");
    org::update(&app, &owner, Some(&org_id), json!({"requireTwoFactor": "yes"}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let invitee = unique_email();
    let invitation = org::invite(&app, &owner, &invitee, "member").await.assert_ok();
    // The admin has it active (accepting made it so); the owner requires a second factor.
    assert_eq!(app.session(&admin).await["session"]["activeOrganizationId"], org_id);
    let updated = org::update(&app, &owner, Some(&org_id), json!({"requireTwoFactor": true})).await;
    assert_eq!(updated.assert_ok()["requireTwoFactor"], true);
    let session = app.session(&admin).await;
    assert!(session["session"]["activeOrganizationId"].is_null(), "withheld: {session}");
    let token = app.get("/token", Some(&admin)).await.assert_ok()["token"].as_str().unwrap().to_string();
    assert!(jwt::segment(&token, 1)["org"].is_null());
    app.post("/organization/set-active", json!({"organizationId": org_id}), Some(&admin))
        .await
        .assert_error(403, "TWO_FACTOR_REQUIRED");
    // Named explicitly, it is refused too; leaving is allowed.
    org::full_org(&app, &admin, &org_id).await.assert_error(403, "TWO_FACTOR_REQUIRED");
    org::update(&app, &admin, Some(&org_id), json!({"requireTwoFactor": false}))
        .await
        .assert_error(403, "TWO_FACTOR_REQUIRED");
    app.post("/organization/cancel-invitation", json!({"invitationId": invitation["id"]}), Some(&admin))
        .await
        .assert_error(403, "TWO_FACTOR_REQUIRED");
    org::leave(&app, &member, &org_id).await.assert_ok();
    // Lifted, the organization shows again at once (cached sessions too); then required again.
    org::update(&app, &owner, Some(&org_id), json!({"requireTwoFactor": false})).await.assert_ok();
    assert_eq!(app.session(&admin).await["session"]["activeOrganizationId"], org_id);
    org::update(&app, &owner, Some(&org_id), json!({"requireTwoFactor": true})).await.assert_ok();
    assert!(app.session(&admin).await["session"]["activeOrganizationId"].is_null());
    // An invitee without a second factor enrolls before joining.
    let invitee_cookie = app.verified_cookie(&invitee).await;
    app.post(
        "/organization/accept-invitation",
        json!({"invitationId": invitation["id"]}),
        Some(&invitee_cookie),
    )
    .await
    .assert_error(403, "TWO_FACTOR_REQUIRED");
    // A stranger learns nothing about the requirement.
    let stranger = app.signed_up_cookie(&unique_email()).await;
    app.post("/organization/set-active", json!({"organizationId": org_id}), Some(&stranger))
        .await
        .assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    // Enrolled, the admin has it back.
    enroll(&app, &admin).await;
    assert_eq!(app.session(&admin).await["session"]["activeOrganizationId"], org_id);
    let token = app.get("/token", Some(&admin)).await.assert_ok()["token"].as_str().unwrap().to_string();
    assert_eq!(jwt::segment(&token, 1)["org"], org_id);
    org::full_org(&app, &admin, &org_id).await.assert_ok();
}

backend_tests!(a_restricted_session_can_only_enroll, an_organization_can_require_a_second_factor);
