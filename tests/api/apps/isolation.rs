//! Isolation: two apps (A, B) and the default space (D) each hold a user with the same address.
//! Every route that finds a user by address, username, token, code or session finds only the
//! request's app's, and nothing done in one space reaches another space's user.
//!
//! (Over 400 lines: nine cases, one per route family the feature scoped, each walking A, B and D
//! both ways, on the request helpers at the top.)

use axum::{
    body::Body,
    http::{Method, header},
};
use serde_json::{Value, json};

use crate::{
    app, backend_tests,
    helpers::{apps::AppKey, *},
};

backend_tests!(
    credentials_do_not_cross_apps,
    sessions_do_not_cross_apps,
    refresh_tokens_do_not_cross_apps,
    jwts_name_their_app,
    reset_and_verification_links_do_not_cross_apps,
    otp_codes_do_not_cross_apps,
    lockout_and_limits_are_per_app,
    organizations_and_invitations_are_per_app,
    availability_and_address_changes_are_per_app,
);

const ORIGIN_A: &str = "https://alpha.example";
const ORIGIN_B: &str = "https://beta.example";
const ALPHA: &str = "Alpha User";
const BETA: &str = "Beta User";
const DEFAULT: &str = "Default User";
const PASSWORD_A: &str = "alpha-password-111";
const PASSWORD_B: &str = "beta-password-2222";
const USERNAME: &str = "same_name";

/// Where a request comes from: an app's server (its key), a page on an app's origin, or the
/// default space (the server's own origin; for `verify_token`, a plain service).
#[derive(Clone, Copy, Debug)]
enum By<'a> {
    Key(&'a str),
    Origin(&'a str),
    Default,
}

/// The ways in: A's key, B's key, the default space, A's origin, B's origin.
fn ways<'k>(a: &'k AppKey, b: &'k AppKey) -> (By<'k>, By<'k>, By<'k>, By<'k>, By<'k>) {
    (By::Key(&a.key), By::Key(&b.key), By::Default, By::Origin(ORIGIN_A), By::Origin(ORIGIN_B))
}

async fn post(app: &TestApp, by: By<'_>, path: &str, body: Value, cookie: Option<&str>) -> TestResponse {
    match by {
        By::Key(key) => app.post_as(key, path, body, cookie).await,
        By::Origin(origin) => app.post_from(origin, path, body, cookie).await,
        By::Default => app.post(path, body, cookie).await,
    }
}

async fn get(app: &TestApp, by: By<'_>, path: &str, cookie: Option<&str>) -> TestResponse {
    match by {
        By::Key(key) => app.get_as(key, path, cookie).await,
        By::Origin(origin) => app.get_from(origin, path, cookie).await,
        By::Default => app.get(path, cookie).await,
    }
}

/// Two apps, each with a browser origin of its own.
async fn two_apps(app: &TestApp) -> (AppKey, AppKey) {
    (app.new_app("Alpha", &[ORIGIN_A]).await, app.new_app("Beta", &[ORIGIN_B]).await)
}

/// Signs up (`body`: name, email, password, maybe username) in the space of `by`; the cookie.
async fn signed_up(app: &TestApp, by: By<'_>, body: Value) -> String {
    let res = post(app, by, "/sign-up/email", body, None).await;
    res.assert_ok();
    app.cookie_of(&res)
}

/// Signs up `email` as `name` with `password` in the space of `by`; the session cookie.
async fn sign_up(app: &TestApp, by: By<'_>, email: &str, name: &str, password: &str) -> String {
    signed_up(app, by, json!({"name": name, "email": email, "password": password})).await
}

/// The same address signed up in A, B and D as `ALPHA`, `BETA`, `DEFAULT` with their own
/// passwords, each with the username `USERNAME`: their cookies, once each one's verification mail
/// is out (so that later mail can be counted).
async fn everywhere(app: &TestApp, a: &AppKey, b: &AppKey, email: &str) -> [String; 3] {
    let mut cookies = Vec::new();
    for (by, name, password) in people(a, b) {
        let body = json!({"name": name, "email": email, "password": password, "username": USERNAME});
        cookies.push(signed_up(app, by, body).await);
        mail_naming(app, email, "verify", name).await;
    }
    cookies.try_into().unwrap()
}

/// The user of each space (by its key): their name and password there.
fn people<'a>(a: &'a AppKey, b: &'a AppKey) -> [(By<'a>, &'static str, &'static str); 3] {
    [
        (By::Key(&a.key), ALPHA, PASSWORD_A),
        (By::Key(&b.key), BETA, PASSWORD_B),
        (By::Default, DEFAULT, PASSWORD),
    ]
}

/// Whether a mail greets `name` (every mail about an account does, first thing).
fn names(mail: &Value, name: &str) -> bool {
    mail["text"].as_str().is_some_and(|t| t.starts_with(&format!("Hello {name},")))
}

/// The newest mail of `kind` to `to` that greets `name`, waiting for it.
async fn mail_naming(app: &TestApp, to: &str, kind: &str, name: &str) -> Value {
    app.mail_where(to, kind, |m| names(m, name)).await
}

/// Follows the newest verification link mailed to `email` for `name`.
async fn verify_email_of(app: &TestApp, email: &str, name: &str) {
    let token = token_of(&mail_naming(app, email, "verify", name).await);
    app.get(&format!("/verify-email?token={token}"), None).await.assert_ok();
}

/// A refused sign-in: 401 `INVALID_EMAIL_OR_PASSWORD`.
fn wrong(res: &TestResponse) {
    rejected(res, 401, "INVALID_EMAIL_OR_PASSWORD");
}

async fn sign_in(app: &TestApp, by: By<'_>, email: &str, password: &str) -> TestResponse {
    post(app, by, "/sign-in/email", json!({"email": email, "password": password}), None).await
}

/// The name of the user `cookie` is signed in as, seen from `by` (`null`: no session there).
async fn who(app: &TestApp, by: By<'_>, cookie: &str) -> Value {
    get(app, by, "/get-session", Some(cookie)).await.assert_ok()["user"]["name"].clone()
}

async fn refresh(app: &TestApp, by: By<'_>, token: &Value) -> TestResponse {
    post(app, by, "/token/refresh", json!({"refresh_token": token}), None).await
}

/// `GET /token` for `cookie` in the space of `by`.
async fn token(app: &TestApp, by: By<'_>, cookie: &str) -> String {
    get(app, by, "/token", Some(cookie)).await.assert_ok()["token"].as_str().unwrap().to_string()
}

/// `POST /verify-token` with a Bearer token, from the space of `by` (by default as a service
/// sends it: no key, no Origin).
async fn verify_token(app: &TestApp, by: By<'_>, token: &str) -> TestResponse {
    let req = app.req(Method::POST, "/verify-token").header(header::AUTHORIZATION, format!("Bearer {token}"));
    let req = match by {
        By::Key(key) => req.header("x-api-key", key),
        By::Origin(origin) => req.header(header::ORIGIN, origin),
        By::Default => req,
    };
    app.send(req.body(Body::empty()).unwrap()).await
}

async fn credentials_do_not_cross_apps(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    everywhere(&app, &a, &b, &email).await;
    let spaces = people(&a, &b);
    let mut ids = Vec::new();
    for (by, name, password) in spaces {
        // Each space's password signs its own user in, by address and by username.
        let user = sign_in(&app, by, &email, password).await.assert_ok()["user"].clone();
        assert_eq!(user["name"], name, "{by:?}: {user}");
        let by_name = json!({"username": USERNAME, "password": password});
        let res = post(&app, by, "/sign-in/username", by_name, None).await;
        assert_eq!(res.assert_ok()["user"]["id"], user["id"], "{by:?}");
        ids.push(user["id"].clone());
        // The other spaces' passwords are wrong here.
        for (_, _, other) in spaces.iter().filter(|s| s.2 != password) {
            wrong(&sign_in(&app, by, &email, other).await);
            let by_name = json!({"username": USERNAME, "password": other});
            let res = post(&app, by, "/sign-in/username", by_name, None).await;
            rejected(&res, 401, "INVALID_USERNAME_OR_PASSWORD");
        }
        // The address is taken within the space (the three sign-ups above all succeeded).
        let again = json!({"name": "Again", "email": email, "password": password});
        let again = post(&app, by, "/sign-up/email", again, None).await;
        rejected(&again, 409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    }
    let mut distinct = ids.clone();
    distinct.sort_by_key(Value::to_string);
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "three users: {ids:?}");
    // A browser page on an app's origin is that app.
    let res = sign_in(&app, By::Origin(ORIGIN_A), &email, PASSWORD_A).await;
    assert_eq!(res.assert_ok()["user"]["id"], ids[0]);
    wrong(&sign_in(&app, By::Origin(ORIGIN_B), &email, PASSWORD_A).await);
    let res = sign_in(&app, By::Origin(ORIGIN_B), &email, PASSWORD_B).await;
    assert_eq!(res.assert_ok()["user"]["id"], ids[1]);
}

async fn sessions_do_not_cross_apps(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    let [in_a, in_b, in_d] = everywhere(&app, &a, &b, &email).await;
    let (ka, kb, d, pa, pb) = ways(&a, &b);
    // Each cookie is a session in its own space only, by key or from the app's page.
    let cases = [
        (&in_a, ALPHA, vec![ka, pa], vec![kb, pb, d]),
        (&in_b, BETA, vec![kb, pb], vec![ka, pa, d]),
        (&in_d, DEFAULT, vec![d], vec![ka, pa, kb, pb]),
    ];
    for (cookie, name, home, away) in cases {
        for by in home {
            assert_eq!(who(&app, by, cookie).await, name, "{by:?}");
        }
        for by in away {
            assert_eq!(who(&app, by, cookie).await, Value::Null, "{name} seen from {by:?}");
            rejected(&get(&app, by, "/list-sessions", Some(cookie)).await, 401, "UNAUTHORIZED");
            rejected(&get(&app, by, "/token", Some(cookie)).await, 401, "UNAUTHORIZED");
        }
    }
    // Another space cannot act with A's cookie: no tokens, no changes, no ending A's sessions.
    rejected(&post(&app, pb, "/token/pair", json!({}), Some(&in_a)).await, 401, "UNAUTHORIZED");
    let rename = json!({"name": "Taken Over"});
    rejected(&post(&app, pb, "/update-user", rename.clone(), Some(&in_a)).await, 401, "UNAUTHORIZED");
    rejected(&post(&app, d, "/update-user", rename, Some(&in_a)).await, 401, "UNAUTHORIZED");
    rejected(&post(&app, pb, "/revoke-sessions", json!({}), Some(&in_a)).await, 401, "UNAUTHORIZED");
    rejected(&post(&app, d, "/revoke-sessions", json!({}), Some(&in_a)).await, 401, "UNAUTHORIZED");
    for by in [pb, d] {
        post(&app, by, "/sign-out", json!({}), Some(&in_a)).await.assert_ok();
        assert_eq!(who(&app, ka, &in_a).await, ALPHA, "A's session outlives a sign-out from {by:?}");
    }
    // Its own space can.
    post(&app, pa, "/sign-out", json!({}), Some(&in_a)).await.assert_ok();
    assert_eq!(who(&app, ka, &in_a).await, Value::Null);
    assert_eq!((who(&app, kb, &in_b).await, who(&app, d, &in_d).await), (json!(BETA), json!(DEFAULT)));
}

async fn refresh_tokens_do_not_cross_apps(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    let [in_a, _, in_d] = everywhere(&app, &a, &b, &email).await;
    let (ka, kb, d, pa, pb) = ways(&a, &b);

    // A's pair: elsewhere its refresh token is unknown, and revoking it there does nothing.
    let pair = post(&app, pa, "/token/pair", json!({}), Some(&in_a)).await.assert_ok();
    assert_eq!(jwt::segment(pair["access_token"].as_str().unwrap(), 1)["app"], a.id.as_str());
    for by in [kb, pb, d] {
        rejected(&refresh(&app, by, &pair["refresh_token"]).await, 401, "INVALID_TOKEN");
        post(&app, by, "/token/revoke", json!({"token": pair["refresh_token"]}), None).await.assert_ok();
    }
    let next = refresh(&app, ka, &pair["refresh_token"]).await.assert_ok();
    assert_eq!(jwt::segment(next["access_token"].as_str().unwrap(), 1)["app"], a.id.as_str());

    // B's tokens from sign-in own their session: revoking them elsewhere ends nothing.
    let body = json!({"email": email, "password": PASSWORD_B, "issueTokens": true});
    let res = post(&app, kb, "/sign-in/email", body, None).await;
    let signed_in = res.assert_ok();
    let in_b = app.cookie_of(&res);
    for by in [ka, pa, d] {
        rejected(&refresh(&app, by, &signed_in["refreshToken"]).await, 401, "INVALID_TOKEN");
        post(&app, by, "/token/revoke", json!({"token": signed_in["refreshToken"]}), None).await.assert_ok();
    }
    assert_eq!(who(&app, kb, &in_b).await, BETA);
    let next = refresh(&app, kb, &signed_in["refreshToken"]).await.assert_ok();
    assert_eq!(jwt::segment(next["access_token"].as_str().unwrap(), 1)["aud"], b.id.as_str());

    // The default space's are unknown to the apps.
    let pair = post(&app, d, "/token/pair", json!({}), Some(&in_d)).await.assert_ok();
    for by in [ka, kb] {
        rejected(&refresh(&app, by, &pair["refresh_token"]).await, 401, "INVALID_TOKEN");
    }
    let next = refresh(&app, d, &pair["refresh_token"]).await.assert_ok();
    assert!(jwt::segment(next["access_token"].as_str().unwrap(), 1).get("app").is_none());
}

async fn jwts_name_their_app(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    let [in_a, in_b, in_d] = everywhere(&app, &a, &b, &email).await;
    let (ka, kb, d, pa, pb) = ways(&a, &b);
    let (token_a, token_b, token_d) =
        (token(&app, ka, &in_a).await, token(&app, pb, &in_b).await, token(&app, d, &in_d).await);
    // An app's JWTs are for it (aud) and say so (app); the default space's are as before apps.
    for (token, id) in [(&token_a, &a.id), (&token_b, &b.id)] {
        let claims = jwt::segment(token, 1);
        assert_eq!((&claims["aud"], &claims["app"]), (&json!(id), &json!(id)), "{claims}");
    }
    let claims = jwt::segment(&token_d, 1);
    assert_eq!(claims["aud"], BASE, "{claims}");
    assert!(claims.get("app").is_none(), "{claims}");
    let subs: Vec<Value> =
        [&token_a, &token_b, &token_d].iter().map(|t| jwt::segment(t, 1)["sub"].clone()).collect();
    assert!(subs[0] != subs[1] && subs[1] != subs[2] && subs[0] != subs[2], "{subs:?}");
    // The JWT that rides along get-session is the app's too.
    let res = get(&app, pa, "/get-session", Some(&in_a)).await;
    let jwt = res.header("set-auth-jwt").expect("a JWT with the session");
    assert_eq!(jwt::segment(jwt, 1)["app"], a.id.as_str());
    // verify-token accepts a token in its own space only.
    let cases = [
        (&token_a, ALPHA, vec![ka, pa], vec![kb, pb, d]),
        (&token_b, BETA, vec![kb, pb], vec![ka, pa, d]),
        (&token_d, DEFAULT, vec![d], vec![ka, pa, kb, pb]),
    ];
    for (token, name, home, away) in cases {
        for by in home {
            let body = verify_token(&app, by, token).await.assert_ok();
            assert_eq!((&body["valid"], &body["user"]["name"]), (&json!(true), &json!(name)), "{body}");
        }
        for by in away {
            rejected(&verify_token(&app, by, token).await, 401, "INVALID_TOKEN");
        }
    }
}

async fn reset(app: &TestApp, by: By<'_>, token: &str, password: &str) -> TestResponse {
    post(app, by, "/reset-password", json!({"token": token, "newPassword": password}), None).await
}

async fn reset_and_verification_links_do_not_cross_apps(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    let [_, in_b, _] = everywhere(&app, &a, &b, &email).await;
    let (ka, kb, d, ..) = ways(&a, &b);

    // A verification mail asked for in B is B's user's (the fourth to the address), and verifies
    // them only.
    post(&app, kb, "/send-verification-email", json!({"email": email}), None).await.assert_ok();
    let mail = app.nth_mail(&email, "verify", 4).await;
    assert!(names(&mail, BETA), "{mail}");
    app.get(&format!("/verify-email?token={}", token_of(&mail)), None).await.assert_ok();
    let verified = |res: TestResponse| res.assert_ok()["user"]["emailVerified"].clone();
    assert_eq!(verified(get(&app, kb, "/get-session", Some(&in_b)).await), true);
    assert_eq!(verified(sign_in(&app, ka, &email, PASSWORD_A).await), false);
    assert_eq!(verified(sign_in(&app, d, &email, PASSWORD).await), false);

    // A reset asked for in A is mailed to A's user; its link is refused elsewhere, and not used
    // up there.
    post(&app, ka, "/request-password-reset", json!({"email": email}), None).await.assert_ok();
    let mail = app.mail(&email, "reset").await;
    assert!(names(&mail, ALPHA), "{mail}");
    let token = token_of(&mail);
    for by in [kb, By::Origin(ORIGIN_B), d] {
        rejected(&reset(&app, by, &token, NEW_PASSWORD).await, 400, "INVALID_TOKEN");
    }
    let res = reset(&app, By::Origin(ORIGIN_A), &token, NEW_PASSWORD).await;
    assert_eq!(res.assert_ok(), json!({"status": true}));
    sign_in(&app, ka, &email, NEW_PASSWORD).await.assert_ok();
    wrong(&sign_in(&app, ka, &email, PASSWORD_A).await);
    for (by, password) in [(kb, PASSWORD_B), (d, PASSWORD)] {
        sign_in(&app, by, &email, password).await.assert_ok();
        wrong(&sign_in(&app, by, &email, NEW_PASSWORD).await);
    }
    // A's reset ended A's sessions only.
    assert_eq!(who(&app, kb, &in_b).await, BETA);
    app.mail_settled().await;
    assert_eq!((app.mail_count(&email, "reset"), app.mail_count(&email, "verify")), (1, 4));
}

/// Asks for a code of `kind` in the space of `by`; the `n`-th code mailed to `email`.
async fn otp(app: &TestApp, by: By<'_>, email: &str, kind: &str, n: usize) -> String {
    let body = json!({"email": email, "type": kind});
    let res = post(app, by, "/email-otp/send-verification-otp", body, None).await;
    assert_eq!(res.assert_ok(), json!({"success": true}));
    token_of(&app.nth_mail(email, "otp", n).await)
}

async fn otp_codes_do_not_cross_apps(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    everywhere(&app, &a, &b, &email).await;
    let (ka, kb, d, ..) = ways(&a, &b);

    // A verification code of D verifies D's user only (the others' codes below would verify
    // theirs: receiving a code proves the address).
    let code = otp(&app, d, &email, "email-verification", 1).await;
    let body = json!({"email": email, "otp": code});
    for by in [ka, kb] {
        rejected(&post(&app, by, "/email-otp/verify-email", body.clone(), None).await, 400, "INVALID_OTP");
    }
    let user = post(&app, d, "/email-otp/verify-email", body, None).await.assert_ok()["user"].clone();
    assert_eq!((&user["name"], &user["emailVerified"]), (&json!(DEFAULT), &json!(true)));
    for (by, password) in [(ka, PASSWORD_A), (kb, PASSWORD_B)] {
        let res = sign_in(&app, by, &email, password).await;
        assert_eq!(res.assert_ok()["user"]["emailVerified"], false, "{by:?}");
    }

    // A sign-in code of A signs A's user in, in A only (tries elsewhere do not spend it).
    let code = otp(&app, ka, &email, "sign-in", 2).await;
    let body = json!({"email": email, "otp": code});
    for by in [kb, By::Origin(ORIGIN_B), d] {
        rejected(&post(&app, by, "/sign-in/email-otp", body.clone(), None).await, 400, "INVALID_OTP");
    }
    let res = post(&app, ka, "/sign-in/email-otp", body, None).await;
    assert_eq!(res.assert_ok()["user"]["name"], ALPHA);

    // A reset code of B resets B's password only.
    let code = otp(&app, kb, &email, "forget-password", 3).await;
    let body = json!({"email": email, "otp": code, "password": NEW_PASSWORD});
    for by in [ka, d] {
        rejected(&post(&app, by, "/email-otp/reset-password", body.clone(), None).await, 400, "INVALID_OTP");
    }
    let res = post(&app, kb, "/email-otp/reset-password", body, None).await;
    assert_eq!(res.assert_ok(), json!({"success": true}));
    sign_in(&app, kb, &email, NEW_PASSWORD).await.assert_ok();
    for (by, password) in [(ka, PASSWORD_A), (d, PASSWORD)] {
        sign_in(&app, by, &email, password).await.assert_ok();
        wrong(&sign_in(&app, by, &email, NEW_PASSWORD).await);
    }
}

async fn lockout_and_limits_are_per_app(backend: Backend) {
    let app = app!(backend, |s| s.limits.lockout_max_failed_attempts = 3);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    everywhere(&app, &a, &b, &email).await;
    let (ka, kb, d, ..) = ways(&a, &b);
    let people = [(ka, PASSWORD_A), (kb, PASSWORD_B), (d, PASSWORD)];
    // Two failures in each space: six for the address, two for each user, so no one is locked.
    for (by, _) in people {
        for _ in 0..2 {
            wrong(&sign_in(&app, by, &email, "wrong-password").await);
        }
    }
    for (by, password) in people {
        sign_in(&app, by, &email, password).await.assert_ok();
    }
    // A third in A locks A's user (by address, username and page alike), and no one else.
    wrong(&sign_in(&app, ka, &email, "wrong-password").await);
    rejected(&sign_in(&app, By::Origin(ORIGIN_A), &email, PASSWORD_A).await, 403, "ACCOUNT_LOCKED");
    let by_name = json!({"username": USERNAME, "password": PASSWORD_A});
    rejected(&post(&app, ka, "/sign-in/username", by_name, None).await, 403, "ACCOUNT_LOCKED");
    for (by, password) in [(kb, PASSWORD_B), (d, PASSWORD)] {
        sign_in(&app, by, &email, password).await.assert_ok();
    }
    assert!(names(&app.mail(&email, "reset").await, ALPHA), "the lock notice is A's user's");
    app.mail_settled().await;
    assert_eq!(app.mail_count(&email, "reset"), 1);

    // Rate limits count an app's requests apart from others' from the same client.
    let app = app!(backend, |s| {
        s.limits.enabled = true;
        s.limits.max_attempts = 2;
    });
    let (a, b) = two_apps(&app).await;
    let (ka, kb) = (By::Key(&a.key), By::Key(&b.key));
    for _ in 0..2 {
        wrong(&sign_in(&app, ka, &email, PASSWORD).await);
    }
    for by in [ka, By::Origin(ORIGIN_A)] {
        rejected(&sign_in(&app, by, &email, PASSWORD).await, 429, "RATE_LIMIT_EXCEEDED");
    }
    for by in [kb, By::Origin(ORIGIN_B), By::Default] {
        wrong(&sign_in(&app, by, &email, PASSWORD).await);
    }
}

/// `POST /organization/{route} {name, slug}` (create, check-slug) in the space of `by`.
async fn with_slug(app: &TestApp, by: By<'_>, route: &str, slug: &str, cookie: &str) -> TestResponse {
    let body = json!({"name": "Acme", "slug": slug});
    post(app, by, &format!("/organization/{route}"), body, Some(cookie)).await
}

/// How many members `org` has, as its member `cookie` sees from `by`.
async fn members(app: &TestApp, by: By<'_>, cookie: &str, org: &Value) -> Value {
    let path = format!("/organization/list-members?organizationId={}", org["id"].as_str().unwrap());
    get(app, by, &path, Some(cookie)).await.assert_ok()["total"].clone()
}

async fn organizations_and_invitations_are_per_app(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let email = unique_email();
    let [in_a, in_b, in_d] = everywhere(&app, &a, &b, &email).await;
    let (pa, pb, d) = (By::Origin(ORIGIN_A), By::Origin(ORIGIN_B), By::Default);
    let slug = org::slug();

    // A slug is taken within its app only.
    let org_a = with_slug(&app, pa, "create", &slug, &in_a).await.assert_ok();
    rejected(&with_slug(&app, pa, "check-slug", &slug, &in_a).await, 400, "ORGANIZATION_SLUG_ALREADY_TAKEN");
    with_slug(&app, pb, "check-slug", &slug, &in_b).await.assert_ok();
    with_slug(&app, d, "check-slug", &slug, &in_d).await.assert_ok();
    let org_b = with_slug(&app, pb, "create", &slug, &in_b).await.assert_ok();
    let org_d = with_slug(&app, d, "create", &slug, &in_d).await.assert_ok();
    rejected(&with_slug(&app, pa, "create", &slug, &in_a).await, 400, "ORGANIZATION_ALREADY_EXISTS");
    // The slug names each app's own; another app's id names nothing.
    for (by, cookie, org) in [(pa, &in_a, &org_a), (pb, &in_b, &org_b), (d, &in_d, &org_d)] {
        let path = format!("/organization/get-full-organization?organizationSlug={slug}");
        assert_eq!(get(&app, by, &path, Some(cookie)).await.assert_ok()["id"], org["id"], "{by:?}");
    }
    let path =
        format!("/organization/get-full-organization?organizationId={}", org_a["id"].as_str().unwrap());
    rejected(&get(&app, pb, &path, Some(&in_b)).await, 400, "ORGANIZATION_NOT_FOUND");
    let res = post(&app, pb, "/organization/set-active", json!({"organizationId": org_a["id"]}), Some(&in_b));
    rejected(&res.await, 400, "ORGANIZATION_NOT_FOUND");

    // An invitation to A's organization is for A's user of that address, not B's.
    let invitee = unique_email();
    let in_a_invitee = sign_up(&app, pa, &invitee, "Alpha Invitee", PASSWORD_A).await;
    let in_b_invitee = sign_up(&app, pb, &invitee, "Beta Invitee", PASSWORD_B).await;
    verify_email_of(&app, &invitee, "Alpha Invitee").await;
    verify_email_of(&app, &invitee, "Beta Invitee").await;
    let invite = json!({"email": invitee, "role": "admin"});
    let invitation = post(&app, pa, "/organization/invite-member", invite, Some(&in_a)).await.assert_ok();
    let body = json!({"invitationId": invitation["id"]});
    for route in ["/organization/accept-invitation", "/organization/reject-invitation"] {
        let res = post(&app, pb, route, body.clone(), Some(&in_b_invitee)).await;
        rejected(&res, 400, "INVITATION_NOT_FOUND");
    }
    assert_eq!(members(&app, pb, &in_b, &org_b).await, 1);
    let accepted =
        post(&app, pa, "/organization/accept-invitation", body, Some(&in_a_invitee)).await.assert_ok();
    assert_eq!(accepted["member"]["role"], "admin", "{accepted}");
    assert_eq!(members(&app, pa, &in_a, &org_a).await, 2);
}

/// `POST /is-{what}-available {what: value}` in the space of `by`: the answer's `available`.
async fn available(app: &TestApp, by: By<'_>, what: &str, value: &str) -> Value {
    let res = post(app, by, &format!("/is-{what}-available"), json!({ what: value }), None).await;
    res.assert_ok()["available"].clone()
}

async fn availability_and_address_changes_are_per_app(backend: Backend) {
    let app = app!(backend);
    let (a, b) = two_apps(&app).await;
    let (ka, kb, d, pa, pb) = ways(&a, &b);
    let email = unique_email();
    signed_up(&app, ka, json!({"name": ALPHA, "email": email, "password": PASSWORD_A, "username": USERNAME}))
        .await;
    // Taken in A only: free in B and in the default space.
    for (by, free) in [(ka, false), (pa, false), (kb, true), (pb, true), (d, true)] {
        assert_eq!(available(&app, by, "email", &email).await, free, "{by:?}");
        assert_eq!(available(&app, by, "username", USERNAME).await, free, "{by:?}");
    }
    // So B may take both; then they are taken in B too, and still free in the default space.
    signed_up(&app, kb, json!({"name": BETA, "email": email, "password": PASSWORD_B, "username": USERNAME}))
        .await;
    for (by, free) in [(kb, false), (d, true)] {
        assert_eq!(available(&app, by, "email", &email).await, free, "{by:?}");
        assert_eq!(available(&app, by, "username", USERNAME).await, free, "{by:?}");
    }
    // update-user: the username is taken for another user of A, free for one of the default space.
    let other = unique_email();
    let other_in_a = sign_up(&app, pa, &other, "Alpha Other", PASSWORD_A).await;
    let other_in_d = sign_up(&app, d, &other, "Default Other", PASSWORD).await;
    let rename = json!({"username": USERNAME});
    let res = post(&app, pa, "/update-user", rename.clone(), Some(&other_in_a)).await;
    rejected(&res, 400, "USERNAME_IS_ALREADY_TAKEN");
    post(&app, d, "/update-user", rename, Some(&other_in_d)).await.assert_ok();
    assert_eq!(available(&app, d, "username", USERNAME).await, false);

    // change-email: an address taken in A gets no link; one taken only in B (and D) does.
    let moved = unique_email();
    sign_up(&app, kb, &moved, BETA, PASSWORD_B).await;
    sign_up(&app, d, &moved, DEFAULT, PASSWORD).await;
    let to_taken = post(&app, pa, "/change-email", json!({"newEmail": email}), Some(&other_in_a)).await;
    let to_free = post(&app, pa, "/change-email", json!({"newEmail": moved}), Some(&other_in_a)).await;
    assert_eq!(to_taken.assert_ok(), to_free.assert_ok());
    let link = mail_naming(&app, &moved, "change-email", "Alpha Other").await;
    app.mail_settled().await;
    assert_eq!(app.mail_count(&email, "change-email"), 0, "{:?}", app.outbox());
    assert_eq!(app.mail_count(&moved, "change-email"), 1);
    get(&app, pa, &rel(&link["url"]), Some(&other_in_a)).await.assert_ok();
    // A's user now has the address in A; B's and D's users of it are untouched.
    for (by, name, password) in
        [(ka, "Alpha Other", PASSWORD_A), (kb, BETA, PASSWORD_B), (d, DEFAULT, PASSWORD)]
    {
        assert_eq!(sign_in(&app, by, &moved, password).await.assert_ok()["user"]["name"], name, "{by:?}");
    }
    assert_eq!(sign_in(&app, d, &other, PASSWORD).await.assert_ok()["user"]["name"], "Default Other");
}
