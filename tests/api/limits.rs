//! Rate limits and lockout, with counters in process and in Redis (when `TEST_REDIS_URL` is set).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{Method, Request, StatusCode, header},
};
use gatehouse::{config::Secret, security::counters::Mode};
use serde_json::{Value, json};

use crate::helpers::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Memory,
    Redis,
}

/// An app with limits on, counting in process or in Redis under a key prefix of its own.
async fn limited(
    counting: Counting,
    tweak: impl FnOnce(&mut gatehouse::config::Settings),
) -> Option<TestApp> {
    let redis = match counting {
        Counting::Memory => None,
        Counting::Redis => match std::env::var("TEST_REDIS_URL") {
            Ok(url) => Some(url),
            Err(_) => {
                skip("TEST_REDIS_URL is not set, so the Redis run of this test is skipped");
                return None;
            }
        },
    };
    let prefix = format!("gh-test-{}:", gatehouse::security::tokens::random_hex(6));
    let app = TestApp::with(Backend::Sqlite, |s| {
        s.rate_limit_enabled = true;
        s.redis_url = redis.map(Secret::new);
        s.redis_key_prefix = prefix;
        tweak(s);
    })
    .await?;
    wait_for_mode(&app, if counting == Counting::Redis { Mode::Redis } else { Mode::Memory }).await;
    Some(app)
}

async fn wait_for_mode(app: &TestApp, mode: Mode) {
    let start = Instant::now();
    while app.state.counters.mode() != mode {
        assert!(start.elapsed() < Duration::from_secs(10), "counters never reached {mode:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn from(ip: &str, mut req: Request<Body>) -> Request<Body> {
    let addr: SocketAddr =
        format!("{ip}:40000").parse().unwrap_or_else(|_| format!("[{ip}]:40000").parse().unwrap());
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

fn sign_in_req(app: &TestApp, path: &str, email: &str, password: &str) -> Request<Body> {
    app.req(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"email": email, "password": password}).to_string()))
        .unwrap()
}

async fn sign_in_from(app: &TestApp, ip: &str, email: &str, password: &str) -> TestResponse {
    app.send(from(ip, sign_in_req(app, "/sign-in/email", email, password))).await
}

/// Starts `n` sign-ins for `email` at once, the `i`-th from `{net}.{i}` with `password(i)`.
fn sign_ins_at_once(
    app: &Arc<TestApp>,
    email: &str,
    net: &str,
    n: usize,
    password: impl Fn(usize) -> &'static str,
) -> Vec<tokio::task::JoinHandle<TestResponse>> {
    (0..n)
        .map(|i| {
            let (app, email, ip, password) =
                (app.clone(), email.to_string(), format!("{net}.{i}"), password(i));
            tokio::spawn(async move { sign_in_from(&app, &ip, &email, password).await })
        })
        .collect()
}

fn assert_limited(res: &TestResponse) {
    res.assert_error(429, "RATE_LIMIT_EXCEEDED");
    let retry: i64 = res.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "{retry}");
    assert_eq!(res.header("x-retry-after"), res.header("retry-after"));
}

async fn sign_in_limit_and_window_edge(counting: Counting) {
    let Some(app) = limited(counting, |s| s.lockout_max_failed_attempts = 1000).await else { return };
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
    let Some(app) = limited(counting, |s| s.lockout_max_failed_attempts = 1000).await else { return };
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
        let res = app.send(from("203.0.113.5", sign_in_req(&app, &path, &email, "wrong-password"))).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path} #{i}");
        assert!(res.body.is_empty());
    }
    assert_limited(&app.send(from("203.0.113.5", sign_in_req(&app, "/yet-another", &email, "x"))).await);
    assert_limited(&app.send(from("203.0.113.5", sign_in_req(&app, "//sign-in/email", &email, "x"))).await);
    // The real route has its own rule and is not used up.
    sign_in_from(&app, "203.0.113.5", &email, "wrong-password")
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    // Another client's unknown paths are its own.
    let other = app.send(from("203.0.113.6", sign_in_req(&app, "/no-such", &email, "x"))).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
}

async fn ipv6_clients_are_keyed_by_their_64(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_rules = vec![("/ok".into(), rule(3, 60))]).await
    else {
        return;
    };
    let ok = |ip: &'static str| {
        let app = &app;
        async move { app.send(from(ip, app.req(Method::GET, "/ok").body(Body::empty()).unwrap())).await.status }
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
    from(peer, app.req(Method::GET, "/ok").header("x-forwarded-for", xff).body(Body::empty()).unwrap())
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy(counting: Counting) {
    let Some(app) = limited(counting, |s| {
        s.rate_limit_rules = vec![("/ok".into(), rule(2, 60))];
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
        app.send(from("192.0.2.9", req))
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
        app.send(from("192.0.2.10", req))
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
        let status = app
            .send(from("192.0.2.50", app.req(Method::GET, "/ok").body(Body::empty()).unwrap()))
            .await
            .status;
        assert_eq!(status, StatusCode::OK, "request {i}");
    }
    let res = app.send(from("192.0.2.50", app.req(Method::GET, "/ok").body(Body::empty()).unwrap())).await;
    assert_limited(&res);
}

async fn parallel_requests_at_the_boundary(counting: Counting) {
    let Some(app) = limited(counting, |s| s.lockout_max_failed_attempts = 1000).await else { return };
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
    let Some(app) = limited(counting, |s| s.rate_limit_rules = vec![("/ok".into(), rule(100, 60))]).await
    else {
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

async fn lockout_counts_across_addresses(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_enabled = false).await else { return };
    let email = unique_email();
    app.sign_up(&email).await;
    for i in 0..10 {
        let ip = format!("198.51.100.{}", 100 + i);
        sign_in_from(&app, &ip, &email, "wrong-password")
            .await
            .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    }
    // Locked, even with the right password, from anywhere.
    sign_in_from(&app, "192.0.2.1", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
    // The owner hears about it once, with a reset link.
    let notice = app.mail(&email, "reset").await;
    assert!(notice["subject"].as_str().unwrap().contains("locked"), "{notice}");
    sign_in_from(&app, "192.0.2.1", &email, "wrong-password").await.assert_error(403, "ACCOUNT_LOCKED");
    assert_eq!(app.mail_count(&email, "reset"), 1);
    // It lifts after LOCKOUT_DURATION_MINUTES.
    app.clock().advance(Duration::from_secs(30 * 60 + 1));
    assert_eq!(sign_in_from(&app, "192.0.2.1", &email, PASSWORD).await.status, StatusCode::OK);
}

async fn success_keeps_the_count_and_reset_unlocks(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_enabled = false).await else { return };
    let email = unique_email();
    app.sign_up(&email).await;
    for _ in 0..9 {
        sign_in_from(&app, "192.0.2.2", &email, "wrong-password").await;
    }
    // A success does not wipe the window's failures (else a guesser racing the owner's sign-ins
    // would get more than the limit): the tenth failure of the window locks.
    assert_eq!(sign_in_from(&app, "192.0.2.2", &email, PASSWORD).await.status, StatusCode::OK);
    sign_in_from(&app, "192.0.2.2", &email, "wrong-password")
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    sign_in_from(&app, "192.0.2.2", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
    // Following the reset link in the notice unlocks at once.
    let notice = app.mail(&email, "reset").await;
    let token = notice["token"].as_str().unwrap();
    let res =
        app.post("/reset-password", json!({"token": token, "newPassword": "brand-new-password"}), None).await;
    assert_eq!(res.json(), json!({"status": true}));
    assert_eq!(sign_in_from(&app, "192.0.2.2", &email, "brand-new-password").await.status, StatusCode::OK);
    // And a fresh window counts from zero again.
    for _ in 0..9 {
        sign_in_from(&app, "192.0.2.2", &email, "wrong-password")
            .await
            .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    }
    assert_eq!(sign_in_from(&app, "192.0.2.2", &email, "brand-new-password").await.status, StatusCode::OK);
}

async fn unknown_emails_lock_the_same_way(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_enabled = false).await else { return };
    let (known, unknown) = (unique_email(), unique_email());
    app.sign_up(&known).await;
    let mut answers: Vec<Value> = Vec::new();
    for email in [&known, &unknown] {
        for _ in 0..10 {
            sign_in_from(&app, "192.0.2.3", email, "wrong-password").await;
        }
        answers.push(
            sign_in_from(&app, "192.0.2.3", email, "wrong-password")
                .await
                .assert_error(403, "ACCOUNT_LOCKED"),
        );
    }
    assert_eq!(answers[0], answers[1]);
}

async fn parallel_failures_all_count(counting: Counting) {
    let Some(app) = limited(counting, |s| {
        s.rate_limit_enabled = false;
        s.lockout_max_failed_attempts = 20;
    })
    .await
    else {
        return;
    };
    let email = unique_email();
    app.sign_up(&email).await;
    let app = Arc::new(app);
    let burst = |n: usize| sign_ins_at_once(&app, &email, "192.0.2", n, |_| "nope-nope");
    for t in burst(19) {
        assert_eq!(t.await.unwrap().status, StatusCode::UNAUTHORIZED);
    }
    // 19 counted: the right password still works (and frees its own check).
    assert_eq!(sign_in_from(&app, "192.0.2.200", &email, PASSWORD).await.status, StatusCode::OK);
    // Of 20 more in parallel, exactly one is evaluated; the rest are refused without hashing.
    let mut statuses = Vec::new();
    for t in burst(20) {
        statuses.push(t.await.unwrap().status);
    }
    let evaluated = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
    assert_eq!((evaluated, refused), (1, 19), "{statuses:?}");
    sign_in_from(&app, "192.0.2.201", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
}

/// The attack: a burst of simultaneous guesses with the right password among them, from many
/// addresses. However they are timed, at most the limit of wrong passwords is evaluated, the
/// account ends up locked, and the right password is refused until the lock ends.
async fn a_burst_of_guesses_cannot_outrun_the_lockout(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_enabled = false).await else { return };
    guesses_against_the_lockout(app).await;
}

/// The same burst with the lockout kept in PostgreSQL (no Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_guesses_cannot_outrun_the_lockout_on_postgres() {
    let Some(app) = TestApp::with(Backend::Postgres, |s| s.rate_limit_enabled = false).await else { return };
    guesses_against_the_lockout(app).await;
}

async fn guesses_against_the_lockout(app: TestApp) {
    let email = unique_email();
    app.sign_up(&email).await;
    let app = Arc::new(app);
    let right = 15;
    let tasks =
        sign_ins_at_once(
            &app,
            &email,
            "198.18.0",
            31,
            |i| if i == right { PASSWORD } else { "wrong-password" },
        );
    let mut wrong_evaluated = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match (i == right, t.await.unwrap().status) {
            (false, StatusCode::UNAUTHORIZED) => wrong_evaluated += 1,
            (_, StatusCode::FORBIDDEN) => {}
            (true, StatusCode::OK) => {}
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(wrong_evaluated <= 10, "{wrong_evaluated} wrong passwords evaluated");
    // Whatever happened to the right guess, the guessers who follow fill the window.
    for i in 0..10 {
        let res = sign_in_from(&app, &format!("198.18.1.{i}"), &email, "wrong-password").await;
        if res.status == StatusCode::UNAUTHORIZED {
            wrong_evaluated += 1;
        }
    }
    assert_eq!(wrong_evaluated, 10, "exactly the limit is evaluated per window");
    sign_in_from(&app, "198.18.2.1", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
    app.clock().advance(Duration::from_secs(29 * 60));
    sign_in_from(&app, "198.18.2.1", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
    app.clock().advance(Duration::from_secs(2 * 60));
    assert_eq!(sign_in_from(&app, "198.18.2.1", &email, PASSWORD).await.status, StatusCode::OK);
}

/// One user signing in on many devices at once (more than the lockout's limit) is served: a
/// check that finds every check taken by running ones waits for a free one.
async fn a_burst_of_right_passwords_is_served(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_enabled = false).await else { return };
    let email = unique_email();
    app.sign_up(&email).await;
    let app = Arc::new(app);
    for t in sign_ins_at_once(&app, &email, "198.18.3", 32, |_| PASSWORD) {
        assert_eq!(t.await.unwrap().status, StatusCode::OK);
    }
}

/// A client that goes away while its password is being checked gives its check back: ten
/// abandoned guesses do not lock the owner out of the window.
async fn abandoned_checks_are_given_back(counting: Counting) {
    let Some(app) = limited(counting, |s| {
        s.rate_limit_enabled = false;
        s.argon2 = gatehouse::config::Argon2Params { memory_kib: 8192, iterations: 100, parallelism: 1 };
        s.hash_concurrency = 1;
    })
    .await
    else {
        return;
    };
    let email = unique_email();
    app.sign_up(&email).await;
    let app = Arc::new(app);
    let tasks = sign_ins_at_once(&app, &email, "198.18.4", 10, |_| "wrong-password");
    // Let them reserve their checks (one hashes, the rest queue for the hasher), then hang up.
    tokio::time::sleep(Duration::from_millis(150)).await;
    for t in &tasks {
        t.abort();
    }
    let mut abandoned = 0;
    for t in tasks {
        match t.await {
            Err(e) if e.is_cancelled() => abandoned += 1,
            Ok(res) => {
                res.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
            }
            Err(e) => panic!("{e}"),
        };
    }
    assert!(abandoned >= 5, "only {abandoned} abandoned: the hash is too cheap for this test");
    let res = sign_in_from(&app, "198.18.4.100", &email, PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

/// Every way in ends in the one sign-in gate: a locked account gets no session by email code
/// either.
async fn a_locked_account_gets_no_session_by_email_code(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_enabled = false).await else { return };
    let email = unique_email();
    app.sign_up(&email).await;
    for _ in 0..10 {
        sign_in_from(&app, "192.0.2.50", &email, "wrong-password").await;
    }
    app.post("/email-otp/send-verification-otp", json!({"email": email, "type": "sign-in"}), None).await;
    let otp = app.mail(&email, "otp").await["token"].as_str().unwrap().to_string();
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), None).await;
    res.assert_error(403, "ACCOUNT_LOCKED");
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
}

/// Wrong passwords on change-password and delete-user count toward the same lockout as
/// sign-in, and a locked account accepts no password anywhere.
async fn password_checks_elsewhere_count_toward_the_lockout(counting: Counting) {
    let Some(app) = limited(counting, |s| s.rate_limit_enabled = false).await else { return };
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    for i in 0..5 {
        let body = json!({"currentPassword": "wrong-password", "newPassword": "another-password-1"});
        app.post("/change-password", body, Some(&cookie)).await.assert_error(400, "INVALID_PASSWORD");
        let res = app.post("/delete-user", json!({"password": format!("wrong-{i}")}), Some(&cookie)).await;
        res.assert_error(400, "INVALID_PASSWORD");
    }
    // Ten failures in all: locked, everywhere, even with the right password.
    sign_in_from(&app, "192.0.2.9", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
    let body = json!({"currentPassword": PASSWORD, "newPassword": "another-password-1"});
    app.post("/change-password", body, Some(&cookie)).await.assert_error(403, "ACCOUNT_LOCKED");
    app.post("/delete-user", json!({"password": PASSWORD}), Some(&cookie))
        .await
        .assert_error(403, "ACCOUNT_LOCKED");
    assert!(app.get("/get-session", Some(&cookie)).await.json()["user"].is_object(), "still there");
}

async fn health_reports_the_counters(counting: Counting) {
    let Some(app) = limited(counting, |_| {}).await else { return };
    let body = app.send(Request::builder().uri("/health").body(Body::empty()).unwrap()).await.json();
    let want = if counting == Counting::Redis { "redis" } else { "memory" };
    assert_eq!(body["rateLimit"], want);
}

macro_rules! counting_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Counting::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Counting::Redis).await
                }
            )*
        }
    };
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
    lockout_counts_across_addresses,
    success_keeps_the_count_and_reset_unlocks,
    unknown_emails_lock_the_same_way,
    parallel_failures_all_count,
    a_burst_of_guesses_cannot_outrun_the_lockout,
    a_burst_of_right_passwords_is_served,
    abandoned_checks_are_given_back,
    password_checks_elsewhere_count_toward_the_lockout,
    a_locked_account_gets_no_session_by_email_code,
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
            s.rate_limit_enabled = true;
            s.redis_url = Some(Secret::new(url));
            s.redis_key_prefix = prefix;
            s.rate_limit_rules = vec![("/ok".into(), rule(4, 60))];
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
    app.send(from(ip, app.req(Method::GET, "/ok").body(Body::empty()).unwrap())).await
}

struct RedisServer(std::process::Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(port: u16) -> RedisServer {
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server on PATH");
    RedisServer(child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_memory_and_recovers() {
    if std::env::var("TEST_REDIS_URL").is_err() {
        skip("TEST_REDIS_URL is not set (this test starts and stops a redis-server of its own)");
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = start_redis(port);
    let url = format!("redis://127.0.0.1:{port}");
    let app = TestApp::with(Backend::Sqlite, |s| {
        s.rate_limit_enabled = true;
        s.redis_url = Some(Secret::new(url));
        s.rate_limit_rules = vec![("/ok".into(), rule(1000, 60))];
    })
    .await
    .unwrap();
    wait_for_mode(&app, Mode::Redis).await;
    let health = || app.send(Request::builder().uri("/health").body(Body::empty()).unwrap());
    let ok = || app.send(from("192.0.2.88", app.req(Method::GET, "/ok").body(Body::empty()).unwrap()));
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

    server = start_redis(port);
    let start = Instant::now();
    loop {
        assert_eq!(ok().await.status, StatusCode::OK);
        if health().await.json()["rateLimit"] == "redis" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}

/// An app counting in a redis-server of its own (so a test may stop it), or `None` (with a
/// message) without `TEST_REDIS_URL`.
async fn app_with_own_redis() -> Option<(TestApp, RedisServer)> {
    if std::env::var("TEST_REDIS_URL").is_err() {
        skip("TEST_REDIS_URL is not set (this test starts and stops a redis-server of its own)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = start_redis(port);
    let url = format!("redis://127.0.0.1:{port}");
    let app = TestApp::with(Backend::Sqlite, |s| s.redis_url = Some(Secret::new(url))).await?;
    wait_for_mode(&app, Mode::Redis).await;
    Some((app, server))
}

/// A lock set while Redis kept the lockout holds through a Redis outage (it is written to the
/// database too), and the outage gives no fresh allowance of guesses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_outlives_a_redis_outage() {
    let Some((app, server)) = app_with_own_redis().await else { return };
    let email = unique_email();
    app.sign_up(&email).await;
    for _ in 0..10 {
        sign_in_from(&app, "192.0.2.77", &email, "wrong-password")
            .await
            .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    }
    sign_in_from(&app, "192.0.2.77", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");

    drop(server);
    for _ in 0..3 {
        sign_in_from(&app, "192.0.2.77", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
        sign_in_from(&app, "192.0.2.77", &email, "wrong-password").await.assert_error(403, "ACCOUNT_LOCKED");
    }
}

/// Failures counted in Redis are copied to the database: a Redis outage in the middle of a
/// window carries on from them instead of granting a fresh allowance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_outlive_a_redis_outage() {
    let Some((app, server)) = app_with_own_redis().await else { return };
    let email = unique_email();
    app.sign_up(&email).await;
    for _ in 0..9 {
        sign_in_from(&app, "192.0.2.78", &email, "wrong-password")
            .await
            .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    }
    drop(server);
    // The tenth failure of the window, counted in the database, locks.
    sign_in_from(&app, "192.0.2.78", &email, "wrong-password")
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(app.state.counters.mode(), Mode::Degraded);
    sign_in_from(&app, "192.0.2.78", &email, PASSWORD).await.assert_error(403, "ACCOUNT_LOCKED");
}
