//! The database away: requests are answered 503 with `Retry-After`, never 500, and everything
//! answers again once it is back. PostgreSQL is reached through a TCP relay the test cuts.

use std::{str::FromStr, sync::Arc, time::Duration};

use gatehouse::store::{PostgresStore, StoreOptions};
use serde_json::json;
use sqlx::postgres::PgConnectOptions;
use tokio::{
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};

use crate::helpers::*;

/// Relays every connection `listener` takes to `target`. Aborting the task closes them all.
fn relay(listener: TcpListener, target: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            connections.spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

#[tokio::test]
async fn database_away_is_503_with_retry_after_and_then_back() {
    let Some(app) = TestApp::new(Backend::Postgres).await else { return };
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;

    let url = std::env::var("TEST_DATABASE_URL").expect("set for PostgreSQL runs");
    let direct = PgConnectOptions::from_str(&url).expect("url");
    let target = format!("{}:{}", direct.get_host(), direct.get_port());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut relaying = relay(listener, target.clone());
    let options =
        direct.host("127.0.0.1").port(port).options([("search_path", app.pg_schema().expect("pg"))]);
    let opts = StoreOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_millis(500),
        // Off, so every request needs the database.
        session_cache: false,
        ..StoreOptions::default()
    };
    let store = PostgresStore::connect_with(options, opts).await.expect("through the relay");
    let server = TestApp::over(Arc::new(store));
    let before = server.get("/get-session", Some(&cookie)).await.assert_ok();
    assert_eq!(before["user"]["email"], email.as_str());

    relaying.abort();
    let _ = relaying.await;
    for _ in 0..3 {
        let away = server.get("/get-session", Some(&cookie)).await;
        away.assert_error(503, "SERVICE_UNAVAILABLE");
        assert_eq!(away.header("retry-after"), Some("2"));
        assert!(!away.text().contains("database"), "nothing internal leaks: {}", away.text());
    }
    let sign_in = server.post("/sign-in/email", json!({"email": email, "password": PASSWORD}), None).await;
    sign_in.assert_error(503, "SERVICE_UNAVAILABLE");

    relaying = relay(TcpListener::bind(("127.0.0.1", port)).await.expect("rebind"), target);
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let res = server.get("/get-session", Some(&cookie)).await;
        statuses.push(res.status.as_u16());
        if res.status == 200 {
            assert_eq!(res.json()["user"]["email"], email.as_str());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(statuses.last(), Some(&200), "never back: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "only 503s while it came back: {statuses:?}");
    relaying.abort();
}
