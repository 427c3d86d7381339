//! Everything that sends mail: email verification, password reset, change-password,
//! change-email, delete-user and email OTP. Mail is read from the development outbox.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use gatehouse::domain::time::parse_ms;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{app, backend_tests, helpers::*};

/// Every link in mail starts here (the configured base URL and base path).
const LINK_BASE: &str = "http://127.0.0.1:3000/api/auth";
const NEW_PASSWORD: &str = "brand-new-password-42";
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// A link from a mail, relative to the router's base path (what `app.get` takes).
fn rel(url: &Value) -> String {
    let url = url.as_str().unwrap_or_else(|| panic!("mail has no url: {url}"));
    url.strip_prefix(LINK_BASE).unwrap_or_else(|| panic!("link not under {LINK_BASE}: {url}")).to_string()
}

fn token_of(mail: &Value) -> String {
    mail["token"].as_str().unwrap_or_else(|| panic!("mail has no token: {mail}")).to_string()
}

/// The n-th (1-based) message of `kind` to `to`, once it went out.
async fn nth_mail(app: &TestApp, to: &str, kind: &str, n: usize) -> Value {
    app.nth_mail(to, kind, n).await
}

/// After a later (marker) mail arrived: a short bounded wait for any straggling background work,
/// so that a count of zero means "none was sent".
async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// The text of HTML as a browser reads it (the entities an auto-escaper writes, decoded).
fn unescape_html(html: &str) -> String {
    [("&#x2f;", "/"), ("&#x27;", "'"), ("&#39;", "'"), ("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">")]
        .into_iter()
        .fold(html.to_string(), |acc, (entity, c)| acc.replace(entity, c))
        .replace("&amp;", "&")
}

fn assert_iso(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert_eq!(s.len(), 24, "{s}");
    assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.', "{s}");
    assert!(parse_ms(s).is_some(), "{s}");
}

fn cookie_of(app: &TestApp, res: &TestResponse) -> String {
    res.session_cookie(&app.state.session_cookie)
        .unwrap_or_else(|| panic!("no session cookie: {}", res.text()))
}

async fn session(app: &TestApp, cookie: &str) -> Value {
    let res = app.get("/get-session", Some(cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()
}

fn assert_ok(res: &TestResponse) -> Value {
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()
}

/// Asks for a password reset and returns the mail (the `n`-th reset mail to `email`).
async fn reset_mail(app: &TestApp, email: &str, n: usize) -> Value {
    let res = app.post("/request-password-reset", json!({"email": email}), None).await;
    assert_ok(&res);
    nth_mail(app, email, "reset", n).await
}

/// Asks for an OTP and returns the code (from the `n`-th otp mail to `email`).
async fn otp_code(app: &TestApp, email: &str, kind: &str, n: usize) -> String {
    let res = app.post("/email-otp/send-verification-otp", json!({"email": email, "type": kind}), None).await;
    assert_eq!(assert_ok(&res), json!({"success": true}));
    token_of(&nth_mail(app, email, "otp", n).await)
}

fn wrong_code(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

fn json_request(app: &TestApp, path: &str, body: &Value) -> Request<Body> {
    app.req(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Sends `n` copies of one JSON POST at once (each on its own task) and returns the answers.
async fn in_parallel(app: &TestApp, n: usize, path: &str, body: Value) -> Vec<TestResponse> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (router, barrier): (Router, _) = (app.router.clone(), barrier.clone());
        let req = json_request(app, path, &body);
        tasks.spawn(async move {
            barrier.wait().await;
            let res = router.oneshot(req).await.expect("infallible");
            let (status, headers) = (res.status(), res.headers().clone());
            let body = res.into_body().collect().await.expect("body").to_bytes().to_vec();
            TestResponse { status, headers, body }
        });
    }
    tasks.join_all().await
}

// ---------------------------------------------------------------------------------------------
// Email verification

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
    assert_iso(&mail["sentAt"]);
    assert_eq!(app.mail_count(&email, "verify"), 1);
}

async fn sign_up_can_skip_the_verification_mail(backend: Backend) {
    let app = app!(backend, |s| s.send_verification_on_sign_up = false);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    // A later, explicit request is the marker: once its mail is there, the sign-up's would be too.
    let res = app.post("/send-verification-email", json!({"email": email}), None).await;
    assert_ok(&res);
    app.mail(&email, "verify").await;
    settle().await;
    assert_eq!(app.mail_count(&email, "verify"), 1, "sign-up sent mail: {:?}", app.outbox());
}

async fn verification_link_verifies_once(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    assert_eq!(session(&app, &cookie).await["user"]["emailVerified"], false);
    let mail = app.mail(&email, "verify").await;
    // The mailed link carries the sign-up's callbackURL, `/` by default, so a browser following
    // it lands somewhere after verifying.
    let link = rel(&mail["url"]);
    assert!(link.ends_with("&callbackURL=%2F"), "{link}");

    let res = app.get(&link, None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(res.header("location"), Some("/"));
    assert_eq!(session(&app, &cookie).await["user"]["emailVerified"], true);
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
    assert_eq!(session(&app, &late_cookie).await["user"]["emailVerified"], false);
}

async fn verification_link_redirects_to_the_callback(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let token = token_of(&app.mail(&email, "verify").await);

    let res = app.get(&format!("/verify-email?token={token}&callbackURL=%2Fdone"), None).await;
    assert_eq!(res.status, StatusCode::FOUND, "{}", res.text());
    assert_eq!(res.header("location"), Some("/done"));
    assert_eq!(session(&app, &cookie).await["user"]["emailVerified"], true);

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
    assert_ok(&res);
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
    assert_eq!(session(&app, &cookie).await["user"]["emailVerified"], false);
    // Refused before use: the token still works.
    assert_ok(&app.get(&format!("/verify-email?token={token}"), None).await);
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
    assert_eq!(session(&app, &cookie).await["user"]["emailVerified"], true);
}

async fn send_verification_email_does_not_reveal_accounts(backend: Backend) {
    let app = app!(backend, |s| s.send_verification_on_sign_up = false);
    let (known, unknown) = (unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&known).await;

    let for_unknown = app.post("/send-verification-email", json!({"email": unknown}), None).await;
    let for_known = app.post("/send-verification-email", json!({"email": known}), None).await;
    assert_eq!(assert_ok(&for_unknown), json!({"status": true}));
    assert_eq!(assert_ok(&for_known), json!({"status": true}));
    let mail = app.mail(&known, "verify").await;
    settle().await;
    assert_eq!(app.mail_count(&unknown, "verify"), 0);
    assert_eq!(app.mail_count(&known, "verify"), 1);

    // The link verifies; then asking again with that user's session is an error.
    assert_ok(&app.get(&rel(&mail["url"]), None).await);
    app.post("/send-verification-email", json!({"email": known}), Some(&cookie))
        .await
        .assert_error(400, "EMAIL_ALREADY_VERIFIED");

    // Without a session a verified address gets the usual answer, and no mail.
    let res = app.post("/send-verification-email", json!({"email": known}), None).await;
    assert_eq!(assert_ok(&res), json!({"status": true}));
    let marker = unique_email();
    app.signed_up_cookie(&marker).await;
    app.post("/send-verification-email", json!({"email": marker}), None).await;
    app.mail(&marker, "verify").await;
    settle().await;
    assert_eq!(app.mail_count(&known, "verify"), 1, "{:?}", app.outbox());
}

// ---------------------------------------------------------------------------------------------
// REQUIRE_EMAIL_VERIFICATION

async fn required_verification_sign_up_has_no_session(backend: Backend) {
    let app = app!(backend, |s| s.require_email_verification = true);
    let email = unique_email();
    let res = app.sign_up(&email).await;
    let body = assert_ok(&res);
    assert!(body["token"].is_null() && body["session"].is_null(), "{body}");
    assert!(
        body.as_object().unwrap().contains_key("token") && body.as_object().unwrap().contains_key("session")
    );
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["emailVerified"], false);
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
    assert!(app.mail(&email, "verify").await["url"].is_string());
}

async fn required_verification_sign_in_resends_at_most_once_a_minute(backend: Backend) {
    let app = app!(backend, |s| s.require_email_verification = true);
    let email = unique_email();
    assert_ok(&app.sign_up(&email).await);
    nth_mail(&app, &email, "verify", 1).await;
    app.clock().advance(Duration::from_secs(120));

    app.sign_in(&email, PASSWORD).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    nth_mail(&app, &email, "verify", 2).await;

    // Again within the minute: refused, but no extra mail.
    app.clock().advance(Duration::from_secs(30));
    let res = app.sign_in(&email, PASSWORD).await;
    res.assert_error(403, "EMAIL_NOT_VERIFIED");
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
    settle().await;
    assert_eq!(app.mail_count(&email, "verify"), 2, "{:?}", app.outbox());

    // A minute later: another one.
    app.clock().advance(Duration::from_secs(31));
    app.sign_in(&email, PASSWORD).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    let latest = nth_mail(&app, &email, "verify", 3).await;

    assert_eq!(app.get(&rel(&latest["url"]), None).await.header("location"), Some("/"));
    let res = app.sign_in(&email, PASSWORD).await;
    let body = assert_ok(&res);
    assert_eq!(body["user"]["emailVerified"], true);
    let cookie = cookie_of(&app, &res);
    assert_eq!(session(&app, &cookie).await["user"]["email"], email.as_str());
}

async fn required_verification_duplicate_sign_up_looks_new(backend: Backend) {
    let app = app!(backend, |s| s.require_email_verification = true);
    let email = unique_email();
    let first = assert_ok(&app.sign_up(&email).await);
    nth_mail(&app, &email, "verify", 1).await;

    let res = app.sign_up(&email).await;
    let second = assert_ok(&res);
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&second));
    assert_eq!(keys(&first["user"]), keys(&second["user"]));
    assert!(second["token"].is_null() && second["session"].is_null(), "{second}");
    assert_eq!(second["user"]["email"], email.as_str());
    assert_eq!(second["user"]["emailVerified"], false);

    let notice = nth_mail(&app, &email, "verify", 2).await;
    let subject = notice["subject"].as_str().unwrap().to_lowercase();
    assert!(subject.contains("sign-up") || subject.contains("account"), "{subject}");
}

// ---------------------------------------------------------------------------------------------
// Password reset

async fn reset_request_answers_the_same_for_known_and_unknown(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let mut unknowns = Vec::new();
    for (i, route) in ["/request-password-reset", "/forget-password"].into_iter().enumerate() {
        let unknown = unique_email();
        let a = app.post(route, json!({"email": unknown}), None).await;
        let b = app.post(route, json!({"email": email}), None).await;
        let (a, b) = (assert_ok(&a), assert_ok(&b));
        assert_eq!(a, b, "{route}");
        assert_eq!(a["status"], true, "{route}: {a}");
        assert!(a["message"].as_str().is_some_and(|m| !m.is_empty()), "{route}: {a}");
        let mail = nth_mail(&app, &email, "reset", i + 1).await;
        let token = token_of(&mail);
        assert_eq!(mail["url"], format!("{LINK_BASE}/reset-password/{token}"), "{route}");
        assert!(mail["text"].as_str().unwrap().contains(mail["url"].as_str().unwrap()));
        unknowns.push(unknown);
    }
    settle().await;
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
    assert_eq!(assert_ok(&res), json!({"status": true}));
}

async fn reset_password_replaces_it_and_ends_every_session(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let first = app.signed_up_cookie(&email).await;
    let second = cookie_of(&app, &app.sign_in(&email, PASSWORD).await);
    let other = app.signed_up_cookie(&unique_email()).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);

    let res = app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None).await;
    assert_eq!(assert_ok(&res), json!({"status": true}));
    assert!(session(&app, &first).await.is_null());
    assert!(session(&app, &second).await.is_null());
    assert!(session(&app, &other).await.is_object(), "another user's session survives");
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_ok(&app.sign_in(&email, NEW_PASSWORD).await);

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
    assert_eq!(assert_ok(&res), json!({"status": true}));
    assert_ok(&app.sign_in(&email, NEW_PASSWORD).await);
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
    assert_ok(&app.sign_in(&email, PASSWORD).await);
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
    assert_eq!(assert_ok(&res), json!({"status": true}));
}

async fn short_new_password_does_not_use_up_the_token(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let token = token_of(&reset_mail(&app, &email, 1).await);
    app.post("/reset-password", json!({"token": token, "newPassword": "short"}), None)
        .await
        .assert_error(400, "PASSWORD_TOO_SHORT");
    assert_ok(&app.sign_in(&email, PASSWORD).await);
    let res = app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None).await;
    assert_eq!(assert_ok(&res), json!({"status": true}));
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
    assert_ok(&app.sign_in(&email, NEW_PASSWORD).await);

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
        in_parallel(&app, 8, "/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD})).await;
    let winners = answers.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(winners, 1, "{:?}", answers.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>());
    for res in answers.iter().filter(|r| r.status != StatusCode::OK) {
        res.assert_error(400, "INVALID_TOKEN");
    }
}

async fn links_use_the_configured_base_url(backend: Backend) {
    let app = app!(backend, |s| s.send_verification_on_sign_up = false);
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
        assert_ok(&app.send(req).await);
    }
    for kind in ["reset", "verify"] {
        let url = app.mail(&email, kind).await["url"].as_str().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:3000/"), "{kind}: {url}");
        assert!(!url.contains("evil"), "{kind}: {url}");
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
    assert_ok(&app.sign_in(&email, PASSWORD).await);

    let res = app.post("/change-password", body(PASSWORD, NEW_PASSWORD), Some(&cookie)).await;
    let answer = assert_ok(&res);
    assert!(answer.as_object().unwrap().contains_key("token"), "{answer}");
    assert_eq!(answer["user"]["email"], email.as_str());
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_ok(&app.sign_in(&email, NEW_PASSWORD).await);
    assert!(session(&app, &cookie).await.is_object(), "this session lives on");
}

async fn change_password_can_end_the_other_sessions(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let other_device = app.signed_up_cookie(&email).await;
    let this_device = cookie_of(&app, &app.sign_in(&email, PASSWORD).await);
    let someone_else = app.signed_up_cookie(&unique_email()).await;
    let this_token = session(&app, &this_device).await["session"]["token"].clone();
    assert!(this_token.is_string());

    let res = app
        .post(
            "/change-password",
            json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": true}),
            Some(&this_device),
        )
        .await;
    let answer = assert_ok(&res);
    // This device gets a new session (new token, in the answer and the cookie), as Better Auth
    // does; every session from before the change ends, this device's old one too.
    let new_token = answer["token"].clone();
    assert!(new_token.is_string() && new_token != this_token, "{answer}");
    assert_eq!(answer["user"]["email"], email.as_str());
    let new_cookie = cookie_of(&app, &res);
    assert!(res.header("set-auth-token").is_some());
    assert!(session(&app, &other_device).await.is_null());
    assert!(session(&app, &this_device).await.is_null());
    assert_eq!(session(&app, &new_cookie).await["session"]["token"], new_token);
    assert!(session(&app, &someone_else).await.is_object());
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
    assert_eq!(session(&app, &cookie).await["user"]["email"], email.as_str());
}

async fn change_email_takes_effect_when_the_link_is_followed(backend: Backend) {
    let app = app!(backend);
    let (old, new) = (unique_email(), unique_email());
    let cookie = app.signed_up_cookie(&old).await;
    let res = app.post("/change-email", json!({"newEmail": new}), Some(&cookie)).await;
    assert_eq!(assert_ok(&res), json!({"status": true}));

    let confirm = app.mail(&new, "change-email").await;
    let url = confirm["url"].as_str().expect("url").to_string();
    assert!(url.starts_with(&format!("{LINK_BASE}/verify-email?token=")), "{url}");
    assert!(url.contains(&format!("token={}", token_of(&confirm))), "{url}");
    let notice = app.mail(&old, "change-email").await;
    assert!(notice["url"].is_null(), "{notice}");
    assert!(notice["subject"].as_str().is_some_and(|s| !s.is_empty()));

    // Nothing changes until the link is followed.
    assert_eq!(session(&app, &cookie).await["user"]["email"], old.as_str());
    app.sign_in(&new, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_ok(&app.sign_in(&old, PASSWORD).await);

    // Followed by the browser that holds this session: it stays, and shows the new address.
    let res = app.get(&rel(&confirm["url"]), Some(&cookie)).await;
    assert_eq!(assert_ok(&res), json!({"status": true}));
    let user = session(&app, &cookie).await["user"].clone();
    assert_eq!(user["email"], new.as_str());
    assert_eq!(user["emailVerified"], true);
    assert_ok(&app.sign_in(&new, PASSWORD).await);
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
    assert_eq!(assert_ok(&to_taken), assert_ok(&to_free));
    app.mail(&free, "change-email").await;
    app.mail(&mine, "change-email").await;
    settle().await;
    assert_eq!(app.mail_count(&taken, "change-email"), 0, "{:?}", app.outbox());
    assert_eq!(app.mail_count(&mine, "change-email"), 1, "one notice, for the free address only");
    assert_eq!(session(&app, &cookie).await["user"]["email"], mine.as_str());
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
    assert!(session(&app, &cookie).await.is_object());

    let res = app.post("/delete-user", json!({"password": PASSWORD}), Some(&cookie)).await;
    let body = assert_ok(&res);
    assert_eq!(body["success"], true, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    let cookies = res.set_cookies();
    let (value, attrs) = cookies.get(&app.state.session_cookie).expect("session cookie cleared");
    assert!(value.is_empty() && attrs.contains(&"max-age=0".to_string()), "{value:?} {attrs:?}");

    assert!(session(&app, &cookie).await.is_null());
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_ok(&app.sign_up(&email).await);
}

async fn delete_user_without_password_needs_a_fresh_session(backend: Backend) {
    let app = app!(backend);
    let (fresh, stale) = (unique_email(), unique_email());
    let fresh_cookie = app.signed_up_cookie(&fresh).await;
    let stale_cookie = app.signed_up_cookie(&stale).await;

    let res = app.post("/delete-user", json!({}), Some(&fresh_cookie)).await;
    assert_eq!(assert_ok(&res)["success"], true);
    app.sign_in(&fresh, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");

    // Two days on, kept alive by a refresh, but no longer fresh.
    app.clock().advance(2 * DAY);
    assert!(session(&app, &stale_cookie).await.is_object(), "the session slid and lives");
    app.post("/delete-user", json!({}), Some(&stale_cookie)).await.assert_error(403, "SESSION_NOT_FRESH");
    assert!(session(&app, &stale_cookie).await.is_object());
    assert_ok(&app.sign_in(&stale, PASSWORD).await);
    let res = app.post("/delete-user", json!({"password": PASSWORD}), Some(&stale_cookie)).await;
    assert_eq!(assert_ok(&res)["success"], true);
}

// ---------------------------------------------------------------------------------------------
// Email OTP

async fn otp_send_answers_the_same_for_every_email(backend: Backend) {
    let app = app!(backend);
    let (known, unknown) = (unique_email(), unique_email());
    app.signed_up_cookie(&known).await;
    for (i, kind) in ["email-verification", "sign-in", "forget-password"].into_iter().enumerate() {
        let a =
            app.post("/email-otp/send-verification-otp", json!({"email": unknown, "type": kind}), None).await;
        assert_eq!(assert_ok(&a), json!({"success": true}), "{kind}");
        let code = otp_code(&app, &known, kind, i + 1).await;
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{kind}: {code}");
    }
    let mail = app.mail(&known, "otp").await;
    assert!(mail["text"].as_str().unwrap().contains(mail["token"].as_str().unwrap()), "{mail}");
    assert_iso(&mail["sentAt"]);
    app.post("/email-otp/send-verification-otp", json!({"email": known, "type": "magic"}), None)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    settle().await;
    assert_eq!(app.mail_count(&unknown, "otp"), 0);
    assert_eq!(app.mail_count(&known, "otp"), 3);
}

async fn otp_verifies_the_email(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let code = otp_code(&app, &email, "email-verification", 1).await;
    let res = app.post("/email-otp/verify-email", json!({"email": email, "otp": code}), None).await;
    let body = assert_ok(&res);
    assert_eq!(body["status"], true, "{body}");
    assert_eq!(body["user"]["emailVerified"], true, "{body}");
    assert_eq!(session(&app, &cookie).await["user"]["emailVerified"], true);
    // Single-use.
    app.post("/email-otp/verify-email", json!({"email": email, "otp": code}), None)
        .await
        .assert_error(400, "INVALID_OTP");
}

async fn otp_signs_in(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = otp_code(&app, &email, "sign-in", 1).await;
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await;
    let body = assert_ok(&res);
    assert!(body["token"].is_string(), "{body}");
    assert_eq!(body["user"]["email"], email.as_str());
    let cookie = cookie_of(&app, &res);
    let current = session(&app, &cookie).await;
    assert_eq!(current["user"]["email"], email.as_str());
    assert_eq!(current["session"]["token"], body["token"]);
    app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None)
        .await
        .assert_error(400, "INVALID_OTP");
}

async fn otp_resets_the_password(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = otp_code(&app, &email, "forget-password", 1).await;
    let res = app
        .post(
            "/email-otp/reset-password",
            json!({"email": email, "otp": code, "password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(assert_ok(&res), json!({"success": true}));
    assert_ok(&app.sign_in(&email, NEW_PASSWORD).await);
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
}

async fn otp_burns_after_three_wrong_tries(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = otp_code(&app, &email, "sign-in", 1).await;
    let wrong = json!({"email": email, "otp": wrong_code(&code)});
    app.post("/sign-in/email-otp", wrong.clone(), None).await.assert_error(400, "INVALID_OTP");
    app.post("/sign-in/email-otp", wrong.clone(), None).await.assert_error(400, "INVALID_OTP");
    app.post("/sign-in/email-otp", wrong, None).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await;
    assert!(res.status.is_client_error(), "the right code after the third wrong one: {}", res.text());
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
}

async fn otp_expires_after_five_minutes(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let verify_code = otp_code(&app, &email, "email-verification", 1).await;
    let sign_in_code = otp_code(&app, &email, "sign-in", 2).await;

    app.clock().advance(Duration::from_secs(4 * 60));
    assert_ok(&app.post("/sign-in/email-otp", json!({"email": email, "otp": sign_in_code}), None).await);

    app.clock().advance(Duration::from_secs(61));
    app.post("/email-otp/verify-email", json!({"email": email, "otp": verify_code}), None)
        .await
        .assert_error(400, "OTP_EXPIRED");
}

async fn newer_otp_replaces_the_older(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let older = otp_code(&app, &email, "sign-in", 1).await;
    let newer = otp_code(&app, &email, "sign-in", 2).await;
    if older != newer {
        app.post("/sign-in/email-otp", json!({"email": email, "otp": older}), None)
            .await
            .assert_error(400, "INVALID_OTP");
    }
    assert_ok(&app.post("/sign-in/email-otp", json!({"email": email, "otp": newer}), None).await);
}

async fn concurrent_otp_sign_ins_succeed_once(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = otp_code(&app, &email, "sign-in", 1).await;
    let answers = in_parallel(&app, 8, "/sign-in/email-otp", json!({"email": email, "otp": code})).await;
    let winners = answers.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(winners, 1, "{:?}", answers.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>());
    // The losers find the code used, or (having arrived after three claims on it) burnt.
    for res in answers.iter().filter(|r| r.status != StatusCode::OK) {
        match res.status.as_u16() {
            400 => res.assert_error(400, "INVALID_OTP"),
            _ => res.assert_error(403, "TOO_MANY_ATTEMPTS"),
        };
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
    required_verification_sign_up_has_no_session,
    required_verification_sign_in_resends_at_most_once_a_minute,
    required_verification_duplicate_sign_up_looks_new,
    reset_request_answers_the_same_for_known_and_unknown,
    reset_link_opens_the_app_or_the_form,
    reset_password_replaces_it_and_ends_every_session,
    reset_password_accepts_password_for_new_password,
    reset_token_expires_after_an_hour,
    newer_reset_request_invalidates_the_older,
    short_new_password_does_not_use_up_the_token,
    reset_form_posts_form_encoded_and_gets_a_page,
    concurrent_resets_with_one_token_succeed_once,
    links_use_the_configured_base_url,
    change_password_checks_the_current_one,
    change_password_can_end_the_other_sessions,
    change_email_refuses_bad_requests,
    change_email_takes_effect_when_the_link_is_followed,
    change_email_to_a_taken_address_sends_no_link,
    delete_user_with_the_password,
    delete_user_without_password_needs_a_fresh_session,
    otp_send_answers_the_same_for_every_email,
    otp_verifies_the_email,
    otp_signs_in,
    otp_resets_the_password,
    otp_burns_after_three_wrong_tries,
    otp_expires_after_five_minutes,
    newer_otp_replaces_the_older,
    concurrent_otp_sign_ins_succeed_once,
);
