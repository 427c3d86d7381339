//! Which app a request belongs to: its key (missing, wrong, revoked, expired, rotated), its
//! Origin, a body's `appId`; the per-key limit; keys stored hashed; deleting an app.

use gatehouse::{
    apps_cli,
    security::ratelimit::Rule,
    service::apps::{hash_key, mint_key},
};
use serde_json::json;

use crate::{app, helpers::*};

const ALPHA: &str = "https://alpha.example";

fn sign_up_body(email: &str) -> serde_json::Value {
    json!({"name": "Ann", "email": email, "password": PASSWORD})
}

fn sign_in_body(email: &str) -> serde_json::Value {
    json!({"email": email, "password": PASSWORD})
}

/// The id of the app's key whose `start` the raw key begins with.
async fn key_id(app: &TestApp, app_id: &str, raw: &str) -> String {
    let keys = app.state.store.app_keys(app_id).await.unwrap();
    keys.into_iter().find(|k| raw.starts_with(k.start.as_deref().unwrap())).expect("key").id
}

async fn no_key_is_the_default_space(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[ALPHA]).await;
    let email = unique_email();
    let res = app.post("/sign-up/email", sign_up_body(&email), None).await;
    let user = res.assert_ok()["user"].clone();
    // The default space's user objects are as before apps existed.
    assert!(user.get("appId").is_none(), "{user}");
    assert!(user_exists(&app, &email).await);
    // The app has no such user.
    let res = app.post_as(&alpha.key, "/sign-in/email", sign_in_body(&email), None).await;
    rejected(&res, 401, "INVALID_EMAIL_OR_PASSWORD");
    // An app's user carries its app.
    let res = app.post_as(&alpha.key, "/sign-up/email", sign_up_body(&email), None).await;
    assert_eq!(res.assert_ok()["user"]["appId"], alpha.id.as_str());
}

async fn a_bad_key_is_refused_before_anything_runs(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    let email = unique_email();
    let wrong = format!("{}x", alpha.key);
    for key in [wrong.as_str(), "", "gh_app_", "not-a-key", &alpha.key[..20]] {
        let res = app.post_as(key, "/sign-up/email", sign_up_body(&email), None).await;
        rejected(&res, 401, "INVALID_API_KEY");
        // Every route, even one that needs no input.
        rejected(&app.get_as(key, "/get-session", None).await, 401, "INVALID_API_KEY");
        rejected(&app.get_as(key, "/ok", None).await, 401, "INVALID_API_KEY");
    }
    assert!(!user_exists(&app, &email).await);
    let stored = app.state.store.credential_by_email(&email, &alpha.id).await.unwrap();
    assert!(stored.is_none(), "nothing was processed");
}

async fn revoked_and_expired_keys_are_refused(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    let cookie = app.signed_up_in(&alpha.key, &unique_email()).await;
    let id = key_id(&app, &alpha.id, &alpha.key).await;
    assert_eq!(
        apps_cli::revoke_key(app.state.store.as_ref(), &id).await.unwrap(),
        format!("key {id} revoked")
    );
    app.reload_apps().await;
    rejected(&app.get_as(&alpha.key, "/get-session", Some(&cookie)).await, 401, "INVALID_API_KEY");
    // Revoking twice, or a key that does not exist, says so.
    assert!(apps_cli::revoke_key(app.state.store.as_ref(), &id).await.is_err());
    assert!(apps_cli::revoke_key(app.state.store.as_ref(), "nope").await.is_err());

    let now = app.clock().now_ms();
    let (mut row, expired) = mint_key(&alpha.id, "short-lived", now);
    row.expires_at = Some(now + 1_000);
    app.state.store.insert_app_key(&row).await.unwrap();
    app.reload_apps().await;
    assert!(app.get_as(&expired, "/get-session", Some(&cookie)).await.assert_ok()["user"].is_object());
    app.clock().advance(std::time::Duration::from_secs(2));
    rejected(&app.get_as(&expired, "/get-session", Some(&cookie)).await, 401, "INVALID_API_KEY");
}

async fn a_rotated_key_and_the_old_one_both_work_until_it_is_revoked(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    let store = app.state.store.as_ref();
    let email = unique_email();
    let cookie = app.signed_up_in(&alpha.key, &email).await;
    let shown = apps_cli::rotate_key(store, &alpha.slug).await.unwrap();
    let new_key = shown.lines().nth(1).expect("the key on the second line").to_string();
    assert!(new_key.starts_with("gh_app_") && new_key != alpha.key);
    app.reload_apps().await;
    for key in [&alpha.key, &new_key] {
        app.post_as(key, "/sign-in/email", sign_in_body(&email), None).await.assert_ok();
        assert_eq!(app.get_as(key, "/get-session", Some(&cookie)).await.assert_ok()["user"]["email"], email);
    }
    // Two active keys at most.
    let refused = apps_cli::rotate_key(store, &alpha.id).await.unwrap_err().to_string();
    assert!(refused.contains("revoke the old one first"), "{refused}");
    apps_cli::revoke_key(store, &key_id(&app, &alpha.id, &alpha.key).await).await.unwrap();
    app.reload_apps().await;
    rejected(
        &app.post_as(&alpha.key, "/sign-in/email", sign_in_body(&email), None).await,
        401,
        "INVALID_API_KEY",
    );
    app.post_as(&new_key, "/sign-in/email", sign_in_body(&email), None).await.assert_ok();
    assert_eq!(app.get_as(&new_key, "/get-session", Some(&cookie)).await.assert_ok()["user"]["email"], email);
    // And now a rotation is allowed again.
    apps_cli::rotate_key(store, &alpha.slug).await.unwrap();
}

async fn a_body_app_id_must_name_the_request_app(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[ALPHA]).await;
    let beta = app.new_app("Beta", &[]).await;
    let email = unique_email();
    let with_app = |id: &str| json!({"name": "Ann", "email": email, "password": PASSWORD, "appId": id});
    // Another app's id, by key or by origin.
    rejected(&app.post_as(&alpha.key, "/sign-up/email", with_app(&beta.id), None).await, 403, "APP_MISMATCH");
    rejected(&app.post_from(ALPHA, "/sign-up/email", with_app(&beta.id), None).await, 403, "APP_MISMATCH");
    rejected(&app.post_as(&alpha.key, "/sign-up/email", with_app("nope"), None).await, 403, "APP_MISMATCH");
    // Not a string names no app.
    let numeric = json!({"name": "Ann", "email": email, "password": PASSWORD, "appId": 7});
    rejected(&app.post_as(&alpha.key, "/sign-up/email", numeric, None).await, 403, "APP_MISMATCH");
    // A request of no app.
    rejected(&app.post("/sign-up/email", with_app(&alpha.id), None).await, 401, "API_KEY_REQUIRED");
    let form = format!("name=Ann&email={}&password={PASSWORD}&appId={}", email.replace('@', "%40"), alpha.id);
    rejected(&app.post_form("/sign-up/email", &form).await, 401, "API_KEY_REQUIRED");
    assert!(app.state.store.credential_by_email(&email, &alpha.id).await.unwrap().is_none());
    assert!(!user_exists(&app, &email).await);
    // Its own id (or slug) is fine; null is no appId.
    app.post_as(&alpha.key, "/sign-up/email", with_app(&alpha.id), None).await.assert_ok();
    let body = json!({"email": email, "password": PASSWORD, "appId": alpha.slug});
    app.post_as(&alpha.key, "/sign-in/email", body, None).await.assert_ok();
    let body = json!({"email": email, "password": PASSWORD, "appId": null});
    app.post_from(ALPHA, "/sign-in/email", body, None).await.assert_ok();
}

async fn an_origin_an_app_lists_selects_it(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[ALPHA, "http://localhost:5173/"]).await;
    let email = unique_email();
    let res = app.post_from(ALPHA, "/sign-up/email", sign_up_body(&email), None).await;
    assert_eq!(res.assert_ok()["user"]["appId"], alpha.id.as_str());
    let cookie = app.cookie_of(&res);
    // The browser's session works from the app's origins (and passes the CSRF check there).
    assert_eq!(app.get_from(ALPHA, "/get-session", Some(&cookie)).await.assert_ok()["user"]["email"], email);
    let res =
        app.post_from("http://localhost:5173", "/update-user", json!({"name": "Ann B"}), Some(&cookie)).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    // A same-origin GET carries no Origin, but a Referer (an app page's URL).
    let req = app
        .req(axum::http::Method::GET, "/get-session")
        .header("cookie", &cookie)
        .header("referer", format!("{ALPHA}/account?tab=1"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.assert_ok()["user"]["email"], email);
    // Not from the server's own origin (the default space), nor from an origin nobody lists.
    assert!(app.session(&cookie).await.is_null());
    let res =
        app.post_from("https://evil.example", "/update-user", json!({"name": "x"}), Some(&cookie)).await;
    rejected(&res, 403, "INVALID_ORIGIN");
    // The key and the origin agree.
    assert_eq!(
        app.get_as(&alpha.key, "/get-session", Some(&cookie)).await.assert_ok()["user"]["name"],
        "Ann B"
    );
}

async fn each_key_has_a_limit_of_its_own(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.app_key = Rule { max: 3, window_ms: 60_000 }).await else {
        return;
    };
    let alpha = app.new_app("Alpha", &[ALPHA]).await;
    let beta = app.new_app("Beta", &[]).await;
    for _ in 0..3 {
        app.get_as(&alpha.key, "/get-session", None).await.assert_ok();
    }
    let res = app.get_as(&alpha.key, "/get-session", None).await;
    rejected(&res, 429, "RATE_LIMIT_EXCEEDED");
    assert!(res.header("retry-after").is_some());
    // Another key, the app's browsers (no key) and the default space count apart.
    app.get_as(&beta.key, "/get-session", None).await.assert_ok();
    app.get_from(ALPHA, "/get-session", None).await.assert_ok();
    app.get("/get-session", None).await.assert_ok();
    // A new window: three more.
    app.clock().advance(std::time::Duration::from_secs(61));
    for _ in 0..3 {
        app.get_as(&alpha.key, "/get-session", None).await.assert_ok();
    }
    rejected(&app.get_as(&alpha.key, "/get-session", None).await, 429, "RATE_LIMIT_EXCEEDED");
}

async fn keys_are_stored_hashed_and_shown_once(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    assert!(alpha.key.starts_with("gh_app_") && alpha.key.len() == "gh_app_".len() + 64, "{}", alpha.key);
    let keys = app.state.store.app_keys(&alpha.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key, hash_key(&alpha.key));
    assert_ne!(keys[0].key, alpha.key);
    assert_eq!(keys[0].start.as_deref(), Some(&alpha.key[..12]));
    assert_eq!(keys[0].reference_id, alpha.id);
    let listed = apps_cli::list(app.state.store.as_ref(), true).await.unwrap();
    assert!(!listed.contains(&alpha.key) && !listed.contains(&keys[0].key), "{listed}");
    assert!(listed.contains(&alpha.id) && listed.contains(&keys[0].id));
}

async fn deleting_an_app_keeps_or_takes_its_users(backend: Backend) {
    let app = app!(backend);
    let store = app.state.store.as_ref();
    let alpha = app.new_app("Alpha", &[]).await;
    let email = unique_email();
    let cookie = app.signed_up_in(&alpha.key, &email).await;
    let default_cookie = app.signed_up_cookie(&email).await;
    let beta = app.new_app("Beta", &[]).await;
    let refused = apps_cli::delete(store, &alpha.slug, false).await.unwrap_err().to_string();
    assert!(refused.contains("has 1 users"), "{refused}");
    assert_eq!(
        app.get_as(&alpha.key, "/get-session", Some(&cookie)).await.assert_ok()["user"]["email"],
        email
    );
    let done = apps_cli::delete(store, &alpha.id, true).await.unwrap();
    assert!(done.contains("with 1 users"), "{done}");
    assert!(store.credential_by_email(&email, &alpha.id).await.unwrap().is_none());
    assert_eq!(store.app_user_count(&alpha.id).await.unwrap(), 0);
    app.reload_apps().await;
    rejected(&app.get_as(&alpha.key, "/get-session", Some(&cookie)).await, 401, "INVALID_API_KEY");
    // The default space's user with the same address is untouched.
    assert_eq!(app.session(&default_cookie).await["user"]["email"], email);
    // An app without users goes without the flag.
    apps_cli::delete(store, &beta.slug, false).await.unwrap();
    assert!(apps_cli::delete(store, &beta.slug, false).await.is_err());
}

async fn callbacks_and_origins_are_the_request_app_s_own(backend: Backend) {
    let app = app!(backend);
    let _alpha = app.new_app("Alpha", &[ALPHA]).await;
    let beta = app.new_app("Beta", &["https://beta.example"]).await;
    let email = unique_email();
    let cookie = app.signed_up_in(&beta.key, &email).await;
    // Beta's request may not send a reset link's browser to Alpha's origin, nor may the default
    // space's; Beta's own origin is fine.
    let body = |to: &str| json!({"email": email, "redirectTo": format!("{to}/reset")});
    rejected(
        &app.post_as(&beta.key, "/request-password-reset", body(ALPHA), None).await,
        403,
        "INVALID_CALLBACK_URL",
    );
    let res = app.post_from("https://beta.example", "/request-password-reset", body(ALPHA), None).await;
    rejected(&res, 403, "INVALID_CALLBACK_URL");
    rejected(&app.post("/request-password-reset", body(ALPHA), None).await, 403, "INVALID_CALLBACK_URL");
    app.post_as(&beta.key, "/request-password-reset", body("https://beta.example"), None).await.assert_ok();
    // A page on Alpha's origin cannot use Beta's session (CSRF), even with Beta's key.
    let req = app
        .req(axum::http::Method::POST, "/update-user")
        .header("content-type", "application/json")
        .header("x-api-key", &beta.key)
        .header("origin", ALPHA)
        .header("cookie", &cookie)
        .body(axum::body::Body::from(json!({"name": "x"}).to_string()))
        .unwrap();
    rejected(&app.send(req).await, 403, "INVALID_ORIGIN");
    // A key excuses a missing Origin, not a browser's `null` one.
    let req = app
        .req(axum::http::Method::POST, "/update-user")
        .header("content-type", "application/json")
        .header("x-api-key", &beta.key)
        .header("origin", "null")
        .header("cookie", &cookie)
        .body(axum::body::Body::from(json!({"name": "x"}).to_string()))
        .unwrap();
    rejected(&app.send(req).await, 403, "MISSING_OR_NULL_ORIGIN");
    assert_eq!(
        app.post_as(&beta.key, "/update-user", json!({"name": "Bea"}), Some(&cookie)).await.assert_ok()["status"],
        true
    );
}

async fn a_server_without_apps_ignores_the_header(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let res = app.post_as("whatever-a-gateway-sends", "/sign-up/email", sign_up_body(&email), None).await;
    assert!(res.assert_ok()["user"].get("appId").is_none());
    assert!(user_exists(&app, &email).await);
    // One of its own keys is always checked (an app created a moment ago may be unknown yet).
    let res = app.post_as("gh_app_notakeyatall", "/sign-up/email", sign_up_body(&unique_email()), None).await;
    rejected(&res, 401, "INVALID_API_KEY");
}

async fn a_repeated_app_id_counts_as_the_last(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    let email = unique_email();
    let raw = format!(
        r#"{{"name":"Ann","email":"{email}","password":"{PASSWORD}","appId":"{}","appId":"other"}}"#,
        alpha.id
    );
    let req = app
        .req(axum::http::Method::POST, "/sign-up/email")
        .header("content-type", "application/json")
        .header("x-api-key", &alpha.key)
        .body(axum::body::Body::from(raw))
        .unwrap();
    rejected(&app.send(req).await, 403, "APP_MISMATCH");
    assert!(app.state.store.credential_by_email(&email, &alpha.id).await.unwrap().is_none());
}

async fn the_built_in_reset_form_serves_app_users(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    let email = unique_email();
    app.signed_up_in(&alpha.key, &email).await;
    app.post_as(&alpha.key, "/request-password-reset", json!({"email": email}), None).await.assert_ok();
    let token = token_of(&app.mail(&email, "reset").await);
    // The link's page posts from Gatehouse's own origin (no app): the token's user decides.
    let res = app.post_form("/reset-password", &format!("token={token}&newPassword={NEW_PASSWORD}")).await;
    assert_eq!(res.status, 200);
    assert!(res.text().contains("Password changed"), "{}", res.text());
    let res = app
        .post_as(&alpha.key, "/sign-in/email", json!({"email": email, "password": NEW_PASSWORD}), None)
        .await;
    res.assert_ok();
    // The JSON API of the default space still refuses it (and it is used up now anyway).
    let res = app.post("/reset-password", json!({"token": token, "newPassword": PASSWORD}), None).await;
    rejected(&res, 400, "INVALID_TOKEN");
}

crate::backend_tests!(
    callbacks_and_origins_are_the_request_app_s_own,
    a_server_without_apps_ignores_the_header,
    a_repeated_app_id_counts_as_the_last,
    the_built_in_reset_form_serves_app_users,
    no_key_is_the_default_space,
    a_bad_key_is_refused_before_anything_runs,
    revoked_and_expired_keys_are_refused,
    a_rotated_key_and_the_old_one_both_work_until_it_is_revoked,
    a_body_app_id_must_name_the_request_app,
    an_origin_an_app_lists_selects_it,
    keys_are_stored_hashed_and_shown_once,
    deleting_an_app_keeps_or_takes_its_users,
);

crate::counting_tests!(each_key_has_a_limit_of_its_own);
