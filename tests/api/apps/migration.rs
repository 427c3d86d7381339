//! Migration 0010 on a populated database, on both backends: every user, session, account,
//! organization and refresh token survives (on SQLite the tables are rebuilt, which must not
//! cascade), foreign keys still hold, and uniqueness is now per app.

use std::{path::Path, str::FromStr, sync::Arc};

use gatehouse::{
    config::Argon2Params,
    security::password::PasswordHasher,
    store::{Maintenance, PostgresStore, SqliteStore, Store, StoreOptions},
};
use serde_json::json;
use sqlx::migrate::Migrator;

use crate::helpers::*;

/// Migrations before apps.
async fn before_apps(dir: &str) -> Migrator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
    let mut migrator = Migrator::new(path).await.expect("migrations");
    migrator.migrations =
        migrator.migrations.iter().filter(|m| m.version < 10).cloned().collect::<Vec<_>>().into();
    migrator
}

/// The rows a server had before apps: two users (one with a password, a session, a refresh
/// token and an organization; one signed up with a provider).
fn rows(hash: &str, token: &str, now: i64) -> Vec<String> {
    let later = now + 86_400_000;
    vec![
        format!(
            r#"INSERT INTO "user" ("id","name","email","emailVerified","createdAt","updatedAt","username","displayUsername")
                   VALUES ('u1','Ann','ann@example.com',TRUE,{now},{now},'ann','Ann')"#
        ),
        format!(
            r#"INSERT INTO "user" ("id","name","email","emailVerified","createdAt","updatedAt")
                   VALUES ('u2','Bob','bob@example.com',TRUE,{now},{now})"#
        ),
        format!(
            r#"INSERT INTO "account" ("id","accountId","providerId","userId","password","createdAt","updatedAt")
                   VALUES ('a1','u1','credential','u1','{hash}',{now},{now})"#
        ),
        format!(
            r#"INSERT INTO "account" ("id","accountId","providerId","userId","createdAt","updatedAt")
                   VALUES ('a2','g-123','google','u2',{now},{now})"#
        ),
        format!(
            r#"INSERT INTO "session" ("id","token","userId","expiresAt","createdAt","updatedAt")
                   VALUES ('s1','{token}','u1',{later},{now},{now})"#
        ),
        format!(
            r#"INSERT INTO "refreshToken" ("id","familyId","tokenHash","sessionId","userId","createdAt","expiresAt")
                   VALUES ('r1','r1','h1','s1','u1',{now},{later})"#
        ),
        format!(
            r#"INSERT INTO "organization" ("id","name","slug","createdAt") VALUES ('o1','Acme','acme',{now})"#
        ),
        format!(
            r#"INSERT INTO "member" ("id","organizationId","userId","role","createdAt")
                   VALUES ('m1','o1','u1','owner',{now})"#
        ),
    ]
}

async fn populated_database_survives_the_apps_migration(backend: Backend) {
    let hasher =
        PasswordHasher::new(Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 }, 1).unwrap();
    let hash = hasher.hash(PASSWORD).await.unwrap();
    let now = gatehouse::domain::time::Clock::default().now_ms();
    // A session token as the session layer draws them.
    let token = tower_sessions::session::Id::default().to_string();
    let (store, cleanup): (Arc<dyn Store>, Box<dyn FnOnce() + Send>) = match backend {
        Backend::Sqlite => {
            let file = std::env::temp_dir()
                .join(format!("gh-migrate-{}.db", gatehouse::security::tokens::random_hex(6)));
            let url = format!("sqlite://{}", file.display());
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            before_apps("sqlite").await.run(&pool).await.unwrap();
            for sql in rows(&hash, &token, now) {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
            }
            pool.close().await;
            let store = SqliteStore::connect(&url, StoreOptions::with_pool(4)).await.unwrap();
            store.migrate().await.expect("0010 on a populated SQLite database");
            // Foreign keys are on again, and nothing dangles.
            let check = sqlx::SqlitePool::connect(&url).await.unwrap();
            let dangling: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
                .fetch_all(&check)
                .await
                .unwrap();
            assert!(dangling.is_empty(), "{dangling:?}");
            check.close().await;
            let cleanup = move || {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            };
            (Arc::new(store), Box::new(cleanup))
        }
        Backend::Postgres => {
            let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
                skip("TEST_DATABASE_URL is not set, so the PostgreSQL run of this test is skipped");
                return;
            };
            let schema = format!("gh_migrate_{}", gatehouse::security::tokens::random_hex(6));
            let admin = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                .execute(&admin)
                .await
                .unwrap();
            let options =
                sqlx::postgres::PgConnectOptions::from_str(&url).unwrap().options([("search_path", &schema)]);
            let pool = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
            before_apps("postgres").await.run(&pool).await.unwrap();
            for sql in rows(&hash, &token, now) {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await.unwrap();
            }
            pool.close().await;
            let store = PostgresStore::connect_with(options, StoreOptions::with_pool(4)).await.unwrap();
            store.migrate().await.expect("0010 on a populated PostgreSQL database");
            let cleanup = move || {
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        let drop = format!("DROP SCHEMA \"{schema}\" CASCADE");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&admin).await;
                    });
                })
                .join();
            };
            (Arc::new(store), Box::new(cleanup))
        }
    };
    let app = TestApp::over(store.clone());
    // The session (by bearer), its user and their password work as before.
    assert_eq!(bearer_session(&app, &token).await["user"]["email"], "ann@example.com");
    app.sign_in("ann@example.com", PASSWORD).await.assert_ok();
    let res = app.post("/sign-in/username", json!({"username": "ann", "password": PASSWORD}), None).await;
    res.assert_ok();
    assert!(store.refresh_token("h1").await.unwrap().is_some());
    assert_eq!(store.account("google", "g-123", "").await.unwrap().expect("provider account").user_id, "u2");
    let org = store.organization("acme", "").await.unwrap().expect("organization");
    assert_eq!(store.membership(&org.id, "u1").await.unwrap().expect("member").role, "owner");
    // The default space is still unique by address; an app may have the same one.
    rejected(&app.sign_up("ann@example.com").await, 409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let alpha = app.new_app("Alpha", &[]).await;
    app.signed_up_in(&alpha.key, "ann@example.com").await;
    // Foreign keys still cascade: deleting the user takes the session and the refresh token.
    store.delete_user("u1").await.unwrap().unwrap();
    assert!(bearer_session(&app, &token).await.is_null());
    assert!(store.refresh_token("h1").await.unwrap().is_none());
    assert!(store.membership(&org.id, "u1").await.unwrap().is_none());
    drop(app);
    cleanup();
}

/// get-session with the token as a bearer.
async fn bearer_session(app: &TestApp, token: &str) -> serde_json::Value {
    let req = app
        .req(axum::http::Method::GET, "/get-session")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    app.send(req).await.assert_ok()
}

crate::backend_tests!(populated_database_survives_the_apps_migration);
