//! Email OTP: 6-digit codes by mail for verifying the email, signing in and resetting the
//! password; the same answer for every address, single use, five minutes, three wrong tries.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

fn wrong_code(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

async fn otp_send_answers_the_same_for_every_email(backend: Backend) {
    let app = app!(backend);
    let (known, unknown) = (unique_email(), unique_email());
    app.signed_up_cookie(&known).await;
    for (i, kind) in ["email-verification", "sign-in", "forget-password"].into_iter().enumerate() {
        let a =
            app.post("/email-otp/send-verification-otp", json!({"email": unknown, "type": kind}), None).await;
        assert_eq!(a.assert_ok(), json!({"success": true}), "{kind}");
        let code = app.otp_code(&known, kind, i + 1).await;
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{kind}: {code}");
    }
    let mail = app.mail(&known, "otp").await;
    assert!(mail["text"].as_str().unwrap().contains(mail["token"].as_str().unwrap()), "{mail}");
    assert_iso_ms(&mail["sentAt"]);
    app.post("/email-otp/send-verification-otp", json!({"email": known, "type": "magic"}), None)
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.mail_settled().await;
    assert_eq!(app.mail_count(&unknown, "otp"), 0);
    assert_eq!(app.mail_count(&known, "otp"), 3);
}

async fn otp_verifies_the_email(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let code = app.otp_code(&email, "email-verification", 1).await;
    let res = app.post("/email-otp/verify-email", json!({"email": email, "otp": code}), None).await;
    let body = res.assert_ok();
    assert_eq!(body["status"], true, "{body}");
    assert_eq!(body["user"]["emailVerified"], true, "{body}");
    assert_eq!(app.session(&cookie).await["user"]["emailVerified"], true);
    // Single-use.
    app.post("/email-otp/verify-email", json!({"email": email, "otp": code}), None)
        .await
        .assert_error(400, "INVALID_OTP");
}

async fn otp_signs_in(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = app.otp_code(&email, "sign-in", 1).await;
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await;
    let body = res.assert_ok();
    assert!(body["token"].is_string(), "{body}");
    assert_eq!(body["user"]["email"], email.as_str());
    let cookie = app.cookie_of(&res);
    let current = app.session(&cookie).await;
    assert_eq!(current["user"]["email"], email.as_str());
    assert_eq!(current["session"]["token"], body["token"]);
    app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None)
        .await
        .assert_error(400, "INVALID_OTP");
}

async fn otp_resets_the_password(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = app.otp_code(&email, "forget-password", 1).await;
    let res = app
        .post(
            "/email-otp/reset-password",
            json!({"email": email, "otp": code, "password": NEW_PASSWORD}),
            None,
        )
        .await;
    assert_eq!(res.assert_ok(), json!({"success": true}));
    app.sign_in(&email, NEW_PASSWORD).await.assert_ok();
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
}

async fn otp_burns_after_three_wrong_tries(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = app.otp_code(&email, "sign-in", 1).await;
    let wrong = json!({"email": email, "otp": wrong_code(&code)});
    app.post("/sign-in/email-otp", wrong.clone(), None).await.assert_error(400, "INVALID_OTP");
    app.post("/sign-in/email-otp", wrong.clone(), None).await.assert_error(400, "INVALID_OTP");
    app.post("/sign-in/email-otp", wrong, None).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await;
    assert!(res.status.is_client_error(), "the right code after the third wrong one: {}", res.text());
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
}

async fn otp_expires_after_five_minutes(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let verify_code = app.otp_code(&email, "email-verification", 1).await;
    let sign_in_code = app.otp_code(&email, "sign-in", 2).await;

    app.clock().advance(Duration::from_secs(4 * 60));
    app.post("/sign-in/email-otp", json!({"email": email, "otp": sign_in_code}), None).await.assert_ok();

    app.clock().advance(Duration::from_secs(61));
    app.post("/email-otp/verify-email", json!({"email": email, "otp": verify_code}), None)
        .await
        .assert_error(400, "OTP_EXPIRED");
}

async fn newer_otp_replaces_the_older(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let older = app.otp_code(&email, "sign-in", 1).await;
    let newer = app.otp_code(&email, "sign-in", 2).await;
    if older != newer {
        app.post("/sign-in/email-otp", json!({"email": email, "otp": older}), None)
            .await
            .assert_error(400, "INVALID_OTP");
    }
    app.post("/sign-in/email-otp", json!({"email": email, "otp": newer}), None).await.assert_ok();
}

async fn concurrent_otp_sign_ins_succeed_once(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let code = app.otp_code(&email, "sign-in", 1).await;
    let answers = app.in_parallel(8, "/sign-in/email-otp", json!({"email": email, "otp": code})).await;
    let winners = answers.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(winners, 1, "{:?}", answers.iter().map(|r| (r.status, r.text())).collect::<Vec<_>>());
    // The losers find the code used, or (having arrived after three claims on it) burnt.
    for res in answers.iter().filter(|r| r.status != StatusCode::OK) {
        match res.status.as_u16() {
            400 => res.assert_error(400, "INVALID_OTP"),
            _ => res.assert_error(403, "TOO_MANY_ATTEMPTS"),
        };
    }
}

async fn parallel_wrong_codes_use_up_the_attempts(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    let code = app.otp_code(&email, "sign-in", 1).await;
    let wrong = wrong_code(&code);
    let app = Arc::new(app);
    let guesses: Vec<_> = (0..10)
        .map(|_| {
            let (app, email) = (app.clone(), email.clone());
            tokio::spawn(async move {
                app.post("/sign-in/email-otp", json!({"email": email, "otp": wrong}), None).await.status
            })
        })
        .collect();
    for g in guesses {
        assert_ne!(g.await.unwrap(), StatusCode::OK);
    }
    // At most 3 guesses were compared; the code is burnt now.
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await;
    assert_ne!(res.status, StatusCode::OK, "{}", res.text());
}

backend_tests!(
    otp_send_answers_the_same_for_every_email,
    otp_verifies_the_email,
    otp_signs_in,
    otp_resets_the_password,
    otp_burns_after_three_wrong_tries,
    otp_expires_after_five_minutes,
    newer_otp_replaces_the_older,
    concurrent_otp_sign_ins_succeed_once,
    parallel_wrong_codes_use_up_the_attempts,
);
