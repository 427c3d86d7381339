//! Cases found in review: races and leftovers an attacker could use.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

async fn parallel_wrong_codes_use_up_the_attempts(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    let res =
        app.post("/email-otp/send-verification-otp", json!({"email": email, "type": "sign-in"}), None).await;
    assert_eq!(res.status, StatusCode::OK);
    let code = app.mail(&email, "otp").await["token"].as_str().unwrap().to_string();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let app = Arc::new(app);
    let guesses: Vec<_> = (0..10)
        .map(|_| {
            let (app, email) = (app.clone(), email.clone());
            tokio::spawn(async move {
                app.post("/sign-in/email-otp", json!({"email": email, "otp": wrong}), None).await.status
            })
        })
        .collect();
    for g in guesses {
        assert_ne!(g.await.unwrap(), StatusCode::OK);
    }
    // At most 3 guesses were compared; the code is burnt now.
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await;
    assert_ne!(res.status, StatusCode::OK, "{}", res.text());
}

async fn password_reset_kills_a_pending_email_change(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let new_email = unique_email();
    let res = app.post("/change-email", json!({"newEmail": new_email}), Some(&cookie)).await;
    assert_eq!(res.json(), json!({"status": true}));
    let change_link = app.mail(&new_email, "change-email").await["url"].as_str().unwrap().to_string();
    app.post("/request-password-reset", json!({"email": email}), None).await;
    let reset_token = app.mail(&email, "reset").await["token"].as_str().unwrap().to_string();
    let res = app
        .post("/reset-password", json!({"token": reset_token, "newPassword": "another-password"}), None)
        .await;
    assert_eq!(res.json(), json!({"status": true}));
    let path = change_link.strip_prefix("http://127.0.0.1:3000/api/auth").unwrap();
    app.get(path, None).await.assert_error(401, "INVALID_TOKEN");
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

async fn retired_key_outlives_the_minute_instances_may_still_use_it(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    app.get("/token", Some(&cookie)).await;
    let old_kid = app.state.store.current_jwk().await.unwrap().unwrap().id;
    app.state.jwt.rotate(app.state.store.as_ref(), app.clock().now_ms()).await.unwrap();
    app.clock().advance(Duration::from_secs(3600 + 30));
    let keys = app.get("/jwks", None).await.json();
    assert!(keys["keys"].as_array().unwrap().iter().any(|k| k["kid"] == old_kid.as_str()), "{keys}");
    app.clock().advance(Duration::from_secs(31));
    let keys = app.get("/jwks", None).await.json();
    assert!(!keys["keys"].as_array().unwrap().iter().any(|k| k["kid"] == old_kid.as_str()), "{keys}");
}

async fn errors_name_no_internal_types(backend: Backend) {
    let app = app!(backend);
    let req = app
        .req(Method::POST, "/sign-in/email")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("5"))
        .unwrap();
    let body = app.send(req).await.assert_error(400, "VALIDATION_ERROR");
    assert!(!body["message"].as_str().unwrap().contains("struct"), "{body}");
    let res = app.get("/reset-password/%FF%FE", None).await;
    assert_eq!(res.header("content-type").map(|c| c.starts_with("text/html")), Some(true), "{}", res.text());
}

async fn bodiless_routes_still_apply_body_rules(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    for path in ["/revoke-sessions", "/revoke-other-sessions", "/sign-out"] {
        let req = app
            .req(Method::POST, path)
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &cookie)
            .body(Body::from("x".repeat(100)))
            .unwrap();
        app.send(req).await.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert!(app.get("/get-session", Some(&cookie)).await.json()["session"].is_object(), "nothing revoked");
}

async fn session_records_the_client_behind_a_trusted_proxy(backend: Backend) {
    let app = app!(backend, |s| {
        s.trusted_proxies = gatehouse::security::client_ip::TrustedProxies::parse("10.0.0.0/8").unwrap();
    });
    let req = app
        .req(Method::POST, "/sign-up/email")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", "203.0.113.50")
        .body(Body::from(json!({"name": "P", "email": unique_email(), "password": PASSWORD}).to_string()))
        .unwrap();
    let body = app.send(from_ip("10.0.0.7", req)).await.json();
    assert_eq!(body["session"]["ipAddress"], "203.0.113.50");
}

async fn outbox_is_readable_by_the_server_user_only(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    app.post("/request-password-reset", json!({"email": email}), None).await;
    app.mail(&email, "reset").await;
    let mode =
        std::fs::metadata(&app.state.settings.outbox_path).expect("outbox written").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "outbox mode {mode:o}");
    // One left world-readable (by an older version) is made private when a server starts on it.
    let path = app.state.settings.outbox_path.clone();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _restarted = app.sibling(|s| s.outbox_path = path.clone());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "outbox mode after a restart {mode:o}");
}

backend_tests!(
    parallel_wrong_codes_use_up_the_attempts,
    password_reset_kills_a_pending_email_change,
    change_password_kills_pending_reset_links,
    retired_key_outlives_the_minute_instances_may_still_use_it,
    errors_name_no_internal_types,
    bodiless_routes_still_apply_body_rules,
    session_records_the_client_behind_a_trusted_proxy,
    outbox_is_readable_by_the_server_user_only,
);
