//! Token pairs for API and mobile clients: `/token/pair`, `/token/refresh`, `/token/revoke` and
//! sign-in with `issueTokens`. Refresh tokens rotate on every use; a spent one presented again
//! ends its family and session; they die with their session.
//!
//! (Just over 400 lines: twelve cases of one route family, sharing the helpers at the top.)

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use serde_json::{Value, json};

use crate::{app, backend_tests, helpers::*};

backend_tests!(
    a_pair_for_a_session_and_a_chain_of_ten,
    bodies_and_errors_of_the_token_routes,
    a_spent_token_ends_the_family_and_the_session,
    concurrent_refreshes_one_wins,
    concurrent_refreshes_within_the_grace_get_one_child,
    expiry_is_not_theft,
    ending_the_session_ends_its_tokens,
    revoking_a_family,
    sign_in_can_issue_tokens,
    a_refresh_slides_the_session_within_its_cap,
    account_checks_hold_for_refreshes,
    revoking_or_signing_out_during_a_refresh_leaves_nothing,
);

/// A POST as an app sends it: no cookie, no Origin.
async fn api_post(app: &TestApp, path: &str, body: Value) -> TestResponse {
    let req = app
        .req(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    app.send(req).await
}

async fn refresh(app: &TestApp, token: &str) -> TestResponse {
    api_post(app, "/token/refresh", json!({ "refresh_token": token })).await
}

/// Asserts a pair answer and returns it.
fn pair_of(res: &TestResponse) -> Value {
    let body = res.assert_ok();
    assert_eq!(res.header("cache-control"), Some("no-store"), "{body}");
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 900, "{body}");
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 64, "{body}");
    assert!(body["refresh_token_expires_in"].as_i64().unwrap() > 0, "{body}");
    body
}

/// A user signed up and a pair for their session: `(cookie, pair)`.
async fn user_with_pair(app: &TestApp) -> (String, Value) {
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let pair = pair_of(&app.post("/token/pair", json!({}), Some(&cookie)).await);
    (cookie, pair)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key}: {v}"))
}

/// `POST /verify-token` with an access token: the status.
async fn verify(app: &TestApp, access: &str) -> TestResponse {
    let req = app
        .req(Method::POST, "/verify-token")
        .header(header::AUTHORIZATION, format!("Bearer {access}"))
        .body(Body::empty())
        .unwrap();
    app.send(req).await
}

async fn a_pair_for_a_session_and_a_chain_of_ten(backend: Backend) {
    let app = app!(backend);
    let (cookie, pair) = user_with_pair(&app).await;
    // The access token is the /token JWT, for 15 minutes, with an id of its own.
    let access = str_of(&pair, "access_token");
    let claims = jwt::segment(access, 1);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    assert_eq!(claims["sid"], app.session(&cookie).await["session"]["id"]);
    assert!(claims["jti"].is_string(), "{claims}");
    assert_eq!(verify(&app, access).await.assert_ok()["valid"], true);
    // A bearer session token works as well as the cookie.
    let token = app.session(&cookie).await["session"]["token"].as_str().unwrap().to_string();
    let req = app.req(Method::POST, "/token/pair").header(header::AUTHORIZATION, format!("Bearer {token}"));
    pair_of(&app.send(req.body(Body::empty()).unwrap()).await);

    let mut seen = vec![str_of(&pair, "refresh_token").to_string()];
    let mut jtis = vec![claims["jti"].clone()];
    for _ in 0..10 {
        let next = pair_of(&refresh(&app, seen.last().unwrap()).await);
        let rt = str_of(&next, "refresh_token").to_string();
        assert!(!seen.contains(&rt), "a refresh token came back twice");
        let jti = jwt::segment(str_of(&next, "access_token"), 1)["jti"].clone();
        assert!(!jtis.contains(&jti));
        jtis.push(jti);
        seen.push(rt);
    }
    // Stored only as a hash.
    let hash = app.state.token_keys.hash(seen.last().unwrap());
    let row = app.state.store.refresh_token(&hash).await.unwrap().expect("stored by hash").row;
    assert_ne!(row.token_hash, *seen.last().unwrap());
    assert!(app.state.store.refresh_token(seen.last().unwrap()).await.unwrap().is_none());
    // The session is untouched for the browser.
    assert!(app.session(&cookie).await["user"].is_object());
}

async fn bodies_and_errors_of_the_token_routes(backend: Backend) {
    let app = app!(backend);
    let (_, pair) = user_with_pair(&app).await;
    // A form body, as OAuth clients send it, with the grant type.
    let req = app
        .req(Method::POST, "/token/refresh")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=refresh_token&refresh_token={}",
            str_of(&pair, "refresh_token")
        )))
        .unwrap();
    let next = pair_of(&app.send(req).await);
    rejected_field(&api_post(&app, "/token/refresh", json!({})).await, "refresh_token");
    rejected_field(&api_post(&app, "/token/refresh", json!({"refresh_token": ""})).await, "refresh_token");
    let wrong_grant = json!({"grant_type": "password", "refresh_token": str_of(&next, "refresh_token")});
    rejected_field(&api_post(&app, "/token/refresh", wrong_grant).await, "grant_type");
    rejected(&api_post(&app, "/token/refresh", json!({"refresh_token": 5})).await, 400, "VALIDATION_ERROR");
    rejected(&refresh(&app, "not-a-token").await, 401, "INVALID_TOKEN");
    rejected(&refresh(&app, &"0".repeat(64)).await, 401, "INVALID_TOKEN");
    rejected(&refresh(&app, &"\u{0}".repeat(10_000)).await, 401, "INVALID_TOKEN");
    rejected_field(&api_post(&app, "/token/revoke", json!({})).await, "token");
    // None of that touched the live token.
    pair_of(&refresh(&app, str_of(&next, "refresh_token")).await);
    // No session, no pair.
    rejected(&api_post(&app, "/token/pair", json!({})).await, 401, "UNAUTHORIZED");
}

async fn a_spent_token_ends_the_family_and_the_session(backend: Backend) {
    for stolen in [0, 4] {
        let app = app!(backend);
        let (cookie, first) = user_with_pair(&app).await;
        let mut chain = vec![first];
        for _ in 0..6 {
            let next = pair_of(&refresh(&app, str_of(chain.last().unwrap(), "refresh_token")).await);
            chain.push(next);
        }
        let last = chain.last().unwrap();
        assert_eq!(verify(&app, str_of(last, "access_token")).await.status, StatusCode::OK);
        let body = rejected(
            &refresh(&app, str_of(&chain[stolen], "refresh_token")).await,
            401,
            "REFRESH_TOKEN_REUSED",
        );
        assert!(body["message"].as_str().unwrap().contains("Sign in again"), "{body}");
        // Everything of that session is gone: the newest refresh token, the session, its JWTs.
        rejected(&refresh(&app, str_of(last, "refresh_token")).await, 401, "INVALID_TOKEN");
        assert!(app.session(&cookie).await.is_null(), "the session outlived the theft");
        verify(&app, str_of(last, "access_token")).await.assert_error(401, "INVALID_TOKEN");
        // Presenting it again finds nothing left to revoke.
        rejected(&refresh(&app, str_of(&chain[stolen], "refresh_token")).await, 401, "INVALID_TOKEN");
    }
}

async fn concurrent_refreshes_one_wins(backend: Backend) {
    let app = app!(backend);
    let (cookie, pair) = user_with_pair(&app).await;
    let body = json!({ "refresh_token": str_of(&pair, "refresh_token") });
    let answers = app.in_parallel(20, "/token/refresh", body).await;
    let won: Vec<&TestResponse> = answers.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert_eq!(won.len(), 1, "{:?}", answers.iter().map(TestResponse::text).collect::<Vec<_>>());
    let mut reused = 0;
    for lost in answers.iter().filter(|r| r.status != StatusCode::OK) {
        let code = lost.assert_error(401, lost.json()["code"].as_str().unwrap())["code"].clone();
        // The first loser revokes; later ones may find the token already gone, or (having read
        // it before the revocation) its session gone: expired, to them. Each means: sign in again.
        assert!(
            ["REFRESH_TOKEN_REUSED", "INVALID_TOKEN", "REFRESH_TOKEN_EXPIRED"]
                .contains(&code.as_str().unwrap()),
            "{code}"
        );
        reused += usize::from(code == "REFRESH_TOKEN_REUSED");
    }
    assert!(reused >= 1);
    // With no grace, a duplicate is theft (RFC 9700): the winner's child died with the session.
    rejected(&refresh(&app, str_of(&won[0].json(), "refresh_token")).await, 401, "INVALID_TOKEN");
    assert!(app.session(&cookie).await.is_null());
}

async fn concurrent_refreshes_within_the_grace_get_one_child(backend: Backend) {
    let app = app!(backend, |s| s.clients.reuse_grace = Duration::from_secs(5));
    let (cookie, pair) = user_with_pair(&app).await;
    let spent = str_of(&pair, "refresh_token").to_string();
    let answers = app.in_parallel(20, "/token/refresh", json!({ "refresh_token": spent })).await;
    let children: std::collections::HashSet<String> =
        answers.iter().map(|r| str_of(&pair_of(r), "refresh_token").to_string()).collect();
    assert_eq!(children.len(), 1, "every retry gets the same child");
    let child = children.into_iter().next().unwrap();
    assert!(app.session(&cookie).await["user"].is_object());
    // The child works; once it is used, the parent is no retry any more but theft.
    let grandchild = pair_of(&refresh(&app, &child).await);
    rejected(&refresh(&app, &spent).await, 401, "REFRESH_TOKEN_REUSED");
    rejected(&refresh(&app, str_of(&grandchild, "refresh_token")).await, 401, "INVALID_TOKEN");

    // After the window a retry is theft too.
    let (cookie, pair) = user_with_pair(&app).await;
    let spent = str_of(&pair, "refresh_token").to_string();
    pair_of(&refresh(&app, &spent).await);
    app.clock().advance(Duration::from_secs(6));
    rejected(&refresh(&app, &spent).await, 401, "REFRESH_TOKEN_REUSED");
    assert!(app.session(&cookie).await.is_null());
}

async fn expiry_is_not_theft(backend: Backend) {
    let app = app!(backend, |s| s.clients.refresh_idle = Duration::from_secs(3600));
    let (cookie, pair) = user_with_pair(&app).await;
    let before = pair_of(&refresh(&app, str_of(&pair, "refresh_token")).await);
    assert!(before["refresh_token_expires_in"].as_i64().unwrap() <= 3600, "{before}");
    app.clock().advance(Duration::from_secs(3601));
    rejected(&refresh(&app, str_of(&before, "refresh_token")).await, 401, "REFRESH_TOKEN_EXPIRED");
    // Nothing was revoked: the session lives, and a new pair can be had from it.
    assert!(app.session(&cookie).await["user"].is_object());
    let again = pair_of(&app.post("/token/pair", json!({}), Some(&cookie)).await);
    pair_of(&refresh(&app, str_of(&again, "refresh_token")).await);

    // A token never outlives its session: when the session expires, so does the token.
    let short = app.sibling(|s| s.sessions.expires_in = Duration::from_secs(600));
    let (_, pair) = user_with_pair(&short).await;
    assert!(pair["refresh_token_expires_in"].as_i64().unwrap() <= 600, "{pair}");
    short.clock().advance(Duration::from_secs(601));
    rejected(&refresh(&short, str_of(&pair, "refresh_token")).await, 401, "REFRESH_TOKEN_EXPIRED");
}

async fn ending_the_session_ends_its_tokens(backend: Backend) {
    let app = app!(backend);
    let (cookie, pair) = user_with_pair(&app).await;
    app.post("/sign-out", json!({}), Some(&cookie)).await.assert_ok();
    rejected(&refresh(&app, str_of(&pair, "refresh_token")).await, 401, "INVALID_TOKEN");

    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let other = app.cookie_of(&app.sign_in(&email, PASSWORD).await);
    let pair = pair_of(&app.post("/token/pair", json!({}), Some(&other)).await);
    app.post("/revoke-other-sessions", json!({}), Some(&cookie)).await.assert_ok();
    rejected(&refresh(&app, str_of(&pair, "refresh_token")).await, 401, "INVALID_TOKEN");

    // A password change that signs out everywhere else.
    let other = app.cookie_of(&app.sign_in(&email, PASSWORD).await);
    let pair = pair_of(&app.post("/token/pair", json!({}), Some(&other)).await);
    let change = json!({"currentPassword": PASSWORD, "newPassword": "another-password-2", "revokeOtherSessions": true});
    app.post("/change-password", change, Some(&cookie)).await.assert_ok();
    rejected(&refresh(&app, str_of(&pair, "refresh_token")).await, 401, "INVALID_TOKEN");
}

async fn revoking_a_family(backend: Backend) {
    let app = app!(backend);
    // RFC 7009: 200 for anything.
    assert_eq!(api_post(&app, "/token/revoke", json!({"token": "nothing"})).await.assert_ok(), json!({}));
    // A family a session asked for: revoked alone; the session and its other families stay.
    let (cookie, pair) = user_with_pair(&app).await;
    let kept = pair_of(&app.post("/token/pair", json!({}), Some(&cookie)).await);
    let hint = json!({"token": str_of(&pair, "refresh_token"), "token_type_hint": "refresh_token"});
    let res = api_post(&app, "/token/revoke", hint).await;
    assert_eq!(res.header("cache-control"), Some("no-store"));
    rejected(&refresh(&app, str_of(&pair, "refresh_token")).await, 401, "INVALID_TOKEN");
    assert!(app.session(&cookie).await["user"].is_object());
    pair_of(&refresh(&app, str_of(&kept, "refresh_token")).await);
    // An access token changes nothing (it expires on its own).
    api_post(&app, "/token/revoke", json!({"token": str_of(&kept, "access_token")})).await.assert_ok();
    assert!(app.session(&cookie).await["user"].is_object());

    // Tokens that came with their session at sign-in take it with them.
    let email = unique_email();
    app.sign_up(&email).await;
    let signed_in = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "issueTokens": true}), None)
        .await;
    let body = signed_in.assert_ok();
    let session_cookie = app.cookie_of(&signed_in);
    api_post(&app, "/token/revoke", json!({"token": str_of(&body, "refreshToken")})).await.assert_ok();
    assert!(app.session(&session_cookie).await.is_null());
}

async fn sign_in_can_issue_tokens(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    let plain = app.sign_in(&email, PASSWORD).await.assert_ok();
    assert!(plain.get("accessToken").is_none() && plain.get("refreshToken").is_none(), "{plain}");
    // JSON or form, the pair comes with the answer, named like the rest of it.
    let res = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "issueTokens": true}), None)
        .await;
    let body = res.assert_ok();
    assert_eq!(res.header("cache-control"), Some("no-store"));
    assert_eq!(body["expiresIn"], 900, "{body}");
    assert!(body["refreshTokenExpiresIn"].as_i64().unwrap() > 0, "{body}");
    assert_eq!(jwt::segment(str_of(&body, "accessToken"), 1)["sid"], body["session"]["id"]);
    pair_of(&refresh(&app, str_of(&body, "refreshToken")).await);
    let form =
        format!("email={}&password={PASSWORD}&issueTokens=true&rememberMe=false", email.replace('@', "%40"));
    let body = app.post_form("/sign-in/email", &form).await.assert_ok();
    // A one-day session: the refresh token lasts no longer.
    assert!(body["refreshTokenExpiresIn"].as_i64().unwrap() <= 86_400, "{body}");
    // A wrong password gets no tokens.
    let wrong = json!({"email": email, "password": "wrong-password", "issueTokens": true});
    rejected(&app.post("/sign-in/email", wrong, None).await, 401, "INVALID_EMAIL_OR_PASSWORD");
}

async fn a_refresh_slides_the_session_within_its_cap(backend: Backend) {
    let app = app!(backend);
    let (cookie, pair) = user_with_pair(&app).await;
    let expires =
        |s: &Value| gatehouse::domain::time::parse_ms(s["session"]["expiresAt"].as_str().unwrap()).unwrap();
    let before = expires(&app.get("/get-session?disableRefresh=true", Some(&cookie)).await.json());
    // A refresh is session activity: past SESSION_UPDATE_AGE it pushes the session out.
    app.clock().advance(Duration::from_secs(2 * 86_400));
    let next = pair_of(&refresh(&app, str_of(&pair, "refresh_token")).await);
    let after = expires(&app.get("/get-session?disableRefresh=true", Some(&cookie)).await.json());
    // (The clock is real time plus the advance: a few milliseconds pass too.)
    assert!((0..1000).contains(&(after - before - 2 * 86_400_000)), "{before} -> {after}");
    // Never past the absolute cap (30 days from sign-in), and the refresh token says so.
    let mut token = str_of(&next, "refresh_token").to_string();
    let mut last = next;
    for _ in 0..4 {
        app.clock().advance(Duration::from_secs(6 * 86_400));
        last = pair_of(&refresh(&app, &token).await);
        token = str_of(&last, "refresh_token").to_string();
    }
    // 26 days after sign-in, the session ends at 30 whatever happens: so does the token.
    assert!(last["refresh_token_expires_in"].as_i64().unwrap() <= 4 * 86_400, "{last}");
    app.clock().advance(Duration::from_secs(4 * 86_400));
    rejected(&refresh(&app, &token).await, 401, "REFRESH_TOKEN_EXPIRED");
}

async fn account_checks_hold_for_refreshes(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    app.sign_up(&email).await;
    let body = app
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "issueTokens": true}), None)
        .await
        .assert_ok();
    let token = str_of(&body, "refreshToken").to_string();
    // Locked by wrong passwords: no new pair, and nothing is revoked.
    for _ in 0..10 {
        app.sign_in(&email, "wrong-password").await;
    }
    rejected(&refresh(&app, &token).await, 403, "ACCOUNT_LOCKED");
    app.clock().advance(Duration::from_secs(31 * 60));
    let next = pair_of(&refresh(&app, &token).await);

    // A server that now requires a second factor refuses users who have none yet.
    let strict = app.sibling(|s| s.two_factor.required = true);
    rejected(&refresh(&strict, str_of(&next, "refresh_token")).await, 403, "TWO_FACTOR_REQUIRED");
    // And with it a sign-in gives a restricted session and no tokens.
    let res = strict
        .post("/sign-in/email", json!({"email": email, "password": PASSWORD, "issueTokens": true}), None)
        .await;
    let body = res.assert_ok();
    assert_eq!(body["twoFactorSetupRequired"], true, "{body}");
    assert!(body.get("refreshToken").is_none(), "{body}");
    rejected(
        &strict.post("/token/pair", json!({}), Some(&strict.cookie_of(&res))).await,
        403,
        "TWO_FACTOR_REQUIRED",
    );
    pair_of(&refresh(&app, str_of(&next, "refresh_token")).await);

    // A retry within the grace window is held to the same checks.
    let lenient = app.sibling(|s| s.clients.reuse_grace = Duration::from_secs(10));
    let email = unique_email();
    lenient.sign_up(&email).await;
    let body = json!({"email": email, "password": PASSWORD, "issueTokens": true});
    let spent =
        str_of(&lenient.post("/sign-in/email", body, None).await.assert_ok(), "refreshToken").to_string();
    pair_of(&refresh(&lenient, &spent).await);
    for _ in 0..10 {
        lenient.sign_in(&email, "wrong-password").await;
    }
    rejected(&refresh(&lenient, &spent).await, 403, "ACCOUNT_LOCKED");
}

async fn revoking_or_signing_out_during_a_refresh_leaves_nothing(backend: Backend) {
    let app = std::sync::Arc::new(app!(backend));
    for round in 0..60 {
        let (cookie, pair) = user_with_pair(&app).await;
        let token = str_of(&pair, "refresh_token").to_string();
        let refreshing = tokio::spawn({
            let (app, token) = (app.clone(), token.clone());
            async move { refresh(&app, &token).await }
        });
        let ending = if round % 2 == 0 {
            api_post(&app, "/token/revoke", json!({"token": token})).await
        } else {
            app.post("/sign-out", json!({}), Some(&cookie)).await
        };
        ending.assert_ok();
        let refreshed = refreshing.await.unwrap();
        // Either order is fine, but never a 500, and never a token that outlives the revocation.
        assert!(matches!(refreshed.status.as_u16(), 200 | 401), "{}", refreshed.text());
        if refreshed.status == StatusCode::OK {
            let child = str_of(&refreshed.json(), "refresh_token").to_string();
            rejected(&refresh(&app, &child).await, 401, "INVALID_TOKEN");
        }
    }
}
