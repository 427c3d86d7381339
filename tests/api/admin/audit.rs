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
    // A sign-in names the session it started by id, never by token.
    let session = events[2]["details"]["session"].as_str().expect("the session's id").to_string();
    assert!(session.len() >= 16 && !user_cookie.contains(&session), "{session}");
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
    rejected(&app.get("/admin/audit-log?limit=1&limit=2", Some(&cookie)).await, 400, "VALIDATION_ERROR");
    rejected(&app.get("/audit-log?limit=1&limit=2", Some(&cookie)).await, 400, "VALIDATION_ERROR");
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

/// Organization membership and role changes and revoked sessions are written; a refused change
/// writes nothing.
async fn membership_and_session_events_are_written(backend: Backend) {
    use crate::helpers::org::{create, invite, slug};
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    let (_, owner, owner_id) = member(&app).await;
    let org = create(&app, &owner, &slug()).await.assert_ok();
    let invitee_email = unique_email();
    let invitation = invite(&app, &owner, &invitee_email, "member").await.assert_ok();
    let invitee = app.verified_cookie(&invitee_email).await;
    let body = json!({"invitationId": invitation["id"]});
    app.post("/organization/accept-invitation", body, Some(&invitee)).await.assert_ok();
    let members = app.get("/organization/list-members", Some(&owner)).await.assert_ok();
    let joined =
        members["members"].as_array().unwrap().iter().find(|m| m["role"] == "member").unwrap().clone();
    let body = json!({"memberId": joined["id"], "role": "admin"});
    app.post("/organization/update-member-role", body, Some(&owner)).await.assert_ok();
    let body = json!({"memberIdOrEmail": invitee_email});
    app.post("/organization/remove-member", body, Some(&owner)).await.assert_ok();
    let body = json!({"organizationId": org["id"]});
    let refused = app.post("/organization/leave", body, Some(&owner)).await;
    assert_eq!(refused.status, 400, "the only owner: {}", refused.text());
    // A token of nobody's (or another user's) ends nothing: no event.
    let body = json!({"token": "made-up-token"});
    app.post("/revoke-session", body, Some(&owner)).await.assert_ok();
    app.post("/revoke-other-sessions", json!({}), Some(&owner)).await.assert_ok();

    let page = log_of(&app, &cookie, &format!("userId={owner_id}")).await;
    let expected =
        ["sessions-revoked", "member-removed", "member-role-changed", "organization-created", "sign-up"];
    assert_eq!(actions(&page), expected);
    let events = page["events"].as_array().unwrap();
    assert_eq!(
        (events[2]["targetType"].as_str(), &events[2]["targetId"]),
        (Some("organization"), &org["id"])
    );
    assert_eq!(events[2]["details"]["role"], "admin");
    let added = log_of(&app, &cookie, "action=member-added").await;
    assert_eq!(added["events"][0]["details"]["role"], "member", "{added}");
    assert_eq!(added["events"][0]["targetId"], org["id"]);
}

/// Makes every write to `audit_event` fail on `app`'s database.
async fn break_the_audit_log(app: &TestApp, backend: Backend) {
    app.sql(match backend {
        Backend::Sqlite => {
            "CREATE TRIGGER no_audit BEFORE INSERT ON audit_event BEGIN SELECT RAISE(ABORT, 'no audit'); END;"
        }
        Backend::Postgres => {
            "CREATE FUNCTION no_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no audit'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER no_audit BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION no_audit();"
        }
    })
    .await;
}

/// An event is written in the transaction of the change it records: when it cannot be written,
/// the change is not made either (a 500 with nothing of the database in it).
async fn no_change_goes_without_its_event(backend: Backend) {
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    let (email, user_cookie, id) = member(&app).await;
    break_the_audit_log(&app, backend).await;
    let failed = |res: TestResponse| {
        assert_eq!(res.status, 500, "{}", res.text());
        assert!(!res.text().to_lowercase().contains("audit"), "{}", res.text());
    };
    failed(call(&app, &cookie, "ban-user", json!({"userId": id})).await);
    failed(call(&app, &cookie, "set-role", json!({"userId": id, "role": "admin"})).await);
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    failed(app.post("/change-password", body, Some(&user_cookie)).await);
    failed(app.post("/revoke-sessions", json!({}), Some(&user_cookie)).await);
    failed(
        app.post("/organization/create", json!({"name": "Acme", "slug": "acme-audit"}), Some(&user_cookie))
            .await,
    );
    failed(app.sign_in(&email, PASSWORD).await);
    failed(app.sign_up(&unique_email()).await);
    let newcomer = unique_email();
    failed(app.sign_up(&newcomer).await);
    app.sql(match backend {
        Backend::Sqlite => "DROP TRIGGER no_audit;",
        Backend::Postgres => "DROP TRIGGER no_audit ON audit_event; DROP FUNCTION no_audit();",
    })
    .await;
    // Nothing of it happened.
    let user = app.get(&format!("/admin/get-user?id={id}"), Some(&cookie)).await.assert_ok();
    assert_eq!((user["banned"].as_bool(), user["role"].as_str()), (Some(false), Some("user")), "{user}");
    assert_eq!(
        app.session(&user_cookie).await["user"]["id"],
        id.as_str(),
        "the sessions outlived their revocation"
    );
    let orgs = app.get("/organization/list", Some(&user_cookie)).await.assert_ok();
    assert_eq!(orgs, json!([]));
    assert!(!user_exists(&app, &newcomer).await);
    app.sign_in(&email, PASSWORD).await.assert_ok();
    let page = log_of(&app, &cookie, &format!("userId={id}")).await;
    assert_eq!(actions(&page), vec!["sign-in", "sign-up"]);
}

crate::backend_tests!(
    no_change_goes_without_its_event,
    membership_and_session_events_are_written,
    sign_ins_and_admin_actions_are_written,
    users_see_their_own_security_events,
    old_events_are_swept,
    more_security_events_are_written,
);
