//! The database away: requests are answered 503 with `Retry-After`, never 500, and everything
//! answers again once it is back. PostgreSQL is reached through a TCP relay the test cuts; SQLite's
//! write lock is held by another connection.

use std::{str::FromStr, sync::Arc, time::Duration};

use gatehouse::store::{PostgresStore, StoreOptions};
use serde_json::json;
use sqlx::{Connection, SqliteConnection, postgres::PgConnectOptions};
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
    // Sign-out too (it fails reading the session, before the session layer writes anything;
    // the layer's own writes are the SQLite test below).
    let sign_out = server.post("/sign-out", json!({}), Some(&cookie)).await;
    sign_out.assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(sign_out.header("retry-after"), Some("2"));

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

/// A change the session layer itself saves (here a session's sliding refresh, read from the cache)
/// while SQLite's write lock is held elsewhere past the busy timeout: 503 with `Retry-After`, not
/// the layer's bare 500, and the refresh is saved once the lock is gone.
#[tokio::test]
async fn a_refresh_saved_while_sqlite_is_locked_is_503() {
    let Some(app) = TestApp::with(Backend::Sqlite, |s| s.sessions.update_age = Duration::from_secs(1)).await
    else {
        return;
    };
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let before = app.get("/get-session", Some(&cookie)).await.assert_ok();
    app.clock().advance(Duration::from_secs(2));

    let file = app.sqlite_file().expect("sqlite").display().to_string();
    let mut other = SqliteConnection::connect(&format!("sqlite://{file}")).await.expect("second connection");
    sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.expect("write lock");
    let locked = app.get("/get-session", Some(&cookie)).await;
    locked.assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(locked.header("retry-after"), Some("2"));
    sqlx::query("ROLLBACK").execute(&mut other).await.expect("unlock");

    let after = app.get("/get-session", Some(&cookie)).await;
    let body = after.assert_ok();
    assert_ne!(body["session"]["expiresAt"], before["session"]["expiresAt"], "refreshed: {body}");
    assert!(after.session_cookie(&app.state.session_cookie).is_some(), "cookie re-set");
}
