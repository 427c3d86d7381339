//! Sign-up, sign-in, sign-out: answers, cookies, Bearer, password hashes, the sign-up race, and
//! what sign-up and sign-in do when `REQUIRE_EMAIL_VERIFICATION` is on.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use gatehouse::config::Argon2Params;
use serde_json::{Value, json};

use crate::{app, backend_tests, helpers::*};

async fn sign_up_returns_user_session_and_cookie(backend: Backend) {
    let app = app!(backend);
    let res = app
        .post(
            "/sign-up/email",
            json!({"name": "Ann", "email": "  Ann@Example.COM ", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    let user = &body["user"];
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["name"], "Ann");
    assert_eq!(user["emailVerified"], false);
    assert!(user["image"].is_null() && user.as_object().unwrap().contains_key("image"));
    assert!(user["id"].as_str().unwrap().len() >= 22);
    assert_iso_ms(&user["createdAt"]);
    assert_iso_ms(&user["updatedAt"]);
    let session = &body["session"];
    assert_eq!(session["token"], body["token"]);
    assert_eq!(session["userId"], user["id"]);
    assert!(session["activeOrganizationId"].is_null());
    for key in [
        "id",
        "token",
        "userId",
        "expiresAt",
        "createdAt",
        "updatedAt",
        "ipAddress",
        "userAgent",
        "activeOrganizationId",
    ] {
        assert!(session.as_object().unwrap().contains_key(key), "session lacks {key}: {session}");
    }
    assert_iso_ms(&session["expiresAt"]);

    let cookies = res.set_cookies();
    let (value, attrs) = cookies.get("better-auth.session_token").expect("session cookie");
    assert!(attrs.contains(&"httponly".to_string()), "{attrs:?}");
    assert!(attrs.contains(&"samesite=lax".to_string()), "{attrs:?}");
    assert!(attrs.contains(&"path=/".to_string()), "{attrs:?}");
    assert!(!attrs.contains(&"secure".to_string()), "http base URL: no Secure");
    let max_age: i64 =
        attrs.iter().find_map(|a| a.strip_prefix("max-age=")).expect("max-age").parse().unwrap();
    assert!((604_700..=604_800).contains(&max_age), "{max_age}");
    // The cookie carries the token, signed; set-auth-token carries the same value.
    assert!(value.ends_with(body["token"].as_str().unwrap()) && value.len() > 22, "{value}");
    assert_eq!(res.header("set-auth-token"), Some(value.as_str()));
    assert!(res.header("access-control-expose-headers").unwrap().contains("set-auth-token"));
}

async fn https_base_url_gives_secure_prefixed_cookie(backend: Backend) {
    let app = app!(backend, |s| {
        s.base_url = url::Url::parse("https://auth.example.com").unwrap();
    });
    let res = app
        .post("/sign-up/email", json!({"name": "A", "email": unique_email(), "password": PASSWORD}), None)
        .await;
    // The test's Origin is not the https base URL's origin: sign-up is a login CSRF check.
    res.assert_error(403, "INVALID_ORIGIN");
    let req = app
        .req(Method::POST, "/sign-up/email")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "https://auth.example.com")
        .body(Body::from(json!({"name": "A", "email": unique_email(), "password": PASSWORD}).to_string()))
        .unwrap();
    let res = app.send(req).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let cookies = res.set_cookies();
    let (_, attrs) = cookies.get("__Secure-better-auth.session_token").expect("prefixed cookie");
    assert!(attrs.contains(&"secure".to_string()), "{attrs:?}");
}

async fn duplicate_sign_up_is_409_user_exists(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    assert_eq!(app.sign_up(&email).await.status, StatusCode::OK);
    let body =
        app.sign_up(&email.to_uppercase()).await.assert_error(409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    assert_eq!(body["error"], "USER_EXISTS");
}

async fn duplicate_sign_up_with_verification_required_looks_new(backend: Backend) {
    let app = app!(backend, |s| s.sessions.require_email_verification = true);
    let email = unique_email();
    let first = app.sign_up(&email).await;
    let second = app.sign_up(&email).await;
    for res in [&first, &second] {
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        let body = res.json();
        assert!(body["token"].is_null() && body["session"].is_null(), "{body}");
        assert_eq!(body["user"]["email"], email.as_str());
        assert!(res.set_cookies().is_empty(), "no cookie when verification is required");
    }
    // Unverified users cannot sign in while verification is required.
    app.sign_in(&email, PASSWORD).await.assert_error(403, "EMAIL_NOT_VERIFIED");
}

async fn concurrent_sign_ups_create_one_user(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            let email = email.clone();
            tokio::spawn(async move { app.sign_up(&email).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 7, "{statuses:?}");
    assert_eq!(app.sign_in(&email, PASSWORD).await.status, StatusCode::OK);
}

async fn sign_in_answers_with_session_and_subscription(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let up = app.sign_up(&email).await.json();
    let res = app.sign_in(&email, PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["redirect"], false);
    assert!(body["url"].is_null());
    assert_ne!(body["token"], up["token"], "every sign-in gets a fresh session");
    assert_eq!(body["session"]["token"], body["token"]);
    assert_eq!(body["user"]["id"], up["user"]["id"]);
    assert_eq!(
        body["subscription"],
        json!({"isSubscribed": false, "productId": null, "status": null, "periodEnd": null})
    );
    assert!(res.session_cookie(&app.state.session_cookie).is_some());
}

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    let wrong = app.sign_in(&email, "not-the-password").await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let unknown = app.sign_in(&unique_email(), PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"], "INVALID_CREDENTIALS");
    let too_long = app.sign_in(&email, &"x".repeat(200)).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(too_long, wrong);
}

async fn sign_in_replaces_the_session_it_was_sent_with(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let old = app.signed_up_cookie(&email).await;
    let res = app.post("/sign-in/email", json!({"email": email, "password": PASSWORD}), Some(&old)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let new = res.session_cookie(&app.state.session_cookie).unwrap();
    assert_ne!(new, old);
    assert!(app.get("/get-session", Some(&old)).await.json().is_null(), "old session must be gone");
    assert!(app.get("/get-session", Some(&new)).await.json()["session"].is_object());
}

async fn sign_out_deletes_the_session_and_clears_cookies(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let token =
        app.get("/get-session", Some(&cookie)).await.json()["session"]["token"].as_str().unwrap().to_string();
    let res = app.post("/sign-out", json!({}), Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json(), json!({"success": true}));
    let cookies = res.set_cookies();
    let (value, attrs) = cookies.get("better-auth.session_token").expect("cleared cookie");
    assert!(value.is_empty() && attrs.contains(&"max-age=0".to_string()), "{value} {attrs:?}");
    assert!(app.get("/get-session", Some(&cookie)).await.json().is_null());
    let now = app.clock().now_ms();
    assert!(app.state.store.session_with_user(&token, now).await.unwrap().is_none(), "row deleted");
    // Without a session, sign-out still succeeds.
    let again = app.post("/sign-out", json!({}), None).await;
    assert_eq!(again.json(), json!({"success": true}));
}

async fn bearer_token_authenticates_like_the_cookie(backend: Backend) {
    let app = app!(backend);
    let res = app.sign_up(&unique_email()).await;
    let raw = res.json()["token"].as_str().unwrap().to_string();
    let signed = res.header("set-auth-token").unwrap().to_string();
    for token in [&raw, &signed] {
        let req = app
            .req(Method::GET, "/get-session")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let body = app.send(req).await.json();
        assert_eq!(body["session"]["token"], raw.as_str(), "token {token}");
    }
    let mut forged = signed.clone();
    forged.replace_range(0..4, "AAAA");
    for token in ["nonsense", forged.as_str(), "a b c"] {
        let req = app
            .req(Method::GET, "/get-session")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let res = app.send(req).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.json().is_null(), "token {token}");
    }
    // Bearer works on protected POST routes too, without any Origin (server-to-server).
    let req = app
        .req(Method::POST, "/revoke-other-sessions")
        .header(header::AUTHORIZATION, format!("Bearer {raw}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.json(), json!({"status": true}));
}

async fn tampered_cookie_is_no_session(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let (name, value) = cookie.split_once('=').unwrap();
    let token = &value[value.len() - 22..];
    let flipped = if value.starts_with('A') { 'B' } else { 'A' };
    for bad in [format!("{name}={token}"), format!("{name}={flipped}{}", &value[1..]), format!("{name}=")] {
        let res = app.get("/get-session", Some(&bad)).await;
        assert_eq!(res.status, StatusCode::OK);
        assert!(res.json().is_null(), "{bad}");
    }
}

async fn better_auth_scrypt_hash_verifies_and_is_rehashed(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    let user = app.state.store.credential_by_email(&email, "").await.unwrap().unwrap().user;
    // Made with Python's hashlib.scrypt, Better Auth's parameters (see src/security/password.rs).
    let scrypt = "357f3bb7eaa15359f555bb0f5a4327af:1d2628b2de84535f92cadb2150c86bb6cea0a6c2f57fe5bccccded9207aa09b43f40e84afb27aa0888877b61378201977dd359fb54f7b5558ef559405124eb5e";
    app.state.store.set_password_hash(&user.id, scrypt, 0).await.unwrap();
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let res = app.sign_in(&email, "correct horse battery staple").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let stored =
        app.state.store.credential_by_email(&email, "").await.unwrap().unwrap().password_hash.unwrap();
    assert!(stored.starts_with("$argon2id$"), "re-hashed: {stored}");
    assert_eq!(app.sign_in(&email, "correct horse battery staple").await.status, StatusCode::OK);
}

async fn default_argon2_parameters_are_owasp(backend: Backend) {
    let app = app!(backend, |s| s.passwords.argon2 = Argon2Params::default());
    let email = unique_email();
    assert_eq!(app.sign_up(&email).await.status, StatusCode::OK);
    let stored =
        app.state.store.credential_by_email(&email, "").await.unwrap().unwrap().password_hash.unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
    assert!(!stored.contains(PASSWORD));
}

async fn remember_me_false_gives_a_one_day_browser_session(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    let res = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "rememberMe": false}), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let cookies = res.set_cookies();
    let (_, attrs) = cookies.get("better-auth.session_token").unwrap();
    assert!(!attrs.iter().any(|a| a.starts_with("max-age") || a.starts_with("expires")), "{attrs:?}");
    let body = res.json();
    let expires = gatehouse::domain::time::parse_ms(body["session"]["expiresAt"].as_str().unwrap()).unwrap();
    let created = gatehouse::domain::time::parse_ms(body["session"]["createdAt"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, 86_400_000);
}

async fn protected_routes_need_a_session(backend: Backend) {
    let app = app!(backend);
    app.get("/list-sessions", None).await.assert_error(401, "UNAUTHORIZED");
    for path in ["/revoke-session", "/revoke-sessions", "/revoke-other-sessions", "/update-user"] {
        app.post(path, json!({"token": "x", "name": "n"}), None).await.assert_error(401, "UNAUTHORIZED");
    }
    // An unknown (but well-signed-looking) cookie is no session either.
    let stale = format!("{}=abc", app.state.session_cookie);
    app.get("/list-sessions", Some(&stale)).await.assert_error(401, "UNAUTHORIZED");
}

// ---------------------------------------------------------------------------------------------
// REQUIRE_EMAIL_VERIFICATION

async fn required_verification_sign_up_has_no_session(backend: Backend) {
    let app = app!(backend, |s| s.sessions.require_email_verification = true);
    let email = unique_email();
    let res = app.sign_up(&email).await;
    let body = res.assert_ok();
    assert!(body["token"].is_null() && body["session"].is_null(), "{body}");
    assert!(
        body.as_object().unwrap().contains_key("token") && body.as_object().unwrap().contains_key("session")
    );
    assert_eq!(body["user"]["email"], email.as_str());
    assert_eq!(body["user"]["emailVerified"], false);
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
    assert!(app.mail(&email, "verify").await["url"].is_string());
}

async fn required_verification_sign_in_resends_at_most_once_a_minute(backend: Backend) {
    let app = app!(backend, |s| s.sessions.require_email_verification = true);
    let email = unique_email();
    app.sign_up(&email).await.assert_ok();
    app.nth_mail(&email, "verify", 1).await;
    app.clock().advance(Duration::from_secs(120));

    app.sign_in(&email, PASSWORD).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    app.nth_mail(&email, "verify", 2).await;

    // Again within the minute: refused, but no extra mail.
    app.clock().advance(Duration::from_secs(30));
    let res = app.sign_in(&email, PASSWORD).await;
    res.assert_error(403, "EMAIL_NOT_VERIFIED");
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
    app.mail_settled().await;
    assert_eq!(app.mail_count(&email, "verify"), 2, "{:?}", app.outbox());

    // A minute later: another one.
    app.clock().advance(Duration::from_secs(31));
    app.sign_in(&email, PASSWORD).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    let latest = app.nth_mail(&email, "verify", 3).await;

    assert_eq!(app.get(&rel(&latest["url"]), None).await.header("location"), Some("/"));
    let res = app.sign_in(&email, PASSWORD).await;
    let body = res.assert_ok();
    assert_eq!(body["user"]["emailVerified"], true);
    let cookie = app.cookie_of(&res);
    assert_eq!(app.session(&cookie).await["user"]["email"], email.as_str());
}

async fn required_verification_duplicate_sign_up_looks_new(backend: Backend) {
    let app = app!(backend, |s| s.sessions.require_email_verification = true);
    let email = unique_email();
    let first = app.sign_up(&email).await.assert_ok();
    app.nth_mail(&email, "verify", 1).await;

    let res = app.sign_up(&email).await;
    let second = res.assert_ok();
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&second));
    assert_eq!(keys(&first["user"]), keys(&second["user"]));
    assert!(second["token"].is_null() && second["session"].is_null(), "{second}");
    assert_eq!(second["user"]["email"], email.as_str());
    assert_eq!(second["user"]["emailVerified"], false);

    let notice = app.nth_mail(&email, "verify", 2).await;
    let subject = notice["subject"].as_str().unwrap().to_lowercase();
    assert!(subject.contains("sign-up") || subject.contains("account"), "{subject}");
}

backend_tests!(
    sign_up_returns_user_session_and_cookie,
    https_base_url_gives_secure_prefixed_cookie,
    duplicate_sign_up_is_409_user_exists,
    duplicate_sign_up_with_verification_required_looks_new,
    concurrent_sign_ups_create_one_user,
    sign_in_answers_with_session_and_subscription,
    wrong_password_and_unknown_email_look_the_same,
    sign_in_replaces_the_session_it_was_sent_with,
    sign_out_deletes_the_session_and_clears_cookies,
    bearer_token_authenticates_like_the_cookie,
    tampered_cookie_is_no_session,
    better_auth_scrypt_hash_verifies_and_is_rehashed,
    default_argon2_parameters_are_owasp,
    remember_me_false_gives_a_one_day_browser_session,
    protected_routes_need_a_session,
    required_verification_sign_up_has_no_session,
    required_verification_sign_in_resends_at_most_once_a_minute,
    required_verification_duplicate_sign_up_looks_new,
);
