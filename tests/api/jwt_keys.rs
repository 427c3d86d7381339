//! JWT signing keys: rotation (old keys published until their tokens expire, picked up by other
//! instances within a minute), one key however many requests or instances race to make the
//! first, private keys sealed at rest, and a server with another secret unable to use them.

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD},
};
use gatehouse::{config::Secret, domain::time::Clock, jwt::keys::SigningAlg};
use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::{
    app, backend_tests,
    helpers::{jwt::*, *},
};

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

backend_tests!(
    rotation_keeps_old_tokens_valid_until_they_expire,
    retired_key_outlives_the_minute_instances_may_still_use_it,
    concurrent_first_use_makes_one_key,
    concurrent_first_use_on_two_instances_makes_one_key,
    private_keys_are_sealed_at_rest,
    another_secret_cannot_use_the_keys,
);
