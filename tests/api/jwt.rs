//! JWTs for services: `GET /token`, `GET /jwks` (EdDSA, RS256, ES256), `POST /verify-token`, and
//! `set-auth-jwt` on get-session.
//!
//! Tokens are checked independently of the server (jsonwebtoken against the published JWK), and
//! forged tokens are built by hand (base64url of JSON parts) so each refusal tests one defect.
//!
//! Long (over 400 lines): three routes in three algorithms, and a hand-built forgery for each
//! defect `/verify-token` must refuse.

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse::{config::Settings, domain::time::Clock, jwt::keys::SigningAlg};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    app, backend_tests,
    helpers::{jwt::*, *},
};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An HS256 token over `header` and `claims`, signed with `secret`.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input =
        format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

fn ed_header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(kid.to_string());
    h.typ = Some("JWT".into());
    h
}

fn assert_invalid(res: &TestResponse, what: &str) {
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{what}: {}", res.text());
    let body = res.json();
    assert_eq!(body["code"], "INVALID_TOKEN", "{what}: {body}");
    assert_ne!(body["valid"], true, "{what}: {body}");
    assert!(body.get("user").is_none(), "{what}: {body}");
}

// ---------------------------------------------------------------------------------------------
// GET /token

async fn token_requires_a_session(backend: Backend) {
    let app = app!(backend);
    let res = app.get("/token", None).await;
    let body = res.assert_error(401, "UNAUTHORIZED");
    assert!(body.get("token").is_none());
    let res = app.get("/token", Some("better-auth.session_token=forged.value")).await;
    res.assert_error(401, "UNAUTHORIZED");
}

async fn token_carries_the_session_claims(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let session = app.get("/get-session", Some(&cookie)).await.json();

    let res = app.get("/token", Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "only {{token}}: {body}");
    let token = body["token"].as_str().expect("token").to_string();
    assert_eq!(token.split('.').count(), 3, "{token}");

    let head = segment(&token, 0);
    assert_eq!(head["typ"], "JWT", "{head}");
    assert_eq!(head["alg"], "EdDSA", "{head}");
    assert!(head["kid"].as_str().is_some_and(|k| !k.is_empty()), "{head}");

    let claims = verify_independently(&app, &token, Algorithm::EdDSA).await;
    // The raw segment agrees with what the verifier decoded.
    assert_eq!(segment(&token, 1), claims);
    assert_eq!(claims["sub"], session["user"]["id"], "{claims}");
    assert_eq!(claims["email"], email.as_str());
    assert_eq!(claims["name"], "Test User");
    assert_eq!(claims["emailVerified"], false);
    assert_eq!(claims["sid"], session["session"]["id"], "{claims}");
    assert!(claims.get("org").is_some_and(Value::is_null), "org present and null: {claims}");
    assert!(claims.get("plan").is_some_and(Value::is_null), "plan present and null: {claims}");
    assert_eq!(claims["iss"], BASE);
    assert_eq!(claims["aud"], BASE);
    let iat = claims["iat"].as_i64().expect("iat");
    let now = app.clock().now_ms() / 1000;
    assert!((now - 5..=now).contains(&iat), "iat {iat} now {now}");
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    // The session token itself never rides in the JWT.
    let session_token = session["session"]["token"].as_str().unwrap();
    assert!(!claims.to_string().contains(session_token), "{claims}");
}

async fn jwt_expiration_sets_the_lifetime(backend: Backend) {
    let app = app!(backend, |s| s.jwt.lifetime = Duration::from_secs(900));
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let token = token(&app, &cookie).await;
    let claims = verify_independently(&app, &token, Algorithm::EdDSA).await;
    let iat = claims["iat"].as_i64().unwrap();
    assert_eq!(claims["exp"].as_i64(), Some(iat + 900), "{claims}");
    app.clock().advance(Duration::from_secs(899));
    assert_eq!(verify(&app, &token).await.status, StatusCode::OK);
    app.clock().advance(Duration::from_secs(2));
    verify(&app, &token).await.assert_error(401, "TOKEN_EXPIRED");
}

// ---------------------------------------------------------------------------------------------
// GET /jwks

async fn jwks_publishes_the_public_ed25519_key(backend: Backend) {
    let app = app!(backend);
    let res = app.get("/jwks", None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let cache = res.header("cache-control").expect("cache-control");
    assert!(cache.starts_with("public, max-age="), "{cache}");
    assert!(cache["public, max-age=".len()..].parse::<u32>().is_ok_and(|s| s > 0), "{cache}");
    let body = res.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let keys = body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "a key exists from the first request on: {body}");
    let key = &keys[0];
    assert_public_only(key);
    assert_eq!(key["kty"], "OKP", "{key}");
    assert_eq!(key["crv"], "Ed25519", "{key}");
    assert_eq!(key["alg"], "EdDSA", "{key}");
    let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().expect("x")).expect("x is base64url");
    assert_eq!(x.len(), 32, "{key}");

    // The key that signs tokens is the published one.
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let token = token(&app, &cookie).await;
    assert_eq!(kid_of(&token), key["kid"].as_str().unwrap());
    assert_eq!(jwks(&app).await, keys.clone(), "stable between requests");
}

async fn rs256_keys_and_tokens(backend: Backend) {
    let app = app!(backend, |s| s.jwt.algorithm = SigningAlg::Rs256);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let token = token(&app, &cookie).await;
    assert_eq!(segment(&token, 0)["alg"], "RS256");
    let keys = jwks(&app).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert_public_only(key);
    assert_eq!(key["kty"], "RSA", "{key}");
    assert_eq!(key["alg"], "RS256", "{key}");
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().expect("n")).expect("n is base64url");
    assert!(n.len() >= 256, "at least 2048 bits: {} bytes", n.len());
    assert!(key["e"].as_str().is_some_and(|e| !e.is_empty()), "{key}");
    verify_independently(&app, &token, Algorithm::RS256).await;
    let res = verify(&app, &token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

async fn es256_keys_and_tokens(backend: Backend) {
    let app = app!(backend, |s| s.jwt.algorithm = SigningAlg::Es256);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let token = token(&app, &cookie).await;
    assert_eq!(segment(&token, 0)["alg"], "ES256");
    let keys = jwks(&app).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert_public_only(key);
    assert_eq!(key["kty"], "EC", "{key}");
    assert_eq!(key["crv"], "P-256", "{key}");
    assert_eq!(key["alg"], "ES256", "{key}");
    for c in ["x", "y"] {
        let v = URL_SAFE_NO_PAD.decode(key[c].as_str().expect(c)).expect("base64url");
        assert_eq!(v.len(), 32, "{c}: {key}");
    }
    verify_independently(&app, &token, Algorithm::ES256).await;
    let res = verify(&app, &token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

// ---------------------------------------------------------------------------------------------
// set-auth-jwt on get-session

fn exposes(res: &TestResponse, name: &str) -> bool {
    res.headers
        .get_all(header::ACCESS_CONTROL_EXPOSE_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|h| h.trim().eq_ignore_ascii_case(name))
}

async fn get_session_carries_a_jwt(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let res = app.get("/get-session", Some(&cookie)).await;
    let body = res.json();
    let jwt = res.header("set-auth-jwt").expect("set-auth-jwt").to_string();
    assert!(exposes(&res, "set-auth-jwt"), "{:?}", res.headers);
    let claims = verify_independently(&app, &jwt, Algorithm::EdDSA).await;
    assert_eq!(claims["sid"], body["session"]["id"]);
    assert_eq!(claims["sub"], body["user"]["id"]);
    let res = verify(&app, &jwt).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["id"], body["user"]["id"]);

    let res = app.get("/get-session", None).await;
    assert_eq!(res.text(), "null");
    assert!(res.header("set-auth-jwt").is_none(), "no session, no JWT");
    assert!(!exposes(&res, "set-auth-jwt"));
}

/// get-session hands the same JWT out again while its content holds, and a new one as soon as
/// anything in it would change (here the name), or once it is a minute old.
async fn get_session_reuses_a_jwt_only_while_its_content_holds(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let jwt_of = |res: &TestResponse| res.header("set-auth-jwt").expect("set-auth-jwt").to_string();
    let first = jwt_of(&app.get("/get-session", Some(&cookie)).await);
    app.clock().advance(Duration::from_secs(2));
    assert_eq!(jwt_of(&app.get("/get-session", Some(&cookie)).await), first, "reused");

    let res = app.post("/update-user", json!({"name": "Renamed"}), Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let renamed = jwt_of(&app.get("/get-session", Some(&cookie)).await);
    assert_ne!(renamed, first);
    assert_eq!(segment(&renamed, 1)["name"], "Renamed");

    app.clock().advance(Duration::from_secs(61));
    let later = jwt_of(&app.get("/get-session", Some(&cookie)).await);
    assert_ne!(later, renamed, "a minute on, a new one");
    assert_eq!(segment(&later, 1)["name"], "Renamed");
}

async fn get_session_jwt_can_be_turned_off(backend: Backend) {
    let app = app!(backend, |s| s.jwt.on_get_session = false);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let res = app.get("/get-session", Some(&cookie)).await;
    assert!(res.json()["session"].is_object(), "{}", res.text());
    assert!(res.header("set-auth-jwt").is_none());
    assert!(!exposes(&res, "set-auth-jwt"));
    // /token still works.
    token(&app, &cookie).await;
}

// ---------------------------------------------------------------------------------------------
// POST /verify-token

async fn verify_token_accepts_a_valid_token(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let session = app.get("/get-session", Some(&cookie)).await.json();
    let token = token(&app, &cookie).await;
    let res = verify(&app, &token).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["user"]["id"], session["user"]["id"], "{body}");
    assert_eq!(body["user"]["email"], email.as_str(), "{body}");
    assert_eq!(body["user"]["name"], "Test User", "{body}");
    assert!(body["user"].get("password").is_none(), "{body}");

    // The scheme is case-insensitive.
    let req = app
        .req(Method::POST, "/verify-token")
        .header(header::AUTHORIZATION, format!("bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::OK);
}

async fn verify_token_needs_a_bearer_token(backend: Backend) {
    let app = app!(backend);
    let req = app.req(Method::POST, "/verify-token").body(Body::empty()).unwrap();
    let res = app.send(req).await;
    res.assert_error(401, "INVALID_TOKEN");
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let token = token(&app, &cookie).await;
    let req = app
        .req(Method::POST, "/verify-token")
        .header(header::AUTHORIZATION, format!("Basic {token}"))
        .body(Body::empty())
        .unwrap();
    app.send(req).await.assert_error(401, "INVALID_TOKEN");
    for junk in ["", "not-a-jwt", "a.b.c"] {
        verify(&app, junk).await.assert_error(401, "INVALID_TOKEN");
    }
}

async fn verify_token_refuses_forgeries(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let real = token(&app, &cookie).await;
    let kid = kid_of(&real);
    let claims = segment(&real, 1);
    let jwk = published_key(&app, &real).await;
    let (current_kid, der) = current_private_key(&app).await;
    assert_eq!(current_kid, kid);

    // Control: the same claims re-signed with the real key under the real kid verify, so each
    // refusal below is down to its one defect.
    let resigned = jsonwebtoken::encode(&ed_header(&kid), &claims, &EncodingKey::from_ed_der(&der)).unwrap();
    let res = verify(&app, &resigned).await;
    assert_eq!(res.status, StatusCode::OK, "control: {}", res.text());

    // alg: none, empty signature (with and without the real kid).
    for head in [json!({"alg": "none"}), json!({"alg": "none", "typ": "JWT", "kid": kid})] {
        let t = format!("{}.{}.", b64(head.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        assert_invalid(&verify(&app, &t).await, &format!("alg none {head}"));
    }

    // HS256 signed with what a verifier could mistake for a shared secret: the public key.
    let x = jwk["x"].as_str().unwrap();
    let head = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let secrets: [(&str, Vec<u8>); 3] = [
        ("raw public key bytes", URL_SAFE_NO_PAD.decode(x).unwrap()),
        ("JWK JSON text", jwk.to_string().into_bytes()),
        ("x as text", x.as_bytes().to_vec()),
    ];
    for (what, secret) in secrets {
        let t = hs256(&head, &claims, &secret);
        assert_invalid(&verify(&app, &t).await, &format!("HS256 with {what}"));
    }

    // The real key, an unknown kid.
    let t =
        jsonwebtoken::encode(&ed_header("no-such-key"), &claims, &EncodingKey::from_ed_der(&der)).unwrap();
    assert_invalid(&verify(&app, &t).await, "unknown kid");
    // No kid at all.
    let mut no_kid = ed_header(&kid);
    no_kid.kid = None;
    let t = jsonwebtoken::encode(&no_kid, &claims, &EncodingKey::from_ed_der(&der)).unwrap();
    assert_invalid(&verify(&app, &t).await, "no kid");

    // Someone else's Ed25519 key under the real kid.
    let other = SigningAlg::EdDsa.generate().unwrap();
    let t = jsonwebtoken::encode(&ed_header(&kid), &claims, &EncodingKey::from_ed_der(&other)).unwrap();
    assert_invalid(&verify(&app, &t).await, "foreign key, real kid");

    // One signature character changed (mid-signature, so every bit of it counts).
    let (signing_input, signature) = real.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = signature.chars().collect();
    let i = sig.len() / 2;
    sig[i] = if sig[i] == 'A' { 'B' } else { 'A' };
    let t = format!("{signing_input}.{}", sig.into_iter().collect::<String>());
    assert_invalid(&verify(&app, &t).await, "tampered signature");

    // Claims changed under the original signature.
    let mut richer = claims.clone();
    richer["sub"] = json!("someone-else");
    let t = format!("{}.{}.{signature}", real.split('.').next().unwrap(), b64(richer.to_string().as_bytes()));
    assert_invalid(&verify(&app, &t).await, "tampered claims");

    // The genuine token still verifies after all that.
    assert_eq!(verify(&app, &real).await.status, StatusCode::OK);
}

async fn verify_token_refuses_another_issuer_or_audience(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    token(&app, &cookie).await;

    type Tweak = fn(&mut Settings);
    let tweaks: [(&str, Tweak); 2] = [
        ("iss", |s| s.jwt.issuer = "https://other.example".into()),
        ("aud", |s| s.jwt.audience = "https://other.example".into()),
    ];
    for (claim, tweak) in tweaks {
        let other = app.sibling_with(Clock::default(), tweak);
        let cookie = other.signed_up_cookie(&unique_email()).await;
        let t = token(&other, &cookie).await;
        let claims = segment(&t, 1);
        assert_eq!(claims[claim], "https://other.example", "{claims}");
        assert_eq!(kid_of(&t), kid_of(&token(&app, &cookie).await), "same key, only {claim} differs");
        // The instance that minted it accepts it; ours does not.
        let res = verify(&other, &t).await;
        assert_eq!(res.status, StatusCode::OK, "{claim} control: {}", res.text());
        assert_invalid(&verify(&app, &t).await, &format!("other {claim}"));
    }
}

async fn verify_token_refuses_a_future_nbf(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    token(&app, &cookie).await;

    let clock = Clock::default();
    clock.advance(2 * HOUR);
    let ahead = app.sibling_with(clock, |_| {});
    let cookie = ahead.signed_up_cookie(&unique_email()).await;
    let t = token(&ahead, &cookie).await;
    let claims = segment(&t, 1);
    let now = app.clock().now_ms() / 1000;
    assert!(claims["nbf"].as_i64().unwrap() > now + HOUR.as_secs() as i64, "{claims}");
    assert!(claims["exp"].as_i64().unwrap() > now + 2 * HOUR.as_secs() as i64, "not yet expired: {claims}");
    assert_invalid(&verify(&app, &t).await, "future nbf");

    // Once that time comes, the same token is good.
    app.clock().advance(2 * HOUR + Duration::from_secs(5));
    let res = verify(&app, &t).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

async fn verify_token_reports_expiry(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let t = token(&app, &cookie).await;
    app.clock().advance(HOUR - Duration::from_secs(10));
    assert_eq!(verify(&app, &t).await.status, StatusCode::OK, "still valid just before exp");
    app.clock().advance(Duration::from_secs(20));
    let body = verify(&app, &t).await.assert_error(401, "TOKEN_EXPIRED");
    assert!(body.get("user").is_none(), "{body}");
    // The session is alive: a new token verifies.
    let fresh = token(&app, &cookie).await;
    assert_eq!(verify(&app, &fresh).await.status, StatusCode::OK);
}

async fn verify_token_refuses_an_ended_session(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let t = token(&app, &cookie).await;
    assert_eq!(verify(&app, &t).await.status, StatusCode::OK);
    let res = app.post("/sign-out", json!({}), Some(&cookie)).await;
    assert_eq!(res.json(), json!({"success": true}));
    let res = verify(&app, &t).await;
    let body = res.assert_error(401, "INVALID_TOKEN");
    assert_eq!(body["valid"], false, "{body}");
    assert!(body.get("user").is_none(), "{body}");
    assert_eq!(res.header("cache-control"), Some("no-store"));
}

backend_tests!(
    token_requires_a_session,
    token_carries_the_session_claims,
    jwt_expiration_sets_the_lifetime,
    jwks_publishes_the_public_ed25519_key,
    rs256_keys_and_tokens,
    es256_keys_and_tokens,
    get_session_carries_a_jwt,
    get_session_reuses_a_jwt_only_while_its_content_holds,
    get_session_jwt_can_be_turned_off,
    verify_token_accepts_a_valid_token,
    verify_token_needs_a_bearer_token,
    verify_token_refuses_forgeries,
    verify_token_refuses_another_issuer_or_audience,
    verify_token_refuses_a_future_nbf,
    verify_token_reports_expiry,
    verify_token_refuses_an_ended_session,
);
