//! An auth server on its own subdomain: CORS with credentials for trusted origins (preflights,
//! `Vary: Origin`, never `*`), `COOKIE_DOMAIN` scoping the cookies to the parent domain, and
//! `GET /social-providers` for a sign-in page's buttons.

use axum::{
    body::Body,
    http::{Method, Request, header},
};
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

const APP: &str = "http://app.example.test:3001";
const AUTH: &str = "http://auth.example.test:3000";

async fn cross_origin(backend: Backend) -> Option<TestApp> {
    TestApp::with(backend, |s| {
        s.base_url = AUTH.parse().unwrap();
        s.trusted_origins = vec![gatehouse::security::origin::OriginPattern::parse(APP).unwrap()];
        s.cookie_domain = Some("example.test".into());
    })
    .await
}

fn preflight(origin: &str, method: &str, headers: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/auth/sign-in/email")
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .body(Body::empty())
        .unwrap()
}

fn vary_has_origin(res: &TestResponse) -> bool {
    res.headers
        .get_all(header::VARY)
        .iter()
        .any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("origin"))
}

async fn a_trusted_origin_gets_credentialed_cors(backend: Backend) {
    let Some(app) = cross_origin(backend).await else { return };
    let res = app.send(preflight(APP, "POST", "content-type,authorization")).await;
    assert!(res.status.is_success(), "{}", res.status);
    assert_eq!(res.header("access-control-allow-origin"), Some(APP), "echoed, never *");
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    let allowed = res.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    assert!(allowed.contains("content-type") && allowed.contains("authorization"), "{allowed}");
    assert!(res.header("access-control-allow-methods").unwrap().contains("POST"));
    assert!(vary_has_origin(&res));

    // The request itself: signed in from the app's origin, the cookie for the parent domain.
    let email = unique_email();
    let body = json!({"email": email, "password": PASSWORD, "name": "Cross"});
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/sign-up/email")
        .header(header::ORIGIN, APP)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = app.send(req).await;
    res.assert_ok();
    assert_eq!(res.header("access-control-allow-origin"), Some(APP));
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert!(res.header("access-control-expose-headers").unwrap().contains("set-auth-token"));
    assert!(vary_has_origin(&res));
    let set = res.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string());
    let session =
        set.into_iter().find(|c| c.starts_with(&app.state.session_cookie)).expect("a session cookie");
    assert!(session.contains("Domain=example.test"), "{session}");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
}

async fn another_origin_gets_no_cors(backend: Backend) {
    let Some(app) = cross_origin(backend).await else { return };
    for origin in ["http://evil.example", "http://app.example.test.evil.example", "null"] {
        let res = app.send(preflight(origin, "POST", "content-type")).await;
        assert_eq!(res.header("access-control-allow-origin"), None, "{origin}");
        // (tower-http sends `allow-credentials` whatever the origin: without an allowed origin a
        // browser reads nothing anyway.)
        assert!(vary_has_origin(&res), "caches keep answers per origin");
        let req = Request::builder()
            .uri("/api/auth/get-session")
            .header(header::ORIGIN, origin)
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.send(req).await.header("access-control-allow-origin"), None, "{origin}");
    }
    // And a cross-site form post to sign-in is still refused (CSRF), CORS or not.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/sign-in/email")
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(format!("email={}&password={PASSWORD}", unique_email())))
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status, 403);
    assert_eq!(res.json()["code"], "INVALID_ORIGIN");
}

async fn cors_is_for_exactly_named_origins_only(backend: Backend) {
    // A wildcard pattern is trusted for CSRF but cannot read answers; a cleartext origin never
    // reads an https server's.
    let Some(app) = TestApp::with(backend, |s| {
        s.base_url = "https://auth.example.test".parse().unwrap();
        s.secret = Some(gatehouse::config::Secret::new("cors-test-secret-cors-test-secret-0123456"));
        s.trusted_origins =
            ["https://*.example.test", "http://plain.example.test", "https://app.example.test"]
                .iter()
                .map(|o| gatehouse::security::origin::OriginPattern::parse(o).unwrap())
                .collect();
    })
    .await
    else {
        return;
    };
    let allowed = |origin: &'static str| {
        let app = &app;
        async move {
            app.send(preflight(origin, "POST", "content-type"))
                .await
                .header("access-control-allow-origin")
                .map(str::to_string)
        }
    };
    assert_eq!(allowed("https://app.example.test").await.as_deref(), Some("https://app.example.test"));
    assert_eq!(allowed("https://other.example.test").await, None, "through a wildcard");
    assert_eq!(allowed("http://plain.example.test").await, None, "cleartext");
    let res = app.send(preflight("https://app.example.test", "POST", "x-api-key")).await;
    let headers = res.header("access-control-allow-headers").unwrap_or("").to_ascii_lowercase();
    assert!(!headers.contains("x-api-key"), "app keys are not for browsers: {headers}");
    let req = Request::builder()
        .uri("/api/auth/get-session")
        .header(header::ORIGIN, "https://app.example.test")
        .body(Body::empty())
        .unwrap();
    let exposed = app.send(req).await.header("access-control-expose-headers").unwrap_or("").to_string();
    assert!(exposed.contains("x-retry-after") && exposed.contains("set-auth-token"), "{exposed}");

    // Without an Origin nothing changes: an OPTIONS is no preflight, no CORS headers anywhere.
    let plain = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/auth/sign-in/email")
        .body(Body::empty())
        .unwrap();
    let res = app.send(plain).await;
    assert!(!res.status.is_success(), "{}", res.status);
    let res = app.get("/ok", None).await;
    assert!(res.headers.keys().all(|k| !k.as_str().starts_with("access-control-")), "{:?}", res.headers);
}

async fn social_providers_lists_the_configured_ids(backend: Backend) {
    let app = app!(backend);
    assert_eq!(app.get("/social-providers", None).await.assert_ok(), json!([]));
    let github = crate::helpers::github::GitHubStandIn::start().await;
    let with = app.sibling(|s| s.social.providers = vec![github.config()]);
    assert_eq!(with.get("/social-providers", None).await.assert_ok(), json!(["github"]));
}

backend_tests!(
    a_trusted_origin_gets_credentialed_cors,
    cors_is_for_exactly_named_origins_only,
    another_origin_gets_no_cors,
    social_providers_lists_the_configured_ids,
);
