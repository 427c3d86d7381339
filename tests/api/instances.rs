//! Several instances on one PostgreSQL database: each caches sessions in process, and a change
//! made through one instance reaches the others' caches (LISTEN/NOTIFY).

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_on_one_instance_ends_the_session_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let cookie = a.signed_up_cookie(&unique_email()).await;
    // Both instances have the session cached now.
    for app in [&a, &b] {
        assert!(app.get("/get-session", Some(&cookie)).await.json()["session"].is_object());
    }
    assert_eq!(a.post("/sign-out", json!({}), Some(&cookie)).await.json(), json!({"success": true}));
    assert!(
        a.get("/get-session", Some(&cookie)).await.json().is_null(),
        "at once on the instance that did it"
    );
    let took = until_session(&b, &cookie, Value::is_null).await;
    eprintln!("revocation reached the other instance in {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_changes_on_one_instance_show_on_the_other() {
    let Some((a, b)) = two_instances().await else { return };
    let cookie = a.signed_up_cookie(&unique_email()).await;
    assert_eq!(b.get("/get-session", Some(&cookie)).await.json()["user"]["name"], "Test User");
    let res = a.post("/update-user", json!({"name": "Renamed"}), Some(&cookie)).await;
    assert_eq!(res.json(), json!({"status": true}));
    until_session(&b, &cookie, |body| body["user"]["name"] == "Renamed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_other_sessions_reaches_the_other_instance() {
    let Some((a, b)) = two_instances().await else { return };
    let email = unique_email();
    let keep = a.signed_up_cookie(&email).await;
    let gone = b.sign_in(&email, PASSWORD).await.session_cookie(&b.state.session_cookie).unwrap();
    assert!(b.get("/get-session", Some(&gone)).await.json()["session"].is_object());
    a.post("/revoke-other-sessions", json!({}), Some(&keep)).await;
    until_session(&b, &gone, Value::is_null).await;
    assert!(b.get("/get-session", Some(&keep)).await.json()["session"].is_object());
}
