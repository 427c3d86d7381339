//! CSRF and open-redirect rules: the origin check on state-changing requests (with a cookie, and
//! for sign-in/sign-up whenever the request looks like a browser's), trusted-origin patterns, and
//! `callbackURL` checks.

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use gatehouse::security::origin::OriginPattern;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::{app, backend_tests};

const EVIL: &str = "https://evil.example.org";

/// A JSON POST with exactly the given extra headers (no implicit `Origin`).
async fn post_with(app: &TestApp, path: &str, body: Value, headers: &[(&str, &str)]) -> TestResponse {
    let mut b = app.req(Method::POST, path).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        b = b.header(*name, *value);
    }
    app.send(b.body(Body::from(body.to_string())).unwrap()).await
}

fn assert_forbidden(res: &TestResponse, code: &str) {
    res.assert_error(403, code);
    assert!(res.set_cookies().is_empty(), "a rejected request set cookies: {:?}", res.set_cookies());
}

/// The name the session behind `cookie` currently has (the session must still be live).
async fn current_name(app: &TestApp, cookie: &str) -> String {
    let res = app.get("/get-session", Some(cookie)).await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    body["user"]["name"].as_str().unwrap_or_else(|| panic!("no live session: {body}")).to_string()
}

async fn cookie_with_untrusted_origin_is_invalid_origin(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    for origin in [
        EVIL,
        "http://127.0.0.1:3001",
        "https://127.0.0.1:3000",
        "http://127.0.0.1.evil.org:3000",
        "not a url",
    ] {
        let res = post_with(
            &app,
            "/update-user",
            json!({"name": "Hacked"}),
            &[("cookie", &cookie), ("origin", origin)],
        )
        .await;
        assert_forbidden(&res, "INVALID_ORIGIN");
    }
    // An untrusted Referer (with no Origin) is as bad.
    let res = post_with(
        &app,
        "/update-user",
        json!({"name": "Hacked"}),
        &[("cookie", &cookie), ("referer", "https://evil.example.org/page")],
    )
    .await;
    assert_forbidden(&res, "INVALID_ORIGIN");
    // A trusted Referer does not rescue an untrusted Origin: Origin wins.
    let res = post_with(
        &app,
        "/update-user",
        json!({"name": "Hacked"}),
        &[("cookie", &cookie), ("origin", EVIL), ("referer", "http://127.0.0.1:3000/settings")],
    )
    .await;
    assert_forbidden(&res, "INVALID_ORIGIN");
    // Sign-out too: the session survives.
    let res = post_with(&app, "/sign-out", json!({}), &[("cookie", &cookie), ("origin", EVIL)]).await;
    assert_forbidden(&res, "INVALID_ORIGIN");
    assert_eq!(current_name(&app, &cookie).await, "Test User");
}

async fn cookie_without_origin_is_missing_origin(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let cases: [&[(&str, &str)]; 4] = [
        &[("cookie", &cookie)],
        &[("cookie", &cookie), ("origin", "null")],
        &[("cookie", &cookie), ("origin", "")],
        &[("cookie", &cookie), ("referer", "null")],
    ];
    for headers in cases {
        let res = post_with(&app, "/update-user", json!({"name": "Hacked"}), headers).await;
        assert_forbidden(&res, "MISSING_OR_NULL_ORIGIN");
        let res = post_with(&app, "/sign-out", json!({}), headers).await;
        assert_forbidden(&res, "MISSING_OR_NULL_ORIGIN");
    }
    // Any cookie counts, not only the session cookie.
    let res = post_with(&app, "/sign-out", json!({}), &[("cookie", "theme=dark")]).await;
    assert_forbidden(&res, "MISSING_OR_NULL_ORIGIN");
    assert_eq!(current_name(&app, &cookie).await, "Test User");
}

async fn trusted_referer_is_accepted_without_origin(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let res = post_with(
        &app,
        "/update-user",
        json!({"name": "Via Referer"}),
        &[("cookie", &cookie), ("referer", "http://127.0.0.1:3000/settings/profile?tab=1")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json(), json!({"status": true}));
    assert_eq!(current_name(&app, &cookie).await, "Via Referer");
}

async fn trusted_origin_with_cookie_passes(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let res = post_with(
        &app,
        "/update-user",
        json!({"name": "Same Origin"}),
        &[("cookie", &cookie), ("origin", ORIGIN)],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(current_name(&app, &cookie).await, "Same Origin");
}

async fn login_csrf_without_cookie_is_rejected(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    assert_eq!(app.sign_up(&email).await.status, StatusCode::OK);

    let sign_in = json!({"email": email, "password": PASSWORD});
    let res = post_with(&app, "/sign-in/email", sign_in.clone(), &[("origin", EVIL)]).await;
    assert_forbidden(&res, "INVALID_ORIGIN");
    let res =
        post_with(&app, "/sign-in/email", sign_in.clone(), &[("referer", "https://evil.example.org/login")])
            .await;
    assert_forbidden(&res, "INVALID_ORIGIN");
    let res = post_with(&app, "/sign-in/email", sign_in.clone(), &[("origin", "null")]).await;
    assert_forbidden(&res, "MISSING_OR_NULL_ORIGIN");
    for fetch in [("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate")] {
        let res = post_with(&app, "/sign-in/email", sign_in.clone(), &[fetch]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{fetch:?}: {}", res.text());
        let code = res.json()["code"].clone();
        assert!(code == "MISSING_OR_NULL_ORIGIN" || code == "INVALID_ORIGIN", "{fetch:?}: {code}");
        assert!(res.set_cookies().is_empty());
    }

    let victim = unique_email();
    let sign_up = json!({"name": "Victim", "email": victim, "password": PASSWORD});
    let res = post_with(&app, "/sign-up/email", sign_up.clone(), &[("origin", EVIL)]).await;
    assert_forbidden(&res, "INVALID_ORIGIN");
    let res = post_with(&app, "/sign-up/email", sign_up.clone(), &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.text());
    assert!(!user_exists(&app, &victim).await, "a rejected sign-up created a user");
}

async fn plain_http_client_passes(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let res =
        post_with(&app, "/sign-up/email", json!({"name": "Curl", "email": email, "password": PASSWORD}), &[])
            .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.session_cookie(&app.state.session_cookie).is_some());
    let res = post_with(
        &app,
        "/sign-in/email",
        json!({"email": email, "password": PASSWORD}),
        &[("user-agent", "curl/8.5.0")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["email"], email);
    // Same-site browser sign-in passes too.
    let res = post_with(
        &app,
        "/sign-in/email",
        json!({"email": email, "password": PASSWORD}),
        &[("origin", ORIGIN), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

async fn get_with_cookie_and_evil_origin_passes(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let req = app
        .req(Method::GET, "/get-session")
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, EVIL)
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["name"], "Test User");
    let req = app
        .req(Method::GET, "/ok")
        .header(header::COOKIE, &cookie)
        .header(header::ORIGIN, "null")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::OK);
}

async fn wildcard_trusted_origin(backend: Backend) {
    let app = app!(backend, |s: &mut gatehouse::config::Settings| s.trusted_origins =
        vec![OriginPattern::parse("https://*.example.com").unwrap()]);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    for good in ["https://app.example.com", "https://a.b.example.com", ORIGIN] {
        let res =
            post_with(&app, "/update-user", json!({"name": good}), &[("cookie", &cookie), ("origin", good)])
                .await;
        assert_eq!(res.status, StatusCode::OK, "{good}: {}", res.text());
        assert_eq!(current_name(&app, &cookie).await, good);
    }
    for bad in [
        "https://example.com.evil.org",
        "https://example.com",
        "https://evilexample.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://app.example.com.evil.org",
    ] {
        let res = post_with(
            &app,
            "/update-user",
            json!({"name": "Hacked"}),
            &[("cookie", &cookie), ("origin", bad)],
        )
        .await;
        assert_forbidden(&res, "INVALID_ORIGIN");
    }
    assert_eq!(current_name(&app, &cookie).await, ORIGIN);

    // The pattern governs callback URLs too.
    let email = unique_email();
    assert_eq!(app.sign_up(&email).await.status, StatusCode::OK);
    let ok = app
        .post(
            "/sign-in/email",
            json!({"email": email, "password": PASSWORD, "callbackURL": "https://app.example.com/welcome"}),
            None,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(ok.json()["url"], "https://app.example.com/welcome");
    let bad = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "callbackURL": "https://example.com.evil.org/welcome"}), None)
        .await;
    assert_forbidden(&bad, "INVALID_CALLBACK_URL");
}

async fn localhost_twin_of_loopback_base_is_trusted(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let res = post_with(
        &app,
        "/update-user",
        json!({"name": "Twin"}),
        &[("cookie", &cookie), ("origin", "http://localhost:3000")],
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(current_name(&app, &cookie).await, "Twin");
    // Same host, other port or scheme: not the twin.
    for bad in ["http://localhost:3001", "https://localhost:3000", "http://localhost"] {
        let res = post_with(
            &app,
            "/update-user",
            json!({"name": "Hacked"}),
            &[("cookie", &cookie), ("origin", bad)],
        )
        .await;
        assert_forbidden(&res, "INVALID_ORIGIN");
    }
    assert_eq!(current_name(&app, &cookie).await, "Twin");
}

async fn relative_callback_url_redirects(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let res = app
        .post(
            "/sign-up/email",
            json!({"name": "Cb", "email": email, "password": PASSWORD, "callbackURL": "/dashboard"}),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let res = app
        .post(
            "/sign-in/email",
            json!({"email": email, "password": PASSWORD, "callbackURL": "/dashboard"}),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["redirect"], true, "{body}");
    assert_eq!(body["url"], "/dashboard", "{body}");
    assert!(res.session_cookie(&app.state.session_cookie).is_some());

    // Without a callbackURL: no redirect, url null.
    let body = app.sign_in(&email, PASSWORD).await.json();
    assert_eq!(body["redirect"], false, "{body}");
    assert!(body["url"].is_null(), "{body}");

    // An absolute URL on the base origin is trusted.
    let abs = "http://127.0.0.1:3000/dashboard?tab=billing";
    let res = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "callbackURL": abs}), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["url"], abs);
    assert_eq!(res.json()["redirect"], true);
}

async fn unsafe_callback_urls_are_rejected(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    assert_eq!(app.sign_up(&email).await.status, StatusCode::OK);
    for bad in [
        "//evil.com",
        "https://evil.com/x",
        "/\\evil.com",
        "\\\\evil.com",
        "javascript:alert(1)",
        "http://127.0.0.1:3001/x",
        "https://127.0.0.1.evil.com/x",
    ] {
        let res = app
            .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "callbackURL": bad}), None)
            .await;
        assert_forbidden(&res, "INVALID_CALLBACK_URL");

        let fresh = unique_email();
        let res = app
            .post(
                "/sign-up/email",
                json!({"name": "Cb", "email": fresh, "password": PASSWORD, "callbackURL": bad}),
                None,
            )
            .await;
        assert_forbidden(&res, "INVALID_CALLBACK_URL");
        assert!(!user_exists(&app, &fresh).await, "{bad}: rejected sign-up created a user");
    }
    for bad in ["https://127.0.0.1:3000@evil.com/", "HTTPS://EVIL.COM/"] {
        let res = app
            .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "callbackURL": bad}), None)
            .await;
        assert_forbidden(&res, "INVALID_CALLBACK_URL");
    }
    let user = app.state.store.credential_by_email(&email, "").await.unwrap().unwrap().user;
    let sessions = app.state.store.list_sessions(&user.id, app.clock().now_ms()).await.unwrap();
    assert_eq!(sessions.len(), 1, "rejected sign-ins created sessions");
}

backend_tests!(
    cookie_with_untrusted_origin_is_invalid_origin,
    cookie_without_origin_is_missing_origin,
    trusted_referer_is_accepted_without_origin,
    trusted_origin_with_cookie_passes,
    login_csrf_without_cookie_is_rejected,
    plain_http_client_passes,
    get_with_cookie_and_evil_origin_passes,
    wildcard_trusted_origin,
    localhost_twin_of_loopback_base_is_trusted,
    relative_callback_url_redirects,
    unsafe_callback_urls_are_rejected,
);
