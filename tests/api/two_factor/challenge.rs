//! Signing in with a second factor: the challenge, TOTP replay, window edges, tries and the lock,
//! backup codes, trusted devices, and bad input.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::{app, backend_tests, helpers::*};

async fn sign_in_waits_for_the_second_factor(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    let res = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(res.assert_ok(), json!({"twoFactorRedirect": true, "twoFactorMethods": ["totp"]}));
    // Email codes are not this user's second factor.
    let challenge = two_factor_cookie(&app, &res);
    app.post("/two-factor/send-otp", json!({}), Some(&challenge)).await.assert_error(400, "OTP_NOT_ENABLED");
    verify(&app, "verify-otp", "123456", &challenge).await.assert_error(400, "OTP_NOT_ENABLED");
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let (_, attrs) = res.set_cookies().remove(&app.state.two_factor_cookie()).expect("two-factor cookie");
    assert!(attrs.contains(&"httponly".into()) && attrs.contains(&"max-age=600".into()), "{attrs:?}");
    let challenge = two_factor_cookie(&app, &res);
    assert!(app.session(&challenge).await.is_null(), "the challenge is no session");
    mid_step(&app);
    let done = verify(&app, "verify-totp", &code_now(&app, &user.secret), &challenge).await;
    let body = done.assert_ok();
    assert_eq!(body["user"]["email"], user.email);
    let cookie = app.cookie_of(&done);
    assert!(cookie.ends_with(body["token"].as_str().unwrap()), "{cookie} {body}");
    assert_eq!(session_user(&app, &cookie).await["email"], user.email);
    let (cleared, _) = done.set_cookies().remove(&app.state.two_factor_cookie()).expect("cleared");
    assert!(cleared.is_empty());
    // The challenge is used up.
    next_step(&app);
    verify(&app, "verify-totp", &code_now(&app, &user.secret), &challenge)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
}

async fn a_totp_code_is_accepted_once(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    mid_step(&app);
    let code = code_now(&app, &user.secret);
    let first = challenged(&app, &user.email).await;
    verify(&app, "verify-totp", &code, &first).await.assert_ok();
    let second = challenged(&app, &user.email).await;
    verify(&app, "verify-totp", &code, &second).await.assert_error(401, "INVALID_CODE");
    // The step before is older than the one used: refused too.
    let earlier = code_at(&user.secret, app.clock().now_ms() - 30_000);
    verify(&app, "verify-totp", &earlier, &second).await.assert_error(401, "INVALID_CODE");
    // Concurrently, on two challenges: one wins.
    next_step(&app);
    let code = code_now(&app, &user.secret);
    let (first, second) = (challenged(&app, &user.email).await, challenged(&app, &user.email).await);
    let statuses = verify_at_once(&app, "verify-totp", &code, &[&first, &second]).await;
    assert_eq!(statuses, vec![200, 401]);
}

async fn codes_one_step_off_pass_and_two_do_not(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    mid_step(&app);
    let now = app.clock().now_ms();
    let challenge = challenged(&app, &user.email).await;
    verify(&app, "verify-totp", &code_at(&user.secret, now - 60_000), &challenge)
        .await
        .assert_error(401, "INVALID_CODE");
    verify(&app, "verify-totp", &code_at(&user.secret, now + 60_000), &challenge)
        .await
        .assert_error(401, "INVALID_CODE");
    verify(&app, "verify-totp", &code_at(&user.secret, now - 30_000), &challenge).await.assert_ok();
    let challenge = challenged(&app, &user.email).await;
    verify(&app, "verify-totp", &code_at(&user.secret, now + 30_000), &challenge).await.assert_ok();
}

async fn a_challenge_burns_after_five_tries(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    mid_step(&app);
    let right = code_now(&app, &user.secret);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let challenge = challenged(&app, &user.email).await;
    for _ in 0..5 {
        verify(&app, "verify-totp", wrong, &challenge).await.assert_error(401, "INVALID_CODE");
    }
    verify(&app, "verify-totp", &right, &challenge)
        .await
        .assert_error(400, "TOO_MANY_ATTEMPTS_REQUEST_NEW_CODE");
    verify(&app, "verify-totp", &right, &challenge).await.assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    // A new challenge works.
    verify(&app, "verify-totp", &right, &challenged(&app, &user.email).await).await.assert_ok();
}

async fn ten_failures_lock_the_second_factor(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    mid_step(&app);
    let wrong = |code: &str| if code == "000000" { "111111".to_string() } else { "000000".to_string() };
    for _ in 0..2 {
        let challenge = challenged(&app, &user.email).await;
        for _ in 0..5 {
            let w = wrong(&code_now(&app, &user.secret));
            verify(&app, "verify-totp", &w, &challenge).await.assert_error(401, "INVALID_CODE");
        }
    }
    let challenge = challenged(&app, &user.email).await;
    let right = code_now(&app, &user.secret);
    verify(&app, "verify-totp", &right, &challenge).await.assert_error(429, "ACCOUNT_TEMPORARILY_LOCKED");
    verify(&app, "verify-backup-code", &user.backup_codes[0], &challenge)
        .await
        .assert_error(429, "ACCOUNT_TEMPORARILY_LOCKED");
    app.clock().advance(Duration::from_secs(15 * 60 + 1));
    mid_step(&app);
    let challenge = challenged(&app, &user.email).await;
    verify(&app, "verify-totp", &code_now(&app, &user.secret), &challenge).await.assert_ok();
}

async fn parallel_guesses_cannot_pass_the_lock(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    mid_step(&app);
    let right = code_now(&app, &user.secret);
    let wrong = if right == "000000" { "111111" } else { "000000" };
    let challenges = [
        challenged(&app, &user.email).await,
        challenged(&app, &user.email).await,
        challenged(&app, &user.email).await,
    ];
    let cookies: Vec<&str> = challenges.iter().cycle().take(15).map(String::as_str).collect();
    let statuses = verify_at_once(&app, "verify-totp", wrong, &cookies).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 10, "at most ten guesses are checked: {statuses:?}");
    assert_eq!(checked + statuses.iter().filter(|s| **s == 429).count(), 15, "{statuses:?}");
    let challenge = challenged(&app, &user.email).await;
    verify(&app, "verify-totp", &right, &challenge).await.assert_error(429, "ACCOUNT_TEMPORARILY_LOCKED");
}

async fn a_new_password_ends_challenges_and_trusted_browsers(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    mid_step(&app);
    let trusted = challenged(&app, &user.email).await;
    let body = json!({"code": code_now(&app, &user.secret), "trustDevice": true});
    let done = app.post("/two-factor/verify-totp", body, Some(&trusted)).await;
    let trust = done.session_cookie(&app.state.trust_device_cookie()).expect("trust cookie");
    let pending = challenged(&app, &user.email).await;
    app.post("/request-password-reset", json!({"email": user.email}), None).await.assert_ok();
    let token = token_of(&app.mail(&user.email, "reset").await);
    app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None).await.assert_ok();
    next_step(&app);
    verify(&app, "verify-totp", &code_now(&app, &user.secret), &pending)
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    let res = app
        .post("/sign-in/email", json!({"email": user.email, "password": NEW_PASSWORD}), Some(&trust))
        .await;
    assert_eq!(res.assert_ok()["twoFactorRedirect"], true, "the browser is no longer trusted");
}

async fn trusting_again_replaces_the_device(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    let first = challenged(&app, &user.email).await;
    let done = app
        .post(
            "/two-factor/verify-backup-code",
            json!({"code": user.backup_codes[0], "trustDevice": true}),
            Some(&first),
        )
        .await;
    let trust = done.session_cookie(&app.state.trust_device_cookie()).expect("trust cookie");
    let session = app.cookie_of(&done);
    // Challenged again on this browser (say, after revoking), trusting it again.
    let res = app
        .post(
            "/two-factor/verify-backup-code",
            json!({"code": user.backup_codes[1], "trustDevice": true}),
            Some(&format!("{trust}; {}", challenged(&app, &user.email).await)),
        )
        .await;
    res.assert_ok();
    let devices = app.get("/two-factor/list-trusted-devices", Some(&session)).await.assert_ok();
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    let res =
        app.post("/sign-in/email", json!({"email": user.email, "password": PASSWORD}), Some(&trust)).await;
    assert_eq!(res.assert_ok()["twoFactorRedirect"], true, "the replaced cookie is spent");
}

async fn backup_codes_work_once(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    let code = &user.backup_codes[3];
    let done = verify(&app, "verify-backup-code", code, &challenged(&app, &user.email).await).await;
    assert_eq!(done.assert_ok()["user"]["email"], user.email);
    app.cookie_of(&done);
    let challenge = challenged(&app, &user.email).await;
    verify(&app, "verify-backup-code", code, &challenge).await.assert_error(401, "INVALID_BACKUP_CODE");
    // Without the dash, another code still works once.
    verify(&app, "verify-backup-code", &user.backup_codes[4].replace('-', ""), &challenge).await.assert_ok();
    // Concurrently: one use (a few rounds, as a race may not show every time).
    for code in &user.backup_codes[5..9] {
        let (first, second) = (challenged(&app, &user.email).await, challenged(&app, &user.email).await);
        assert_eq!(
            verify_at_once(&app, "verify-backup-code", code, &[&first, &second]).await,
            vec![200, 401]
        );
    }
}

async fn a_trusted_browser_skips_the_second_factor_and_rotates(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    mid_step(&app);
    let challenge = challenged(&app, &user.email).await;
    let body = json!({"code": code_now(&app, &user.secret), "trustDevice": true});
    let done = app.post("/two-factor/verify-totp", body, Some(&challenge)).await;
    done.assert_ok();
    let name = app.state.trust_device_cookie();
    let (_, attrs) = done.set_cookies().remove(&name).expect("trust cookie");
    assert!(attrs.contains(&"max-age=2592000".into()) && attrs.contains(&"httponly".into()), "{attrs:?}");
    let trust = done.session_cookie(&name).unwrap();
    let listed = app.get("/two-factor/list-trusted-devices", Some(&app.cookie_of(&done))).await.assert_ok();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // Signed in without a challenge; the device rotates.
    let res =
        app.post("/sign-in/email", json!({"email": user.email, "password": PASSWORD}), Some(&trust)).await;
    assert!(res.assert_ok()["token"].is_string());
    let rotated = res.session_cookie(&name).expect("a new trust cookie");
    assert_ne!(rotated, trust);
    let again =
        app.post("/sign-in/email", json!({"email": user.email, "password": PASSWORD}), Some(&trust)).await;
    assert_eq!(again.assert_ok()["twoFactorRedirect"], true, "the old cookie is spent");
    // Another user on this browser is still challenged.
    let other = enrolled(&app).await;
    let res =
        app.post("/sign-in/email", json!({"email": other.email, "password": PASSWORD}), Some(&rotated)).await;
    assert_eq!(res.assert_ok()["twoFactorRedirect"], true);
    // The other user's attempt left this user's device alone; revoked, it is challenged again.
    let res =
        app.post("/sign-in/email", json!({"email": user.email, "password": PASSWORD}), Some(&rotated)).await;
    let (session, latest) = (app.cookie_of(&res), res.session_cookie(&name).unwrap());
    let devices = app.get("/two-factor/list-trusted-devices", Some(&session)).await.assert_ok();
    assert_eq!(devices.as_array().unwrap().len(), 1, "rotated, not added: {devices}");
    let res =
        app.post("/two-factor/revoke-trusted-device", json!({"id": devices[0]["id"]}), Some(&session)).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    assert_eq!(app.get("/two-factor/list-trusted-devices", Some(&session)).await.assert_ok(), json!([]));
    let res =
        app.post("/sign-in/email", json!({"email": user.email, "password": PASSWORD}), Some(&latest)).await;
    assert_eq!(res.assert_ok()["twoFactorRedirect"], true);
    app.post("/two-factor/revoke-trusted-device", json!({"id": "nope"}), Some(&session))
        .await
        .assert_error(404, "TRUSTED_DEVICE_NOT_FOUND");
}

async fn bad_input_gets_the_contract_errors(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    verify(&app, "verify-totp", "123456", "").await.assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    let name = app.state.two_factor_cookie();
    verify(&app, "verify-totp", "123456", &format!("{name}=forged"))
        .await
        .assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    app.post("/two-factor/send-otp", json!({}), None).await.assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
    let challenge = challenged(&app, &user.email).await;
    rejected_field(&app.post("/two-factor/verify-totp", json!({}), Some(&challenge)).await, "code");
    rejected_field(&app.post("/two-factor/verify-totp", json!({"code": 5}), Some(&challenge)).await, "code");
    for code in ["", "12345", "abcdef", "1234567", &"9".repeat(10_000)] {
        verify(&app, "verify-totp", code, &challenge).await.assert_error(401, "INVALID_CODE");
    }
    let res = app.post("/two-factor/verify-backup-code", json!({"code": "x"}), None).await;
    res.assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
}

async fn two_factor_routes_are_strictly_rate_limited(backend: Backend) {
    let app = app!(backend, |s| s.limits.enabled = true);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    for _ in 0..3 {
        app.post("/two-factor/get-totp-uri", json!({"password": PASSWORD}), Some(&cookie)).await;
    }
    let res = app.post("/two-factor/get-totp-uri", json!({"password": PASSWORD}), Some(&cookie)).await;
    res.assert_error(429, "RATE_LIMIT_EXCEEDED");
    app.clock().advance(Duration::from_secs(11));
    app.post("/two-factor/get-totp-uri", json!({"password": PASSWORD}), Some(&cookie))
        .await
        .assert_error(400, "TOTP_NOT_ENABLED");
}

backend_tests!(
    sign_in_waits_for_the_second_factor,
    a_totp_code_is_accepted_once,
    codes_one_step_off_pass_and_two_do_not,
    a_challenge_burns_after_five_tries,
    ten_failures_lock_the_second_factor,
    parallel_guesses_cannot_pass_the_lock,
    a_new_password_ends_challenges_and_trusted_browsers,
    trusting_again_replaces_the_device,
    backup_codes_work_once,
    a_trusted_browser_skips_the_second_factor_and_rotates,
    bad_input_gets_the_contract_errors,
    two_factor_routes_are_strictly_rate_limited,
);
