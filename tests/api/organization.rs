//! Organizations, first part: create, list, set-active, get-full-organization, check-slug,
//! get-active-member, and the active organization's subscription on the session.

use axum::http::StatusCode;
use gatehouse::domain::model::SubscriptionRow;
use serde_json::{Value, json};

use crate::{app, backend_tests, helpers::*};

pub(crate) fn slug() -> String {
    format!("org-{}", gatehouse::security::tokens::random_hex(4))
}

pub(crate) async fn create(app: &TestApp, cookie: &str, slug: &str) -> TestResponse {
    app.post(
        "/organization/create",
        json!({"name": "Acme", "slug": slug, "metadata": {"tier": 1}}),
        Some(cookie),
    )
    .await
}

pub(crate) async fn active_org(app: &TestApp, cookie: &str) -> Value {
    app.get("/get-session", Some(cookie)).await.json()["session"]["activeOrganizationId"].clone()
}

async fn create_makes_the_caller_owner_and_the_org_active(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let s = slug();
    let res = create(&app, &cookie, &s).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let org = res.json();
    assert_eq!(org["slug"], s.as_str());
    assert_eq!(org["metadata"], json!({"tier": 1}));
    assert_eq!(org["members"][0]["role"], "owner");
    assert_eq!(active_org(&app, &cookie).await, org["id"]);
    // The persistent session cookie is not turned into a browser-session one.
    if let Some((_, attrs)) = res.set_cookies().get("better-auth.session_token") {
        assert!(attrs.iter().any(|a| a.starts_with("max-age=")), "{attrs:?}");
    }
    // Taken slug.
    create(&app, &cookie, &s).await.assert_error(400, "ORGANIZATION_ALREADY_EXISTS");
    // keepCurrentActiveOrganization.
    let body = json!({"name": "Other", "slug": slug(), "keepCurrentActiveOrganization": true});
    assert_eq!(app.post("/organization/create", body, Some(&cookie)).await.status, StatusCode::OK);
    assert_eq!(active_org(&app, &cookie).await, org["id"]);
    app.post("/organization/create", json!({"name": "x", "slug": "Bad Slug!"}), Some(&cookie))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.post("/organization/create", json!({"name": "x", "slug": slug()}), None)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn list_check_slug_and_set_active(backend: Backend) {
    let app = app!(backend);
    let alice = app.signed_up_cookie(&unique_email()).await;
    let bob = app.signed_up_cookie(&unique_email()).await;
    let (a1, a2, b1) = (slug(), slug(), slug());
    let org1 = create(&app, &alice, &a1).await.json();
    create(&app, &alice, &a2).await;
    let bobs = create(&app, &bob, &b1).await.json();
    let list = app.get("/organization/list", Some(&alice)).await.json();
    let slugs: Vec<&str> = list.as_array().unwrap().iter().map(|o| o["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs.len(), 2, "{list}");
    assert!(slugs.contains(&a1.as_str()) && slugs.contains(&a2.as_str()));

    assert_eq!(
        app.post("/organization/check-slug", json!({"slug": slug()}), Some(&alice)).await.json(),
        json!({"status": true})
    );
    app.post("/organization/check-slug", json!({"slug": a1}), Some(&alice))
        .await
        .assert_error(400, "ORGANIZATION_SLUG_ALREADY_TAKEN");

    let res = app.post("/organization/set-active", json!({"organizationId": org1["id"]}), Some(&alice)).await;
    assert_eq!(res.json()["id"], org1["id"]);
    assert_eq!(active_org(&app, &alice).await, org1["id"]);
    app.post("/organization/set-active", json!({"organizationId": bobs["id"]}), Some(&alice))
        .await
        .assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    app.post("/organization/set-active", json!({"organizationId": "nope"}), Some(&alice))
        .await
        .assert_error(400, "ORGANIZATION_NOT_FOUND");
    let res = app.post("/organization/set-active", json!({"organizationSlug": a2}), Some(&alice)).await;
    assert_eq!(res.json()["slug"], a2.as_str());
    let res = app.post("/organization/set-active", json!({"organizationId": null}), Some(&alice)).await;
    assert!(res.json().is_null());
    assert!(active_org(&app, &alice).await.is_null());
}

async fn full_organization_and_active_member(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    assert!(app.get("/organization/get-full-organization", Some(&cookie)).await.json().is_null());
    app.get("/organization/get-active-member", Some(&cookie))
        .await
        .assert_error(400, "NO_ACTIVE_ORGANIZATION");
    let org = create(&app, &cookie, &slug()).await.json();
    let full = app.get("/organization/get-full-organization", Some(&cookie)).await.json();
    assert_eq!(full["id"], org["id"]);
    assert_eq!(full["members"][0]["user"]["email"], email.as_str());
    assert_eq!(full["invitations"], json!([]));
    let by_slug = app
        .get(
            &format!(
                "/organization/get-full-organization?organizationSlug={}",
                org["slug"].as_str().unwrap()
            ),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(by_slug["id"], org["id"]);
    let member = app.get("/organization/get-active-member", Some(&cookie)).await.json();
    assert_eq!((member["role"].clone(), member["user"]["email"].clone()), (json!("owner"), json!(email)));
    let stranger = app.signed_up_cookie(&unique_email()).await;
    let path = format!("/organization/get-full-organization?organizationId={}", org["id"].as_str().unwrap());
    app.get(&path, Some(&stranger)).await.assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
}

async fn the_active_organizations_subscription_counts(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let org = create(&app, &cookie, &slug()).await.json();
    let org_id = org["id"].as_str().unwrap().to_string();
    let now = app.clock().now_ms();
    let row = SubscriptionRow::manual(&org_id, "team", "active", None, now);
    app.state.store.put_subscription(&row).await.unwrap();
    let sub = app.get("/get-session", Some(&cookie)).await.json()["subscription"].clone();
    assert_eq!((sub["isSubscribed"].clone(), sub["productId"].clone()), (json!(true), json!("team")));
    app.post("/organization/set-active", json!({"organizationId": null}), Some(&cookie)).await;
    let sub = app.get("/get-session", Some(&cookie)).await.json()["subscription"].clone();
    assert_eq!(sub["isSubscribed"], false, "the user has none of their own");
}

pub(crate) async fn invite(app: &TestApp, cookie: &str, email: &str, role: &str) -> TestResponse {
    app.post("/organization/invite-member", json!({"email": email, "role": role}), Some(cookie)).await
}

async fn invitations_add_members(backend: Backend) {
    let app = app!(backend);
    let owner = app.signed_up_cookie(&unique_email()).await;
    let org = create(&app, &owner, &slug()).await.json();
    let (invitee_email, stranger_email) = (unique_email(), unique_email());
    let res = invite(&app, &owner, &invitee_email, "admin").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let invitation = res.json();
    assert_eq!(
        (invitation["status"].clone(), invitation["role"].clone()),
        (json!("pending"), json!("admin"))
    );
    let mail = app.mail(&invitee_email, "invite").await;
    assert!(mail["url"].as_str().unwrap().ends_with(invitation["id"].as_str().unwrap()), "{mail}");
    invite(&app, &owner, &invitee_email, "admin")
        .await
        .assert_error(400, "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION");
    let resent = app
        .post(
            "/organization/invite-member",
            json!({"email": invitee_email, "role": "admin", "resend": true}),
            Some(&owner),
        )
        .await;
    assert_eq!(resent.json()["id"], invitation["id"]);
    assert_eq!(app.mail_count(&invitee_email, "invite"), 2);
    let full = app.get("/organization/get-full-organization", Some(&owner)).await.json();
    assert_eq!(full["invitations"][0]["id"], invitation["id"]);

    // Only the invited address may accept.
    let stranger = app.verified_cookie(&stranger_email).await;
    let body = json!({"invitationId": invitation["id"]});
    app.post("/organization/accept-invitation", body.clone(), Some(&stranger))
        .await
        .assert_error(403, "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION");
    // Whoever signs up as the invited address cannot take the role before proving they own it
    // (anyone who sees a pending invitation's id could otherwise).
    let invitee = app.signed_up_cookie(&invitee_email).await;
    for route in ["/organization/accept-invitation", "/organization/reject-invitation"] {
        app.post(route, body.clone(), Some(&invitee))
            .await
            .assert_error(403, "EMAIL_VERIFICATION_REQUIRED_BEFORE_ACCEPTING_OR_REJECTING_INVITATION");
    }
    let members = app.get("/organization/list-members", Some(&owner)).await.json();
    assert_eq!(members["total"], 1, "nothing changed: {members}");
    app.verify_email_of(&invitee_email).await;
    let res = app.post("/organization/accept-invitation", body.clone(), Some(&invitee)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let accepted = res.json();
    assert_eq!(accepted["invitation"]["status"], "accepted");
    assert_eq!(accepted["member"]["role"], "admin");
    assert_eq!(active_org(&app, &invitee).await, org["id"]);
    app.post("/organization/accept-invitation", body, Some(&invitee))
        .await
        .assert_error(400, "INVITATION_NOT_FOUND");
    let members = app.get("/organization/list-members", Some(&owner)).await.json();
    assert_eq!(members["total"], 2);
    invite(&app, &owner, &invitee_email, "member")
        .await
        .assert_error(400, "USER_IS_ALREADY_A_MEMBER_OF_THIS_ORGANIZATION");

    // An admin may invite members but not owners; a plain member may not invite at all.
    assert_eq!(invite(&app, &invitee, &unique_email(), "member").await.status, StatusCode::OK);
    invite(&app, &invitee, &unique_email(), "owner")
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION");
    let plain_email = unique_email();
    let id = invite(&app, &owner, &plain_email, "member").await.json()["id"].clone();
    let plain = app.verified_cookie(&plain_email).await;
    app.post("/organization/accept-invitation", json!({"invitationId": id}), Some(&plain)).await;
    invite(&app, &plain, &unique_email(), "member")
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION");
    app.get("/organization/list-members", Some(&stranger)).await.assert_error(400, "NO_ACTIVE_ORGANIZATION");
}

async fn invitations_expire_and_can_be_rejected_or_canceled(backend: Backend) {
    let app = app!(backend);
    let owner = app.signed_up_cookie(&unique_email()).await;
    create(&app, &owner, &slug()).await;
    let (late, rejecting, canceled) = (unique_email(), unique_email(), unique_email());
    let late_id = invite(&app, &owner, &late, "member").await.json()["id"].clone();
    let rejected_id = invite(&app, &owner, &rejecting, "member").await.json()["id"].clone();
    let canceled_id = invite(&app, &owner, &canceled, "member").await.json()["id"].clone();

    let rejecter = app.verified_cookie(&rejecting).await;
    let res = app
        .post("/organization/reject-invitation", json!({"invitationId": rejected_id}), Some(&rejecter))
        .await;
    assert_eq!(res.json()["invitation"]["status"], "rejected");
    app.post("/organization/accept-invitation", json!({"invitationId": rejected_id}), Some(&rejecter))
        .await
        .assert_error(400, "INVITATION_NOT_FOUND");

    let res =
        app.post("/organization/cancel-invitation", json!({"invitationId": canceled_id}), Some(&owner)).await;
    assert_eq!(res.json()["status"], "canceled");
    let canceled_user = app.verified_cookie(&canceled).await;
    app.post("/organization/accept-invitation", json!({"invitationId": canceled_id}), Some(&canceled_user))
        .await
        .assert_error(400, "INVITATION_NOT_FOUND");
    let list = app.get("/organization/list-invitations", Some(&owner)).await.json();
    assert_eq!(list.as_array().unwrap().len(), 3);

    app.clock().advance(std::time::Duration::from_secs(49 * 3600));
    let late_user = app.verified_cookie(&late).await;
    app.post("/organization/accept-invitation", json!({"invitationId": late_id}), Some(&late_user))
        .await
        .assert_error(400, "INVITATION_NOT_FOUND");
}

async fn invitations_are_capped_per_organization(backend: Backend) {
    let app = app!(backend, |s| s.invitations_per_hour = 3);
    let owner = app.signed_up_cookie(&unique_email()).await;
    create(&app, &owner, &slug()).await;
    for _ in 0..3 {
        assert_eq!(invite(&app, &owner, &unique_email(), "member").await.status, StatusCode::OK);
    }
    let invitee = unique_email();
    let res = invite(&app, &owner, &invitee, "member").await;
    res.assert_error(429, "RATE_LIMIT_EXCEEDED");
    let retry: u64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(app.mail_count(&invitee, "invite"), 0);
    // Another organization has its own allowance; the next hour brings a fresh one.
    let other = app.signed_up_cookie(&unique_email()).await;
    create(&app, &other, &slug()).await;
    assert_eq!(invite(&app, &other, &unique_email(), "member").await.status, StatusCode::OK);
    app.clock().advance(std::time::Duration::from_secs(3600));
    assert_eq!(invite(&app, &owner, &invitee, "member").await.status, StatusCode::OK);
}

async fn invitation_mail_renders_free_text_inert(backend: Backend) {
    let app = app!(backend);
    let owner = app.signed_up_cookie(&unique_email()).await;
    app.post("/update-user", json!({"name": "Support at https://evil.example/login"}), Some(&owner)).await;
    let res = app
        .post(
            "/organization/create",
            json!({"name": "Reset here: evil.example/reset", "slug": slug()}),
            Some(&owner),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let invitee = unique_email();
    assert_eq!(invite(&app, &owner, &invitee, "member").await.status, StatusCode::OK);
    let mail = app.mail(&invitee, "invite").await;
    for part in ["subject", "text", "html"] {
        let text = mail[part].as_str().unwrap();
        assert!(!text.contains("evil.example") && !text.contains("https://evil"), "{part}: {text}");
    }
    assert!(mail["subject"].as_str().unwrap().contains("Reset here"), "{mail}");
}

backend_tests!(
    invitations_add_members,
    invitations_are_capped_per_organization,
    invitation_mail_renders_free_text_inert,
    invitations_expire_and_can_be_rejected_or_canceled,
    create_makes_the_caller_owner_and_the_org_active,
    list_check_slug_and_set_active,
    full_organization_and_active_member,
    the_active_organizations_subscription_counts,
);
