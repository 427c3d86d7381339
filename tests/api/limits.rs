//! Rate limits, counted in process and in Redis (when `TEST_REDIS_URL` is set): requests are
//! counted per route and client, unknown paths share one bucket, and a Redis outage falls back to
//! counting in process.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use gatehouse::{config::Secret, security::counters::Mode};
use serde_json::json;

use crate::{counting_tests, helpers::*};

fn assert_limited(res: &TestResponse) {
    res.assert_error(429, "RATE_LIMIT_EXCEEDED");
    let retry: i64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "{retry}");
    assert_eq!(res.header("x-retry-after"), res.header("retry-after"));
}

async fn sign_in_limit_and_window_edge(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.lockout_max_failed_attempts = 1000).await else { return };
    // Start at the beginning of a 15-minute window so the test does not straddle an edge.
    let window = 15 * 60_000;
    let now = app.clock().now_ms();
    app.clock().advance(Duration::from_millis((window - now.rem_euclid(window)) as u64));
    let email = unique_email();
    for i in 0..20 {
        let res = sign_in_from(&app, "198.51.100.7", &email, "wrong-password").await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "attempt {i}: {}", res.text());
    }
    let res = sign_in_from(&app, "198.51.100.7", &email, "wrong-password").await;
    assert_limited(&res);
    let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
    assert!((899..=900).contains(&retry), "{retry}");
    // Another client is not affected.
    assert_eq!(
        sign_in_from(&app, "198.51.100.8", &email, "wrong-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Just before the window ends: still limited; just after: allowed again. (The test clock
    // also moves with real time, hence the margins.)
    let ends_at = (app.clock().now_ms() / window + 1) * window;
    app.clock().advance(Duration::from_millis((ends_at - app.clock().now_ms() - 200) as u64));
    assert_limited(&sign_in_from(&app, "198.51.100.7", &email, "wrong-password").await);
    app.clock().advance(Duration::from_millis(400));
    assert_eq!(
        sign_in_from(&app, "198.51.100.7", &email, "wrong-password").await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn unknown_paths_share_one_bucket(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.lockout_max_failed_attempts = 1000).await else { return };
    // Start at the beginning of a 10-second window so the test does not straddle an edge.
    let now = app.clock().now_ms();
    app.clock().advance(Duration::from_millis((10_000 - now.rem_euclid(10_000)) as u64));
    let email = unique_email();
    // Respellings of a route are not that route: they reach no handler (404) and, like every
    // invented path, count in one bucket per client (the general rule, 100 per 10 s).
    let spellings =
        ["//sign-in/email", "/sign-in/email/", "/SIGN-IN/Email", "/sign-in%2Femail", "/%73ign-in/email"];
    for i in 0..100 {
        let path =
            if i % 2 == 0 { spellings[i / 2 % spellings.len()].to_string() } else { format!("/no-such-{i}") };
        let res = app.send(from_ip("203.0.113.5", sign_in_req(&app, &path, &email, "wrong-password"))).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path} #{i}");
        assert!(res.body.is_empty());
    }
    assert_limited(&app.send(from_ip("203.0.113.5", sign_in_req(&app, "/yet-another", &email, "x"))).await);
    assert_limited(
        &app.send(from_ip("203.0.113.5", sign_in_req(&app, "//sign-in/email", &email, "x"))).await,
    );
    // The real route has its own rule and is not used up.
    sign_in_from(&app, "203.0.113.5", &email, "wrong-password")
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    // Another client's unknown paths are its own.
    let other = app.send(from_ip("203.0.113.6", sign_in_req(&app, "/no-such", &email, "x"))).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

async fn ipv6_clients_are_keyed_by_their_64(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.rules = vec![("/ok".into(), rule(3, 60))]).await else {
        return;
    };
    let ok = |ip: &'static str| {
        let app = &app;
        async move { ok_from(app, ip).await.status }
    };
    for ip in ["2001:db8:1:2::1", "2001:db8:1:2::ffff", "2001:db8:1:2:aaaa::9"] {
        assert_eq!(ok(ip).await, StatusCode::OK);
    }
    assert_eq!(ok("2001:db8:1:2:dead::beef").await, StatusCode::TOO_MANY_REQUESTS, "same /64");
    assert_eq!(ok("2001:db8:1:3::1").await, StatusCode::OK, "another /64");
    // IPv4-mapped IPv6 is the IPv4 address.
    for _ in 0..3 {
        assert_eq!(ok("192.0.2.44").await, StatusCode::OK);
    }
    assert_eq!(ok("::ffff:192.0.2.44").await, StatusCode::TOO_MANY_REQUESTS);
}

fn rule(max: u64, secs: i64) -> gatehouse::security::ratelimit::Rule {
    gatehouse::security::ratelimit::Rule { max, window_ms: secs * 1000 }
}

fn ok_via(app: &TestApp, peer: &str, xff: &str) -> Request<Body> {
    from_ip(peer, app.req(Method::GET, "/ok").header("x-forwarded-for", xff).body(Body::empty()).unwrap())
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy(counting: Counting) {
    let Some(app) = limited(counting, |s| {
        s.limits.rules = vec![("/ok".into(), rule(2, 60))];
        s.trusted_proxies = gatehouse::security::client_ip::TrustedProxies::parse("10.0.0.0/8").unwrap();
    })
    .await
    else {
        return;
    };
    // An untrusted peer cannot spread its requests over invented addresses.
    for (i, fake) in ["1.1.1.1", "2.2.2.2", "3.3.3.3"].iter().enumerate() {
        let status = app.send(ok_via(&app, "198.51.100.20", fake)).await.status;
        assert_eq!(status == StatusCode::OK, i < 2, "request {i}");
    }
    // Behind the trusted proxy, each client is itself; the header is read from the right.
    for _ in 0..2 {
        assert_eq!(app.send(ok_via(&app, "10.1.2.3", "6.6.6.6, 198.51.100.21")).await.status, StatusCode::OK);
    }
    assert_eq!(
        app.send(ok_via(&app, "10.9.9.9", "7.7.7.7, 198.51.100.21, 10.0.0.5")).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "same client through two proxies"
    );
    assert_eq!(app.send(ok_via(&app, "10.1.2.3", "198.51.100.22")).await.status, StatusCode::OK);
}

async fn mail_routes_allow_three_a_minute(counting: Counting) {
    let Some(app) = limited(counting, |_| {}).await else { return };
    let send = || {
        let req = app
            .req(Method::POST, "/forget-password")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"email": unique_email()}).to_string()))
            .unwrap();
        app.send(from_ip("192.0.2.9", req))
    };
    for _ in 0..3 {
        assert_eq!(send().await.status, StatusCode::OK);
    }
    assert_limited(&send().await);
    app.clock().advance(Duration::from_secs(61));
    assert_eq!(send().await.status, StatusCode::OK);
}

async fn invitations_count_under_the_mail_rule(counting: Counting) {
    let Some(app) = limited(counting, |_| {}).await else { return };
    let owner = app.signed_up_cookie(&unique_email()).await;
    let org = json!({"name": "Acme", "slug": format!("acme-{}", gatehouse::security::tokens::random_hex(4))});
    assert_eq!(app.post("/organization/create", org, Some(&owner)).await.status, StatusCode::OK);
    let invite = || {
        let req = app
            .req(Method::POST, "/organization/invite-member")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, owner.as_str())
            .body(Body::from(json!({"email": unique_email(), "role": "member"}).to_string()))
            .unwrap();
        app.send(from_ip("192.0.2.10", req))
    };
    for _ in 0..3 {
        assert_eq!(invite().await.status, StatusCode::OK);
    }
    assert_limited(&invite().await);
}

async fn general_rule_is_100_per_10_seconds(counting: Counting) {
    let Some(app) = limited(counting, |_| {}).await else { return };
    let now = app.clock().now_ms();
    app.clock().advance(Duration::from_millis((10_000 - now.rem_euclid(10_000)) as u64));
    for i in 0..100 {
        let status = ok_from(&app, "192.0.2.50").await.status;
        assert_eq!(status, StatusCode::OK, "request {i}");
    }
    let res = ok_from(&app, "192.0.2.50").await;
    assert_limited(&res);
}

async fn parallel_requests_at_the_boundary(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.lockout_max_failed_attempts = 1000).await else { return };
    let app = Arc::new(app);
    let email = unique_email();
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let (app, email) = (app.clone(), email.clone());
            tokio::spawn(
                async move { sign_in_from(&app, "203.0.113.77", &email, "wrong-password").await.status },
            )
        })
        .collect();
    let mut passed = 0;
    for t in tasks {
        if t.await.unwrap() != StatusCode::TOO_MANY_REQUESTS {
            passed += 1;
        }
    }
    assert_eq!(passed, 20, "exactly the allowed number get through");
}

async fn parallel_requests_on_a_generous_rule(counting: Counting) {
    // In Redis, rules of 100 and more are granted from local leases: still never more than the limit.
    let Some(app) = limited(counting, |s| s.limits.rules = vec![("/ok".into(), rule(100, 60))]).await else {
        return;
    };
    let now = app.clock().now_ms();
    app.clock().advance(Duration::from_millis((60_000 - now.rem_euclid(60_000)) as u64));
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..130)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { ok_from(&app, "203.0.113.99").await.status })
        })
        .collect();
    let mut passed = 0;
    for t in tasks {
        if t.await.unwrap() == StatusCode::OK {
            passed += 1;
        }
    }
    assert_eq!(passed, 100);
}

async fn health_reports_the_counters(counting: Counting) {
    let Some(app) = limited(counting, |_| {}).await else { return };
    let body = app.send(Request::builder().uri("/health").body(Body::empty()).unwrap()).await.json();
    let want = if counting == Counting::Redis { "redis" } else { "memory" };
    assert_eq!(body["rateLimit"], want);
}

counting_tests!(
    sign_in_limit_and_window_edge,
    unknown_paths_share_one_bucket,
    ipv6_clients_are_keyed_by_their_64,
    forwarded_for_counts_only_behind_a_trusted_proxy,
    mail_routes_allow_three_a_minute,
    invitations_count_under_the_mail_rule,
    general_rule_is_100_per_10_seconds,
    parallel_requests_at_the_boundary,
    parallel_requests_on_a_generous_rule,
    health_reports_the_counters,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_limit_as_one() {
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        skip("TEST_REDIS_URL is not set");
        return;
    };
    let prefix = format!("gh-test-{}:", gatehouse::security::tokens::random_hex(6));
    let make = || {
        let (url, prefix) = (url.clone(), prefix.clone());
        TestApp::with(Backend::Sqlite, move |s| {
            s.limits.enabled = true;
            s.limits.redis_url = Some(Secret::new(url));
            s.limits.redis_key_prefix = prefix;
            s.limits.rules = vec![("/ok".into(), rule(4, 60))];
        })
    };
    let (a, b) = (make().await.unwrap(), make().await.unwrap());
    wait_for_mode(&a, Mode::Redis).await;
    wait_for_mode(&b, Mode::Redis).await;
    let now = a.clock().now_ms();
    for app in [&a, &b] {
        app.clock().advance(Duration::from_millis((60_000 - now.rem_euclid(60_000)) as u64));
    }
    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_eq!(ok_from(app, "192.0.2.77").await.status, StatusCode::OK, "request {i}");
    }
    assert_eq!(ok_from(&a, "192.0.2.77").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(ok_from(&b, "192.0.2.77").await.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn ok_from(app: &TestApp, ip: &str) -> TestResponse {
    app.send(from_ip(ip, app.req(Method::GET, "/ok").body(Body::empty()).unwrap())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_memory_and_recovers() {
    let Some((app, server)) = app_with_own_redis(|s| {
        s.limits.enabled = true;
        s.limits.rules = vec![("/ok".into(), rule(1000, 60))];
    })
    .await
    else {
        return;
    };
    let port = server.port;
    let health = || app.send(Request::builder().uri("/health").body(Body::empty()).unwrap());
    let ok = || ok_from(&app, "192.0.2.88");
    assert_eq!(ok().await.status, StatusCode::OK);

    drop(server);
    // Requests keep being answered (counted in process), and /health says so.
    let start = Instant::now();
    loop {
        assert_eq!(ok().await.status, StatusCode::OK);
        if health().await.json()["rateLimit"] == "degraded" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never reported degraded");
    }
    let took = Instant::now();
    for _ in 0..20 {
        assert_eq!(ok().await.status, StatusCode::OK);
    }
    assert!(took.elapsed() < Duration::from_secs(5), "a dead Redis must not stall requests");

    let server = RedisServer::start(port);
    let start = Instant::now();
    loop {
        assert_eq!(ok().await.status, StatusCode::OK);
        if health().await.json()["rateLimit"] == "redis" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "never recovered");
        // Reconnecting is the counters' background task, which signals nothing: poll.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}
