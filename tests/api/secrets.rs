//! Rotating the server secret (`BETTER_AUTH_SECRETS`, the current one first): what the old secret
//! signed, sealed or keyed keeps working while it is listed, clients move to the new one as they
//! come back, `secrets reseal` moves sealed data, and then the old secret can go with nothing lost.

use axum::{
    body::Body,
    http::{Method, header},
};
use serde_json::json;

use crate::{
    app, backend_tests,
    helpers::*,
    two_factor::{challenged, code_now, enrolled, next_step, verify},
};

const OLD: &str = "test-secret-test-secret-test-secret-0123";
const NEW: &str = "rotated-secret-rotated-secret-rotated-0001";

fn secrets(app: &TestApp, list: &[&str]) -> TestApp {
    let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    app.sibling(move |s| {
        s.secret = Some(gatehouse::config::Secret::new(list[0].clone()));
        s.previous_secrets = list[1..].iter().map(gatehouse::config::Secret::new).collect();
    })
}

async fn bearer_session(app: &TestApp, value: &str) -> TestResponse {
    let req = app.req(Method::GET, "/get-session").header(header::AUTHORIZATION, format!("Bearer {value}"));
    app.send(req.body(Body::empty()).unwrap()).await
}

async fn rotating_the_secret_loses_nothing(backend: Backend) {
    let before = app!(backend);
    assert_eq!(before.state.settings.secret.as_ref().unwrap().expose(), OLD);
    // Under the old secret: a session, a signing key, a refresh token, a reset link, a second factor.
    let email = unique_email();
    let cookie = before.signed_up_cookie(&email).await;
    let signed = cookie.split_once('=').unwrap().1.to_string();
    let kid = jwt::segment(
        before.get("/token", Some(&cookie)).await.assert_ok()["token"].as_str().unwrap(),
        0,
    )["kid"]
        .clone();
    let pair = before.post("/token/pair", json!({}), Some(&cookie)).await.assert_ok();
    let resetting = unique_email();
    before.signed_up_cookie(&resetting).await;
    before.post("/request-password-reset", json!({"email": resetting}), None).await.assert_ok();
    let link = token_of(&before.mail(&resetting, "reset").await);
    let second = enrolled(&before).await;
    next_step(&before);
    let early = challenged(&before, &second.email).await;

    // Both listed, the new one first: all of it still works.
    let during = secrets(&before, &[NEW, OLD]);
    let res = during.get("/get-session", Some(&cookie)).await;
    assert_eq!(res.assert_ok()["user"]["email"], email.as_str());
    let fresh = during.cookie_of(&res);
    assert_ne!(fresh, cookie, "the cookie comes back signed with the new secret");
    // Even where answers are otherwise public, one that hands out a session is nobody else's.
    let res = during.get("/jwks", Some(&cookie)).await;
    assert_eq!(res.header("cache-control"), Some("private, no-store"));
    assert!(res.session_cookie(&during.state.session_cookie).is_some());
    let res = bearer_session(&during, &signed).await;
    assert_eq!(res.assert_ok()["user"]["email"], email.as_str());
    let fresh_bearer = res.header("set-auth-token").expect("a new bearer value").to_string();
    assert_ne!(fresh_bearer, signed);
    let token = during.get("/token", Some(&fresh)).await.assert_ok()["token"].as_str().unwrap().to_string();
    assert_eq!(jwt::segment(&token, 0)["kid"], kid, "the key sealed under the old secret signs");
    let body = json!({"refresh_token": pair["refresh_token"]});
    let renewed = during.post("/token/refresh", body, None).await.assert_ok();
    let body = json!({"token": link, "newPassword": NEW_PASSWORD});
    during.post("/reset-password", body, None).await.assert_ok();
    during.sign_in(&resetting, NEW_PASSWORD).await.assert_ok();
    // A second-factor challenge begun before the rotation is answered after it.
    verify(&during, "verify-totp", &code_now(&during, &second.secret), &early).await.assert_ok();

    // Reseal: everything sealed under the old secret moves; a second run finds nothing to do.
    let store = during.state.store.as_ref();
    let report = gatehouse::service::secrets::reseal(store, &[NEW, OLD]).await.unwrap();
    let moved = |column: &str| report.iter().find(|r| r.column == column).unwrap().resealed;
    assert!(moved("jwks.privateKey") >= 1, "{report:?}");
    assert_eq!((moved("twoFactor.secret"), moved("twoFactor.backupCodes")), (1, 1), "{report:?}");
    assert!(report.iter().all(|r| r.unreadable == 0), "{report:?}");
    let again = gatehouse::service::secrets::reseal(store, &[NEW, OLD]).await.unwrap();
    assert!(again.iter().all(|r| r.resealed == 0), "{again:?}");

    // The old secret dropped: what clients came back with, and everything sealed, still works.
    let after = secrets(&before, &[NEW]);
    assert_eq!(session_user(&after, &fresh).await["email"], email.as_str());
    assert_eq!(bearer_session(&after, &fresh_bearer).await.assert_ok()["user"]["email"], email.as_str());
    assert!(after.session(&cookie).await.is_null(), "a cookie only the dropped secret signed");
    let token = after.get("/token", Some(&fresh)).await.assert_ok()["token"].as_str().unwrap().to_string();
    assert_eq!(jwt::segment(&token, 0)["kid"], kid);
    let body = json!({"refresh_token": renewed["refresh_token"]});
    after.post("/token/refresh", body, None).await.assert_ok();
    next_step(&after);
    let challenge = challenged(&after, &second.email).await;
    verify(&after, "verify-totp", &code_now(&after, &second.secret), &challenge).await.assert_ok();
}

backend_tests!(rotating_the_secret_loses_nothing);
