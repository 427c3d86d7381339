//! Sessions over time (sliding refresh, expiry, absolute cap) and listing / revocation.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use gatehouse::domain::time::parse_ms;
use serde_json::{Value, json};

use crate::{app, backend_tests, helpers::*};

fn ms(v: &Value) -> i64 {
    parse_ms(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}"))).unwrap()
}

async fn get_session_without_a_session_is_null(backend: Backend) {
    let app = app!(backend);
    let res = app.get("/get-session", None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.text(), "null");
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

async fn get_session_answers_session_user_and_subscription(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let res = app.get("/get-session", Some(&cookie)).await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert!(res.set_cookies().is_empty(), "no refresh right after sign-up");
    let body = res.json();
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["session"]["userId"], body["user"]["id"]);
    assert_eq!(body["subscription"]["isSubscribed"], false);
}

async fn session_slides_after_the_update_age(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let first = app.get("/get-session", Some(&cookie)).await.json();

    // Within a day: no refresh, no cookie.
    app.clock().advance(20 * HOUR);
    let res = app.get("/get-session", Some(&cookie)).await;
    assert!(res.set_cookies().is_empty());
    assert_eq!(res.json()["session"]["expiresAt"], first["session"]["expiresAt"]);

    // `disableRefresh` holds it back even when due.
    app.clock().advance(10 * HOUR);
    let res = app.get("/get-session?disableRefresh=true", Some(&cookie)).await;
    assert!(res.set_cookies().is_empty());
    assert_eq!(res.json()["session"]["expiresAt"], first["session"]["expiresAt"]);

    // Past a day: pushed out to now + 7 days, and the cookie is re-set.
    // The test clock runs on real time: bound the refresh by readings on either side.
    let before = app.clock().now_ms();
    let res = app.get("/get-session", Some(&cookie)).await;
    let after = app.clock().now_ms();
    let body = res.json();
    let updated = ms(&body["session"]["updatedAt"]);
    assert!((before..=after).contains(&updated), "updated {updated} not in {before}..={after}");
    assert_eq!(ms(&body["session"]["expiresAt"]), updated + 7 * 86_400_000);
    assert!(res.session_cookie(&app.state.session_cookie).is_some(), "cookie re-set");
    // The refresh is stored, not just answered.
    let again = app.get("/get-session", Some(&cookie)).await.json();
    assert_eq!(again["session"]["expiresAt"], body["session"]["expiresAt"]);
}

async fn expired_session_is_absent_and_deleted(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let token =
        app.get("/get-session", Some(&cookie)).await.json()["session"]["token"].as_str().unwrap().to_string();
    app.clock().advance(7 * DAY + HOUR);
    let res = app.get("/get-session", Some(&cookie)).await;
    assert!(res.json().is_null());
    let cleared = res.set_cookies();
    let (value, attrs) = cleared.get("better-auth.session_token").expect("stale cookie cleared");
    assert!(value.is_empty() && attrs.contains(&"max-age=0".to_string()));
    // The row is gone: even a clock moved back cannot revive it.
    assert!(app.state.store.session_with_user(&token, 0).await.unwrap().is_none());
}

async fn sweep_deletes_expired_rows(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let user_id = app.state.store.credential_by_email(&email, "").await.unwrap().unwrap().user.id;
    let later = app.clock().now_ms() + 8 * 86_400_000;
    assert_eq!(app.state.store.delete_expired_sessions(later, 1000).await.unwrap(), 1);
    assert!(app.state.store.list_sessions(&user_id, 0).await.unwrap().is_empty());
}

async fn absolute_lifetime_caps_sliding(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let created = ms(&app.get("/get-session", Some(&cookie)).await.json()["session"]["createdAt"]);
    let cap = created + 30 * 86_400_000;
    // Keep the session busy every 5 days: it slides, but never past created + 30 days.
    for _ in 0..5 {
        app.clock().advance(5 * DAY);
        let body = app.get("/get-session", Some(&cookie)).await.json();
        assert!(body["session"].is_object(), "still alive at {}", app.clock().now_ms());
        assert!(ms(&body["session"]["expiresAt"]) <= cap);
    }
    app.clock().advance(5 * DAY + HOUR);
    assert!(app.get("/get-session", Some(&cookie)).await.json().is_null(), "dead after 30 days");
}

async fn remember_me_false_is_never_extended(backend: Backend) {
    let app = app!(backend, |s| s.sessions.update_age = Duration::from_secs(3600));
    let email = unique_email();
    app.sign_up(&email).await;
    let res = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "rememberMe": false}), None)
        .await;
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    let (_, attributes) = &res.set_cookies()[&app.state.session_cookie];
    assert!(!attributes.iter().any(|a| a.starts_with("max-age")), "a browser-session cookie: {attributes:?}");
    let answer = res.json();
    assert_eq!(answer["session"]["rememberMe"], false);
    let expires = answer["session"]["expiresAt"].clone();
    // The choice is the session's, not a cookie's: the bare cookie, and the token as Bearer (a
    // client that keeps no marker), never extend it.
    let bearer = answer["token"].as_str().unwrap().to_string();
    for step in 0..2 {
        app.clock().advance(2 * HOUR);
        let body = app.get("/get-session", Some(&cookie)).await.json();
        assert_eq!(body["session"]["expiresAt"], expires, "cookie, step {step}");
        let req =
            app.req(Method::GET, "/get-session").header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        let res = app.send(req.body(Body::empty()).unwrap()).await;
        assert_eq!(res.json()["session"]["expiresAt"], expires, "bearer, step {step}");
        assert!(res.session_cookie(&app.state.session_cookie).is_none(), "nothing re-set");
    }
    app.clock().advance(21 * HOUR);
    assert!(app.get("/get-session", Some(&cookie)).await.json().is_null());
}

/// A new session's cookie says exactly the configured lifetime, not a value computed from the
/// time the request took.
async fn new_session_cookie_max_age_is_the_lifetime(backend: Backend) {
    let app = app!(backend);
    for _ in 0..5 {
        let res = app.sign_up(&unique_email()).await;
        let (_, attributes) = &res.set_cookies()[&app.state.session_cookie];
        assert!(attributes.contains(&"max-age=604800".to_string()), "{attributes:?}");
    }
    // A refresh says what is left of the session (capped by the absolute lifetime).
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    app.clock().advance(DAY + HOUR);
    let res = app.get("/get-session", Some(&cookie)).await;
    let (_, attributes) = &res.set_cookies()[&app.state.session_cookie];
    assert!(attributes.contains(&"max-age=604800".to_string()), "{attributes:?}");
}

/// A sign-in on a request that carries another user's session cookie must not end that session
/// (only a previous session of the same user is replaced).
async fn sign_in_over_another_users_cookie_leaves_it_alone(backend: Backend) {
    let app = app!(backend);
    let (alice, bob) = (unique_email(), unique_email());
    let alice_cookie = app.signed_up_cookie(&alice).await;
    app.sign_up(&bob).await;
    let res =
        app.post("/sign-in/email", json!({"email": bob, "password": PASSWORD}), Some(&alice_cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let bob_cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    assert_ne!(bob_cookie, alice_cookie);
    assert_eq!(app.get("/get-session", Some(&alice_cookie)).await.json()["user"]["email"], alice.as_str());
    assert_eq!(app.get("/get-session", Some(&bob_cookie)).await.json()["user"]["email"], bob.as_str());
    // The same user's previous session is replaced.
    let again =
        app.post("/sign-in/email", json!({"email": bob, "password": PASSWORD}), Some(&bob_cookie)).await;
    let newer = again.session_cookie(&app.state.session_cookie).unwrap();
    assert!(app.get("/get-session", Some(&bob_cookie)).await.json().is_null());
    assert_eq!(app.get("/get-session", Some(&newer)).await.json()["user"]["email"], bob.as_str());
}

async fn list_sessions_needs_a_fresh_session(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let first = app.signed_up_cookie(&email).await;
    let second = app.sign_in(&email, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    let other_user = app.signed_up_cookie(&unique_email()).await;
    let res = app.get("/list-sessions", Some(&second)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let list = res.json();
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let mine = app.get("/get-session", Some(&first)).await.json()["session"]["token"].clone();
    assert!(list.as_array().unwrap().iter().any(|s| s["token"] == mine));
    let theirs = app.get("/get-session", Some(&other_user)).await.json()["session"]["token"].clone();
    assert!(!list.as_array().unwrap().iter().any(|s| s["token"] == theirs));

    app.clock().advance(DAY + HOUR);
    app.get("/list-sessions", Some(&second)).await.assert_error(403, "SESSION_NOT_FRESH");
}

async fn revoke_session_ends_only_the_callers_own(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let a = app.signed_up_cookie(&email).await;
    let b = app.sign_in(&email, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    let stranger = app.signed_up_cookie(&unique_email()).await;
    let b_token = app.get("/get-session", Some(&b)).await.json()["session"]["token"].clone();
    let stranger_token = app.get("/get-session", Some(&stranger)).await.json()["session"]["token"].clone();

    let res = app.post("/revoke-session", json!({"token": stranger_token}), Some(&a)).await;
    assert_eq!(res.json(), json!({"status": true}));
    assert!(app.get("/get-session", Some(&stranger)).await.json()["session"].is_object(), "not the caller's");

    let res = app.post("/revoke-session", json!({"token": b_token}), Some(&a)).await;
    assert_eq!(res.json(), json!({"status": true}));
    assert!(app.get("/get-session", Some(&b)).await.json().is_null());
    assert!(app.get("/get-session", Some(&a)).await.json()["session"].is_object());

    app.post("/revoke-session", json!({}), Some(&a)).await.assert_error(400, "VALIDATION_ERROR");
}

async fn revoke_sessions_ends_all_including_this_one(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let a = app.signed_up_cookie(&email).await;
    let b = app.sign_in(&email, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    let res = app.post("/revoke-sessions", json!({}), Some(&a)).await;
    assert_eq!(res.json(), json!({"status": true}));
    assert!(app.get("/get-session", Some(&a)).await.json().is_null());
    assert!(app.get("/get-session", Some(&b)).await.json().is_null());
}

async fn revoke_other_sessions_keeps_this_one(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let a = app.signed_up_cookie(&email).await;
    let b = app.sign_in(&email, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    let c = app.sign_in(&email, PASSWORD).await.session_cookie(&app.state.session_cookie).unwrap();
    let res = app.post("/revoke-other-sessions", json!({}), Some(&b)).await;
    assert_eq!(res.json(), json!({"status": true}));
    assert!(app.get("/get-session", Some(&a)).await.json().is_null());
    assert!(app.get("/get-session", Some(&c)).await.json().is_null());
    assert!(app.get("/get-session", Some(&b)).await.json()["session"].is_object());
}

/// A get-session that refreshes while revoke-sessions ends every session must not write its
/// session back (as a new row with a new token): the refresh stops when the row is gone.
async fn a_refresh_racing_a_revocation_does_not_revive_the_session(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let cookie_name = app.state.session_cookie.clone();
    for round in 0..40 {
        let refreshing = app.sign_in(&email, PASSWORD).await.session_cookie(&cookie_name).unwrap();
        let revoking = app.sign_in(&email, PASSWORD).await.session_cookie(&cookie_name).unwrap();
        // Both sessions are due for a refresh.
        app.clock().advance(DAY + Duration::from_secs(1));
        let (router, get) = (app.router.clone(), app.req(Method::GET, "/get-session"));
        let refresh = tokio::spawn(async move {
            let req = get.header(header::COOKIE, refreshing).body(Body::empty()).unwrap();
            tower::ServiceExt::oneshot(router, req).await.unwrap()
        });
        let revoked = app.post("/revoke-sessions", json!({}), Some(&revoking)).await;
        assert_eq!(revoked.json(), json!({"status": true}));
        refresh.await.unwrap();
        assert_eq!(session_count(&app, &email).await, 0, "round {round}: a session came back");
    }
}

/// Many first reads at once (on PostgreSQL they are batched into one statement per round trip):
/// each gets its own session, the same session asked for twice in a batch answers both, and an
/// ended session among them reads as none.
async fn concurrent_first_reads_each_get_their_own_session(backend: Backend) {
    let app = app!(backend);
    let mut sessions = Vec::new();
    for _ in 0..12 {
        let email = unique_email();
        sessions.push((app.signed_up_cookie(&email).await, Some(email)));
    }
    let ended = app.signed_up_cookie(&unique_email()).await;
    app.post("/sign-out", json!({}), Some(&ended)).await.assert_ok();
    sessions.push((ended, None));

    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..3 {
        for (cookie, email) in &sessions {
            let (router, get) = (app.router.clone(), app.req(Method::GET, "/get-session"));
            let req = get.header(header::COOKIE, cookie.as_str()).body(Body::empty()).unwrap();
            let email = email.clone();
            reads.spawn(async move { (tower::ServiceExt::oneshot(router, req).await.unwrap(), email) });
        }
    }
    let mut answered = 0;
    while let Some(done) = reads.join_next().await {
        let (res, email) = done.unwrap();
        let body: Value =
            serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap()).unwrap();
        match email {
            Some(email) => assert_eq!(body["user"]["email"], email.as_str(), "{body}"),
            None => assert!(body.is_null(), "an ended session: {body}"),
        }
        answered += 1;
    }
    assert_eq!(answered, 39);
}

backend_tests!(
    concurrent_first_reads_each_get_their_own_session,
    a_refresh_racing_a_revocation_does_not_revive_the_session,
    get_session_without_a_session_is_null,
    get_session_answers_session_user_and_subscription,
    session_slides_after_the_update_age,
    expired_session_is_absent_and_deleted,
    sweep_deletes_expired_rows,
    absolute_lifetime_caps_sliding,
    remember_me_false_is_never_extended,
    new_session_cookie_max_age_is_the_lifetime,
    sign_in_over_another_users_cookie_leaves_it_alone,
    list_sessions_needs_a_fresh_session,
    revoke_session_ends_only_the_callers_own,
    revoke_sessions_ends_all_including_this_one,
    revoke_other_sessions_keeps_this_one,
);
