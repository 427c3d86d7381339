//! The GitHub preset: OAuth 2 with PKCE, then the profile from `/user` and the verified address
//! from `/user/emails` (a stand-in of GitHub's API on loopback, `helpers::github`).

use serde_json::json;

use super::{back, location, start};
use crate::{
    app, backend_tests,
    helpers::{
        github::{Behaviour, GitHubStandIn, GitHubUser},
        *,
    },
};

async fn github_app(backend: Backend) -> Option<(TestApp, GitHubStandIn)> {
    github_app_with(backend, |_| {}).await
}

/// An app with the GitHub stand-in as its provider, its settings tweaked.
async fn github_app_with(
    backend: Backend,
    tweak: impl FnOnce(&mut gatehouse::config::Settings),
) -> Option<(TestApp, GitHubStandIn)> {
    let gh = GitHubStandIn::start().await;
    let config = gh.config();
    let app = TestApp::with(backend, |s| {
        s.social.providers = vec![config];
        tweak(s);
    })
    .await?;
    Some((app, gh))
}

fn octocat(id: u64, emails: Vec<(String, bool, bool)>) -> GitHubUser {
    GitHubUser { id, login: format!("octo{id}"), name: None, emails }
}

/// A whole sign-in through the stand-in as `user`.
async fn sign_in_as(app: &TestApp, gh: &GitHubStandIn, user: GitHubUser) -> TestResponse {
    gh.will_log_in(user);
    let started = start(app, "github", json!({"callbackURL": "/home"})).await;
    assert!(started.url.contains("code_challenge_method=S256"), "{}", started.url);
    let res = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = res.get(&started.url).send().await.unwrap();
    let redirect = res.headers()["location"].to_str().unwrap().to_string();
    back(app, &redirect, Some(&started.state_cookie)).await
}

async fn github_signs_up_with_the_verified_primary_address(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    let email = unique_email();
    let emails = vec![("old@example.com".into(), false, false), (email.clone(), true, true)];
    let res = sign_in_as(&app, &gh, octocat(4242, emails)).await;
    assert_eq!(location(&res), "/home");
    let cookie = res.session_cookie(&app.state.session_cookie).expect("signed in");
    let user = session_user(&app, &cookie).await;
    assert_eq!((user["email"].as_str(), user["emailVerified"].as_bool()), (Some(email.as_str()), Some(true)));
    assert_eq!(user["name"], "octo4242", "the login stands in for a missing name");
    assert_eq!(user["image"], "https://avatars.example/4242");
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert_eq!(
        (accounts[0]["providerId"].as_str(), accounts[0]["accountId"].as_str()),
        (Some("github"), Some("4242"))
    );
    assert_eq!(accounts[0]["scopes"], json!(["read:user", "user:email"]));
}

/// A sign-in started in an app finishes in it (the provider's redirect back carries no app: the
/// stored state names it), and the same identity in the default space is another user.
async fn a_sign_in_started_in_an_app_stays_in_it(backend: Backend) {
    const ALPHA: &str = "https://alpha.example";
    let Some((app, gh)) = github_app(backend).await else { return };
    let alpha = app.new_app("Alpha", &[ALPHA]).await;
    let email = unique_email();
    gh.will_log_in(octocat(77, vec![(email.clone(), true, true)]));
    let body = json!({"provider": "github", "callbackURL": format!("{ALPHA}/home")});
    let res = app.post_from(ALPHA, "/sign-in/social", body, None).await;
    let url = res.assert_ok()["url"].as_str().unwrap().to_string();
    let name = app.state.oauth_state_cookie();
    let state_cookie = format!("{name}={}", res.set_cookies().remove(&name).expect("state cookie").0);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let redirect = http.get(&url).send().await.unwrap().headers()["location"].to_str().unwrap().to_string();
    let res = back(&app, &redirect, Some(&state_cookie)).await;
    assert_eq!(location(&res), format!("{ALPHA}/home"));
    let cookie = app.cookie_of(&res);
    let user = app.get_from(ALPHA, "/get-session", Some(&cookie)).await.assert_ok()["user"].clone();
    assert_eq!(
        (user["email"].as_str(), user["appId"].as_str()),
        (Some(email.as_str()), Some(alpha.id.as_str()))
    );
    assert!(app.session(&cookie).await.is_null(), "not a session of the default space");
    // The same GitHub identity in the default space: a user of its own.
    let res = sign_in_as(&app, &gh, octocat(77, vec![(email.clone(), true, true)])).await;
    let default_user = session_user(&app, &app.cookie_of(&res)).await;
    assert_eq!(default_user["email"], email.as_str());
    assert!(default_user.get("appId").is_none() && default_user["id"] != user["id"], "{default_user}");
}

/// A banned user's sign-in through a provider ends on the error URL with `?error=banned`.
async fn a_banned_user_is_sent_back_with_banned(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &gh, octocat(99, vec![(email.clone(), true, true)])).await;
    let id = session_user(&app, &app.cookie_of(&res)).await["id"].as_str().unwrap().to_string();
    let ban = gatehouse::store::admin::Ban { reason: "spam".into(), expires: None };
    app.state.store.ban_user(&id, &ban, app.clock().now_ms()).await.unwrap();
    let res = sign_in_as(&app, &gh, octocat(99, vec![(email, true, true)])).await;
    assert!(location(&res).ends_with("?error=banned"), "{}", location(&res));
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
}

async fn an_unverified_github_address_does_not_link(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    let email = unique_email();
    app.verified_cookie(&email).await;
    let res = sign_in_as(&app, &gh, octocat(7, vec![(email.clone(), true, false)])).await;
    assert!(location(&res).ends_with("?error=account_not_linked"), "{}", location(&res));
    // The same address, verified at GitHub: linked to the local user.
    let res = sign_in_as(&app, &gh, octocat(7, vec![(email.clone(), true, true)])).await;
    assert_eq!(location(&res), "/home");
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    assert_eq!(app.get("/list-accounts", Some(&cookie)).await.assert_ok().as_array().unwrap().len(), 2);
}

async fn a_misbehaving_api_is_a_clean_error(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    for behaviour in [Behaviour::Html, Behaviour::Huge, Behaviour::Slow] {
        gh.behave(behaviour);
        let email = unique_email();
        let res = sign_in_as(&app, &gh, octocat(9, vec![(email.clone(), true, true)])).await;
        assert!(
            location(&res).ends_with("?error=unable_to_get_user_info"),
            "{behaviour:?}: {}",
            location(&res)
        );
        assert!(!user_exists(&app, &email).await, "{behaviour:?}: nothing stored");
    }
}

async fn a_wrong_verifier_or_a_reused_code_is_refused(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    gh.will_log_in(octocat(11, vec![(unique_email(), true, true)]));
    let started = start(&app, "github", json!({})).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = client.get(&started.url).send().await.unwrap();
    let redirect = res.headers()["location"].to_str().unwrap().to_string();
    // The code, taken to another sign-in (whose verifier differs), is refused by the provider.
    let other = start(&app, "github", json!({})).await;
    let other_state = other.url.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let code = redirect.split("code=").nth(1).unwrap().split('&').next().unwrap();
    let path = format!("/callback/github?code={code}&state={other_state}");
    assert!(location(&app.get(&path, Some(&other.state_cookie)).await).ends_with("?error=invalid_code"));
    // And the code was single use.
    assert!(
        location(&back(&app, &redirect, Some(&started.state_cookie)).await).ends_with("?error=invalid_code")
    );
}

async fn provider_tokens_are_handed_out_and_refreshed(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    let res = sign_in_as(&app, &gh, octocat(77, vec![(unique_email(), true, true)])).await;
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    let first =
        app.post("/get-access-token", json!({"providerId": "github"}), Some(&cookie)).await.assert_ok();
    let token = first["accessToken"].as_str().unwrap().to_string();
    assert!(gh.takes(&token), "the provider's own token: {first}");
    assert_eq!(first["scopes"], json!(["read:user", "user:email"]));
    assert!(first["accessTokenExpiresAt"].is_string(), "{first}");

    // Still valid: the same token. Expired: refreshed first, and the new one stored.
    let same = app.post("/get-access-token", json!({"accountId": "77"}), Some(&cookie)).await.assert_ok();
    assert_eq!(same["accessToken"], token.as_str());
    app.clock().advance(std::time::Duration::from_secs(8 * 3600));
    let fresh =
        app.post("/get-access-token", json!({"providerId": "github"}), Some(&cookie)).await.assert_ok();
    let fresh_token = fresh["accessToken"].as_str().unwrap().to_string();
    assert!(fresh_token != token && gh.takes(&fresh_token), "{fresh}");

    // /refresh-token always refreshes, with the rotated refresh token.
    let id = app.get("/list-accounts", Some(&cookie)).await.assert_ok()[0]["id"].clone();
    let refreshed = app.post("/refresh-token", json!({"accountId": id}), Some(&cookie)).await.assert_ok();
    assert!(refreshed["accessToken"] != fresh_token.as_str() && refreshed["refreshToken"].is_string());
    assert_eq!(
        (refreshed["providerId"].as_str(), refreshed["accountId"].as_str()),
        (Some("github"), Some("77"))
    );

    // Several at once on an expired token: one refresh (the refresh token rotates, and the
    // stand-in takes each once); everyone gets its result.
    app.clock().advance(std::time::Duration::from_secs(8 * 3600));
    let mut asks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        let (router, req) =
            (app.router.clone(), app.json_request("/get-access-token", &json!({"providerId": "github"})));
        let (mut parts, body) = req.into_parts();
        parts.headers.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        let req = axum::http::Request::from_parts(parts, body);
        asks.spawn(async move { tower::ServiceExt::oneshot(router, req).await.unwrap() });
    }
    let mut tokens = std::collections::HashSet::new();
    for res in asks.join_all().await {
        assert_eq!(res.status(), 200);
        let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        tokens.insert(answer["accessToken"].as_str().unwrap().to_string());
    }
    assert_eq!(tokens.len(), 1, "one refresh for all: {tokens:?}");

    gh.refuse_refresh();
    app.post("/refresh-token", json!({"providerId": "github"}), Some(&cookie))
        .await
        .assert_error(400, "FAILED_TO_REFRESH_ACCESS_TOKEN");
}

async fn account_info_asks_the_provider(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &gh, octocat(5150, vec![(email, true, true)])).await;
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    let info = app.get("/account-info?accountId=5150", Some(&cookie)).await.assert_ok();
    assert_eq!(info["data"]["login"], "octo5150", "{info}");
    assert_eq!(info["user"]["name"], "octo5150");
    assert_eq!(info["user"]["image"], "https://avatars.example/5150");
    assert_eq!(
        (info["account"]["providerId"].as_str(), info["account"]["accountId"].as_str()),
        (Some("github"), Some("5150"))
    );
    app.get("/account-info?accountId=nope", Some(&cookie)).await.assert_error(400, "ACCOUNT_NOT_FOUND");
    app.get("/account-info?accountId=5150", None).await.assert_error(401, "UNAUTHORIZED");
}

async fn provider_token_refusals(backend: Backend) {
    let Some((app, _gh)) = github_app(backend).await else { return };
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let credential = json!({"providerId": "credential"});
    app.post("/get-access-token", credential, Some(&cookie))
        .await
        .assert_error(400, "PROVIDER_NOT_SUPPORTED");
    let none = json!({"providerId": "github"});
    app.post("/get-access-token", none.clone(), Some(&cookie)).await.assert_error(400, "ACCOUNT_NOT_FOUND");
    app.post("/refresh-token", none.clone(), Some(&cookie)).await.assert_error(400, "ACCOUNT_NOT_FOUND");
    app.post("/get-access-token", json!({}), Some(&cookie)).await.assert_error(400, "ACCOUNT_NOT_FOUND");
    app.post("/get-access-token", none, None).await.assert_error(401, "UNAUTHORIZED");
}

async fn a_provider_user_can_set_a_password_by_reset(backend: Backend) {
    let Some((app, gh)) = github_app(backend).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &gh, octocat(88, vec![(email.clone(), true, true)])).await;
    assert_eq!(location(&res), "/home");
    app.post("/request-password-reset", json!({"email": email}), None).await.assert_ok();
    let token = app.mail(&email, "reset").await["token"].as_str().unwrap().to_string();
    let reset = json!({"token": token, "newPassword": NEW_PASSWORD});
    app.post("/reset-password", reset, None).await.assert_ok();
    let res = app.sign_in(&email, NEW_PASSWORD).await;
    let cookie = res.session_cookie(&app.state.session_cookie).expect("the new password signs in");
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    let providers: Vec<&str> =
        accounts.as_array().unwrap().iter().map(|a| a["providerId"].as_str().unwrap()).collect();
    assert_eq!(providers, ["github", "credential"]);
}

async fn a_reset_by_mail_drops_identities_attached_to_an_unproven_address(backend: Backend) {
    let trusted = |s: &mut gatehouse::config::Settings| s.social.trusted_providers = vec!["github".into()];
    let Some((app, gh)) = github_app_with(backend, trusted).await else { return };
    let email = unique_email();
    // A trusted provider's unverified address makes an unverified account with that identity.
    let res = sign_in_as(&app, &gh, octocat(99, vec![(email.clone(), true, false)])).await;
    let cookie = res.session_cookie(&app.state.session_cookie).expect("signed in");
    assert_eq!(session_user(&app, &cookie).await["emailVerified"], false);
    // The mailbox owner resets the password: the address is theirs now, the identity is gone.
    app.post("/request-password-reset", json!({"email": email}), None).await.assert_ok();
    let token = app.mail(&email, "reset").await["token"].as_str().unwrap().to_string();
    app.post("/reset-password", json!({"token": token, "newPassword": NEW_PASSWORD}), None).await.assert_ok();
    let res = app.sign_in(&email, NEW_PASSWORD).await;
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    assert_eq!(session_user(&app, &cookie).await["emailVerified"], true);
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert_eq!(accounts.as_array().unwrap().len(), 1, "{accounts}");
    assert_eq!(accounts[0]["providerId"], "credential");
}

async fn an_email_code_drops_identities_attached_to_an_unproven_address(backend: Backend) {
    let trusted = |s: &mut gatehouse::config::Settings| s.social.trusted_providers = vec!["github".into()];
    let Some((app, gh)) = github_app_with(backend, trusted).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &gh, octocat(98, vec![(email.clone(), true, false)])).await;
    let parked = res.session_cookie(&app.state.session_cookie).expect("signed in through GitHub");
    // The mailbox owner signs in with an email code: the address is proven, the parked identity goes.
    let code = app.otp_code(&email, "sign-in", 1).await;
    let res = app.post("/sign-in/email-otp", json!({"email": email, "otp": code}), None).await;
    let cookie = res.session_cookie(&app.state.session_cookie).expect("signed in by code");
    assert_eq!(session_user(&app, &cookie).await["emailVerified"], true);
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert!(accounts.as_array().unwrap().iter().all(|a| a["providerId"] != "github"), "{accounts}");
    assert!(app.get("/get-session", Some(&parked)).await.json().is_null(), "its session ended too");
}

async fn github_takes_no_id_tokens(backend: Backend) {
    let Some((app, _gh)) = github_app(backend).await else { return };
    let body = json!({"provider": "github", "idToken": {"token": "x.y.z"}});
    app.post("/sign-in/social", body, None).await.assert_error(404, "ID_TOKEN_NOT_SUPPORTED");
}

async fn github_is_off_without_a_client(backend: Backend) {
    let app = app!(backend);
    app.post("/sign-in/social", json!({"provider": "github"}), None)
        .await
        .assert_error(404, "PROVIDER_NOT_FOUND");
}

backend_tests!(
    github_signs_up_with_the_verified_primary_address,
    a_sign_in_started_in_an_app_stays_in_it,
    a_banned_user_is_sent_back_with_banned,
    an_unverified_github_address_does_not_link,
    a_misbehaving_api_is_a_clean_error,
    a_wrong_verifier_or_a_reused_code_is_refused,
    github_is_off_without_a_client,
    a_provider_user_can_set_a_password_by_reset,
    github_takes_no_id_tokens,
    a_reset_by_mail_drops_identities_attached_to_an_unproven_address,
    an_email_code_drops_identities_attached_to_an_unproven_address,
    provider_tokens_are_handed_out_and_refreshed,
    provider_token_refusals,
    account_info_asks_the_provider,
);
