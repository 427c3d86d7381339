//! Account changes that need a session: `change-email` (a fresh session to ask, a link to the
//! new address; other sessions and pending links end when it changes; the old address can undo
//! it for a week with `undo-email-change`) and `delete-user`.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::{app, backend_tests, helpers::*};

async fn email_of(app: &TestApp, cookie: &str) -> Value {
    app.get("/get-session", Some(cookie)).await.json()["user"]["email"].clone()
}

async fn is_signed_in(app: &TestApp, cookie: &str) -> bool {
    app.get("/get-session", Some(cookie)).await.json().is_object()
}

/// Asks to move `cookie`'s user to `new` and follows the confirmation link with that cookie.
async fn change_email(app: &TestApp, cookie: &str, new: &str) {
    let res = app.post("/change-email", json!({"newEmail": new}), Some(cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let link = rel(&app.mail(new, "change-email").await["url"]);
    let res = app.get(&link, Some(cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

/// A form post to `/undo-email-change`, as the confirmation page sends it.
async fn post_undo_form(app: &TestApp, token: &str) -> TestResponse {
    app.post_form("/undo-email-change", &format!("token={token}")).await
}

// ---------------------------------------------------------------------------------------------
// change-email

async fn change_email_refuses_bad_requests(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    app.post("/change-email", json!({"newEmail": unique_email()}), None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    for same in [email.clone(), format!(" {} ", email.to_uppercase())] {
        let res = app.post("/change-email", json!({"newEmail": same}), Some(&cookie)).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{same}: {}", res.text());
    }
    app.post("/change-email", json!({"newEmail": "not-an-email"}), Some(&cookie))
        .await
        .assert_error(400, "INVALID_EMAIL");
    assert_eq!(app.session(&cookie).await["user"]["email"], email.as_str());
}

async fn change_email_takes_effect_when_the_link_is_followed(backend: Backend) {
    let app = app!(backend);
    let (old, new) = (unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&old).await;
    let res = app.post("/change-email", json!({"newEmail": new}), Some(&cookie)).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));

    let confirm = app.mail(&new, "change-email").await;
    let url = confirm["url"].as_str().expect("url").to_string();
    assert!(url.starts_with(&format!("{LINK_BASE}/verify-email?token=")), "{url}");
    assert!(url.contains(&format!("token={}", token_of(&confirm))), "{url}");
    let notice = app.mail(&old, "change-email").await;
    assert!(notice["url"].is_null(), "{notice}");
    assert!(notice["subject"].as_str().is_some_and(|s| !s.is_empty()));

    // Nothing changes until the link is followed.
    assert_eq!(app.session(&cookie).await["user"]["email"], old.as_str());
    app.sign_in(&new, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.sign_in(&old, PASSWORD).await.assert_ok();

    // Followed by the browser that holds this session: it stays, and shows the new address.
    let res = app.get(&rel(&confirm["url"]), Some(&cookie)).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    let user = app.session(&cookie).await["user"].clone();
    assert_eq!(user["email"], new.as_str());
    assert_eq!(user["emailVerified"], true);
    app.sign_in(&new, PASSWORD).await.assert_ok();
    app.sign_in(&old, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.get(&rel(&confirm["url"]), None).await.assert_error(401, "INVALID_TOKEN");
}

async fn change_email_to_a_taken_address_sends_no_link(backend: Backend) {
    let app = app!(backend);
    let (mine, taken, free) = (unique_email(), unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&mine).await;
    app.signed_up_cookie(&taken).await;

    let to_taken = app.post("/change-email", json!({"newEmail": taken}), Some(&cookie)).await;
    let to_free = app.post("/change-email", json!({"newEmail": free}), Some(&cookie)).await;
    assert_eq!(to_taken.assert_ok(), to_free.assert_ok());
    app.mail(&free, "change-email").await;
    app.mail(&mine, "change-email").await;
    app.mail_settled().await;
    assert_eq!(app.mail_count(&taken, "change-email"), 0, "{:?}", app.outbox());
    assert_eq!(app.mail_count(&mine, "change-email"), 1, "one notice, for the free address only");
    assert_eq!(app.session(&cookie).await["user"]["email"], mine.as_str());
}

async fn change_email_needs_a_fresh_session(backend: Backend) {
    let app = app!(backend);
    let (old, new) = (unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&old).await;
    app.clock().advance(Duration::from_secs(86_400 + 60));
    assert!(is_signed_in(&app, &cookie).await, "the session itself lives on");
    app.post("/change-email", json!({"newEmail": new}), Some(&cookie))
        .await
        .assert_error(403, "SESSION_NOT_FRESH");
    // A fresh sign-in may.
    let fresh = app.sign_in(&old, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    change_email(&app, &fresh, &new).await;
    assert_eq!(email_of(&app, &fresh).await, new.as_str());
    assert_eq!(app.mail_count(&new, "change-email"), 1, "nothing was sent for the stale session");
}

async fn a_changed_email_ends_other_sessions_and_pending_links(backend: Backend) {
    let app = app!(backend);
    let (old, new) = (unique_email(), unique_email());
    let this_device = app.signed_up_cookie(&old).await;
    let other_device = app.sign_in(&old, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    let someone_else = app.signed_up_cookie(&unique_email()).await;
    // Links and codes issued before the change.
    app.post("/request-password-reset", json!({"email": old}), None).await;
    let reset_token = app.mail(&old, "reset").await["token"].as_str().unwrap().to_string();
    let otp = app.otp_code(&old, "sign-in", 1).await;
    let verify_token = app.mail(&old, "verify").await["token"].as_str().unwrap().to_string();

    change_email(&app, &this_device, &new).await;
    assert_eq!(email_of(&app, &this_device).await, new.as_str());
    assert!(!is_signed_in(&app, &other_device).await, "other sessions end");
    assert!(is_signed_in(&app, &someone_else).await);
    let body = json!({"token": reset_token, "newPassword": "attacker-password-1"});
    app.post("/reset-password", body, None).await.assert_error(400, "INVALID_TOKEN");
    app.post("/sign-in/email-otp", json!({"email": old, "otp": otp}), None)
        .await
        .assert_error(400, "INVALID_OTP");
    app.get(&format!("/verify-email?token={verify_token}"), None).await.assert_error(401, "INVALID_TOKEN");

    // The old address hears about it, with an undo link valid for a week.
    let notice = app.mail(&old, "email-changed").await;
    let url = notice["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{LINK_BASE}/undo-email-change?token=")), "{url}");
    assert!(notice["text"].as_str().unwrap().contains(new.as_str()), "{notice}");
    assert!(notice["text"].as_str().unwrap().contains("7 days"), "{notice}");
}

async fn the_old_address_can_undo_the_change(backend: Backend) {
    let app = app!(backend);
    let (victim, attacker) = (unique_email(), unique_email());
    let stolen = app.signed_up_cookie(&victim).await;
    let victim_device =
        app.sign_in(&victim, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    change_email(&app, &stolen, &attacker).await;
    let notice = app.mail(&victim, "email-changed").await;
    let token = notice["token"].as_str().unwrap().to_string();
    // The attacker changes the password and the email again; the victim's undo link survives both.
    let body = json!({"currentPassword": PASSWORD, "newPassword": "attacker-password-1"});
    assert_eq!(app.post("/change-password", body, Some(&stolen)).await.status, StatusCode::OK);
    let attacker2 = unique_email();
    change_email(&app, &stolen, &attacker2).await;
    let their_undo = app.mail(&attacker, "email-changed").await["token"].as_str().unwrap().to_string();

    // Opening the link (as a mail scanner would) changes nothing: it shows a confirmation form.
    app.clock().advance(Duration::from_secs(6 * 86_400));
    let page = app.get(&rel(&notice["url"]), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text().contains("<form method=\"post\""), "{}", page.text());
    assert!(page.text().contains(&victim), "{}", page.text());
    assert_eq!(email_of(&app, &stolen).await, attacker2.as_str());

    // The attacker's own (newer) undo link cannot cancel the victim's older one.
    let theirs = app.post("/undo-email-change", json!({"token": their_undo}), None).await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.text());

    // Posting the form restores the old address, ends every session, and clears the password
    // (whoever changed the email may know it): the restored address gets a reset link.
    let done = post_undo_form(&app, &token).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert!(done.text().contains("undone"), "{}", done.text());
    assert!(!is_signed_in(&app, &stolen).await);
    assert!(!is_signed_in(&app, &victim_device).await);
    app.sign_in(&attacker, "attacker-password-1").await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.sign_in(&victim, "attacker-password-1").await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.sign_in(&victim, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let reset = app.mail(&victim, "reset").await;
    let body = json!({"token": reset["token"], "newPassword": "victim-new-password"});
    assert_eq!(app.post("/reset-password", body, None).await.status, StatusCode::OK);
    assert_eq!(app.sign_in(&victim, "victim-new-password").await.status, StatusCode::OK);
    // Used once; every other undo link of the user is gone too.
    for t in [&token, &their_undo] {
        app.post("/undo-email-change", json!({"token": t}), None).await.assert_error(400, "INVALID_TOKEN");
    }
}

async fn an_address_an_undo_may_restore_is_held(backend: Backend) {
    let app = app!(backend);
    let (old, new) = (unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&old).await;
    change_email(&app, &cookie, &new).await;
    let token = app.mail(&old, "email-changed").await["token"].as_str().unwrap().to_string();
    // Nobody can take the old address while its undo link lives (so the undo cannot be blocked)...
    app.sign_up(&old).await.assert_error(409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let other = app.signed_up_cookie(&unique_email()).await;
    assert_eq!(
        app.post("/change-email", json!({"newEmail": old}), Some(&other)).await.status,
        StatusCode::OK
    );
    let link = rel(&app.mail_where(&old, "change-email", |m| m["url"].is_string()).await["url"]);
    app.get(&link, Some(&other)).await.assert_error(409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    // ...and the undo works.
    let res = app.post("/undo-email-change", json!({"token": token}), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // The owner may move away again, and once that change's undo link has expired the hold ends.
    let reset = app.mail(&old, "reset").await;
    let body = json!({"token": reset["token"], "newPassword": "another-password-1"});
    assert_eq!(app.post("/reset-password", body, None).await.status, StatusCode::OK);
    let fresh =
        app.sign_in(&old, "another-password-1").await.session_cookie(&app.state.session_cookie).unwrap();
    change_email(&app, &fresh, &unique_email()).await;
    app.mail_where(&old, "email-changed", |m| m["token"] != token.as_str()).await;
    app.sign_up(&old).await.assert_error(409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    app.clock().advance(Duration::from_secs(7 * 86_400 + 60));
    assert_eq!(app.sign_up(&old).await.status, StatusCode::OK, "the hold ended with the link");
}

async fn undo_links_expire_after_a_week_and_only_undo(backend: Backend) {
    let app = app!(backend);
    let (old, new) = (unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&old).await;
    change_email(&app, &cookie, &new).await;
    let notice = app.mail(&old, "email-changed").await;
    let token = notice["token"].as_str().unwrap().to_string();
    // Not a verification or reset token.
    app.get(&format!("/verify-email?token={token}"), None).await.assert_error(401, "INVALID_TOKEN");
    app.post("/reset-password", json!({"token": token, "newPassword": "whatever-password"}), None)
        .await
        .assert_error(400, "INVALID_TOKEN");
    app.post("/undo-email-change", json!({"token": "nope"}), None).await.assert_error(400, "INVALID_TOKEN");
    app.clock().advance(Duration::from_secs(7 * 86_400 + 60));
    let page = app.get(&rel(&notice["url"]), None).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    app.post("/undo-email-change", json!({"token": token}), None).await.assert_error(400, "TOKEN_EXPIRED");
    assert_eq!(app.sign_in(&new, PASSWORD).await.status, StatusCode::OK, "nothing changed");
}

// ---------------------------------------------------------------------------------------------
// delete-user

async fn delete_user_with_the_password(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    app.post("/delete-user", json!({"password": PASSWORD}), None).await.assert_error(401, "UNAUTHORIZED");
    app.post("/delete-user", json!({"password": "wrong-password-1"}), Some(&cookie))
        .await
        .assert_error(400, "INVALID_PASSWORD");
    assert!(app.session(&cookie).await.is_object());

    let res = app.post("/delete-user", json!({"password": PASSWORD}), Some(&cookie)).await;
    let body = res.assert_ok();
    assert_eq!(body["success"], true, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let cookies = res.set_cookies();
    let (value, attrs) = cookies.get(&app.state.session_cookie).expect("session cookie cleared");
    assert!(value.is_empty() && attrs.contains(&"max-age=0".to_string()), "{value:?} {attrs:?}");

    assert!(app.session(&cookie).await.is_null());
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.sign_up(&email).await.assert_ok();
}

async fn delete_user_without_password_needs_a_fresh_session(backend: Backend) {
    let app = app!(backend);
    let (fresh, stale) = (unique_email(), unique_email());
    let fresh_cookie = app.signed_up_cookie(&fresh).await;
    let stale_cookie = app.signed_up_cookie(&stale).await;

    let res = app.post("/delete-user", json!({}), Some(&fresh_cookie)).await;
    assert_eq!(res.assert_ok()["success"], true);
    app.sign_in(&fresh, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");

    // Two days on, kept alive by a refresh, but no longer fresh.
    app.clock().advance(2 * DAY);
    assert!(app.session(&stale_cookie).await.is_object(), "the session slid and lives");
    app.post("/delete-user", json!({}), Some(&stale_cookie)).await.assert_error(403, "SESSION_NOT_FRESH");
    assert!(app.session(&stale_cookie).await.is_object());
    app.sign_in(&stale, PASSWORD).await.assert_ok();
    let res = app.post("/delete-user", json!({"password": PASSWORD}), Some(&stale_cookie)).await;
    assert_eq!(res.assert_ok()["success"], true);
}

async fn delete_user_forgets_the_lockout_and_codes(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    for _ in 0..9 {
        app.sign_in(&email, "wrong-password").await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    }
    let otp = app.otp_code(&email, "sign-in", 1).await;
    let res = app.post("/delete-user", json!({"password": PASSWORD}), Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());

    // Whoever registers the address next starts clean: no inherited failures, no live code.
    app.signed_up_cookie(&email).await;
    app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), None)
        .await
        .assert_error(400, "INVALID_OTP");
    for _ in 0..9 {
        app.sign_in(&email, "wrong-password").await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    }
    assert_eq!(app.sign_in(&email, PASSWORD).await.status, StatusCode::OK);
}

backend_tests!(
    change_email_refuses_bad_requests,
    change_email_takes_effect_when_the_link_is_followed,
    change_email_to_a_taken_address_sends_no_link,
    change_email_needs_a_fresh_session,
    a_changed_email_ends_other_sessions_and_pending_links,
    the_old_address_can_undo_the_change,
    an_address_an_undo_may_restore_is_held,
    undo_links_expire_after_a_week_and_only_undo,
    delete_user_with_the_password,
    delete_user_without_password_needs_a_fresh_session,
    delete_user_forgets_the_lockout_and_codes,
);
