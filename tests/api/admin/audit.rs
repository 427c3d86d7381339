//! The audit log: sign-ins (and their failures), sign-outs, password changes and admin actions
//! are written (a change that failed writes none), admins read the app's events by user, action
//! and page, users their own, and old events are swept.

use serde_json::{Value, json};

use super::{admin, call, member};
use crate::{app, helpers::*};

async fn log_of(app: &TestApp, cookie: &str, query: &str) -> Value {
    app.get(&format!("/admin/audit-log?{query}"), Some(cookie)).await.assert_ok()
}

fn actions(page: &Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

async fn sign_ins_and_admin_actions_are_written(backend: Backend) {
    let app = app!(backend);
    let (cookie, admin_id) = admin(&app).await;
    let (email, user_cookie, id) = member(&app).await;
    rejected(&app.sign_in(&email, "wrong-password-1").await, 401, "INVALID_EMAIL_OR_PASSWORD");
    let ua = app
        .req(axum::http::Method::POST, "/sign-in/email")
        .header("content-type", "application/json")
        .header("user-agent", "audit-test/1.0")
        .body(axum::body::Body::from(json!({"email": email, "password": PASSWORD}).to_string()))
        .unwrap();
    app.send(from_ip("203.0.113.9", ua)).await.assert_ok();
    app.post("/sign-out", json!({}), Some(&user_cookie)).await.assert_ok();
    call(&app, &cookie, "ban-user", json!({"userId": id, "banReason": "spam"})).await.assert_ok();
    // A change that failed writes nothing.
    rejected(&call(&app, &cookie, "ban-user", json!({"userId": "nobody"})).await, 404, "USER_NOT_FOUND");
    rejected(&app.sign_up(&email).await, 409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");

    let page = log_of(&app, &cookie, &format!("userId={id}")).await;
    assert_eq!(actions(&page), vec!["user-banned", "sign-out", "sign-in", "sign-in", "sign-up"]);
    let events = page["events"].as_array().unwrap();
    assert_eq!(
        (events[0]["actorId"].as_str(), events[0]["targetId"].as_str()),
        (Some(admin_id.as_str()), Some(id.as_str()))
    );
    assert_eq!(events[0]["details"]["reason"], "spam");
    assert_eq!(
        (events[2]["outcome"].as_str(), events[2]["actorIp"].as_str()),
        (Some("success"), Some("203.0.113.9"))
    );
    assert_eq!(events[2]["userAgent"], "audit-test/1.0");
    assert_eq!(
        (events[3]["outcome"].as_str(), events[3]["details"]["reason"].as_str()),
        (Some("failure"), Some("INVALID_EMAIL_OR_PASSWORD"))
    );
    let text = page.to_string();
    assert!(!text.contains(PASSWORD) && !text.contains("wrong-password-1"), "no secrets: {text}");
    // A banned user's try is written with its reason.
    rejected(&app.sign_in(&email, PASSWORD).await, 403, "BANNED_USER");
    let page = log_of(&app, &cookie, &format!("userId={id}&action=sign-in&limit=1")).await;
    assert_eq!(page["events"][0]["details"]["reason"], "BANNED_USER");
    // Pages: the cursor goes on where the last page ended.
    let first = log_of(&app, &cookie, &format!("userId={id}&limit=2")).await;
    let cursor = first["nextCursor"].as_str().expect("more").to_string();
    let second = log_of(&app, &cookie, &format!("userId={id}&limit=2&cursor={cursor}")).await;
    assert_eq!(actions(&second), vec!["sign-out", "sign-in"]);
    // Not for users.
    let (_, other, _) = member(&app).await;
    rejected(
        &app.get("/admin/audit-log", Some(&other)).await,
        403,
        "YOU_ARE_NOT_ALLOWED_TO_READ_THE_AUDIT_LOG",
    );
    rejected(&app.get("/admin/audit-log?since=yesterday", Some(&cookie)).await, 400, "VALIDATION_ERROR");
}

async fn users_see_their_own_security_events(backend: Backend) {
    let app = app!(backend);
    let (email, cookie, _) = member(&app).await;
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    app.post("/change-password", body, Some(&cookie)).await.assert_ok();
    app.sign_in(&email, NEW_PASSWORD).await.assert_ok();
    let own = app.get("/audit-log", Some(&cookie)).await.assert_ok();
    assert_eq!(actions(&own), vec!["sign-in", "password-changed", "sign-up"]);
    // Another user's events are not there.
    let (_, other, _) = member(&app).await;
    assert_eq!(actions(&app.get("/audit-log", Some(&other)).await.assert_ok()), vec!["sign-up"]);
    rejected(&app.get("/audit-log", None).await, 401, "UNAUTHORIZED");
}

async fn old_events_are_swept(backend: Backend) {
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    app.clock().advance(std::time::Duration::from_secs(2 * 86_400));
    member(&app).await;
    let before = app.clock().now_ms() - 86_400_000;
    assert_eq!(app.state.store.delete_audit_before(before).await.unwrap(), 1, "the admin's sign-up");
    assert_eq!(actions(&log_of(&app, &cookie, "").await), vec!["sign-up"]);
}

/// Address changes, second-factor changes and lockouts are written too.
async fn more_security_events_are_written(backend: Backend) {
    let app = app!(backend, |s| s.limits.lockout_max_failed_attempts = 2);
    let (email, cookie, _) = member(&app).await;
    let new_email = unique_email();
    app.post("/change-email", json!({"newEmail": new_email}), Some(&cookie)).await.assert_ok();
    let token = token_of(&app.mail(&new_email, "change-email").await);
    app.get(&format!("/verify-email?token={token}"), Some(&cookie)).await.assert_ok();
    let res = app.post("/two-factor/enable", json!({"password": PASSWORD}), Some(&cookie)).await;
    res.assert_ok();
    for _ in 0..2 {
        rejected(&app.sign_in(&new_email, "wrong-password-1").await, 401, "INVALID_EMAIL_OR_PASSWORD");
    }
    // The lock's notice (and its event) go out in the background.
    let start = std::time::Instant::now();
    loop {
        let own = app.get("/audit-log", Some(&cookie)).await;
        let own = if own.status == 200 { own.assert_ok() } else { json!({"events": []}) };
        let seen = actions(&own);
        if seen.contains(&"account-locked".to_string()) {
            assert!(
                seen.contains(&"email-changed".to_string())
                    && seen.contains(&"two-factor-changed".to_string()),
                "{seen:?}"
            );
            let changed = own["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["action"] == "email-changed")
                .unwrap()
                .clone();
            assert_eq!(
                (changed["details"]["from"].as_str(), changed["details"]["to"].as_str()),
                (Some(email.as_str()), Some(new_email.as_str()))
            );
            break;
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "no lock event: {seen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

crate::backend_tests!(
    sign_ins_and_admin_actions_are_written,
    users_see_their_own_security_events,
    old_events_are_swept,
    more_security_events_are_written,
);
