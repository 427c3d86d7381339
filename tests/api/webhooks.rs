//! Outbound webhooks, delivered to a real HTTP receiver on loopback that refuses the first
//! attempts: each event arrives exactly once, in order per user, signed; a restart loses
//! nothing; a delivery that never succeeds is given up after the window and can be replayed.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use gatehouse::service::webhooks::{client, deliver_due, run};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{app, backend_tests, helpers::*};

const METRICS_TOKEN: &str = "metrics-test-token-0123456789";
const SECRET: &str = "whsec-test-0123456789abcdef0123456789";

/// What the receiver was sent, and how it answered.
#[derive(Debug, Clone)]
struct Received {
    body: Value,
    raw: String,
    signature: String,
    accepted: bool,
}

#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<Received>>,
    /// Requests still to refuse (503) before accepting.
    refuse: Mutex<usize>,
}

impl Receiver {
    /// A receiver on a loopback port, refusing the first `refuse` requests: its URL.
    async fn start(refuse: usize) -> (Arc<Self>, String) {
        let me = Arc::new(Self { refuse: Mutex::new(refuse), ..Self::default() });
        let router = Router::new().route("/hook", post(receive)).with_state(me.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (me, url)
    }

    fn refuse(&self, n: usize) {
        *self.refuse.lock().unwrap() = n;
    }

    fn seen(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// The events accepted, in the order they were.
    fn accepted(&self) -> Vec<Value> {
        self.seen().into_iter().filter(|r| r.accepted).map(|r| r.body).collect()
    }
}

async fn receive(State(me): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let raw = String::from_utf8(body.to_vec()).unwrap();
    let mut refuse = me.refuse.lock().unwrap();
    let accepted = *refuse == 0;
    *refuse = refuse.saturating_sub(1);
    me.seen.lock().unwrap().push(Received {
        body: serde_json::from_str(&raw).unwrap(),
        raw,
        signature: headers["gatehouse-signature"].to_str().unwrap().to_string(),
        accepted,
    });
    if accepted { StatusCode::NO_CONTENT } else { StatusCode::SERVICE_UNAVAILABLE }
}

/// When `r` was signed (`t`, Unix seconds).
fn signed_at(r: &Received) -> i64 {
    r.signature.strip_prefix("t=").and_then(|s| s.split(',').next()).unwrap().parse().unwrap()
}

/// Checks `r`'s signature as a receiver does: `v1` is HMAC-SHA256(secret, "t.body").
fn assert_signed(r: &Received, secret: &str) {
    let (t, v1) = r.signature.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", r.raw).as_bytes());
    mac.verify_slice(&hex::decode(v1).unwrap()).expect("the signature verifies");
}

fn metrics_request() -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get("/metrics")
        .header("authorization", format!("Bearer {METRICS_TOKEN}"))
        .body(axum::body::Body::empty())
        .unwrap()
}

async fn hooked(backend: Backend, url: &str) -> Option<TestApp> {
    let url = url.to_string();
    TestApp::with(backend, move |s| {
        s.webhooks.urls = vec![url];
        s.webhooks.secret = Some(gatehouse::config::Secret::new(SECRET));
        s.metrics_token = Some(gatehouse::config::Secret::new(METRICS_TOKEN));
    })
    .await
}

/// Runs delivery passes, moving the clock an hour after each (past any backoff), until a pass
/// finds nothing due; how many passes tried something.
async fn deliver_all(app: &TestApp) -> usize {
    let http = client(&app.state);
    let mut passes = 0;
    while deliver_due(&app.state, &http).await.unwrap() > 0 {
        passes += 1;
        app.clock().advance(HOUR);
        assert!(passes < 50, "delivery does not settle");
    }
    passes
}

/// Signs up, renames, signs in again, changes the password, signs out: the events' types.
async fn account_story(app: &TestApp, email: &str) -> Vec<&'static str> {
    let cookie = app.signed_up_cookie(email).await;
    app.post("/update-user", json!({"name": "Renamed"}), Some(&cookie)).await.assert_ok();
    let second = app.cookie_of(&app.sign_in(email, PASSWORD).await);
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
    app.post("/change-password", body, Some(&second)).await.assert_ok();
    app.post("/sign-out", json!({}), Some(&second)).await.assert_ok();
    vec!["user.created", "user.updated", "session.created", "password.changed", "session.revoked"]
}

async fn every_event_arrives_once_in_order_and_signed(backend: Backend) {
    let (receiver, url) = Receiver::start(3).await;
    let Some(app) = hooked(backend, &url).await else { return };
    let (alice, bob) = (unique_email(), unique_email());
    let alice_types = account_story(&app, &alice).await;
    let bob_types = account_story(&app, &bob).await;
    deliver_all(&app).await;

    let accepted = receiver.accepted();
    let ids: Vec<_> = accepted.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no event accepted twice: {ids:?}");
    assert_eq!(accepted.len(), alice_types.len() + bob_types.len(), "{accepted:#?}");
    // Refused attempts were retried: the receiver saw more requests than events.
    assert_eq!(receiver.seen().len(), accepted.len() + 3);
    for (email, types) in [(&alice, alice_types), (&bob, bob_types)] {
        let theirs: Vec<_> = accepted.iter().filter(|e| e["data"]["user"]["email"] == **email).collect();
        let got: Vec<_> = theirs.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(got, types, "in order per user");
        let user_id = theirs[0]["data"]["userId"].clone();
        assert!(theirs.iter().all(|e| e["data"]["userId"] == user_id));
        assert_iso_ms(&theirs[0]["createdAt"]);
    }
    let renamed = accepted.iter().find(|e| e["type"] == "user.updated").unwrap();
    assert_eq!(renamed["data"]["user"]["name"], "Renamed", "the user as after the change");
    assert_eq!(renamed["data"]["details"]["fields"], json!(["name"]));
    // Each attempt is signed at its own time on the sender's clock (moved an hour per pass).
    let seen = receiver.seen();
    let times: Vec<_> = seen.iter().map(signed_at).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        times[0] * 1000 >= app.clock().now_ms() - 50 * 3_600_000
            && *times.last().unwrap() * 1000 <= app.clock().now_ms()
    );
    assert_ne!(times.first(), times.last(), "a retry is signed anew");
    for r in &seen {
        assert_signed(r, SECRET);
    }
    let forged = Received { raw: seen[0].raw.replace("user.", "usr."), ..seen[0].clone() };
    let refused = std::panic::catch_unwind(|| assert_signed(&forged, SECRET));
    assert!(refused.is_err(), "a changed body does not verify");
}

async fn a_failed_change_sends_nothing_and_no_endpoint_writes_nothing(backend: Backend) {
    let (receiver, url) = Receiver::start(0).await;
    let Some(app) = hooked(backend, &url).await else { return };
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    // Refused: the address is taken; a wrong password changes nothing either.
    app.sign_up(&email).await.assert_error(409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    app.sign_in(&email, "wrong-password-1").await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    deliver_all(&app).await;
    let types: Vec<_> = receiver.accepted().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(types, [json!("user.created")]);

    let quiet = app!(backend);
    quiet.signed_up_cookie(&unique_email()).await;
    assert!(quiet.state.store.webhook_deliveries(None, 10).await.unwrap().is_empty());
}

async fn a_restart_midway_loses_nothing(backend: Backend) {
    // The receiver is down at first: every attempt is refused.
    let (receiver, url) = Receiver::start(usize::MAX).await;
    let Some(first) = hooked(backend, &url).await else { return };
    let worker = tokio::spawn(run(first.state.clone()));
    let email = unique_email();
    let types = account_story(&first, &email).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while receiver.seen().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the running worker tries the first event");
    // The process dies mid-way (its lease on the attempt in flight simply runs out).
    worker.abort();
    let _ = worker.await;
    receiver.refuse(0);
    let second = first.sibling(|_| {});
    second.clock().advance(Duration::from_secs(60));
    deliver_all(&second).await;
    let accepted = receiver.accepted();
    let got: Vec<_> = accepted.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(got, types, "each once, in order");
}

async fn given_up_after_the_window_then_replayed(backend: Backend) {
    let (receiver, url) = Receiver::start(usize::MAX).await;
    let Some(app) = hooked(backend, &url).await else { return };
    app.signed_up_cookie(&unique_email()).await;
    let passes = deliver_all(&app).await;
    // Backoff doubles from 10 s up to an hour, within 24 hours.
    assert!((10..=30).contains(&passes), "{passes} attempts");
    let failed = app.state.store.webhook_deliveries(Some("failed"), 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts as usize, passes);
    assert_eq!(failed[0].last_status, Some(503));
    let metrics = app.send(metrics_request()).await.text();
    assert!(metrics.contains("gatehouse_webhooks_failed 1"), "{metrics}");
    assert!(metrics.contains("gatehouse_webhook_attempts_total{outcome=\"failed\"} 1"), "{metrics}");
    let retried = format!("gatehouse_webhook_attempts_total{{outcome=\"retrying\"}} {}", passes - 1);
    assert!(metrics.contains(&retried), "{metrics}");

    receiver.refuse(0);
    let replayed = app.state.store.replay_webhook(&failed[0].event_id, app.clock().now_ms()).await.unwrap();
    assert_eq!(replayed, 1);
    deliver_all(&app).await;
    assert_eq!(receiver.accepted().len(), 1);
    let delivered = app.state.store.webhook_deliveries(Some("delivered"), 10).await.unwrap();
    assert_eq!((delivered.len(), delivered[0].last_status), (1, Some(204)));
}

async fn an_apps_events_go_to_its_own_endpoints(backend: Backend) {
    let (server_hook, server_url) = Receiver::start(0).await;
    let (app_hook, app_url) = Receiver::start(0).await;
    let Some(app) = hooked(backend, &server_url).await else { return };
    let key = app.new_app("Shop", &["http://shop.example"]).await;
    let mut row = app.state.store.app(&key.id).await.unwrap().unwrap();
    row.set("WEBHOOK_URLS", &app_url).unwrap();
    row.set("WEBHOOK_SECRET", "shop-secret-0123456789abcdef").unwrap();
    app.state.store.update_app(&row).await.unwrap();
    app.reload_apps().await;
    app.signed_up_in(&key.key, &unique_email()).await;
    app.signed_up_cookie(&unique_email()).await;
    deliver_all(&app).await;
    let of = |r: &Receiver| r.accepted().iter().map(|e| e["data"]["appId"].clone()).collect::<Vec<_>>();
    assert_eq!(of(&app_hook)[0], json!(key.id));
    assert!(of(&app_hook).iter().all(|a| *a == json!(key.id)));
    assert!(of(&server_hook).iter().all(Value::is_null), "the server's endpoint gets no app event");
    assert_signed(&app_hook.seen()[0], "shop-secret-0123456789abcdef");
}

async fn members_removed_are_theirs_and_replays_wait_for_attempts(backend: Backend) {
    let (receiver, url) = Receiver::start(0).await;
    let Some(app) = hooked(backend, &url).await else { return };
    let (owner, owner_email, org) = org::founder(&app).await;
    let (_, member_email, member_id) = org::add_member(&app, &owner, "member").await;
    org::remove(&app, &owner, Some(&org["id"]), &member_id).await.assert_ok();
    deliver_all(&app).await;
    let members: Vec<_> = receiver
        .accepted()
        .into_iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("organization.member."))
        .map(|e| (e["type"].as_str().unwrap().to_string(), e["data"]["user"]["email"].clone()))
        .collect();
    let added = "organization.member.added".to_string();
    let removed = "organization.member.removed".to_string();
    // The founder joins by creating it; the member joins, then is removed (by the founder).
    assert_eq!(
        members,
        [(added.clone(), json!(owner_email)), (added, json!(member_email)), (removed, json!(member_email))]
    );

    // A delivery being tried is not replayed under it, and a late answer to an attempt whose
    // lease is gone changes nothing.
    app.sign_in(&owner_email, PASSWORD).await.assert_ok();
    let now = app.clock().now_ms();
    let claimed = app.state.store.claim_webhooks(now, now + 60_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(app.state.store.replay_webhook(&claimed[0].id, now).await.unwrap(), 0);
    let stale = gatehouse::store::webhooks::Delivery { lease_until: now + 1, ..claimed[0].clone() };
    let late = gatehouse::store::webhooks::Attempt::Delivered { status: 200 };
    app.state.store.webhook_attempted(&stale, now, &late).await.unwrap();
    let pending = app.state.store.webhook_deliveries(Some("pending"), 10).await.unwrap();
    assert_eq!(pending.len(), 1, "still pending: the late answer was not its lease's");
}

async fn an_endpoint_no_longer_configured_is_given_up(backend: Backend) {
    let (receiver, url) = Receiver::start(0).await;
    let Some(app) = hooked(backend, &url).await else { return };
    app.signed_up_cookie(&unique_email()).await;
    // Restarted without it: the delivery is not sent anywhere, nor signed with another secret.
    let restarted = app.sibling(|s| s.webhooks.urls = vec!["http://127.0.0.1:9/other".into()]);
    assert_eq!(deliver_all(&restarted).await, 1, "one attempt, then given up");
    assert!(receiver.seen().is_empty());
    let failed = app.state.store.webhook_deliveries(Some("failed"), 10).await.unwrap();
    assert_eq!(failed[0].last_error.as_deref(), Some("the endpoint is no longer configured"));
}

backend_tests!(
    members_removed_are_theirs_and_replays_wait_for_attempts,
    an_endpoint_no_longer_configured_is_given_up,
    every_event_arrives_once_in_order_and_signed,
    a_failed_change_sends_nothing_and_no_endpoint_writes_nothing,
    a_restart_midway_loses_nothing,
    given_up_after_the_window_then_replayed,
    an_apps_events_go_to_its_own_endpoints,
);
