//! Impersonation: a one-hour session marked `impersonatedBy`, the admin's own session parked and
//! restored, JWTs naming the admin (`act`), and what such a session may not do.

use serde_json::json;

use super::{admin, call, member};
use crate::{app, helpers::*};

async fn an_admin_sees_what_the_user_sees_and_comes_back(backend: Backend) {
    let app = app!(backend);
    let (cookie, admin_id) = admin(&app).await;
    let (email, _, id) = member(&app).await;
    let res = call(&app, &cookie, "impersonate-user", json!({"userId": id})).await;
    let answer = res.assert_ok();
    assert_eq!(
        (answer["user"]["email"].as_str(), answer["session"]["impersonatedBy"].as_str()),
        (Some(email.as_str()), Some(admin_id.as_str()))
    );
    let lifetime = gatehouse::domain::time::parse_ms(answer["session"]["expiresAt"].as_str().unwrap())
        .unwrap()
        - app.clock().now_ms();
    assert!((3_590_000..=3_600_000).contains(&lifetime), "{lifetime}");
    assert!(res.header("set-auth-token").is_some(), "bearer clients get the token");
    let parked = res.set_cookies();
    assert!(parked.contains_key(&app.state.admin_session_cookie()), "{parked:?}");
    let as_user = app.cookie_of(&res);
    let both = format!(
        "{as_user}; {}={}",
        app.state.admin_session_cookie(),
        parked[&app.state.admin_session_cookie()].0
    );
    assert_eq!(session_user(&app, &both).await["email"], email.as_str());
    // Its JWT names the admin as the actor.
    let token = app.get("/token", Some(&both)).await.assert_ok()["token"].as_str().unwrap().to_string();
    let claims = jwt::segment(&token, 1);
    assert_eq!(
        (claims["sub"].as_str(), claims["act"]["sub"].as_str()),
        (Some(id.as_str()), Some(admin_id.as_str()))
    );
    // What it may not do.
    let refused = "IMPERSONATION_FORBIDS_THIS";
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    rejected(&app.post("/change-password", body, Some(&both)).await, 403, refused);
    rejected(
        &app.post("/change-email", json!({"newEmail": unique_email()}), Some(&both)).await,
        403,
        refused,
    );
    rejected(&app.post("/delete-user", json!({"password": PASSWORD}), Some(&both)).await, 403, refused);
    rejected(&app.post("/two-factor/enable", json!({"password": PASSWORD}), Some(&both)).await, 403, refused);
    rejected(
        &call(&app, &both, "impersonate-user", json!({"userId": admin_id})).await,
        403,
        "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS",
    );
    // The user does not see it among their sessions.
    let own = app.cookie_of(&app.sign_in(&email, PASSWORD).await);
    let listed = app.get("/list-sessions", Some(&own)).await.assert_ok();
    assert!(listed.as_array().unwrap().iter().all(|s| s["impersonatedBy"].is_null()), "{listed}");
    // Back: the impersonation session ends, the admin's is back.
    let res = call(&app, &both, "stop-impersonating", json!({})).await;
    let back = res.assert_ok();
    assert_eq!(back["user"]["id"], admin_id.as_str());
    let restored = app.cookie_of(&res);
    assert_eq!(session_user(&app, &restored).await["id"], admin_id.as_str());
    assert!(app.session(&as_user).await.is_null());
    rejected(&call(&app, &restored, "stop-impersonating", json!({})).await, 400, "NOT_IMPERSONATING");
}

async fn impersonating_has_limits(backend: Backend) {
    let app = app!(backend);
    let (cookie, admin_id) = admin(&app).await;
    let (other_admin, other_id) = admin(&app).await;
    drop(other_admin);
    rejected(
        &call(&app, &cookie, "impersonate-user", json!({"userId": other_id})).await,
        403,
        "YOU_CANNOT_IMPERSONATE_ADMINS",
    );
    rejected(
        &call(&app, &cookie, "impersonate-user", json!({"userId": admin_id})).await,
        400,
        "YOU_CANNOT_IMPERSONATE_YOURSELF",
    );
    rejected(
        &call(&app, &cookie, "impersonate-user", json!({"userId": "nobody"})).await,
        404,
        "USER_NOT_FOUND",
    );
    // A session lasts an hour and is never extended.
    let (_, _, id) = member(&app).await;
    let res = call(&app, &cookie, "impersonate-user", json!({"userId": id})).await;
    let as_user = app.cookie_of(&res);
    app.clock().advance(std::time::Duration::from_secs(3_601));
    assert!(app.session(&as_user).await.is_null());
}

/// What review found: a session an admin opens as a user cannot leave a way back in; an admin
/// cannot change or end another admin (only who may impersonate admins can); a banned admin's
/// sessions as other users end with the ban.
async fn admins_cannot_reach_past_impersonation(backend: Backend) {
    let first = app!(backend);
    let (_, _, boss_id) = member(&first).await;
    let app = first.sibling(|s| s.admin.user_ids = vec![boss_id.clone()]);
    let boss = app.cookie_of(&app.sign_in(&session_email(&app, &boss_id).await, PASSWORD).await);
    let (cookie, admin_id) = admin(&app).await;
    let (_, other_admin_id) = admin(&app).await;
    for (route, body) in [
        ("set-user-password", json!({"userId": other_admin_id, "newPassword": NEW_PASSWORD})),
        ("ban-user", json!({"userId": other_admin_id})),
        ("remove-user", json!({"userId": other_admin_id})),
        ("revoke-user-sessions", json!({"userId": other_admin_id})),
        ("set-role", json!({"userId": other_admin_id, "role": "user"})),
    ] {
        rejected(&call(&app, &cookie, route, body).await, 403, "YOU_CANNOT_MANAGE_ADMINS");
    }
    // Sessions are listed without their tokens; the id revokes.
    let (email, user_cookie, id) = member(&app).await;
    let listed = call(&app, &cookie, "list-user-sessions", json!({"userId": id})).await.assert_ok();
    let session = &listed["sessions"][0];
    assert_eq!(session["token"], session["id"], "no token: {session}");
    assert!(!user_cookie.contains(session["token"].as_str().unwrap()));
    // An impersonated session cannot unlink a provider, change the profile, end other sessions.
    let res = call(&app, &cookie, "impersonate-user", json!({"userId": id})).await;
    let as_user = app.cookie_of(&res);
    for (path, body) in [
        ("/unlink-account", json!({"providerId": "github"})),
        ("/update-user", json!({"name": "x"})),
        ("/revoke-sessions", json!({})),
        ("/two-factor/disable", json!({"password": PASSWORD})),
    ] {
        rejected(&app.post(path, body, Some(&as_user)).await, 403, "IMPERSONATION_FORBIDS_THIS");
    }
    // Nor see the user's session tokens (each would be a session of the user with no mark).
    rejected(&app.get("/list-sessions", Some(&as_user)).await, 403, "IMPERSONATION_FORBIDS_THIS");
    // Demoted, the admin's session as the user ends.
    call(&app, &boss, "set-role", json!({"userId": admin_id, "role": "user"})).await.assert_ok();
    assert!(app.session(&as_user).await.is_null());
    call(&app, &boss, "set-role", json!({"userId": admin_id, "role": "admin"})).await.assert_ok();
    let as_user = app.cookie_of(&call(&app, &cookie, "impersonate-user", json!({"userId": id})).await);
    assert_eq!(session_user(&app, &as_user).await["email"], email.as_str());
    // The boss bans the admin: the admin's session as the user ends too; the user's own stays.
    call(&app, &boss, "ban-user", json!({"userId": admin_id})).await.assert_ok();
    assert!(app.session(&as_user).await.is_null());
    assert_eq!(session_user(&app, &user_cookie).await["email"], email.as_str());
}

/// Ending an admin's sessions (revoked everywhere, or by a password reset) ends the sessions they
/// opened as other users too.
async fn impersonations_end_with_the_admins_sessions(backend: Backend) {
    let app = app!(backend);
    let (cookie, admin_id) = admin(&app).await;
    let admin_email = session_email(&app, &admin_id).await;
    let (email, user_cookie, id) = member(&app).await;
    // Another browser of the admin's (the first one's cookie becomes the user's session).
    let elsewhere = app.cookie_of(&app.sign_in(&admin_email, PASSWORD).await);
    let as_user = app.cookie_of(&call(&app, &cookie, "impersonate-user", json!({"userId": id})).await);
    assert_eq!(session_user(&app, &as_user).await["email"], email.as_str());
    app.post("/revoke-sessions", json!({}), Some(&elsewhere)).await.assert_ok();
    assert!(app.session(&as_user).await.is_null(), "the impersonation outlived the admin's sessions");

    let again = app.cookie_of(&app.sign_in(&admin_email, PASSWORD).await);
    let as_user = app.cookie_of(&call(&app, &again, "impersonate-user", json!({"userId": id})).await);
    app.post("/request-password-reset", json!({"email": admin_email}), None).await.assert_ok();
    let token = token_of(&app.mail(&admin_email, "reset").await);
    let body = json!({"token": token, "newPassword": NEW_PASSWORD});
    app.post("/reset-password", body, None).await.assert_ok();
    assert!(app.session(&as_user).await.is_null(), "the impersonation outlived the reset");
    // The user's own session is theirs.
    assert_eq!(session_user(&app, &user_cookie).await["email"], email.as_str());
}

async fn session_email(app: &TestApp, id: &str) -> String {
    app.state.store.user_by_id(id).await.unwrap().unwrap().email
}

crate::backend_tests!(
    an_admin_sees_what_the_user_sees_and_comes_back,
    impersonating_has_limits,
    admins_cannot_reach_past_impersonation,
    impersonations_end_with_the_admins_sessions,
);
