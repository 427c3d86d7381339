//! Values the routes refuse or take as they are: email and password rules, NUL bytes, and SQL
//! metacharacters. Every rejection has the contract's error shape, leaks nothing internal, and
//! leaves stored data as it was.

use axum::http::StatusCode;
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

async fn invalid_and_overlong_emails(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    assert_eq!(app.sign_up(&email).await.status, StatusCode::OK);
    let label = "b".repeat(63);
    // 64 + 1 + 3 * 64 + 3 = 260 characters, every part within its own limit.
    let too_long = format!("{}@{label}.{label}.{label}.com", "a".repeat(64));
    assert_eq!(too_long.len(), 260);
    for bad in
        ["", "   ", "nope", "a@", "@b.c", "a b@c.d", "a@@b.c", "<a@b.c>", "a@b.c, d@e.f", too_long.as_str()]
    {
        let res =
            app.post("/sign-up/email", json!({"name": "N", "email": bad, "password": PASSWORD}), None).await;
        rejected(&res, 400, "INVALID_EMAIL");
    }
    for bad in ["nope", too_long.as_str()] {
        rejected(&app.sign_in(bad, PASSWORD).await, 400, "INVALID_EMAIL");
    }
    assert_eq!(session_count(&app, &email).await, 1);

    // Exactly 254 characters is fine, and emails are trimmed and lowercased.
    let longest = format!("{}@{label}.{label}.{}.com", "a".repeat(64), "c".repeat(57));
    assert_eq!(longest.len(), 254);
    let res = app
        .post("/sign-up/email", json!({"name": "Long", "email": longest, "password": PASSWORD}), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let mixed = format!("  {}  ", unique_email().to_uppercase());
    let res = app
        .post("/sign-up/email", json!({"name": "Mixed", "email": mixed, "password": PASSWORD}), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let stored = mixed.trim().to_lowercase();
    assert_eq!(res.json()["user"]["email"], stored);
    assert_eq!(app.sign_in(&stored, PASSWORD).await.status, StatusCode::OK);
}

async fn password_length_rules(backend: Backend) {
    let app = app!(backend);
    let fresh = unique_email();
    for (password, code) in [
        (String::new(), "PASSWORD_TOO_SHORT"),
        ("x".repeat(7), "PASSWORD_TOO_SHORT"),
        ("x".repeat(129), "PASSWORD_TOO_LONG"),
        ("x".repeat(10_000), "PASSWORD_TOO_LONG"),
    ] {
        let res = app
            .post("/sign-up/email", json!({"name": "N", "email": fresh, "password": password}), None)
            .await;
        rejected(&res, 400, code);
    }
    assert!(!user_exists(&app, &fresh).await);
    for password in ["y".repeat(8), "z".repeat(128)] {
        let email = unique_email();
        let res = app
            .post("/sign-up/email", json!({"name": "N", "email": email, "password": password}), None)
            .await;
        assert_eq!(res.status, StatusCode::OK, "len {}: {}", password.len(), res.text());
        assert_eq!(app.sign_in(&email, &password).await.status, StatusCode::OK);
    }
}

async fn nul_bytes_are_rejected(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let fresh = unique_email();
    let res = app
        .post("/sign-up/email", json!({"name": "Bad\u{0}Name", "email": fresh, "password": PASSWORD}), None)
        .await;
    rejected_field(&res, "name");
    assert!(!user_exists(&app, &fresh).await);
    let nul_email = fresh.replace('@', "\u{0}@");
    let res = app
        .post("/sign-up/email", json!({"name": "N", "email": nul_email, "password": PASSWORD}), None)
        .await;
    rejected(&res, 400, "INVALID_EMAIL");
    rejected(&app.sign_in(&format!("{email}\u{0}"), PASSWORD).await, 400, "INVALID_EMAIL");
    // A NUL in a password is just a wrong password, not a database error.
    rejected(&app.sign_in(&email, &format!("{PASSWORD}\u{0}")).await, 401, "INVALID_EMAIL_OR_PASSWORD");

    let res = app.post("/update-user", json!({"name": "Evil\u{0}"}), Some(&cookie)).await;
    rejected_field(&res, "name");
    let res = app.post("/update-user", json!({"image": "https://x.test/\u{0}.png"}), Some(&cookie)).await;
    rejected_field(&res, "image");
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["name"], "Test User");
    assert!(user["image"].is_null());
    assert_eq!(app.sign_in(&email, PASSWORD).await.status, StatusCode::OK);
}

async fn sql_metacharacters_are_harmless(backend: Backend) {
    let app = app!(backend);
    let bystander = unique_email();
    assert_eq!(app.sign_up(&bystander).await.status, StatusCode::OK);

    // Either not an address at all, or stored verbatim: never executed.
    let injected = "a'; DROP TABLE \"user\";--@x.com";
    let res =
        app.post("/sign-up/email", json!({"name": "N", "email": injected, "password": PASSWORD}), None).await;
    if res.status == StatusCode::OK {
        assert_eq!(res.json()["user"]["email"], injected.to_lowercase());
        assert_eq!(app.sign_in(injected, PASSWORD).await.status, StatusCode::OK);
    } else {
        rejected(&res, 400, "INVALID_EMAIL");
    }
    rejected(&app.sign_in("' OR '1'='1", PASSWORD).await, 400, "INVALID_EMAIL");
    let res = app.sign_in(&format!("{bystander}' OR '1'='1"), "' OR '1'='1").await;
    assert!(
        res.status == StatusCode::BAD_REQUEST || res.status == StatusCode::UNAUTHORIZED,
        "{}",
        res.text()
    );
    rejected(
        &res,
        res.status.as_u16(),
        if res.status == StatusCode::BAD_REQUEST { "INVALID_EMAIL" } else { "INVALID_EMAIL_OR_PASSWORD" },
    );

    // A valid address with a quote in it, and a name made of SQL, are stored verbatim.
    let quoted = format!("o'brien-{}", unique_email());
    let name = "Robert'); DROP TABLE \"user\";--";
    let res =
        app.post("/sign-up/email", json!({"name": name, "email": quoted, "password": PASSWORD}), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["name"], name);
    assert_eq!(res.json()["user"]["email"], quoted);
    let res = app.sign_in(&quoted, PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["name"], name);
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    assert_eq!(session_user(&app, &cookie).await["name"], name);

    // update-user takes SQL-looking values verbatim as well.
    let image = "https://x.test/a.png?q=1'; DELETE FROM session;--";
    let res = app
        .post(
            "/update-user",
            json!({"name": "x\"); DELETE FROM \"session\";--", "image": image}),
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["name"], "x\"); DELETE FROM \"session\";--");
    assert_eq!(user["image"], image);

    // The tables are intact: everyone can still sign in.
    assert_eq!(app.sign_in(&bystander, PASSWORD).await.status, StatusCode::OK);
    assert_eq!(session_count(&app, &bystander).await, 2);
    assert_eq!(app.sign_in(&quoted, PASSWORD).await.status, StatusCode::OK);
}

backend_tests!(
    invalid_and_overlong_emails,
    password_length_rules,
    nul_bytes_are_rejected,
    sql_metacharacters_are_harmless,
);
