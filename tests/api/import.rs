//! `gatehouse import better-auth`: a database written by a real Better Auth server (npm
//! `better-auth` 1.7.25 with its PostgreSQL adapter, `tests/import/seed.mjs`) copied into
//! Gatehouse on each backend. Old passwords sign in (and are re-hashed), bans and second factors
//! hold, organizations and members come along, a second run adds nothing, and sessions (with
//! `--with-sessions`) keep their cookies.

use std::path::Path;

use gatehouse::import::{Options, Summary, better_auth};
use serde_json::{Value, json};

use crate::{
    backend_tests,
    helpers::*,
    two_factor::{code_now, mid_step, two_factor_cookie},
};

/// Better Auth's secret, which the Gatehouse taking over uses too.
const SECRET: &str = "better-auth-secret-0123456789abcdef0123";

/// A Better Auth database in a fresh PostgreSQL schema, written by Better Auth: its URL, what the
/// seed made, and the schema to drop. `None` (reported as skipped) without PostgreSQL or the npm
/// packages.
async fn better_auth_database() -> Option<(String, Value, String)> {
    let Ok(base) = std::env::var("TEST_DATABASE_URL") else {
        skip("TEST_DATABASE_URL is not set: the Better Auth server that writes the source needs PostgreSQL");
        return None;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import");
    if !dir.join("node_modules/better-auth").exists() {
        skip("tests/import/node_modules is missing: run `npm ci --prefix tests/import`");
        return None;
    }
    let schema = format!("gh_test_ba_{}", gatehouse::security::tokens::random_hex(6));
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await.expect("postgres");
    let create = format!("CREATE SCHEMA \"{schema}\"");
    sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut conn).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let (seed, source) = (dir.join("seed.mjs"), url.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(seed)
            .env("DATABASE_URL", source)
            .env("BETTER_AUTH_SECRET", SECRET)
            .output()
    })
    .await
    .unwrap()
    .expect("node");
    assert!(out.status.success(), "seed.mjs: {}", String::from_utf8_lossy(&out.stderr));
    Some((url, serde_json::from_slice(&out.stdout).expect("the seed's JSON"), schema))
}

async fn drop_schema(schema: &str) {
    let base = std::env::var("TEST_DATABASE_URL").unwrap();
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await.unwrap();
    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
}

async fn import(app: &TestApp, url: &str, with_sessions: bool) -> Summary {
    let options = Options { with_sessions, app_id: None };
    let now = app.clock().now_ms();
    let mut seen = Vec::new();
    let summary = better_auth(
        app.state.store.as_ref(),
        &app.state.token_sealer,
        url,
        &options,
        now,
        &mut |table, done, total| seen.push((table.to_string(), done, total)),
    )
    .await
    .expect("import");
    assert!(seen.iter().any(|(t, done, total)| t == "users" && done == total && *total == 4), "{seen:?}");
    summary
}

fn counts(summary: &Summary, table: &str) -> (u64, u64, u64) {
    let t = summary.table(table).unwrap();
    (t.read, t.imported, t.present)
}

async fn a_better_auth_database_moves_over(backend: Backend) {
    let Some((url, seed, schema)) = better_auth_database().await else { return };
    let Some(app) = TestApp::with(backend, |s| s.secret = Some(gatehouse::config::Secret::new(SECRET))).await
    else {
        return drop_schema(&schema).await;
    };
    let first = import(&app, &url, false).await;
    assert_eq!(counts(&first, "users"), (4, 4, 0), "{first}");
    assert_eq!(counts(&first, "accounts"), (4, 4, 0), "{first}");
    assert_eq!(counts(&first, "organizations"), (1, 1, 0), "{first}");
    assert_eq!(counts(&first, "members"), (2, 2, 0), "{first}");
    assert_eq!(counts(&first, "invitations"), (1, 1, 0), "{first}");
    assert_eq!(counts(&first, "two-factor"), (1, 1, 0), "{first}");
    assert_eq!(first.table("sessions").unwrap().imported, 0, "sessions only when asked");
    assert_eq!(first.table("passkeys").unwrap().skipped.values().sum::<u64>(), 1, "{first}");
    assert!(first.to_string().contains("passkeys are not copied"), "{first}");

    // Old passwords work, and are re-hashed with argon2id on the way in.
    let password = seed["password"].as_str().unwrap();
    let owner = &seed["users"]["owner"];
    let res = app.sign_in("owner@example.com", password).await;
    let body = res.assert_ok();
    assert_eq!(body["user"]["id"], owner["id"]);
    assert_eq!(body["user"]["username"], "olive");
    let stored = app.state.store.credential_by_email("owner@example.com", "").await.unwrap().unwrap();
    let hash = stored.password_hash.unwrap_or_default();
    assert!(hash.starts_with("$argon2id$"), "re-hashed: {hash}");
    let cookie = app.cookie_of(&res);
    app.sign_in("owner@example.com", "not-the-password").await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");

    // The organization, its members and their roles.
    let list = app.get("/organization/list", Some(&cookie)).await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(
        (list[0]["id"].clone(), list[0]["slug"].clone()),
        (seed["organizationId"].clone(), json!("acme"))
    );
    let query = format!(
        "/organization/get-full-organization?organizationId={}",
        seed["organizationId"].as_str().unwrap()
    );
    let full = app.get(&query, Some(&cookie)).await.assert_ok();
    let mut roles: Vec<_> = full["members"].as_array().unwrap().iter().map(|m| m["role"].clone()).collect();
    roles.sort_by_key(Value::to_string);
    assert_eq!(roles, [json!("admin"), json!("owner")]);
    assert_eq!(full["invitations"][0]["email"], "invitee@example.com");

    // The ban holds; the second factor (sealed by Better Auth) is asked for and checks.
    rejected(&app.sign_in("banned@example.com", password).await, 403, "BANNED_USER");
    mid_step(&app);
    let res = app.sign_in("secured@example.com", password).await;
    assert_eq!(res.assert_ok()["twoFactorRedirect"], true);
    let challenge = two_factor_cookie(&app, &res);
    let code = code_now(&app, seed["totpSecret"].as_str().unwrap().as_bytes());
    let done = app.post("/two-factor/verify-totp", json!({"code": code}), Some(&challenge)).await;
    assert_eq!(done.assert_ok()["user"]["email"], "secured@example.com");

    // Again: nothing new; then with the sessions, whose Better Auth cookies keep working.
    let again = import(&app, &url, false).await;
    for table in ["users", "accounts", "organizations", "members", "invitations", "two-factor"] {
        let (read, imported, present) = counts(&again, table);
        assert_eq!((imported, present), (0, read), "{table}: {again}");
    }
    let with_sessions = import(&app, &url, true).await;
    // Every live one: the banned user's ended with the ban.
    assert_eq!(counts(&with_sessions, "sessions"), (3, 3, 0), "{with_sessions}");
    let ba_cookie = owner["cookie"].as_str().unwrap();
    let value = ba_cookie.split_once('=').unwrap().1;
    let session = app.session(&format!("{}={value}", app.state.session_cookie)).await;
    assert_eq!(session["user"]["email"], "owner@example.com", "the Better Auth cookie still signs in");
    // As a bearer value (Better Auth's bearer plugin hands out the signed value) too.
    let signed = value.replace("%2F", "/").replace("%2B", "+").replace("%3D", "=");
    let req =
        app.req(axum::http::Method::GET, "/get-session").header("authorization", format!("Bearer {signed}"));
    let res = app.send(req.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(res.json()["user"]["email"], "owner@example.com");
    let fresh = res.session_cookie(&app.state.session_cookie).expect("signed here from then on");
    assert_eq!(app.session(&fresh).await["user"]["email"], "owner@example.com");
    // And the raw token, as Better Auth's bearer plugin also takes it (another user's session).
    let raw = seed["users"]["member"]["token"].as_str().unwrap();
    let req =
        app.req(axum::http::Method::GET, "/get-session").header("authorization", format!("Bearer {raw}"));
    let res = app.send(req.body(axum::body::Body::empty()).unwrap()).await;
    assert_eq!(res.json()["user"]["email"], "member@example.com");
    let forged = format!("{}=x{value}", app.state.session_cookie);
    assert!(app.get("/get-session", Some(&forged)).await.json().is_null(), "a changed token is refused");
    // Into an app: the rows are here already, in the default space; nothing is moved or doubled.
    let shop = app.new_app("Shop", &["http://shop.example"]).await;
    let options = Options { with_sessions: false, app_id: Some(shop.id) };
    let elsewhere =
        better_auth(app.state.store.as_ref(), &app.state.token_sealer, &url, &options, 0, &mut |_, _, _| {})
            .await
            .unwrap();
    let users = elsewhere.table("users").unwrap();
    assert_eq!((users.imported, users.present), (0, 0), "{elsewhere}");
    assert_eq!(users.skipped.get("a row with its id is here in another app"), Some(&4), "{elsewhere}");
    drop_schema(&schema).await;
}

backend_tests!(a_better_auth_database_moves_over);
