//! Second factors: enrolling TOTP (codes computed here from the secret at the app's clock),
//! sign-in challenges, replay, limits and locks, backup codes, email codes, trusted devices,
//! and mandatory second factors (`matrix.rs`: every way in × every policy).

mod challenge;
mod enroll;
mod matrix;
mod required;

use std::time::Duration;

use serde_json::{Value, json};
use totp_rs::{Algorithm, Builder, Secret};

use crate::helpers::*;

/// A user with a TOTP authenticator enrolled (and its first code's step behind them).
pub struct Enrolled {
    pub email: String,
    pub cookie: String,
    pub secret: Vec<u8>,
    pub backup_codes: Vec<String>,
}

/// The raw key in an `otpauth://` URI (base32 in `secret=`).
pub fn secret_of(uri: &str) -> Vec<u8> {
    let query = uri.split_once('?').expect("a query").1;
    let encoded = query.split('&').find_map(|p| p.strip_prefix("secret=")).expect("secret=");
    Secret::try_from_base32(encoded).expect("base32").as_bytes().to_vec()
}

/// The 6-digit code for `at_ms` (RFC 6238: SHA-1, 30 s), computed here from the raw key.
pub fn code_at(secret: &[u8], at_ms: i64) -> String {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(Secret::from(secret.to_vec()))
        .build()
        .expect("totp");
    totp.generate(u64::try_from(at_ms / 1000).unwrap()).to_string()
}

pub fn code_now(app: &TestApp, secret: &[u8]) -> String {
    code_at(secret, app.clock().now_ms())
}

/// Moves the clock to the middle of a 30 s step, so a step boundary cannot pass mid-test.
pub fn mid_step(app: &TestApp) {
    let into = app.clock().now_ms().rem_euclid(30_000);
    app.clock().advance(Duration::from_millis(u64::try_from((45_000 - into) % 30_000).unwrap()));
}

/// The next step: its code was never used.
pub fn next_step(app: &TestApp) {
    app.clock().advance(Duration::from_secs(30));
}

pub async fn enable(app: &TestApp, cookie: &str) -> Value {
    app.post("/two-factor/enable", json!({"password": PASSWORD}), Some(cookie)).await.assert_ok()
}

/// Enrolls an authenticator for the signed-in `cookie` (its first code's step behind it): the
/// key and the backup codes.
pub async fn enroll(app: &TestApp, cookie: &str) -> (Vec<u8>, Vec<String>) {
    let answer = enable(app, cookie).await;
    let secret = secret_of(answer["totpURI"].as_str().unwrap());
    let backup_codes =
        answer["backupCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
    mid_step(app);
    let code = code_now(app, &secret);
    let done = app.post("/two-factor/verify-totp", json!({"code": code}), Some(cookie)).await.assert_ok();
    assert_eq!(done["user"]["twoFactorEnabled"], true, "{done}");
    next_step(app);
    (secret, backup_codes)
}

/// Signs up a user and enrolls an authenticator.
pub async fn enrolled(app: &TestApp) -> Enrolled {
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let (secret, backup_codes) = enroll(app, &cookie).await;
    Enrolled { email, cookie, secret, backup_codes }
}

/// Signs up a user whose second factor is email codes (enrolled with a first mailed code).
pub async fn otp_enrolled(app: &TestApp) -> Enrolled {
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let res =
        app.post("/two-factor/enable", json!({"password": PASSWORD, "method": "otp"}), Some(&cookie)).await;
    let answer = res.assert_ok();
    assert_eq!(answer["method"], "otp");
    let backup_codes =
        answer["backupCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
    assert_eq!(app.session(&cookie).await["user"]["twoFactorEnabled"], false, "on only after a first code");
    let code = token_of(&app.mail(&email, "two-factor-otp").await);
    let done = app.post("/two-factor/verify-otp", json!({"code": code}), Some(&cookie)).await.assert_ok();
    assert_eq!(done["user"]["twoFactorEnabled"], true, "{done}");
    Enrolled { email, cookie, secret: Vec::new(), backup_codes }
}

/// The `Cookie` value for the two-factor cookie `res` set.
pub fn two_factor_cookie(app: &TestApp, res: &TestResponse) -> String {
    let name = app.state.two_factor_cookie();
    res.session_cookie(&name).unwrap_or_else(|| panic!("no two-factor cookie: {}", res.text()))
}

/// A password sign-in that must be challenged: the two-factor cookie.
pub async fn challenged(app: &TestApp, email: &str) -> String {
    let res = app.sign_in(email, PASSWORD).await;
    let body = res.assert_ok();
    assert_eq!(body["twoFactorRedirect"], true, "{body}");
    assert!(body.get("token").is_none() && body.get("user").is_none(), "{body}");
    assert!(res.session_cookie(&app.state.session_cookie).is_none(), "no session before the second factor");
    two_factor_cookie(app, &res)
}

/// A verify route with the challenge cookie.
pub async fn verify(app: &TestApp, route: &str, code: &str, cookie: &str) -> TestResponse {
    app.post(&format!("/two-factor/{route}"), json!({"code": code}), Some(cookie)).await
}

/// A verify route with `code` once per cookie, all at once: the statuses, sorted.
pub async fn verify_at_once(app: &TestApp, route: &str, code: &str, cookies: &[&str]) -> Vec<u16> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(cookies.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for cookie in cookies {
        let mut req = app.json_request(&format!("/two-factor/{route}"), &json!({"code": code}));
        req.headers_mut().insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        let (router, barrier) = (app.router.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            tower::ServiceExt::oneshot(router, req).await.unwrap().status().as_u16()
        });
    }
    let mut statuses = tasks.join_all().await;
    statuses.sort_unstable();
    statuses
}
