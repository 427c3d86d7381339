//! Enrolling, confirming with the password (or a fresh session), backup codes, turning it off.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::{app, backend_tests, helpers::*};

async fn enrollment_completes_only_with_a_first_code(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    assert_eq!(app.session(&cookie).await["user"]["twoFactorEnabled"], false);
    let answer = enable(&app, &cookie).await;
    assert_eq!(answer["method"], "totp");
    let uri = answer["totpURI"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Gatehouse%3A")
            && uri.ends_with("&issuer=Gatehouse&digits=6&period=30"),
        "{uri}"
    );
    assert!(answer["totpQrCode"].as_str().unwrap().starts_with("data:image/svg+xml;base64,"));
    let codes = answer["backupCodes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    for c in codes {
        let c = c.as_str().unwrap();
        assert!(
            c.len() == 11
                && c.as_bytes()[5] == b'-'
                && c.replace('-', "").chars().all(|ch| ch.is_ascii_alphanumeric()),
            "{c}"
        );
    }
    // Not on yet: a sign-in is not challenged.
    assert!(app.sign_in(&email, PASSWORD).await.assert_ok()["token"].is_string());
    // Enabling again before confirming starts over with a new secret.
    let again = enable(&app, &cookie).await;
    assert_ne!(again["totpURI"], answer["totpURI"]);
    let secret = secret_of(again["totpURI"].as_str().unwrap());
    mid_step(&app);
    let old_secret = secret_of(uri);
    app.post("/two-factor/verify-totp", json!({"code": code_now(&app, &old_secret)}), Some(&cookie))
        .await
        .assert_error(401, "INVALID_CODE");
    assert_eq!(app.session(&cookie).await["user"]["twoFactorEnabled"], false, "a wrong code enrolls nothing");
    let done =
        app.post("/two-factor/verify-totp", json!({"code": code_now(&app, &secret)}), Some(&cookie)).await;
    let body = done.assert_ok();
    assert_eq!(body["user"]["twoFactorEnabled"], true);
    assert!(body["token"].is_string());
    assert_eq!(app.session(&cookie).await["user"]["twoFactorEnabled"], true);
    app.post("/two-factor/enable", json!({"password": PASSWORD}), Some(&cookie))
        .await
        .assert_error(400, "TOTP_ALREADY_ENABLED");
}

async fn changes_need_the_password(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    for route in ["enable", "disable", "get-totp-uri", "generate-backup-codes"] {
        let path = format!("/two-factor/{route}");
        app.post(&path, json!({"password": "wrong-password-123"}), Some(&user.cookie))
            .await
            .assert_error(400, "INVALID_PASSWORD");
        rejected_field(&app.post(&path, json!({}), Some(&user.cookie)).await, "password");
        app.post(&path, json!({"password": PASSWORD}), None).await.assert_error(401, "UNAUTHORIZED");
    }
    let uri = app.post("/two-factor/get-totp-uri", json!({"password": PASSWORD}), Some(&user.cookie)).await;
    assert_eq!(secret_of(uri.assert_ok()["totpURI"].as_str().unwrap()), user.secret);
    app.post("/two-factor/enable", json!({"password": PASSWORD, "method": "sms"}), Some(&user.cookie))
        .await
        .assert_error(400, "VALIDATION_ERROR");
}

async fn backup_codes_are_regenerated_and_old_ones_stop(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    let res = app
        .post("/two-factor/generate-backup-codes", json!({"password": PASSWORD}), Some(&user.cookie))
        .await;
    let body = res.assert_ok();
    assert_eq!(body["status"], true);
    let fresh: Vec<String> =
        body["backupCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
    assert_eq!(fresh.len(), 10);
    let notice = app.mail(&user.email, "backup-codes-regenerated").await;
    assert!(!notice["text"].as_str().unwrap().contains(&fresh[0]), "codes are never mailed");
    let cookie = challenged(&app, &user.email).await;
    verify(&app, "verify-backup-code", &user.backup_codes[0], &cookie)
        .await
        .assert_error(401, "INVALID_BACKUP_CODE");
    let done = verify(&app, "verify-backup-code", &fresh[0], &cookie).await;
    assert!(done.assert_ok()["token"].is_string());
    // Without a second factor on, there is nothing to regenerate.
    let other = app.signed_up_cookie(&unique_email()).await;
    app.post("/two-factor/generate-backup-codes", json!({"password": PASSWORD}), Some(&other))
        .await
        .assert_error(400, "TWO_FACTOR_NOT_ENABLED");
}

async fn disabling_turns_it_off_and_tells_the_user(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    let res = app.post("/two-factor/disable", json!({"password": PASSWORD}), Some(&user.cookie)).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    app.mail(&user.email, "two-factor-disabled").await;
    assert_eq!(app.session(&user.cookie).await["user"]["twoFactorEnabled"], false);
    assert!(app.sign_in(&user.email, PASSWORD).await.assert_ok()["token"].is_string());
    // The old authenticator is gone: enrolling starts afresh.
    let again = enable(&app, &user.cookie).await;
    assert_ne!(secret_of(again["totpURI"].as_str().unwrap()), user.secret);
}

async fn email_codes_as_the_second_factor(backend: Backend) {
    let app = app!(backend);
    let user = otp_enrolled(&app).await;
    let res = app.sign_in(&user.email, PASSWORD).await;
    assert_eq!(res.assert_ok()["twoFactorMethods"], json!(["otp"]), "no authenticator was verified");
    let challenge = two_factor_cookie(&app, &res);
    let sent = app.post("/two-factor/send-otp", json!({}), Some(&challenge)).await;
    assert_eq!(sent.assert_ok(), json!({"status": true}));
    let code = token_of(&app.nth_mail(&user.email, "two-factor-otp", 2).await);
    assert_eq!(code.len(), 6);
    verify(&app, "verify-totp", &code, &challenge).await.assert_error(400, "TOTP_NOT_ENABLED");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    verify(&app, "verify-otp", wrong, &challenge).await.assert_error(401, "INVALID_CODE");
    let done = verify(&app, "verify-otp", &code, &challenge).await;
    assert!(app.cookie_of(&done).contains("session_token"));
    verify(&app, "verify-otp", &code, &challenge).await.assert_error(401, "INVALID_TWO_FACTOR_COOKIE");
}

async fn the_mailbox_is_not_both_factors(backend: Backend) {
    let app = app!(backend);
    let user = otp_enrolled(&app).await;
    // Signed in with an email code: an email code cannot be the second factor too.
    let code = app.otp_code(&user.email, "sign-in", 1).await;
    let res = app.post("/sign-in/email-otp", json!({"email": user.email, "otp": code}), None).await;
    assert_eq!(res.assert_ok(), json!({"twoFactorRedirect": true, "twoFactorMethods": []}));
    let challenge = two_factor_cookie(&app, &res);
    app.post("/two-factor/send-otp", json!({}), Some(&challenge)).await.assert_error(400, "OTP_NOT_ENABLED");
    verify(&app, "verify-otp", "123456", &challenge).await.assert_error(400, "OTP_NOT_ENABLED");
    // A backup code is another factor.
    let done = verify(&app, "verify-backup-code", &user.backup_codes[0], &challenge).await;
    assert_eq!(done.assert_ok()["user"]["email"], user.email);
}

async fn email_codes_expire_after_three_minutes(backend: Backend) {
    let app = app!(backend);
    let user = otp_enrolled(&app).await;
    let challenge = challenged(&app, &user.email).await;
    app.post("/two-factor/send-otp", json!({}), Some(&challenge)).await.assert_ok();
    let code = token_of(&app.nth_mail(&user.email, "two-factor-otp", 2).await);
    app.clock().advance(Duration::from_secs(181));
    verify(&app, "verify-otp", &code, &challenge).await.assert_error(400, "OTP_HAS_EXPIRED");
    // The signed-in user can ask for and use codes too.
    app.post("/two-factor/send-otp", json!({}), Some(&user.cookie)).await.assert_ok();
    let code = token_of(&app.nth_mail(&user.email, "two-factor-otp", 3).await);
    let done = app.post("/two-factor/verify-otp", json!({"code": code}), Some(&user.cookie)).await;
    assert_eq!(done.assert_ok()["user"]["email"], user.email);
}

async fn secrets_and_codes_are_sealed_at_rest(backend: Backend) {
    let app = app!(backend);
    let user = enrolled(&app).await;
    let (secret, codes) = stored_row(&app, &user.email).await;
    let raw = String::from_utf8(user.secret.clone()).unwrap();
    assert!(secret.starts_with("gh1:") && !secret.contains(&raw), "{secret}");
    assert!(codes.starts_with("gh1:") && !codes.contains(&user.backup_codes[0]), "{codes}");
}

/// The stored `twoFactor` row's secret and backup codes.
async fn stored_row(app: &TestApp, email: &str) -> (String, String) {
    let credential = app.state.store.credential_by_email(email, "").await.unwrap().unwrap();
    let row = app.state.store.two_factor(&credential.user.id).await.unwrap().unwrap();
    (row.secret, row.backup_codes)
}

backend_tests!(
    enrollment_completes_only_with_a_first_code,
    changes_need_the_password,
    backup_codes_are_regenerated_and_old_ones_stop,
    disabling_turns_it_off_and_tells_the_user,
    email_codes_as_the_second_factor,
    the_mailbox_is_not_both_factors,
    email_codes_expire_after_three_minutes,
    secrets_and_codes_are_sealed_at_rest,
);
