//! Email verification: the mail sign-up sends, the `verify-email` link (used once, for an hour,
//! redirecting to its callback, a page for browsers), `send-verification-email`, and the base URL
//! every mailed link is built on. Mail is read from the development outbox.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

async fn sign_up_sends_a_verification_mail(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let mail = app.mail(&email, "verify").await;
    assert_eq!(mail["to"], email.as_str());
    assert!(mail["subject"].as_str().is_some_and(|s| !s.trim().is_empty()), "{mail}");
    let token = token_of(&mail);
    assert!(token.len() >= 32, "{token}");
    let url = mail["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("{LINK_BASE}/verify-email?token=")), "{url}");
    assert!(url.contains(&format!("token={token}")), "{url}");
    assert!(mail["text"].as_str().unwrap().contains(url), "{mail}");
    let html = unescape_html(mail["html"].as_str().unwrap());
    assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
    assert_iso_ms(&mail["sentAt"]);
    assert_eq!(app.mail_count(&email, "verify"), 1);
}

async fn sign_up_can_skip_the_verification_mail(backend: Backend) {
    let app = app!(backend, |s| s.sessions.send_verification_on_sign_up = false);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    // A later, explicit request is the marker: once its mail is there, the sign-up's would be too.
    let res = app.post("/send-verification-email", json!({"email": email}), None).await;
    res.assert_ok();
    app.mail(&email, "verify").await;
    app.mail_settled().await;
    assert_eq!(app.mail_count(&email, "verify"), 1, "sign-up sent mail: {:?}", app.outbox());
}

async fn verification_link_verifies_once(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    assert_eq!(app.session(&cookie).await["user"]["emailVerified"], false);
    let mail = app.mail(&email, "verify").await;
    // The mailed link carries the sign-up's callbackURL, `/` by default, so a browser following
    // it lands somewhere after verifying.
    let link = rel(&mail["url"]);
    assert!(link.ends_with("&callbackURL=%2F"), "{link}");

    let res = app.get(&link, None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(res.header("location"), Some("/"));
    assert_eq!(app.session(&cookie).await["user"]["emailVerified"], true);
    // Gatehouse's own `/` (no app in front) says so, once.
    let marker = res.set_cookies().into_iter().find(|(n, _)| n.ends_with(".email_verified")).expect("marker");
    let home = |cookie: Option<String>| {
        let mut req = axum::http::Request::builder().uri("/");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        app.send(req.body(Body::empty()).unwrap())
    };
    let page = home(Some(format!("{}={}", marker.0, (marker.1).0))).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("Email verified"), "{}", page.text());
    let plain = home(None).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(!plain.text().contains("Email verified") && plain.text().contains("running"), "{}", plain.text());

    let again = app.get(&link, None).await;
    assert_eq!(again.header("location"), Some("/?error=INVALID_TOKEN"));
    let token = token_of(&mail);
    app.get(&format!("/verify-email?token={token}"), None).await.assert_error(401, "INVALID_TOKEN");
    app.get("/verify-email?token=not-a-token", None).await.assert_error(401, "INVALID_TOKEN");
    app.get("/verify-email", None).await.assert_error(401, "INVALID_TOKEN");
}

async fn verification_link_expires_after_an_hour(backend: Backend) {
    let app = app!(backend);
    let (late, early) = (unique_email(), unique_email());
    let late_cookie = app.signed_up_cookie(&late).await;
    app.signed_up_cookie(&early).await;
    let late_link = rel(&app.mail(&late, "verify").await["url"]);
    let early_link = rel(&app.mail(&early, "verify").await["url"]);

    app.clock().advance(HOUR - Duration::from_secs(60));
    assert_eq!(app.get(&early_link, None).await.header("location"), Some("/"));

    app.clock().advance(Duration::from_secs(61));
    assert_eq!(app.get(&late_link, None).await.header("location"), Some("/?error=TOKEN_EXPIRED"));
    assert_eq!(app.session(&late_cookie).await["user"]["emailVerified"], false);
}

async fn verification_link_redirects_to_the_callback(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let token = token_of(&app.mail(&email, "verify").await);

    let res = app.get(&format!("/verify-email?token={token}&callbackURL=%2Fdone"), None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(res.header("location"), Some("/done"));
    assert_eq!(app.session(&cookie).await["user"]["emailVerified"], true);

    // Used, or unknown: to the callback with the error code.
    for bad in [token.as_str(), "not-a-token"] {
        let res = app.get(&format!("/verify-email?token={bad}&callbackURL=/done"), None).await;
        assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
        assert_eq!(res.header("location"), Some("/done?error=INVALID_TOKEN"));
    }

    // A callbackURL given at sign-up travels in the link.
    let other = unique_email();
    let res = app
        .post(
            "/sign-up/email",
            json!({"name": "Cb", "email": other, "password": PASSWORD, "callbackURL": "/welcome"}),
            None,
        )
        .await;
    res.assert_ok();
    let res = app.get(&rel(&app.mail(&other, "verify").await["url"]), None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(res.header("location"), Some("/welcome"));
}

async fn verification_link_refuses_an_untrusted_callback(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let token = token_of(&app.mail(&email, "verify").await);
    let res = app.get(&format!("/verify-email?token={token}&callbackURL=https%3A%2F%2Fevil.com"), None).await;
    res.assert_error(403, "INVALID_CALLBACK_URL");
    assert!(res.header("location").is_none());
    assert_eq!(app.session(&cookie).await["user"]["emailVerified"], false);
    // Refused before use: the token still works.
    app.get(&format!("/verify-email?token={token}"), None).await.assert_ok();
}

async fn verification_link_in_a_browser_shows_a_page(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let link = format!("/verify-email?token={}", token_of(&app.mail(&email, "verify").await));
    let req = app.req(Method::GET, &link).header(header::ACCEPT, "text/html,*/*;q=0.8");
    let res = app.send(req.body(Body::empty()).unwrap()).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.header("content-type").is_some_and(|c| c.starts_with("text/html")), "{:?}", res.headers);
    assert!(res.text().to_lowercase().contains("verified"), "{}", res.text());
    assert_eq!(app.session(&cookie).await["user"]["emailVerified"], true);
}

async fn send_verification_email_does_not_reveal_accounts(backend: Backend) {
    let app = app!(backend, |s| s.sessions.send_verification_on_sign_up = false);
    let (known, unknown) = (unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&known).await;

    let for_unknown = app.post("/send-verification-email", json!({"email": unknown}), None).await;
    let for_known = app.post("/send-verification-email", json!({"email": known}), None).await;
    assert_eq!(for_unknown.assert_ok(), json!({"status": true}));
    assert_eq!(for_known.assert_ok(), json!({"status": true}));
    let mail = app.mail(&known, "verify").await;
    app.mail_settled().await;
    assert_eq!(app.mail_count(&unknown, "verify"), 0);
    assert_eq!(app.mail_count(&known, "verify"), 1);

    // The link verifies; then asking again with that user's session is an error.
    app.get(&rel(&mail["url"]), None).await.assert_ok();
    app.post("/send-verification-email", json!({"email": known}), Some(&cookie))
        .await
        .assert_error(400, "EMAIL_ALREADY_VERIFIED");

    // Without a session a verified address gets the usual answer, and no mail.
    let res = app.post("/send-verification-email", json!({"email": known}), None).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    let marker = unique_email();
    app.signed_up_cookie(&marker).await;
    app.post("/send-verification-email", json!({"email": marker}), None).await;
    app.mail(&marker, "verify").await;
    app.mail_settled().await;
    assert_eq!(app.mail_count(&known, "verify"), 1, "{:?}", app.outbox());
}

async fn links_use_the_configured_base_url(backend: Backend) {
    let app = app!(backend, |s| s.sessions.send_verification_on_sign_up = false);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    for path in ["/request-password-reset", "/send-verification-email"] {
        let req = app
            .req(Method::POST, path)
            .header(header::HOST, "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"email": email}).to_string()))
            .unwrap();
        app.send(req).await.assert_ok();
    }
    for kind in ["reset", "verify"] {
        let url = app.mail(&email, kind).await["url"].as_str().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:3000/"), "{kind}: {url}");
        assert!(!url.contains("evil"), "{kind}: {url}");
    }
}

backend_tests!(
    sign_up_sends_a_verification_mail,
    sign_up_can_skip_the_verification_mail,
    verification_link_verifies_once,
    verification_link_expires_after_an_hour,
    verification_link_redirects_to_the_callback,
    verification_link_refuses_an_untrusted_callback,
    verification_link_in_a_browser_shows_a_page,
    send_verification_email_does_not_reveal_accounts,
    links_use_the_configured_base_url,
);
