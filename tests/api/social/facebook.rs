//! The Facebook preset against the loopback stand-in (`helpers::github`, which also answers
//! Facebook's calls): the client authenticates in the body, the profile comes from `/me`, and
//! the address is not taken as verified unless Facebook is trusted.

use serde_json::json;

use super::{back, location, start};
use crate::backend_tests;
use crate::helpers::{
    github::{GitHubStandIn, GitHubUser},
    *,
};

async fn sign_in_as(app: &TestApp, stand_in: &GitHubStandIn, email: &str) -> TestResponse {
    stand_in.will_log_in(GitHubUser {
        id: 1001,
        login: "fb".into(),
        name: Some("Fay Book".into()),
        emails: vec![(email.into(), true, true)],
    });
    let started = start(app, "facebook", json!({"callbackURL": "/home"})).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(&started.url).send().await.unwrap();
    let redirect = res.headers()["location"].to_str().unwrap().to_string();
    back(app, &redirect, Some(&started.state_cookie)).await
}

async fn facebook_addresses_count_only_when_trusted(backend: Backend) {
    let stand_in = GitHubStandIn::start().await;
    let config = stand_in.facebook_config();
    let Some(app) = TestApp::with(backend, |s| s.social.providers = vec![config]).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &stand_in, &email).await;
    assert!(location(&res).ends_with("?error=email_not_verified"), "{}", location(&res));

    let trusting = app.sibling(|s| s.social.trusted_providers = vec!["facebook".into()]);
    let res = sign_in_as(&trusting, &stand_in, &email).await;
    assert_eq!(location(&res), "/home");
    let cookie = res.session_cookie(&app.state.session_cookie).expect("signed in");
    let user = session_user(&app, &cookie).await;
    assert_eq!((user["name"].as_str(), user["emailVerified"].as_bool()), (Some("Fay Book"), Some(false)));
    assert_eq!(user["image"], "https://pictures.example/1001");
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert_eq!(
        (accounts[0]["providerId"].as_str(), accounts[0]["accountId"].as_str()),
        (Some("facebook"), Some("1001"))
    );
}

backend_tests!(facebook_addresses_count_only_when_trusted);
