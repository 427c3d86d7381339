//! `GET /metrics`: absent without `METRICS_TOKEN`, refused without its bearer token, and its
//! figures move as requests are made; no label names a user.

use crate::{app, backend_tests, helpers::*};
use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};

const TOKEN: &str = "metrics-test-token-0123456789";

async fn scrape(app: &TestApp, token: Option<&str>) -> TestResponse {
    let mut req = Request::builder().method(Method::GET).uri("/metrics");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    app.send(req.body(Body::empty()).unwrap()).await
}

/// The value of the sample `series` (name and labels, exactly as exposed), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

async fn figures_move_as_requests_are_made(backend: Backend) {
    let off = app!(backend);
    assert_eq!(scrape(&off, Some(TOKEN)).await.status, StatusCode::NOT_FOUND, "off without a token");
    let app = off.sibling(|s| s.metrics_token = Some(gatehouse::config::Secret::new(TOKEN)));
    for wrong in [None, Some("nope"), Some("metrics-test-token-012345678")] {
        let res = scrape(&app, wrong).await;
        res.assert_error(401, "UNAUTHORIZED");
        assert_eq!(res.header("www-authenticate"), Some("Bearer"));
    }
    let before = scrape(&app, Some(TOKEN)).await.text();
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    rejected(&app.sign_in(&email, "wrong-password-1").await, 401, "INVALID_EMAIL_OR_PASSWORD");
    app.sign_in(&email, PASSWORD).await.assert_ok();
    for _ in 0..3 {
        app.get("/get-session", Some(&cookie)).await.assert_ok();
    }
    app.get("/no-such-route", None).await;

    let res = scrape(&app, Some(TOKEN)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let after = res.text();
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    let failed = r#"gatehouse_auth_events_total{action="sign-in",outcome="failure",reason="INVALID_EMAIL_OR_PASSWORD"}"#;
    assert_eq!(moved(failed), 1.0, "{after}");
    assert_eq!(moved(r#"gatehouse_auth_events_total{action="sign-in",outcome="success",reason=""}"#), 1.0);
    assert_eq!(moved(r#"gatehouse_auth_events_total{action="sign-up",outcome="success",reason=""}"#), 1.0);
    let route = |method: &str, path: &str, status: u16| {
        format!(
            r#"gatehouse_http_request_duration_seconds_count{{method="{method}",route="{path}",status="{status}"}}"#
        )
    };
    assert_eq!(moved(&route("POST", "/api/auth/sign-in/email", 401)), 1.0, "{after}");
    assert_eq!(moved(&route("GET", "/api/auth/get-session", 200)), 3.0);
    assert_eq!(moved(&route("GET", "unmatched", 404)), 1.0);
    let slowest = r#"gatehouse_http_request_duration_seconds_bucket{method="GET",route="/api/auth/get-session",status="200",le="+Inf"}"#;
    assert_eq!(moved(slowest), 3.0);
    let lookups = moved("gatehouse_session_cache_hits_total") + moved("gatehouse_session_cache_misses_total");
    assert!(lookups >= 3.0, "{after}");
    // On PostgreSQL the cache answers only once the instance listens for other instances' changes.
    if backend == Backend::Sqlite {
        assert!(moved("gatehouse_session_cache_hits_total") >= 2.0, "{after}");
    }
    assert!(sample(&after, "gatehouse_password_hash_wait_seconds_count") >= 3.0, "{after}");
    assert_eq!(sample(&after, r#"gatehouse_counters_backend{backend="memory"}"#), 1.0);
    assert!(sample(&after, "gatehouse_db_pool_max") >= 1.0);
    assert!(!after.contains(&email) && !after.contains("127.0.0.1"), "no user or address labels");
    // A JWT makes a signing key; its age is reported.
    app.get("/token", Some(&cookie)).await.assert_ok();
    let text = scrape(&app, Some(TOKEN)).await.text();
    assert!(text.lines().any(|l| l.starts_with("gatehouse_signing_key_age_seconds ")), "{text}");
}

async fn rate_limit_refusals_are_counted() {
    let Some(app) = limited(Counting::Memory, |s| {
        s.metrics_token = Some(gatehouse::config::Secret::new(TOKEN));
        s.limits.rules =
            vec![("/ok".into(), gatehouse::security::ratelimit::Rule { max: 1, window_ms: 60_000 })];
    })
    .await
    else {
        return;
    };
    app.get("/ok", None).await.assert_ok();
    assert_eq!(app.get("/ok", None).await.status, StatusCode::TOO_MANY_REQUESTS);
    let text = scrape(&app, Some(TOKEN)).await.text();
    assert_eq!(sample(&text, r#"gatehouse_rate_limited_total{route="/ok"}"#), 1.0, "{text}");
}

backend_tests!(figures_move_as_requests_are_made);

#[tokio::test]
async fn rate_limits_are_counted() {
    rate_limit_refusals_are_counted().await;
}
