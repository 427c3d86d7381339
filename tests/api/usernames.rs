//! Usernames (Better Auth's username plugin), the availability checks and the password policy.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use serde_json::{Value, json};

use crate::{app, backend_tests, counting_tests, helpers::*};

backend_tests!(
    sign_up_with_a_username_and_sign_in_by_it,
    username_rules_and_codes,
    usernames_are_unique_whatever_the_case,
    update_user_sets_and_changes_the_username,
    sign_in_by_username_fails_alike,
    is_email_available_tells_and_can_be_turned_off,
    the_password_policy_holds_for_every_new_password,
);

counting_tests!(email_and_username_attempts_share_one_lockout, availability_checks_have_a_strict_limit);

fn unique_username() -> String {
    format!("User_{}", gatehouse::security::tokens::random_hex(4))
}

async fn sign_up_as(app: &TestApp, username: &str) -> (String, TestResponse) {
    let email = unique_email();
    let body = json!({"name": "N", "email": email, "password": PASSWORD, "username": username});
    (email, app.post("/sign-up/email", body, None).await)
}

async fn by_username(app: &TestApp, username: &str, password: &str) -> TestResponse {
    app.post("/sign-in/username", json!({"username": username, "password": password}), None).await
}

async fn sign_up_with_a_username_and_sign_in_by_it(backend: Backend) {
    let app = app!(backend);
    let name = unique_username();
    let (email, res) = sign_up_as(&app, &name).await;
    let user = res.assert_ok()["user"].clone();
    assert_eq!(user["username"], name.to_lowercase());
    assert_eq!(user["displayUsername"], name);
    // Any case signs in; the answer is the email sign-in's, with a session cookie.
    let res = by_username(&app, &name.to_uppercase(), PASSWORD).await;
    let body = res.assert_ok();
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["redirect"], false);
    let cookie = app.cookie_of(&res);
    let shown = session_user(&app, &cookie).await;
    assert_eq!(
        (shown["username"].clone(), shown["displayUsername"].clone()),
        (json!(name.to_lowercase()), json!(name))
    );
    // Users without one show null, as Better Auth does.
    let plain = app.sign_up(&unique_email()).await.assert_ok();
    assert!(plain["user"]["username"].is_null() && plain["user"]["displayUsername"].is_null(), "{plain}");
    // A display name sent alone that is a valid username becomes the username too.
    let email = unique_email();
    let alone = unique_username();
    let body = json!({"name": "N", "email": email, "password": PASSWORD, "displayUsername": alone});
    let user = app.post("/sign-up/email", body, None).await.assert_ok()["user"].clone();
    assert_eq!(
        (user["username"].clone(), user["displayUsername"].clone()),
        (json!(alone.to_lowercase()), json!(alone))
    );
    // With issueTokens the pair comes along, as for email.
    let body = json!({"username": alone, "password": PASSWORD, "issueTokens": true});
    let res = app.post("/sign-in/username", body, None).await.assert_ok();
    assert!(res["refreshToken"].is_string() && res["accessToken"].is_string(), "{res}");
    // A form post works too.
    let form = format!("username={alone}&password={PASSWORD}&rememberMe=false");
    assert_eq!(app.post_form("/sign-in/username", &form).await.status, StatusCode::OK);
}

async fn username_rules_and_codes(backend: Backend) {
    let app = app!(backend);
    for (bad, code) in [
        ("ab", "USERNAME_TOO_SHORT"),
        (&"a".repeat(31)[..], "USERNAME_TOO_LONG"),
        (" bob1", "INVALID_USERNAME"),
        ("bob-1", "INVALID_USERNAME"),
        ("bób12", "INVALID_USERNAME"),
        ("ｂｏｂ12", "INVALID_USERNAME"),
    ] {
        let (email, res) = sign_up_as(&app, bad).await;
        rejected(&res, 400, code);
        assert!(!user_exists(&app, &email).await, "{bad:?} created a user");
        rejected(&by_username(&app, bad, PASSWORD).await, 422, code);
        let res = app.post("/is-username-available", json!({"username": bad}), None).await;
        rejected(&res, 422, code);
    }
    rejected(
        &app.post("/is-username-available", json!({"username": ""}), None).await,
        422,
        "INVALID_USERNAME",
    );
    rejected(&app.post("/is-username-available", json!({}), None).await, 422, "INVALID_USERNAME");
    rejected_field(&app.post("/sign-in/username", json!({"password": PASSWORD}), None).await, "username");
    let email = unique_email();
    let body = json!({"name": "N", "email": email, "password": PASSWORD, "displayUsername": "a\u{202e}b"});
    rejected(&app.post("/sign-up/email", body, None).await, 400, "INVALID_DISPLAY_USERNAME");
    assert!(!user_exists(&app, &email).await);
}

async fn usernames_are_unique_whatever_the_case(backend: Backend) {
    let app = app!(backend);
    let name = unique_username();
    sign_up_as(&app, &name).await.1.assert_ok();
    let available = |u: String| {
        let app = &app;
        async move {
            app.post("/is-username-available", json!({"username": u}), None).await.assert_ok()["available"]
                .clone()
        }
    };
    assert_eq!(available(name.to_uppercase()).await, false);
    assert_eq!(available(unique_username()).await, true);
    let (email, res) = sign_up_as(&app, &name.to_uppercase()).await;
    rejected(&res, 400, "USERNAME_IS_ALREADY_TAKEN");
    assert!(!user_exists(&app, &email).await);
    // Two sign-ups racing for one name: one gets it, the other a clear error (no 500).
    let raced = unique_username();
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (app, raced) = (app.clone(), raced.clone());
            tokio::spawn(async move { sign_up_as(&app, &raced).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let won = answers.iter().filter(|(_, r)| r.status == StatusCode::OK).count();
    assert_eq!(won, 1, "{:?}", answers.iter().map(|(_, r)| r.text()).collect::<Vec<_>>());
    for (email, res) in answers.iter().filter(|(_, r)| r.status != StatusCode::OK) {
        rejected(res, 400, "USERNAME_IS_ALREADY_TAKEN");
        assert!(!user_exists(&app, email).await);
    }
}

async fn update_user_sets_and_changes_the_username(backend: Backend) {
    let app = app!(backend);
    let taken = unique_username();
    sign_up_as(&app, &taken).await.1.assert_ok();
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let update = |body: Value| app.post("/update-user", body, Some(&cookie));
    rejected(&update(json!({"username": taken.to_uppercase()})).await, 400, "USERNAME_IS_ALREADY_TAKEN");
    rejected(&update(json!({"username": "no way"})).await, 400, "INVALID_USERNAME");
    assert!(session_user(&app, &cookie).await["username"].is_null(), "a refused update changed the user");
    let mine = unique_username();
    update(json!({"username": mine})).await.assert_ok();
    let user = session_user(&app, &cookie).await;
    assert_eq!(
        (user["username"].clone(), user["displayUsername"].clone()),
        (json!(mine.to_lowercase()), json!(mine))
    );
    // Keeping one's own name (another case) is no conflict; the display name can change alone.
    update(json!({"username": mine.to_uppercase(), "displayUsername": "Mine!"})).await.assert_ok();
    update(json!({"displayUsername": "Only Display"})).await.assert_ok();
    let user = session_user(&app, &cookie).await;
    assert_eq!(
        (user["username"].clone(), user["displayUsername"].clone()),
        (json!(mine.to_lowercase()), json!("Only Display"))
    );
    assert_eq!(by_username(&app, &mine, PASSWORD).await.status, StatusCode::OK);
}

async fn sign_in_by_username_fails_alike(backend: Backend) {
    let app = app!(backend);
    let name = unique_username();
    sign_up_as(&app, &name).await.1.assert_ok();
    let wrong = by_username(&app, &name, "wrong-password").await;
    let unknown = by_username(&app, &unique_username(), PASSWORD).await;
    let empty = by_username(&app, "", PASSWORD).await;
    let bodies: Vec<Value> =
        [&wrong, &unknown, &empty].iter().map(|r| rejected(r, 401, "INVALID_USERNAME_OR_PASSWORD")).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    // The right password still works: failures below the limit lock nothing.
    assert_eq!(by_username(&app, &name, PASSWORD).await.status, StatusCode::OK);
}

async fn is_email_available_tells_and_can_be_turned_off(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await.assert_ok();
    let available = |e: &str| app.post("/is-email-available", json!({"email": e}), None);
    assert_eq!(available(&email.to_uppercase()).await.assert_ok()["available"], false);
    assert_eq!(available(&unique_email()).await.assert_ok()["available"], true);
    rejected(&available("not-an-email").await, 400, "INVALID_EMAIL");
    rejected_field(&app.post("/is-email-available", json!({}), None).await, "email");
    let off = app.sibling(|s| s.clients.email_availability_check = false);
    assert_eq!(
        off.post("/is-email-available", json!({"email": email}), None).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn the_password_policy_holds_for_every_new_password(backend: Backend) {
    use gatehouse::domain::input::CharClass::*;
    let app = app!(backend, |s| {
        s.passwords.policy.min = 10;
        s.passwords.policy.max = 20;
        s.passwords.policy.require = vec![Upper, Digit, Symbol];
    });
    let strong = "Strong-pass-9";
    let email = unique_email();
    let up = |password: &str| {
        let body = json!({"name": "N", "email": email, "password": password});
        app.post("/sign-up/email", body, None)
    };
    rejected(&up("Short-1").await, 400, "PASSWORD_TOO_SHORT");
    rejected(&up(&format!("{strong}{}", "x".repeat(10))).await, 400, "PASSWORD_TOO_LONG");
    let weak = rejected(&up("weakpassword").await, 400, "PASSWORD_TOO_WEAK");
    assert_eq!(weak["message"], "Password must contain an uppercase letter, a digit and a symbol");
    assert!(!user_exists(&app, &email).await);
    let cookie = app.cookie_of(&up(strong).await);
    // Change: refused with the same code, and the old password still works.
    let change = |new: &str| {
        let body = json!({"currentPassword": strong, "newPassword": new});
        app.post("/change-password", body, Some(&cookie))
    };
    rejected(&change("Nosymbol99x").await, 400, "PASSWORD_TOO_WEAK");
    assert_eq!(app.sign_in(&email, strong).await.status, StatusCode::OK);
    // Reset by link (JSON, and the built-in form, which says why and keeps the link usable).
    app.post("/request-password-reset", json!({"email": email}), None).await.assert_ok();
    let token = token_of(&app.mail(&email, "reset").await);
    let res =
        app.post("/reset-password", json!({"token": token, "newPassword": "alllowercase!"}), None).await;
    rejected(&res, 400, "PASSWORD_TOO_WEAK");
    let page = app.post_form("/reset-password", &format!("token={token}&newPassword=alllowercase1x")).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.text().contains("Password must contain an uppercase letter and a symbol"),
        "{}",
        page.text()
    );
    assert!(page.text().contains(r#"minlength="10" maxlength="20""#));
    let form = app.get(&format!("/reset-password/{token}"), None).await;
    assert!(form.text().contains("10 to 20 characters, with an uppercase letter, a digit and a symbol"));
    app.post("/reset-password", json!({"token": token, "newPassword": "New-strong-1"}), None)
        .await
        .assert_ok();
    // Email-code reset too.
    let code = app.otp_code(&email, "forget-password", 1).await;
    let body = json!({"email": email, "otp": code, "password": "nouppercase-1"});
    rejected(&app.post("/email-otp/reset-password", body, None).await, 400, "PASSWORD_TOO_WEAK");
    assert_eq!(app.sign_in(&email, "New-strong-1").await.status, StatusCode::OK);
}

async fn email_and_username_attempts_share_one_lockout(counting: Counting) {
    let Some(app) = limited(counting, |s| s.limits.enabled = false).await else { return };
    for first_by_username in [true, false] {
        let name = unique_username();
        let (email, res) = sign_up_as(&app, &name).await;
        res.assert_ok();
        // Five wrong by one identifier, five by the other: the account is locked for both.
        for i in 0..10 {
            let res = if (i < 5) == first_by_username {
                by_username(&app, &name, "wrong-password").await
            } else {
                app.sign_in(&email, "wrong-password").await
            };
            assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
        }
        rejected(&by_username(&app, &name, PASSWORD).await, 403, "ACCOUNT_LOCKED");
        rejected(&app.sign_in(&email, PASSWORD).await, 403, "ACCOUNT_LOCKED");
    }
    // Unknown names lock like unknown emails (no tell), and no real account is touched.
    let ghost = unique_username();
    for _ in 0..10 {
        rejected(&by_username(&app, &ghost, "wrong-password").await, 401, "INVALID_USERNAME_OR_PASSWORD");
    }
    rejected(&by_username(&app, &ghost, "wrong-password").await, 403, "ACCOUNT_LOCKED");
}

async fn availability_checks_have_a_strict_limit(counting: Counting) {
    let Some(app) = limited(counting, |_| {}).await else { return };
    for (path, body) in [
        ("/is-email-available", json!({"email": unique_email()})),
        ("/is-username-available", json!({"username": unique_username()})),
    ] {
        let send = || {
            let req = app
                .req(Method::POST, path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            app.send(from_ip("192.0.2.77", req))
        };
        for _ in 0..10 {
            assert_eq!(send().await.status, StatusCode::OK);
        }
        rejected(&send().await, 429, "RATE_LIMIT_EXCEEDED");
        app.clock().advance(Duration::from_secs(61));
        assert_eq!(send().await.status, StatusCode::OK);
    }
}
