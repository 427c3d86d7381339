//! Lockout: failed password checks per account, across addresses and routes, in process and in
//! Redis (when `TEST_REDIS_URL` is set) or PostgreSQL; bursts cannot outrun it, and a lock
//! outlives a Redis outage.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use gatehouse::security::counters::Mode;
use serde_json::{Value, json};

use crate::{counting_tests, helpers::*};

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

async fn lockout_counts_across_addresses(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
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
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
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
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
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
        s.limits.enabled = false;
        s.limits.lockout_max_failed_attempts = 20;
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
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
    guesses_against_the_lockout(app).await;
}

/// The same burst with the lockout kept in PostgreSQL (no Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_guesses_cannot_outrun_the_lockout_on_postgres() {
    let Some(app) = TestApp::with(Backend::Postgres, |s| s.limits.enabled = false).await else { return };
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
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
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
        s.limits.enabled = false;
        s.passwords.argon2 =
            gatehouse::config::Argon2Params { memory_kib: 8192, iterations: 100, parallelism: 1 };
        s.passwords.hash_concurrency = 1;
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

/// Wrong passwords on change-password and delete-user count toward the same lockout as
/// sign-in, and a locked account accepts no password anywhere.
async fn password_checks_elsewhere_count_toward_the_lockout(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
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

/// Every way in ends in the one sign-in gate: a locked account gets no session by email code
/// either.
async fn a_locked_account_gets_no_session_by_email_code(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
    let email = unique_email();
    app.sign_up(&email).await;
    for _ in 0..10 {
        sign_in_from(&app, "192.0.2.50", &email, "wrong-password").await;
    }
    let otp = app.otp_code(&email, "sign-in", 1).await;
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), None).await;
    res.assert_error(403, "ACCOUNT_LOCKED");
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
}

counting_tests!(
    lockout_counts_across_addresses,
    success_keeps_the_count_and_reset_unlocks,
    unknown_emails_lock_the_same_way,
    parallel_failures_all_count,
    a_burst_of_guesses_cannot_outrun_the_lockout,
    a_burst_of_right_passwords_is_served,
    abandoned_checks_are_given_back,
    password_checks_elsewhere_count_toward_the_lockout,
    a_locked_account_gets_no_session_by_email_code,
);

/// A lock set while Redis kept the lockout holds through a Redis outage (it is written to the
/// database too), and the outage gives no fresh allowance of guesses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_outlives_a_redis_outage() {
    let Some((app, server)) = app_with_own_redis(|_| {}).await else { return };
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
    let Some((app, server)) = app_with_own_redis(|_| {}).await else { return };
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
