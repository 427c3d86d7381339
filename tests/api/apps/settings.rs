//! Per-app settings (`gatehouse apps set`): email verification, password policy, JWT audience
//! and lifetimes; bad values refused; the default space keeps the server's.

use gatehouse::apps_cli;
use serde_json::json;

use crate::{app, helpers::*};

async fn set(app: &TestApp, slug: &str, pairs: &[&str]) {
    let pairs: Vec<String> = pairs.iter().map(|p| p.to_string()).collect();
    apps_cli::set(app.state.store.as_ref(), &app.state.settings, slug, &pairs).await.expect("apps set");
    app.reload_apps().await;
}

async fn an_app_may_require_verified_addresses(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    set(&app, &alpha.slug, &["REQUIRE_EMAIL_VERIFICATION=true"]).await;
    let email = unique_email();
    let body = json!({"name": "Ann", "email": email, "password": PASSWORD});
    let res = app.post_as(&alpha.key, "/sign-up/email", body.clone(), None).await;
    let answer = res.assert_ok();
    assert!(answer["token"].is_null() && answer["session"].is_null(), "{answer}");
    let res =
        app.post_as(&alpha.key, "/sign-in/email", json!({"email": email, "password": PASSWORD}), None).await;
    rejected(&res, 403, "EMAIL_NOT_VERIFIED");
    // The default space keeps the server's setting (off here).
    assert!(app.post("/sign-up/email", body, None).await.assert_ok()["token"].is_string());
    // Back to the server's setting.
    set(&app, &alpha.slug, &["REQUIRE_EMAIL_VERIFICATION="]).await;
    let res =
        app.post_as(&alpha.key, "/sign-in/email", json!({"email": email, "password": PASSWORD}), None).await;
    assert!(res.assert_ok()["token"].is_string());
}

async fn an_app_has_its_password_policy(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    set(&app, &alpha.slug, &["PASSWORD_MIN_LENGTH=24", "PASSWORD_REQUIRE=digit"]).await;
    let body = |email: &str, password: &str| json!({"name": "Ann", "email": email, "password": password});
    let res = app.post_as(&alpha.key, "/sign-up/email", body(&unique_email(), PASSWORD), None).await;
    rejected(&res, 400, "PASSWORD_TOO_SHORT");
    let res = app
        .post_as(&alpha.key, "/sign-up/email", body(&unique_email(), "a-long-passphrase-without-one"), None)
        .await;
    rejected(&res, 400, "PASSWORD_TOO_WEAK");
    let res = app
        .post_as(&alpha.key, "/sign-up/email", body(&unique_email(), "a-long-passphrase-with-1-digit"), None)
        .await;
    res.assert_ok();
    // The default space: the server's policy.
    app.post("/sign-up/email", body(&unique_email(), PASSWORD), None).await.assert_ok();
}

async fn an_app_names_the_audience_and_shortens_lifetimes(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[]).await;
    let cookie = app.signed_up_in(&alpha.key, &unique_email()).await;
    let token = app.get_as(&alpha.key, "/token", Some(&cookie)).await.assert_ok()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = jwt::segment(&token, 1);
    assert_eq!(claims["aud"], alpha.id.as_str());
    assert_eq!(claims["app"], alpha.id.as_str());
    let server_lifetime = app.state.jwt.lifetime_ms() / 1000;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), server_lifetime);

    set(
        &app,
        &alpha.slug,
        &["JWT_AUDIENCE=https://api.alpha.example", "JWT_EXPIRATION=5m", "ACCESS_TOKEN_EXPIRATION=2m"],
    )
    .await;
    let token = app.get_as(&alpha.key, "/token", Some(&cookie)).await.assert_ok()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = jwt::segment(&token, 1);
    assert_eq!(claims["aud"], "https://api.alpha.example");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    let auth = format!("Bearer {token}");
    let verify = |key: &str| {
        app.req(axum::http::Method::POST, "/verify-token")
            .header("x-api-key", key)
            .header("authorization", auth.clone())
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(app.send(verify(&alpha.key)).await.assert_ok()["valid"], true);
    let pair = app.post_as(&alpha.key, "/token/pair", json!({}), Some(&cookie)).await.assert_ok();
    assert_eq!(pair["expires_in"], 120);
    // Longer than the server's is cut to it (a retired key is published only that long).
    set(&app, &alpha.slug, &["JWT_EXPIRATION=365d"]).await;
    let token = app.get_as(&alpha.key, "/token", Some(&cookie)).await.assert_ok()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let claims = jwt::segment(&token, 1);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), server_lifetime);
}

async fn bad_settings_are_refused(backend: Backend) {
    let app = app!(backend);
    let (store, server) = (app.state.store.as_ref(), &app.state.settings);
    let alpha = app.new_app("Alpha", &["https://alpha.example"]).await;
    let beta = app.new_app("Beta", &[]).await;
    let before = store.app(&alpha.id).await.unwrap().unwrap();
    for bad in [
        "PASSWORD_MIN_LENGTH=abc",
        "PASSWORD_MIN_LENGTH=0",
        "PASSWORD_REQUIRE=emoji",
        "REQUIRE_EMAIL_VERIFICATION=maybe",
        "JWT_EXPIRATION=soon",
        "SESSION_SECRET=x",
        "no-equals-sign",
        "ORIGINS=ftp://alpha.example",
    ] {
        let refused = apps_cli::set(store, server, &alpha.slug, &[bad.to_string()]).await;
        assert!(refused.is_err(), "{bad} was accepted");
    }
    // Min above max, in one call or two.
    let both = ["PASSWORD_MIN_LENGTH=50".to_string(), "PASSWORD_MAX_LENGTH=40".to_string()];
    assert!(apps_cli::set(store, server, &alpha.slug, &both).await.is_err());
    // An origin is one app's.
    let taken =
        apps_cli::set(store, server, &beta.slug, &["ORIGINS=https://alpha.example/".to_string()]).await;
    assert!(taken.unwrap_err().to_string().contains("already listed by app alpha"));
    assert!(
        apps_cli::new_app(store, server, "Gamma", None, &["https://alpha.example".into()]).await.is_err()
    );
    // The server's own origin and audience are the default space's; an app's audience is its own.
    assert!(
        apps_cli::set(store, server, &alpha.slug, &["ORIGINS=http://127.0.0.1:3000".to_string()])
            .await
            .is_err()
    );
    let server_aud = format!("JWT_AUDIENCE={}", server.jwt.audience);
    assert!(apps_cli::set(store, server, &alpha.slug, &[server_aud]).await.is_err());
    let beta_aud = format!("JWT_AUDIENCE={}", beta.id);
    assert!(
        apps_cli::set(store, server, &alpha.slug, &[beta_aud])
            .await
            .unwrap_err()
            .to_string()
            .contains("beta")
    );
    // Slugs are unique; unknown apps are named.
    assert!(
        apps_cli::new_app(store, server, "Alpha", None, &[]).await.unwrap_err().to_string().contains("slug")
    );
    assert!(apps_cli::set(store, server, "nope", &["NAME=x".to_string()]).await.is_err());
    assert_eq!(store.app(&alpha.id).await.unwrap().unwrap(), before, "nothing changed");
}

crate::backend_tests!(
    an_app_may_require_verified_addresses,
    an_app_has_its_password_policy,
    an_app_names_the_audience_and_shortens_lifetimes,
    bad_settings_are_refused,
);
