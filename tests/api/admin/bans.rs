//! Bans: every session ends at once, every way in answers 403 `BANNED_USER` (password, email
//! code, refresh token, a provider's callback), an expired ban lifts itself; the user's
//! sessions seen and ended by an admin.

use serde_json::json;

use super::{admin, call, member};
use crate::{app, helpers::*};

async fn a_ban_ends_sessions_and_closes_every_way_in(backend: Backend) {
    let app = app!(backend);
    let (cookie, admin_id) = admin(&app).await;
    let (email, user_cookie, id) = member(&app).await;
    let pair = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "issueTokens": true}), None)
        .await
        .assert_ok();
    let refresh = pair["refreshToken"].as_str().unwrap().to_string();
    rejected(
        &call(&app, &cookie, "ban-user", json!({"userId": admin_id})).await,
        400,
        "YOU_CANNOT_BAN_YOURSELF",
    );
    let banned =
        call(&app, &cookie, "ban-user", json!({"userId": id, "banReason": "spam"})).await.assert_ok();
    assert_eq!(
        (banned["user"]["banned"].as_bool(), banned["user"]["banReason"].as_str()),
        (Some(true), Some("spam"))
    );
    assert!(banned["user"]["banExpires"].is_null());
    // Every session ended, and nothing opens a new one.
    assert!(app.session(&user_cookie).await.is_null());
    rejected(&app.sign_in(&email, PASSWORD).await, 403, "BANNED_USER");
    let code = app.otp_code(&email, "sign-in", 1).await;
    rejected(
        &app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await,
        403,
        "BANNED_USER",
    );
    let res = app.post("/token/refresh", json!({"refresh_token": refresh}), None).await;
    assert!(matches!(res.status.as_u16(), 401 | 403), "{}", res.text());
    // A wrong password still says only that (no telling which accounts are banned).
    rejected(&app.sign_in(&email, "wrong-password-1").await, 401, "INVALID_EMAIL_OR_PASSWORD");
    // Unbanned: in again.
    let unbanned = call(&app, &cookie, "unban-user", json!({"userId": id})).await.assert_ok();
    assert_eq!(
        (unbanned["user"]["banned"].as_bool(), unbanned["user"]["banReason"].is_null()),
        (Some(false), true)
    );
    app.sign_in(&email, PASSWORD).await.assert_ok();
}

async fn a_ban_with_an_end_lifts_itself(backend: Backend) {
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    let (email, _, id) = member(&app).await;
    let banned = call(&app, &cookie, "ban-user", json!({"userId": id, "banExpiresIn": 60})).await.assert_ok();
    assert_iso_ms(&banned["user"]["banExpires"]);
    assert_eq!(banned["user"]["banReason"], "No reason");
    rejected(&app.sign_in(&email, PASSWORD).await, 403, "BANNED_USER");
    app.clock().advance(std::time::Duration::from_secs(61));
    let res = app.sign_in(&email, PASSWORD).await.assert_ok();
    assert_eq!(res["user"]["email"], email.as_str());
    let user = app.get(&format!("/admin/get-user?id={id}"), Some(&cookie)).await.assert_ok();
    assert_eq!((user["banned"].as_bool(), user["banExpires"].is_null()), (Some(false), true));
    rejected(
        &call(&app, &cookie, "ban-user", json!({"userId": id, "banExpiresIn": 0})).await,
        400,
        "VALIDATION_ERROR",
    );
}

async fn an_admin_sees_and_ends_a_user_s_sessions(backend: Backend) {
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    let (email, first, id) = member(&app).await;
    let second = app.cookie_of(&app.sign_in(&email, PASSWORD).await);
    let sessions = call(&app, &cookie, "list-user-sessions", json!({"userId": id})).await.assert_ok();
    let sessions = sessions["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    let token = sessions[0]["token"].as_str().unwrap();
    let res = call(&app, &cookie, "revoke-user-session", json!({"sessionToken": token})).await;
    assert_eq!(res.assert_ok(), json!({"success": true}));
    let live = [app.session(&first).await.is_object(), app.session(&second).await.is_object()];
    assert_eq!(live.iter().filter(|l| **l).count(), 1, "one of the two ended");
    call(&app, &cookie, "revoke-user-sessions", json!({"userId": id})).await.assert_ok();
    assert!(app.session(&first).await.is_null() && app.session(&second).await.is_null());
    // An unknown token is fine; an unknown user is not.
    call(&app, &cookie, "revoke-user-session", json!({"sessionToken": "nope"})).await.assert_ok();
    rejected(
        &call(&app, &cookie, "list-user-sessions", json!({"userId": "nobody"})).await,
        404,
        "USER_NOT_FOUND",
    );
}

crate::backend_tests!(
    a_ban_ends_sessions_and_closes_every_way_in,
    a_ban_with_an_end_lifts_itself,
    an_admin_sees_and_ends_a_user_s_sessions,
);
