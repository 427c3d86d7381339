//! `/link-social`: linking another provider to the signed-in user, and its refusals.

use serde_json::json;

use super::{back, location, sign_in_as, social_app};
use crate::{
    backend_tests,
    helpers::{oidc::OidcProvider, *},
};

/// A `/link-social` for the user signed in with `session`, logged in at the provider as `login`:
/// the callback's answer (the browser sends both its session and its state cookie).
async fn link_as(app: &TestApp, op: &OidcProvider, session: &str, login: &str) -> TestResponse {
    let body = json!({"provider": "google", "callbackURL": "/settings", "errorCallbackURL": "/settings"});
    let res = app.post("/link-social", body, Some(session)).await;
    let url = res.assert_ok()["url"].as_str().unwrap().to_string();
    let name = app.state.oauth_state_cookie();
    let (value, _) = res.set_cookies().remove(&name).expect("state cookie");
    let redirect = op.log_in(&url, login).await;
    back(app, &redirect, Some(&format!("{session}; {name}={value}"))).await
}

async fn link_social_links_the_signed_in_user(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let cookie = app.verified_cookie(&email).await;
    let res = link_as(&app, &op, &cookie, &email).await;
    assert_eq!(location(&res), "/settings");
    assert!(res.session_cookie(&app.state.session_cookie).is_none(), "the session stays as it was");
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert_eq!(accounts.as_array().unwrap().len(), 2);
    // Again: the same identity, already this user's, is fine (its tokens are refreshed).
    assert_eq!(location(&link_as(&app, &op, &cookie, &email).await), "/settings");
    // The identity is the user's way in now.
    let again = sign_in_as(&app, &op, "google", &email, json!({"callbackURL": "/in"})).await;
    assert_eq!(location(&again), "/in");
}

async fn link_social_refusals(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let cookie = app.verified_cookie(&email).await;
    let other = unique_email();
    let res = link_as(&app, &op, &cookie, &other).await;
    assert_eq!(location(&res), "/settings?error=email_does_not_match");
    let res = link_as(&app, &op, &cookie, &format!("unverified-{email}")).await;
    assert_eq!(location(&res), "/settings?error=unable_to_link_account");
    // An identity that signs another user in.
    let taken = format!("taken-{}", unique_email());
    sign_in_as(&app, &op, "google", &taken, json!({})).await;
    let res = link_as(&app, &op, &cookie, &taken).await;
    assert_eq!(location(&res), "/settings?error=account_already_linked_to_different_user");
    assert_eq!(app.get("/list-accounts", Some(&cookie)).await.assert_ok().as_array().unwrap().len(), 1);
    // The browser must come back as the user who started the link.
    let body = json!({"provider": "google", "errorCallbackURL": "/settings"});
    let res = app.post("/link-social", body, Some(&cookie)).await;
    let url = res.assert_ok()["url"].as_str().unwrap().to_string();
    let name = app.state.oauth_state_cookie();
    let state_cookie = format!("{name}={}", res.set_cookies()[&name].0);
    let redirect = op.log_in(&url, &email).await;
    let res = back(&app, &redirect, Some(&state_cookie)).await;
    assert_eq!(location(&res), "/settings?error=unable_to_link_account");
    app.post("/link-social", json!({"provider": "google"}), None).await.assert_error(401, "UNAUTHORIZED");
}

backend_tests!(link_social_links_the_signed_in_user, link_social_refusals,);
