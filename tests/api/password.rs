//! Passwords: reset by emailed link (`request-password-reset` / `forget-password`, the link's
//! page or redirect, `reset-password` as JSON or as the form posts it) and `change-password`;
//! either one ends the links still pending for the account.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use serde_json::{Value, json};

use crate::{app, backend_tests, helpers::*};

/// Asks for a password reset and returns the mail (the `n`-th reset mail to `email`).
async fn reset_mail(app: &TestApp, email: &str, n: usize) -> Value {
    let res = app.post("/request-password-reset", json!({"email": email}), None).await;
    res.assert_ok();
    app.nth_mail(email, "reset", n).await
}

// ---------------------------------------------------------------------------------------------
// Reset by link

async fn reset_request_answers_the_same_for_known_and_unknown(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let mut unknowns = Vec::new();
    for (i, route) in ["/request-password-reset", "/forget-password"].into_iter().enumerate() {
        let unknown = unique_email();
        let a = app.post(route, json!({"email": unknown}), None).await;
        let b = app.post(route, json!({"email": email}), None).await;
        let (a, b) = (a.assert_ok(), b.assert_ok());
        assert_eq!(a, b, "{route}");
        assert_eq!(a["status"], true, "{route}: {a}");
        assert!(a["message"].as_str().is_some_and(|m| !m.is_empty()), "{route}: {a}");
        let mail = app.nth_mail(&email, "reset", i + 1).await;
        let token = token_of(&mail);
        assert_eq!(mail["url"], format!("{LINK_BASE}/reset-password/{token}"), "{route}");
        assert!(mail["text"].as_str().unwrap().contains(mail["url"].as_str().unwrap()));
        unknowns.push(unknown);
    }
    app.mail_settled().await;
    for unknown in unknowns {
        assert_eq!(app.mail_count(&unknown, "reset"), 0);
    }
}

async fn reset_link_opens_the_app_or_the_form(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let mail = reset_mail(&app, &email, 1).await;
    let token = token_of(&mail);

    let res = app.get(&format!("/reset-password/{token}?callbackURL=%2Freset"), None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(res.header("location"), Some(format!("/reset?token={token}").as_str()));

    let res = app.get("/reset-password/not-a-token?callbackURL=/reset", None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(res.header("location"), Some("/reset?error=INVALID_TOKEN"));

    app.get(&format!("/reset-password/{token}?callbackURL=https://evil.com"), None)
        .await
        .assert_error(403, "INVALID_CALLBACK_URL");

    // The mail's own link (no callbackURL): the built-in form.
    let res = app.get(&rel(&mail["url"]), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    let html = unescape_html(&res.text());
    assert!(html.contains(&token), "{html}");
    assert!(html.contains(r#"action="/api/auth/reset-password""#), "{html}");
    assert!(html.contains(r#"name="newPassword""#), "{html}");

    // None of that consumed the token.
    let res = app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
}

async fn reset_password_replaces_it_and_ends_every_session(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let first = app.signed_up_cookie(&email).await;
    let second = app.cookie_of(&app.sign_in(&email, PASSWORD).await);
    let other = app.signed_up_cookie(&unique_email()).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);

    let res = app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    assert!(app.session(&first).await.is_null());
    assert!(app.session(&second).await.is_null());
    assert!(app.session(&other).await.is_object(), "another user's session survives");
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.sign_in(&email, NEW_PASSWORD).await.assert_ok();

    app.post("/reset-password", json!({"token": token, "newPassword": "yet-another-password"}), None)
        .await
        .assert_error(400, "INVALID_TOKEN");
    app.post("/reset-password", json!({"token": "not-a-token", "newPassword": NEW_PASSWORD}), None)
        .await
        .assert_error(400, "INVALID_TOKEN");
}

async fn reset_password_accepts_password_for_new_password(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);
    let res = app.post("/reset-password", json!({"token": token, "password": NEW_PASSWORD}), None).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    app.sign_in(&email, NEW_PASSWORD).await.assert_ok();
}

async fn reset_token_expires_after_an_hour(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);
    app.clock().advance(HOUR + Duration::from_secs(1));
    app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None)
        .await
        .assert_error(400, "TOKEN_EXPIRED");
    app.sign_in(&email, PASSWORD).await.assert_ok();
    app.sign_in(&email, NEW_PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
}

async fn newer_reset_request_invalidates_the_older(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let older = token_of(&reset_mail(&app, &email, 1).await);
    let newer = token_of(&reset_mail(&app, &email, 2).await);
    assert_ne!(older, newer);
    app.post("/reset-password", json!({"token": older, "newPassword": NEW_PASSWORD}), None)
        .await
        .assert_error(400, "INVALID_TOKEN");
    let res = app.post("/reset-password", json!({"token": newer, "newPassword": NEW_PASSWORD}), None).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
}

async fn short_new_password_does_not_use_up_the_token(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);
    app.post("/reset-password", json!({"token": token, "newPassword": "short"}), None)
        .await
        .assert_error(400, "PASSWORD_TOO_SHORT");
    app.sign_in(&email, PASSWORD).await.assert_ok();
    let res = app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
}

async fn reset_form_posts_form_encoded_and_gets_a_page(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);
    let form = |token: &str| {
        app.req(Method::POST, "/reset-password")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(format!("token={token}&newPassword={NEW_PASSWORD}")))
            .unwrap()
    };
    let res = app.send(form(&token)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{:?}", res.headers);
    assert!(res.text().contains("<html"), "{}", res.text());
    app.sign_in(&email, NEW_PASSWORD).await.assert_ok();

    // Used up: a page again, not JSON, and an error status.
    let res = app.send(form(&token)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text());
    assert!(res.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{:?}", res.headers);
}

async fn concurrent_resets_with_one_token_succeed_once(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);
    let answers =
        app.in_parallel(8, "/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD})).await;
    let winners = answers.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(winners, 1, "{:?}", answers.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>());
    for res in answers.iter().filter(|r| r.status != StatusCode::OK) {
        res.assert_error(400, "INVALID_TOKEN");
    }
}

// ---------------------------------------------------------------------------------------------
// change-password

async fn change_password_checks_the_current_one(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let body = |current: &str, new: &str| json!({"currentPassword": current, "newPassword": new});

    app.post("/change-password", body(PASSWORD, NEW_PASSWORD), None).await.assert_error(401, "UNAUTHORIZED");
    app.post("/change-password", body("wrong-password-1", NEW_PASSWORD), Some(&cookie))
        .await
        .assert_error(400, "INVALID_PASSWORD");
    app.post("/change-password", body(PASSWORD, "short"), Some(&cookie))
        .await
        .assert_error(400, "PASSWORD_TOO_SHORT");
    app.sign_in(&email, PASSWORD).await.assert_ok();

    let res = app.post("/change-password", body(PASSWORD, NEW_PASSWORD), Some(&cookie)).await;
    let answer = res.assert_ok();
    assert!(answer.as_object().unwrap().contains_key("token"), "{answer}");
    assert_eq!(answer["user"]["email"], email.as_str());
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.sign_in(&email, NEW_PASSWORD).await.assert_ok();
    assert!(app.session(&cookie).await.is_object(), "this session lives on");
}

async fn change_password_can_end_the_other_sessions(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let other_device = app.signed_up_cookie(&email).await;
    let this_device = app.cookie_of(&app.sign_in(&email, PASSWORD).await);
    let someone_else = app.signed_up_cookie(&unique_email()).await;
    let this_token = app.session(&this_device).await["session"]["token"].clone();
    assert!(this_token.is_string());

    let res = app
        .post(
            "/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": true}),
            Some(&this_device),
        )
        .await;
    let answer = res.assert_ok();
    // This device gets a new session (new token, in the answer and the cookie), as Better Auth
    // does; every session from before the change ends, this device's old one too.
    let new_token = answer["token"].clone();
    assert!(new_token.is_string() && new_token != this_token, "{answer}");
    assert_eq!(answer["user"]["email"], email.as_str());
    let new_cookie = app.cookie_of(&res);
    assert!(res.header("set-auth-token").is_some());
    assert!(app.session(&other_device).await.is_null());
    assert!(app.session(&this_device).await.is_null());
    assert_eq!(app.session(&new_cookie).await["session"]["token"], new_token);
    assert!(app.session(&someone_else).await.is_object());
}

async fn password_reset_kills_a_pending_email_change(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let new_email = unique_email();
    let res = app.post("/change-email", json!({"newEmail": new_email}), Some(&cookie)).await;
    assert_eq!(res.json(), json!({"status": true}));
    let change_link = app.mail(&new_email, "change-email").await["url"].clone();
    app.post("/request-password-reset", json!({"email": email}), None).await;
    let reset_token = app.mail(&email, "reset").await["token"].as_str().unwrap().to_string();
    let res = app
        .post("/reset-password", json!({"token": reset_token, "newPassword": "another-password"}), None)
        .await;
    assert_eq!(res.json(), json!({"status": true}));
    app.get(&rel(&change_link), None).await.assert_error(401, "INVALID_TOKEN");
    assert_eq!(app.sign_in(&email, "another-password").await.status, StatusCode::OK, "email unchanged");
}

async fn change_password_kills_pending_reset_links(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    app.post("/request-password-reset", json!({"email": email}), None).await;
    let reset_token = app.mail(&email, "reset").await["token"].as_str().unwrap().to_string();
    let body = json!({"currentPassword": PASSWORD, "newPassword": "changed-password-1"});
    assert_eq!(app.post("/change-password", body, Some(&cookie)).await.status, StatusCode::OK);
    let res = app
        .post("/reset-password", json!({"token": reset_token, "newPassword": "attacker-password"}), None)
        .await;
    res.assert_error(400, "INVALID_TOKEN");
}

backend_tests!(
    reset_request_answers_the_same_for_known_and_unknown,
    reset_link_opens_the_app_or_the_form,
    reset_password_replaces_it_and_ends_every_session,
    reset_password_accepts_password_for_new_password,
    reset_token_expires_after_an_hour,
    newer_reset_request_invalidates_the_older,
    short_new_password_does_not_use_up_the_token,
    reset_form_posts_form_encoded_and_gets_a_page,
    concurrent_resets_with_one_token_succeed_once,
    change_password_checks_the_current_one,
    change_password_can_end_the_other_sessions,
    password_reset_kills_a_pending_email_change,
    change_password_kills_pending_reset_links,
);
