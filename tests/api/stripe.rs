//! Subscriptions: the Stripe webhook (payloads signed here exactly as Stripe signs them) and the
//! subscription lookup on sign-in, get-session and JWTs.

use axum::{
    body::Body,
    http::{Method, StatusCode},
};
use gatehouse::config::Secret;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{app, backend_tests, helpers::*};

const SECRET: &str = "whsec_test_secret";

fn signature(secret: &str, t: i64, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

async fn deliver(app: &TestApp, event: &Value, header: Option<String>) -> TestResponse {
    let payload = event.to_string();
    let t = app.clock().now_ms() / 1000;
    let header = header.unwrap_or_else(|| signature(SECRET, t, &payload));
    let req = app
        .req(Method::POST, "/stripe/webhook")
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(Body::from(payload))
        .unwrap();
    app.send(req).await
}

fn event(id: &str, kind: &str, reference: &str, status: &str, period_end_secs: i64) -> Value {
    json!({
        "id": id,
        "type": kind,
        "data": {"object": {
            "id": "sub_123",
            "object": "subscription",
            "customer": "cus_9",
            "status": status,
            "cancel_at_period_end": false,
            "current_period_start": period_end_secs - 30 * 86_400,
            "current_period_end": period_end_secs,
            "metadata": {"referenceId": reference},
            "items": {"data": [{"quantity": 3, "price": {"lookup_key": "pro", "product": "prod_1"}}]},
        }}
    })
}

async fn subscription_of(app: &TestApp, cookie: &str) -> Value {
    app.get("/get-session?disableCookieCache=true", Some(cookie)).await.json()["subscription"].clone()
}

async fn webhook_keeps_the_subscription_current(backend: Backend) {
    let app = app!(backend, |s| s.stripe_webhook_secret = Some(Secret::new(SECRET)));
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let user_id =
        app.get("/get-session", Some(&cookie)).await.json()["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(subscription_of(&app, &cookie).await["isSubscribed"], false);
    let period_end = app.clock().now_ms() / 1000 + 30 * 86_400;

    let res =
        deliver(&app, &event("evt_1", "customer.subscription.created", &user_id, "active", period_end), None)
            .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let sub = subscription_of(&app, &cookie).await;
    assert_eq!(sub["isSubscribed"], true, "{sub}");
    assert_eq!(sub["productId"], "pro");
    assert_eq!(sub["status"], "active");
    assert_eq!(
        gatehouse::domain::time::parse_ms(sub["periodEnd"].as_str().unwrap()),
        Some(period_end * 1000)
    );
    // Sign-in reports it, and JWTs carry the plan.
    let signed_in = app.sign_in(&email, PASSWORD).await.json();
    assert_eq!(signed_in["subscription"]["isSubscribed"], true);
    let token = app.get("/token", Some(&cookie)).await.json()["token"].as_str().unwrap().to_string();
    let claims = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap())
            .unwrap();
    assert_eq!(claims["plan"], "pro");

    let res = deliver(
        &app,
        &event("evt_2", "customer.subscription.updated", &user_id, "past_due", period_end),
        None,
    )
    .await;
    assert_eq!(res.status, StatusCode::OK);
    let sub = subscription_of(&app, &cookie).await;
    assert_eq!((sub["isSubscribed"].clone(), sub["status"].clone()), (json!(false), json!("past_due")));

    // A replayed event changes nothing.
    let res =
        deliver(&app, &event("evt_1", "customer.subscription.created", &user_id, "active", period_end), None)
            .await;
    assert_eq!(res.json()["duplicate"], true);
    assert_eq!(subscription_of(&app, &cookie).await["status"], "past_due");

    let res =
        deliver(&app, &event("evt_3", "customer.subscription.deleted", &user_id, "active", period_end), None)
            .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(subscription_of(&app, &cookie).await["status"], "canceled");
}

async fn a_period_that_ended_is_not_subscribed(backend: Backend) {
    let app = app!(backend, |s| s.stripe_webhook_secret = Some(Secret::new(SECRET)));
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let user_id =
        app.get("/get-session", Some(&cookie)).await.json()["user"]["id"].as_str().unwrap().to_string();
    let period_end = app.clock().now_ms() / 1000 + 3600;
    deliver(&app, &event("evt_a", "customer.subscription.created", &user_id, "trialing", period_end), None)
        .await;
    assert_eq!(subscription_of(&app, &cookie).await["isSubscribed"], true);
    app.clock().advance(std::time::Duration::from_secs(7200));
    // (The cached session entry expires with the TTL; a refreshed lookup sees the ended period.)
    app.clock().advance(std::time::Duration::from_secs(60));
    assert_eq!(subscription_of(&app, &cookie).await["isSubscribed"], false);
}

async fn bad_signatures_store_nothing(backend: Backend) {
    let app = app!(backend, |s| s.stripe_webhook_secret = Some(Secret::new(SECRET)));
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let user_id =
        app.get("/get-session", Some(&cookie)).await.json()["user"]["id"].as_str().unwrap().to_string();
    let ev = event("evt_bad", "customer.subscription.created", &user_id, "active", 4_000_000_000);
    let payload = ev.to_string();
    let now = app.clock().now_ms() / 1000;
    for header in [
        Some(signature("whsec_wrong", now, &payload)),
        Some(signature(SECRET, now - 301, &payload)),
        Some(signature(SECRET, now + 301, &payload)),
        Some("t=abc,v1=00".to_string()),
        Some(String::new()),
    ] {
        deliver(&app, &ev, header).await.assert_error(400, "INVALID_SIGNATURE");
    }
    assert_eq!(subscription_of(&app, &cookie).await["isSubscribed"], false);
    // Several v1 values: one right one suffices.
    let good = signature(SECRET, now, &payload);
    let several = format!("{good},v1=0000,v0=ffff");
    assert_eq!(deliver(&app, &ev, Some(several)).await.status, StatusCode::OK);
    assert_eq!(subscription_of(&app, &cookie).await["isSubscribed"], true);
}

async fn unknown_types_are_acknowledged_and_malformed_json_refused(backend: Backend) {
    let app = app!(backend, |s| s.stripe_webhook_secret = Some(Secret::new(SECRET)));
    let res =
        deliver(&app, &json!({"id": "evt_x", "type": "invoice.paid", "data": {"object": {}}}), None).await;
    assert_eq!(res.json(), json!({"received": true}));
    let t = app.clock().now_ms() / 1000;
    let req = app
        .req(Method::POST, "/stripe/webhook")
        .header("stripe-signature", signature(SECRET, t, "{not json"))
        .body(Body::from("{not json"))
        .unwrap();
    app.send(req).await.assert_error(400, "VALIDATION_ERROR");
}

async fn late_events_do_not_overwrite_newer_state(backend: Backend) {
    let app = app!(backend, |s| s.stripe_webhook_secret = Some(Secret::new(SECRET)));
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let user_id =
        app.get("/get-session", Some(&cookie)).await.json()["user"]["id"].as_str().unwrap().to_string();
    let t = app.clock().now_ms() / 1000;
    let end = t + 30 * 86_400;
    let at = |mut ev: Value, created: i64| {
        ev["created"] = json!(created);
        ev
    };
    let updated = at(event("evt_u", "customer.subscription.updated", &user_id, "active", end), t + 10);
    assert_eq!(deliver(&app, &updated, None).await.status, StatusCode::OK);
    // The `created` event arrives late: it must not take the customer back to `incomplete`.
    let created = at(event("evt_c", "customer.subscription.created", &user_id, "incomplete", end), t);
    assert_eq!(deliver(&app, &created, None).await.status, StatusCode::OK);
    assert_eq!(subscription_of(&app, &cookie).await["status"], "active");
    // Canceled is final for that subscription, even against a retried older or newer update.
    let deleted = at(event("evt_d", "customer.subscription.deleted", &user_id, "active", end), t + 20);
    deliver(&app, &deleted, None).await;
    let retried = at(event("evt_r", "customer.subscription.updated", &user_id, "active", end), t + 30);
    deliver(&app, &retried, None).await;
    let sub = subscription_of(&app, &cookie).await;
    assert_eq!((sub["status"].clone(), sub["isSubscribed"].clone()), (json!("canceled"), json!(false)));
}

async fn webhook_without_a_secret_refuses(backend: Backend) {
    let app = app!(backend);
    let res = deliver(&app, &json!({"id": "evt", "type": "customer.subscription.created"}), None).await;
    res.assert_error(400, "INVALID_SIGNATURE");
}

backend_tests!(
    webhook_keeps_the_subscription_current,
    a_period_that_ended_is_not_subscribed,
    bad_signatures_store_nothing,
    unknown_types_are_acknowledged_and_malformed_json_refused,
    late_events_do_not_overwrite_newer_state,
    webhook_without_a_secret_refuses,
);
