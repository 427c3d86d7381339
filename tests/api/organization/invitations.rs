//! Invitations: `invite-member` (a mail with the accept link; resend; a cap per organization),
//! `accept-invitation` and `reject-invitation` (the invited, verified address only),
//! `cancel-invitation`, `list-invitations`, and expiry after 48 hours.

use axum::http::StatusCode;
use serde_json::json;

use crate::{
    app, backend_tests,
    helpers::{org::*, *},
};

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
    let app = app!(backend, |s| s.limits.invitations_per_hour = 3);
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
    invitations_expire_and_can_be_rejected_or_canceled,
    invitations_are_capped_per_organization,
    invitation_mail_renders_free_text_inert,
);
