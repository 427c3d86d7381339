//! Native sign-in with an ID token the client got from the provider itself
//! (`/sign-in/social` with `idToken`), against the OpenID provider stand-in.

use serde_json::json;

use super::{CALLBACK_GOOGLE, social_app};
use crate::{backend_tests, helpers::*};

async fn an_id_token_signs_in(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let token = op.id_token(&email, CALLBACK_GOOGLE, "native-nonce").await;
    let body = json!({"provider": "google", "idToken": {"token": token, "nonce": "native-nonce", "accessToken": "at-1"}});
    let res = app.post("/sign-in/social", body, None).await;
    let answer = res.assert_ok();
    assert_eq!((answer["redirect"].as_bool(), answer["url"].is_null()), (Some(false), true), "{answer}");
    assert_eq!(answer["user"]["email"], email.as_str());
    assert!(answer["token"].is_string());
    let cookie = res.session_cookie(&app.state.session_cookie).expect("session cookie");
    assert_eq!(session_user(&app, &cookie).await["email"], email.as_str());
    let row = app.state.store.account("google", &email, "").await.unwrap().expect("linked");
    assert!(row.access_token.unwrap().starts_with("gh1:") && row.id_token.unwrap().starts_with("gh1:"));
}

async fn a_bad_id_token_is_refused(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let token = op.id_token(&email, CALLBACK_GOOGLE, "n1").await;
    let with =
        |token: &str, nonce: &str| json!({"provider": "google", "idToken": {"token": token, "nonce": nonce}});
    app.post("/sign-in/social", with(&token, "n2"), None).await.assert_error(401, "INVALID_TOKEN");
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    app.post("/sign-in/social", with(&parts.join("."), "n1"), None).await.assert_error(401, "INVALID_TOKEN");
    app.post("/sign-in/social", with("garbage", "n1"), None).await.assert_error(401, "INVALID_TOKEN");
    assert!(!user_exists(&app, &email).await, "nothing stored");
    // An unproven address: no account, as for the redirect flow.
    let unverified = format!("unverified-{}", unique_email());
    let token = op.id_token(&unverified, CALLBACK_GOOGLE, "n1").await;
    app.post("/sign-in/social", with(&token, "n1"), None).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    // A local account with the address, unverified: not linked.
    let local = unique_email();
    app.signed_up_cookie(&local).await;
    let token = op.id_token(&local, CALLBACK_GOOGLE, "n1").await;
    app.post("/sign-in/social", with(&token, "n1"), None).await.assert_error(401, "OAUTH_LINK_ERROR");
}

backend_tests!(an_id_token_signs_in, a_bad_id_token_is_refused);
