//! Sign-in with another provider, end to end against a real OpenID provider (`helpers::oidc`):
//! sign-up and sign-in again, linking rules, state and issuer checks, accounts, the error page.
//! `github.rs`: the GitHub preset against a stand-in of GitHub's API.
//!
//! (Just over 400 lines: the OpenID flow end to end; the callback checks, link-social and each
//! provider preset have files of their own.)

mod callback;
mod facebook;
mod github;
mod id_token;
mod link_social;
mod microsoft;

use axum::{
    body::Body,
    http::{Method, header},
};
use gatehouse::config::social::Kind;
use serde_json::{Value, json};

use crate::{
    app, backend_tests,
    helpers::{oidc::OidcProvider, *},
};

pub(super) const CALLBACK_GOOGLE: &str = "http://127.0.0.1:3000/api/auth/callback/google";
const CALLBACK_ACME: &str = "http://127.0.0.1:3000/api/auth/callback/acme";
const CALLBACK_MICROSOFT: &str = "http://127.0.0.1:3000/api/auth/callback/microsoft";

/// An app with the provider as `google` (and as the generic `acme`), or `None` (skipped).
pub(crate) async fn social_app(
    backend: Backend,
    tweak: impl FnOnce(&mut gatehouse::config::Settings),
) -> Option<(TestApp, OidcProvider)> {
    let op = OidcProvider::start(&[CALLBACK_GOOGLE.into(), CALLBACK_ACME.into(), CALLBACK_MICROSOFT.into()])
        .await?;
    let providers = vec![
        op.config("google", Kind::Google),
        op.config("acme", Kind::Oidc),
        op.config("microsoft", Kind::Microsoft),
    ];
    let app = TestApp::with(backend, |s| {
        s.social.providers = providers;
        tweak(s);
    })
    .await?;
    Some((app, op))
}

/// A sign-in under way: the provider's URL and the state cookie the browser holds.
pub(super) struct Started {
    pub(super) url: String,
    pub(super) state_cookie: String,
}

pub(super) async fn start(app: &TestApp, provider: &str, body: Value) -> Started {
    let mut body = body;
    body["provider"] = json!(provider);
    let res = app.post("/sign-in/social", body, None).await;
    let answer = res.assert_ok();
    let url = answer["url"].as_str().expect("url").to_string();
    assert_eq!(answer["redirect"], true);
    assert_eq!(res.header("location"), Some(url.as_str()));
    let name = app.state.oauth_state_cookie();
    let (value, attrs) = res.set_cookies().remove(&name).expect("state cookie");
    assert!(
        attrs.contains(&"httponly".to_string()) && attrs.contains(&"max-age=600".to_string()),
        "{attrs:?}"
    );
    Started { url, state_cookie: format!("{name}={value}") }
}

/// The provider's redirect back, followed at Gatehouse with `cookie`.
pub(super) async fn back(app: &TestApp, redirect: &str, cookie: Option<&str>) -> TestResponse {
    let path = redirect.strip_prefix("http://127.0.0.1:3000/api/auth").expect("a callback URL");
    app.get(path, cookie).await
}

/// Where a callback answer sends the browser.
pub(crate) fn location(res: &TestResponse) -> String {
    assert_eq!(res.status.as_u16(), 302, "{}", res.text());
    res.header("location").expect("location").to_string()
}

/// A whole sign-in as `login`: the callback's answer.
pub(crate) async fn sign_in_as(
    app: &TestApp,
    op: &OidcProvider,
    provider: &str,
    login: &str,
    body: Value,
) -> TestResponse {
    let started = start(app, provider, body).await;
    let redirect = op.log_in(&started.url, login).await;
    back(app, &redirect, Some(&started.state_cookie)).await
}

async fn a_new_user_signs_up_and_signs_in_again(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = format!("alice-{}", unique_email());
    let body = json!({"callbackURL": "/dashboard", "newUserCallbackURL": "/welcome"});
    let res = sign_in_as(&app, &op, "google", &email, body.clone()).await;
    assert_eq!(location(&res), "/welcome");
    let cookie = res.session_cookie(&app.state.session_cookie).expect("session cookie");
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["name"], format!("User {email}"));

    let again = sign_in_as(&app, &op, "google", &email, body).await;
    assert_eq!(location(&again), "/dashboard", "a known user goes to callbackURL");
    let second = again.session_cookie(&app.state.session_cookie).unwrap();
    assert_eq!(session_user(&app, &second).await["id"], user["id"]);

    let accounts = app.get("/list-accounts", Some(&second)).await.assert_ok();
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account["providerId"], "google");
    assert_eq!(account["accountId"], email.as_str());
    assert_eq!(account["scopes"], json!(["openid", "email", "profile"]));
    for secret in ["accessToken", "refreshToken", "idToken", "password"] {
        assert!(account.get(secret).is_none(), "{secret} listed: {account}");
    }
}

async fn provider_tokens_are_sealed_at_rest(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = format!("sealed-{}", unique_email());
    let res = sign_in_as(&app, &op, "google", &email, json!({})).await;
    assert_eq!(location(&res), "/");
    let row = app.state.store.account("google", &email, "").await.unwrap().expect("account");
    let access = row.access_token.expect("access token");
    let id_token = row.id_token.expect("id token");
    assert!(access.starts_with("gh1:") && id_token.starts_with("gh1:"), "{access} {id_token}");
    let identity = format!("google:{email}");
    let opened = app.state.token_sealer.open(&identity, "id", &id_token).unwrap();
    assert!(opened.starts_with("eyJ"), "opens to a JWT");
    // Random bytes in base64 may spell "eyJ" by chance; a run of the JWT they cannot.
    assert!(!id_token.contains(&email) && !id_token.contains(&opened[..24]), "the ID token is readable");
}

async fn account_info_reads_the_userinfo_endpoint(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &op, "google", &email, json!({})).await;
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    let info = app.get(&format!("/account-info?accountId={email}"), Some(&cookie)).await.assert_ok();
    assert_eq!(info["data"]["email"], email.as_str(), "{info}");
    assert_eq!(
        (info["user"]["email"].as_str(), info["user"]["emailVerified"].as_bool()),
        (Some(email.as_str()), Some(true))
    );
}

async fn the_generic_provider_works_the_same_way(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = format!("acme-{}", unique_email());
    let res = sign_in_as(&app, &op, "acme", &email, json!({"callbackURL": "/in"})).await;
    assert_eq!(location(&res), "/in");
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert_eq!(accounts[0]["providerId"], "acme");
}

async fn a_verified_local_user_is_linked(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let local = app.verified_cookie(&email).await;
    let local_id = session_user(&app, &local).await["id"].clone();
    let res = sign_in_as(&app, &op, "google", &email, json!({"newUserCallbackURL": "/welcome"})).await;
    assert_eq!(location(&res), "/", "not a new user");
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    assert_eq!(session_user(&app, &cookie).await["id"], local_id);
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    let providers: Vec<&str> =
        accounts.as_array().unwrap().iter().map(|a| a["providerId"].as_str().unwrap()).collect();
    assert_eq!(providers, ["credential", "google"]);
}

async fn an_unverified_local_account_is_linked_by_mail(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let squatter = app.signed_up_cookie(&email).await;
    let body = json!({"callbackURL": "/dash", "errorCallbackURL": "/oops?x=1"});
    let res = sign_in_as(&app, &op, "google", &email, body).await;
    assert_eq!(location(&res), "/oops?x=1&error=account_not_linked&pending=email");
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
    assert!(app.state.store.account("google", &email, "").await.unwrap().is_none(), "nothing linked yet");

    let mail = app.mail(&email, "link-account").await;
    // A second provider sign-in within the minute mails nothing more.
    let again = sign_in_as(&app, &op, "google", &email, json!({"errorCallbackURL": "/oops"})).await;
    assert_eq!(location(&again), "/oops?error=account_not_linked&pending=email");
    app.mail_settled().await;
    assert_eq!(app.mail_count(&email, "link-account"), 1);
    let link = rel(&mail["url"]);
    let page = app.get(&link, None).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.text().contains("Link Google") && page.text().contains(&email), "{}", page.text());
    assert!(
        app.state.store.account("google", &email, "").await.unwrap().is_none(),
        "the page changes nothing"
    );

    let token = link.split("token=").nth(1).unwrap().to_string();
    let res = app.post_form("/link-account", &format!("token={token}")).await;
    assert_eq!(location(&res), "/dash");
    let cookie = res.session_cookie(&app.state.session_cookie).expect("signed in");
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["emailVerified"], true, "the mailbox proved itself");
    assert!(app.state.store.account("google", &email, "").await.unwrap().is_some());
    assert!(app.get("/get-session", Some(&squatter)).await.json().is_null(), "other sessions end");
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");

    // The link is single use; the provider now signs in directly.
    let again = app.post_form("/link-account", &format!("token={token}")).await;
    assert!(again.text().contains("not valid"), "{}", again.text());
    app.post("/link-account", json!({"token": token}), None).await.assert_error(400, "INVALID_TOKEN");
    let res = sign_in_as(&app, &op, "google", &email, json!({"callbackURL": "/dash"})).await;
    assert_eq!(location(&res), "/dash");
}

async fn a_link_offer_dies_with_the_state_it_was_made_for(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    let res = sign_in_as(&app, &op, "google", &email, json!({})).await;
    assert!(location(&res).ends_with("pending=email"));
    let link = rel(&app.mail(&email, "link-account").await["url"]);
    let token = link.split("token=").nth(1).unwrap().to_string();
    // A cross-site form post (login CSRF) is refused.
    let forged = app
        .req(Method::POST, "/link-account")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, "https://evil.example")
        .body(Body::from(format!("token={token}")))
        .unwrap();
    app.send(forged).await.assert_error(403, "INVALID_ORIGIN");
    // The owner verified the address meanwhile: the offer is void, nothing is linked.
    app.verify_email_of(&email).await;
    app.post("/link-account", json!({"token": token}), None).await.assert_error(400, "INVALID_TOKEN");
    assert!(app.state.store.account("google", &email, "").await.unwrap().is_none());
    app.sign_in(&email, PASSWORD).await.assert_ok();
}

async fn an_unproven_address_links_nothing_and_mails_nothing(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = format!("unverified-{}", unique_email());
    app.signed_up_cookie(&email).await;
    let res = sign_in_as(&app, &op, "google", &email, json!({"errorCallbackURL": "/oops"})).await;
    assert_eq!(location(&res), "/oops?error=account_not_linked");
    app.mail_settled().await;
    assert_eq!(app.mail_count(&email, "link-account"), 0);
}

async fn an_unverified_provider_email_links_only_when_the_provider_is_trusted(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = format!("unverified-{}", unique_email());
    app.verified_cookie(&email).await;
    let res = sign_in_as(&app, &op, "google", &email, json!({})).await;
    assert!(location(&res).ends_with("/api/auth/error?error=account_not_linked"), "{}", location(&res));

    let trusting = app.sibling(|s| s.social.trusted_providers = vec!["google".into()]);
    let res = sign_in_as(&trusting, &op, "google", &email, json!({})).await;
    assert_eq!(location(&res), "/");
    assert!(app.state.store.account("google", &email, "").await.unwrap().is_some());
}

async fn a_new_user_needs_an_address_the_provider_vouches_for(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = format!("unverified-{}", unique_email());
    let res = sign_in_as(&app, &op, "google", &email, json!({})).await;
    assert!(location(&res).ends_with("?error=email_not_verified"), "{}", location(&res));
    assert!(!user_exists(&app, &email).await, "no account for an unproven address");

    // A trusted provider's address is taken as it comes: the user starts unverified.
    let trusting = app.sibling(|s| s.social.trusted_providers = vec!["google".into()]);
    let res = sign_in_as(&trusting, &op, "google", &email, json!({})).await;
    let cookie = res.session_cookie(&app.state.session_cookie).expect("signed in");
    assert_eq!(session_user(&app, &cookie).await["emailVerified"], false);

    // With verification required, the gate refuses it, as it does a password sign-in.
    let strict = app.sibling(|s| {
        s.social.trusted_providers = vec!["google".into()];
        s.sessions.require_email_verification = true;
    });
    let res = sign_in_as(&strict, &op, "google", &email, json!({})).await;
    assert!(location(&res).ends_with("?error=email_not_verified"), "{}", location(&res));
    assert!(res.session_cookie(&app.state.session_cookie).is_none());
}

async fn a_locked_account_gets_no_session_by_provider(backend: Backend) {
    let Some((app, op)) = social_app(backend, |s| s.limits.lockout_max_failed_attempts = 2).await else {
        return;
    };
    let email = unique_email();
    app.verified_cookie(&email).await;
    for _ in 0..2 {
        app.sign_in(&email, "wrong-password-123").await;
    }
    let res = sign_in_as(&app, &op, "google", &email, json!({})).await;
    assert!(location(&res).ends_with("?error=account_locked"), "{}", location(&res));
}

async fn sign_up_can_be_turned_off(backend: Backend) {
    let Some((app, op)) = social_app(backend, |s| s.social.disable_sign_up = true).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &op, "google", &email, json!({})).await;
    assert!(location(&res).ends_with("?error=signup_disabled"), "{}", location(&res));
    assert!(!user_exists(&app, &email).await);
}

async fn no_email_no_account(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let res = sign_in_as(&app, &op, "google", &format!("noemail-{}", unique_email()), json!({})).await;
    assert!(location(&res).ends_with("?error=email_not_found"), "{}", location(&res));
}

async fn sign_in_social_refuses_bad_requests(backend: Backend) {
    let Some((app, _op)) = social_app(backend, |_| {}).await else { return };
    app.post("/sign-in/social", json!({"provider": "myspace"}), None)
        .await
        .assert_error(404, "PROVIDER_NOT_FOUND");
    let evil = json!({"provider": "google", "callbackURL": "https://evil.example/steal"});
    app.post("/sign-in/social", evil, None).await.assert_error(403, "INVALID_CALLBACK_URL");
    let evil = json!({"provider": "google", "errorCallbackURL": "//evil.example"});
    app.post("/sign-in/social", evil, None).await.assert_error(403, "INVALID_CALLBACK_URL");
    app.post("/sign-in/social", json!({}), None).await.assert_error(400, "VALIDATION_ERROR");
    // The form-post bounce only serves configured providers (and never leaves the callback path).
    let res = app.post_form("/callback/..%2F..%2Fsomewhere", "code=x&state=y").await;
    res.assert_error(404, "PROVIDER_NOT_FOUND");
    let res = app.post_form("/callback/google", "code=x&state=y").await;
    assert_eq!(location(&res), "http://127.0.0.1:3000/api/auth/callback/google?code=x&state=y");
    let quiet =
        app.post("/sign-in/social", json!({"provider": "google", "disableRedirect": true}), None).await;
    assert_eq!(quiet.assert_ok()["redirect"], false);
    assert!(quiet.header("location").is_none());
}

async fn unlinking_keeps_a_way_in(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let local = app.verified_cookie(&email).await;
    sign_in_as(&app, &op, "google", &email, json!({})).await;
    let accounts = app.get("/list-accounts", Some(&local)).await.assert_ok();
    let id_of = |provider: &str| {
        accounts.as_array().unwrap().iter().find(|a| a["providerId"] == provider).unwrap()["id"].clone()
    };
    let (credential, google) = (id_of("credential"), id_of("google"));
    let unlink = |id: &Value| json!({"accountId": id});
    app.post("/unlink-account", unlink(&json!("nope")), Some(&local))
        .await
        .assert_error(400, "ACCOUNT_NOT_FOUND");
    let res = app.post("/unlink-account", unlink(&google), Some(&local)).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    app.post("/unlink-account", unlink(&credential), Some(&local))
        .await
        .assert_error(400, "FAILED_TO_UNLINK_LAST_ACCOUNT");
    // A provider-only user cannot unlink their only provider either.
    let other = format!("solo-{}", unique_email());
    let res = sign_in_as(&app, &op, "google", &other, json!({})).await;
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    let mine = app.get("/list-accounts", Some(&cookie)).await.assert_ok()[0]["id"].clone();
    app.post("/unlink-account", unlink(&mine), Some(&cookie))
        .await
        .assert_error(400, "FAILED_TO_UNLINK_LAST_ACCOUNT");
    // Someone else's account is not found.
    app.post("/unlink-account", unlink(&mine), Some(&local)).await.assert_error(400, "ACCOUNT_NOT_FOUND");
    // Unlinking needs a fresh session.
    app.clock().advance(DAY + std::time::Duration::from_secs(1));
    app.post("/unlink-account", unlink(&credential), Some(&local))
        .await
        .assert_error(403, "SESSION_NOT_FRESH");
}

async fn account_routes_need_a_session(backend: Backend) {
    let app = app!(backend);
    app.get("/list-accounts", None).await.assert_error(401, "UNAUTHORIZED");
    app.post("/unlink-account", json!({"accountId": "x"}), None).await.assert_error(401, "UNAUTHORIZED");
    app.post("/sign-in/social", json!({"provider": "google"}), None)
        .await
        .assert_error(404, "PROVIDER_NOT_FOUND");
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    assert_eq!(accounts[0]["providerId"], "credential");
}

async fn the_error_page_explains(backend: Backend) {
    let app = app!(backend);
    let res = app.get("/error?error=state_mismatch", None).await;
    assert_eq!(res.status.as_u16(), 200);
    assert!(res.header("content-type").unwrap().starts_with("text/html"));
    assert!(res.text().contains("cookies"), "{}", res.text());
    let res = app.get("/error?error=%3Cscript%3E", None).await;
    assert!(!res.text().contains("<script>"));
}

backend_tests!(
    a_new_user_signs_up_and_signs_in_again,
    provider_tokens_are_sealed_at_rest,
    the_generic_provider_works_the_same_way,
    account_info_reads_the_userinfo_endpoint,
    a_verified_local_user_is_linked,
    an_unverified_local_account_is_linked_by_mail,
    an_unproven_address_links_nothing_and_mails_nothing,
    a_link_offer_dies_with_the_state_it_was_made_for,
    an_unverified_provider_email_links_only_when_the_provider_is_trusted,
    a_new_user_needs_an_address_the_provider_vouches_for,
    a_locked_account_gets_no_session_by_provider,
    sign_up_can_be_turned_off,
    no_email_no_account,
    sign_in_social_refuses_bad_requests,
    unlinking_keeps_a_way_in,
    account_routes_need_a_session,
    the_error_page_explains,
);
