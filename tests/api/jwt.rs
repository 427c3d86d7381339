//! JWTs for services: `GET /token`, `GET /jwks`, `POST /verify-token`, `set-auth-jwt` on
//! get-session, key rotation, first-use races between instances, and keys sealed at rest.
//!
//! Tokens are checked independently of the server (jsonwebtoken against the published JWK), and
//! forged tokens are built by hand (base64url of JSON parts) so each refusal tests one defect.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use gatehouse::{
    config::{Secret, Settings},
    domain::time::Clock,
    jwt::keys::{KeyVault, SigningAlg},
};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::Jwk};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{app, backend_tests, helpers::*};

// ---------------------------------------------------------------------------------------------
// Helpers

/// `POST /verify-token` the way a service calls it: a Bearer token, no cookie, no Origin.
async fn verify(app: &TestApp, token: &str) -> TestResponse {
    let req = app
        .req(Method::POST, "/verify-token")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.send(req).await
}

/// `GET /token` for this cookie; asserts success.
pub(crate) async fn token(app: &TestApp, cookie: &str) -> String {
    let res = app.get("/token", Some(cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["token"].as_str().expect("token").to_string()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JSON of a token's `i`th segment (0 header, 1 claims).
pub(crate) fn segment(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap_or_else(|| panic!("no segment {i} in {token}"));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON segment")
}

fn kid_of(token: &str) -> String {
    segment(token, 0)["kid"].as_str().unwrap_or_else(|| panic!("no kid in {token}")).to_string()
}

/// An HS256 token over `header` and `claims`, signed with `secret`.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input =
        format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

async fn jwks(app: &TestApp) -> Vec<Value> {
    let res = app.get("/jwks", None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    res.json()["keys"].as_array().unwrap_or_else(|| panic!("no keys: {}", res.text())).clone()
}

fn kids(keys: &[Value]) -> Vec<String> {
    keys.iter().map(|k| k["kid"].as_str().expect("kid").to_string()).collect()
}

/// The published JWK for this token's `kid`.
async fn published_key(app: &TestApp, token: &str) -> Value {
    let kid = kid_of(token);
    jwks(app)
        .await
        .into_iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("kid {kid} is not in /jwks"))
}

/// Verifies `token` without the server's code: the JWK from `/jwks`, jsonwebtoken, the
/// expected algorithm, issuer and audience. Returns the claims.
async fn verify_independently(app: &TestApp, token: &str, alg: Algorithm) -> Value {
    let jwk: Jwk = serde_json::from_value(published_key(app, token).await).expect("a JWK");
    let key = DecodingKey::from_jwk(&jwk).expect("decoding key from the JWK");
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[BASE]);
    validation.set_audience(&[BASE]);
    validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("token does not verify independently ({e}): {token}"))
        .claims
}

/// The current key's id and private DER, opened with the test secret (to forge tokens that
/// differ from a real one in one respect only).
async fn current_private_key(app: &TestApp) -> (String, Vec<u8>) {
    let row = app.state.store.current_jwk().await.unwrap().expect("a current key");
    let secret = test_settings().secret.expect("test secret");
    let der = KeyVault::new(secret.expose()).open(&row.id, &row.private_key).expect("opens with the secret");
    (row.id, der.to_vec())
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

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

fn assert_public_only(key: &Value) {
    for m in PRIVATE_MEMBERS {
        assert!(key.get(m).is_none(), "private member {m:?} published: {key}");
    }
    assert_eq!(key["use"], "sig", "{key}");
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
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
    let app = app!(backend, |s| s.jwt_expiration = Duration::from_secs(900));
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
    let app = app!(backend, |s| s.jwt_algorithm = SigningAlg::Rs256);
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
    let app = app!(backend, |s| s.jwt_algorithm = SigningAlg::Es256);
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

async fn get_session_jwt_can_be_turned_off(backend: Backend) {
    let app = app!(backend, |s| s.jwt_on_get_session = false);
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
        ("iss", |s| s.jwt_issuer = "https://other.example".into()),
        ("aud", |s| s.jwt_audience = "https://other.example".into()),
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

// ---------------------------------------------------------------------------------------------
// Rotation

async fn rotation_keeps_old_tokens_valid_until_they_expire(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    // Another instance on the same store and clock, its key cached.
    let other = app.sibling(|_| {});
    let token_a = token(&app, &cookie).await;
    let old_kid = kid_of(&token_a);
    assert_eq!(kid_of(&token(&other, &cookie).await), old_kid);

    let new_kid = app.state.jwt.rotate(app.state.store.as_ref(), app.clock().now_ms()).await.unwrap();
    assert_ne!(new_kid, old_kid);

    let keys = jwks(&app).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let listed = kids(&keys);
    assert!(listed.contains(&old_kid) && listed.contains(&new_kid), "{listed:?}");
    keys.iter().for_each(assert_public_only);

    let token_b = token(&app, &cookie).await;
    assert_eq!(kid_of(&token_b), new_kid, "new tokens carry the new kid");
    verify_independently(&app, &token_b, Algorithm::EdDSA).await;
    verify_independently(&app, &token_a, Algorithm::EdDSA).await;
    for t in [&token_a, &token_b] {
        let res = verify(&app, t).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }

    // The other instance picks the rotation up within its one-minute recheck.
    app.clock().advance(Duration::from_secs(61));
    assert_eq!(kid_of(&token(&other, &cookie).await), new_kid, "rotation seen by another instance");
    assert_eq!(verify(&other, &token_a).await.status, StatusCode::OK);

    // Once every token the old key signed has expired, it leaves /jwks.
    app.clock().advance(HOUR);
    let keys = jwks(&app).await;
    assert_eq!(kids(&keys), vec![new_kid.clone()], "{keys:?}");
    // Its key is gone, so the server may call it either; it must not accept it.
    let res = verify(&app, &token_a).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.text());
    assert!(["TOKEN_EXPIRED", "INVALID_TOKEN"].contains(&res.json()["code"].as_str().unwrap_or("")));
    let fresh = token(&app, &cookie).await;
    assert_eq!(kid_of(&fresh), new_kid);
    assert_eq!(verify(&app, &fresh).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// First use

async fn concurrent_first_use_makes_one_key(backend: Backend) {
    let app = app!(backend);
    // Four users, two requests each.
    let mut cookies = Vec::new();
    for _ in 0..4 {
        let cookie = app.signed_up_cookie(&unique_email()).await;
        cookies.push(cookie.clone());
        cookies.push(cookie);
    }
    assert!(app.state.store.current_jwk().await.unwrap().is_none(), "no key before first use");
    let app = Arc::new(app);
    let tasks: Vec<_> = cookies
        .into_iter()
        .map(|cookie| {
            let app = app.clone();
            tokio::spawn(async move { token(&app, &cookie).await })
        })
        .collect();
    let mut minted = Vec::new();
    for t in tasks {
        minted.push(kid_of(&t.await.expect("task")));
    }
    minted.sort();
    minted.dedup();
    assert_eq!(minted.len(), 1, "one kid: {minted:?}");
    assert_eq!(kids(&jwks(&app).await), minted);
}

async fn concurrent_first_use_on_two_instances_makes_one_key(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    assert!(app.state.store.current_jwk().await.unwrap().is_none(), "no key before first use");
    let siblings: Vec<_> = (0..3).map(|_| Arc::new(app.sibling_with(Clock::default(), |_| {}))).collect();
    let mut tasks = Vec::new();
    for (i, s) in siblings.iter().enumerate() {
        // Two requests per instance, interleaved across instances.
        for _ in 0..2 {
            let (s, cookie) = (s.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                let res = s.get("/token", Some(&cookie)).await;
                assert_eq!(res.status, StatusCode::OK, "instance {i}: {}", res.text());
                kid_of(res.json()["token"].as_str().unwrap())
            }));
        }
    }
    let mut minted = Vec::new();
    for t in tasks {
        minted.push(t.await.expect("task"));
    }
    minted.sort();
    minted.dedup();
    assert_eq!(minted.len(), 1, "one kid across instances: {minted:?}");
    assert_eq!(kids(&jwks(&app).await), minted);
    assert_eq!(kid_of(&token(&app, &cookie).await), minted[0]);

    // Separate connection pools on one PostgreSQL database, too.
    if backend == Backend::Postgres {
        let Some((a, b)) = two_instances().await else { return };
        let cookie = a.signed_up_cookie(&unique_email()).await;
        let (ta, tb) = tokio::join!(token(&a, &cookie), token(&b, &cookie));
        assert_eq!(kid_of(&ta), kid_of(&tb));
        assert_eq!(jwks(&a).await.len(), 1);
        assert_eq!(jwks(&b).await.len(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Keys at rest

async fn private_keys_are_sealed_at_rest(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let t = token(&app, &cookie).await;
    let row = app.state.store.current_jwk().await.unwrap().expect("current key");
    assert_eq!(row.id, kid_of(&t));
    assert_eq!(row.alg, "EdDSA");
    assert!(row.expires_at.is_none());
    let public: Value = serde_json::from_str(&row.public_key).expect("public JWK JSON");
    assert_public_only(&public);
    let sealed = row.private_key.as_str();

    // The sealed value is the real key (it opens to the published public key)...
    let (_, der) = current_private_key(&app).await;
    let reopened = serde_json::to_value(SigningAlg::EdDsa.public_jwk(&der, &row.id).unwrap()).unwrap();
    assert_eq!(reopened["x"], public["x"]);

    // ...yet nothing of it, nor of the public key, is readable in the column.
    let x_str = public["x"].as_str().unwrap();
    let x = URL_SAFE_NO_PAD.decode(x_str).unwrap();
    let seed = &der[der.len() - 32..];
    assert_ne!(sealed, x_str);
    assert!(!sealed.contains("PRIVATE KEY") && !sealed.contains("-----"), "PEM in clear");
    for bytes in [&der[..], seed, &x[..]] {
        for engine in [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD, &STANDARD_NO_PAD] {
            let enc = engine.encode(bytes);
            // A prefix long enough not to match by chance.
            assert!(!sealed.contains(&enc[..enc.len().min(24)]), "key material in clear: {sealed}");
        }
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!sealed.to_ascii_lowercase().contains(&hex[..32]), "key material as hex");
    }
    let raw = STANDARD.decode(sealed).expect("base64");
    for bytes in [&der[..], seed] {
        assert!(
            !raw.windows(16).any(|w| w == &bytes[bytes.len() - 16..]),
            "key bytes in clear in the column"
        );
    }
    assert!(!sealed.contains(x_str), "public x inside the sealed column");
}

async fn another_secret_cannot_use_the_keys(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let t = token(&app, &cookie).await;
    let kid = kid_of(&t);

    let stranger = app.sibling_with(Clock::default(), |s| {
        s.secret = Some(Secret::new("another-secret-another-secret-0123456789"));
    });
    let their_cookie = stranger.signed_up_cookie(&unique_email()).await;
    let res = stranger.get("/token", Some(&their_cookie)).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", res.text());
    let body = res.json();
    assert_eq!(body["code"], "INTERNAL_SERVER_ERROR", "{body}");
    assert!(body.get("token").is_none(), "{body}");
    assert!(!res.text().contains("decrypt") && !res.text().contains(&kid), "no detail leaks: {body}");

    // get-session still answers, without a JWT.
    let res = stranger.get("/get-session", Some(&their_cookie)).await;
    assert!(res.json()["session"].is_object(), "{}", res.text());
    assert!(res.header("set-auth-jwt").is_none());

    // It did not replace the key it could not open.
    let row = app.state.store.current_jwk().await.unwrap().unwrap();
    assert_eq!(row.id, kid);
    assert_eq!(kids(&jwks(&app).await), vec![kid.clone()]);
    assert_eq!(verify(&app, &t).await.status, StatusCode::OK);
    assert_eq!(kid_of(&token(&app, &cookie).await), kid);
}

async fn retired_key_outlives_the_minute_instances_may_still_use_it(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    app.get("/token", Some(&cookie)).await;
    let old_kid = app.state.store.current_jwk().await.unwrap().unwrap().id;
    app.state.jwt.rotate(app.state.store.as_ref(), app.clock().now_ms()).await.unwrap();
    app.clock().advance(Duration::from_secs(3600 + 30));
    let keys = app.get("/jwks", None).await.json();
    assert!(keys["keys"].as_array().unwrap().iter().any(|k| k["kid"] == old_kid.as_str()), "{keys}");
    app.clock().advance(Duration::from_secs(31));
    let keys = app.get("/jwks", None).await.json();
    assert!(!keys["keys"].as_array().unwrap().iter().any(|k| k["kid"] == old_kid.as_str()), "{keys}");
}

backend_tests!(
    token_requires_a_session,
    token_carries_the_session_claims,
    jwt_expiration_sets_the_lifetime,
    jwks_publishes_the_public_ed25519_key,
    rs256_keys_and_tokens,
    es256_keys_and_tokens,
    get_session_carries_a_jwt,
    get_session_jwt_can_be_turned_off,
    verify_token_accepts_a_valid_token,
    verify_token_needs_a_bearer_token,
    verify_token_refuses_forgeries,
    verify_token_refuses_another_issuer_or_audience,
    verify_token_refuses_a_future_nbf,
    verify_token_reports_expiry,
    verify_token_refuses_an_ended_session,
    rotation_keeps_old_tokens_valid_until_they_expire,
    concurrent_first_use_makes_one_key,
    concurrent_first_use_on_two_instances_makes_one_key,
    private_keys_are_sealed_at_rest,
    another_secret_cannot_use_the_keys,
    retired_key_outlives_the_minute_instances_may_still_use_it,
);
