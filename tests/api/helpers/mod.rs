//! Test harness: a fresh Gatehouse (router in-process) on a fresh database per test, on SQLite
//! always and on PostgreSQL when `TEST_DATABASE_URL` is set (a new schema per test).
//!
//! Long: the one place for what the test files share (the app and its requests, mail, refusals,
//! client addresses, limits and Redis, organizations, JWTs), so that none keeps a private copy.
pub mod apps;
mod db;
pub mod github;
pub mod oidc;
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use gatehouse::{
    AppState,
    config::{Argon2Params, Secret, Settings},
    domain::time::Clock,
    security::counters::Mode,
    store::{PostgresStore, SqliteStore, Store, StoreOptions},
};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const BASE: &str = "http://127.0.0.1:3000";
pub const ORIGIN: &str = "http://127.0.0.1:3000";
pub const PASSWORD: &str = "correct-horse-battery";
pub const NEW_PASSWORD: &str = "brand-new-password-42";
/// Every link in mail starts here (the configured base URL and base path).
pub const LINK_BASE: &str = "http://127.0.0.1:3000/api/auth";
pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    sqlite_file: Option<PathBuf>,
    pg_schema: Option<String>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.state.settings.mail.outbox_path);
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
        if let (Some(schema), Ok(url)) = (self.pg_schema.take(), std::env::var("TEST_DATABASE_URL")) {
            // Drop is synchronous: use a small runtime on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                    let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()
                })
            })
            .join();
        }
    }
}

/// Reports this test as skipped (a service it needs is not configured) on a line of its own in
/// `cargo test`'s output: `skipped: <test name>: <why>`. The harness captures `eprintln!` of
/// passing tests, so this writes to the process's standard error directly; the test then
/// returns early and is counted as passed.
pub fn skip(why: &str) {
    use std::io::Write;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    let _ = writeln!(std::io::stderr().lock(), "skipped: {test}: {why}");
}

/// Settings for tests: cheap argon2 (the default parameters have a test of their own).
pub fn test_settings() -> Settings {
    let mut s = Settings::for_base_url(BASE);
    s.secret = Some(Secret::new("test-secret-test-secret-test-secret-0123"));
    s.passwords.argon2 = Argon2Params { memory_kib: 256, iterations: 1, parallelism: 1 };
    s.mail.templates_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("email-templates");
    // Limits have tests of their own; elsewhere they would only make tests depend on each other.
    s.limits.enabled = false;
    s.mail.outbox_path = std::env::temp_dir()
        .join(format!("gatehouse-outbox-{}.jsonl", gatehouse::security::tokens::random_hex(8)));
    s
}

impl TestApp {
    /// A fresh app, or `None` (with a message) when the backend is not configured here.
    pub async fn new(backend: Backend) -> Option<Self> {
        Self::with(backend, |_| {}).await
    }

    pub async fn with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<Self> {
        let mut settings = test_settings();
        tweak(&mut settings);
        let (store, sqlite_file, pg_schema) = match backend {
            Backend::Sqlite => {
                let file = std::env::temp_dir()
                    .join(format!("gatehouse-test-{}.db", gatehouse::security::tokens::random_hex(8)));
                let store =
                    SqliteStore::connect(&format!("sqlite://{}", file.display()), StoreOptions::with_pool(4))
                        .await
                        .expect("sqlite");
                (Arc::new(store) as Arc<dyn Store>, Some(file), None)
            }
            Backend::Postgres => {
                let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
                    skip("TEST_DATABASE_URL is not set, so the PostgreSQL run of this test is skipped");
                    return None;
                };
                let (store, schema) = fresh_pg_schema(&url).await;
                (Arc::new(store) as Arc<dyn Store>, None, Some(schema))
            }
        };
        store.migrate().await.expect("migrations");
        let state = AppState::new(settings, store, Clock::default()).expect("state");
        let router = gatehouse::app(state.clone());
        Some(Self { state, router, sqlite_file, pg_schema })
    }

    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The PostgreSQL schema this app's database is (PostgreSQL runs only).
    pub fn pg_schema(&self) -> Option<&str> {
        self.pg_schema.as_deref()
    }

    /// The SQLite database's file (for a SQLite run).
    pub fn sqlite_file(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// A server (test settings) over a database the caller made, migrated and cleans up.
    pub fn over(store: Arc<dyn Store>) -> TestApp {
        let state = AppState::new(test_settings(), store, Clock::default()).expect("state");
        let router = gatehouse::app(state.clone());
        TestApp { state, router, sqlite_file: None, pg_schema: None }
    }

    /// Another server on this app's database and clock, with its settings tweaked (as when an
    /// operator changes a setting and restarts). Its outbox is its own; the database stays this
    /// app's to clean up.
    pub fn sibling(&self, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        self.sibling_with(self.clock().clone(), tweak)
    }

    /// Another server on this app's database with a clock of its own and its settings tweaked;
    /// otherwise as `sibling` (its own caches, outbox and router).
    pub fn sibling_with(&self, clock: Clock, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = self.state.settings.clone();
        settings.mail.outbox_path = std::env::temp_dir()
            .join(format!("gatehouse-outbox-{}.jsonl", gatehouse::security::tokens::random_hex(8)));
        tweak(&mut settings);
        let state = AppState::new(settings, self.state.store.clone(), clock).expect("state");
        let router = gatehouse::app(state.clone());
        TestApp { state, router, sqlite_file: None, pg_schema: None }
    }

    /// Every message in this app's development outbox, oldest first. A line still being
    /// written (no newline yet) is not a message yet; waiters are woken again when it is done.
    pub fn outbox(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.state.settings.mail.outbox_path).unwrap_or_default();
        let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
        complete.lines().map(|l| serde_json::from_str(l).expect("outbox line is JSON")).collect()
    }

    /// The newest message of `kind` to `to`, waiting for it (mail for no-enumeration routes is
    /// composed after the answer, in the background): polls up to 5 s, then fails.
    pub async fn mail(&self, to: &str, kind: &str) -> Value {
        self.mail_where(to, kind, |_| true).await
    }

    /// The newest message of `kind` to `to` for which `wanted` holds, waiting for it as `mail`.
    pub async fn mail_where(&self, to: &str, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.await_mail(to, kind, |mails| mails.into_iter().rev().find(|m| wanted(m))).await
    }

    /// The `n`-th (1-based) message of `kind` to `to`, waiting until that many went out.
    pub async fn nth_mail(&self, to: &str, kind: &str, n: usize) -> Value {
        self.await_mail(to, kind, |mut mails| (mails.len() >= n).then(|| mails.swap_remove(n - 1))).await
    }

    /// Waits until `pick` finds a message among those of `kind` to `to` (oldest first): woken by
    /// each message the mailer writes, failing after 5 s.
    async fn await_mail(&self, to: &str, kind: &str, pick: impl Fn(Vec<Value>) -> Option<Value>) -> Value {
        let mut sent = self.state.mailer.watch_sent();
        let find =
            || pick(self.outbox().into_iter().filter(|m| m["to"] == to && m["kind"] == kind).collect());
        let found = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                if let Some(m) = find() {
                    return m;
                }
                sent.changed().await.expect("the mailer lives as long as the app");
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no such {kind} mail to {to}: {:?}", self.outbox()))
    }

    /// How many messages of `kind` went to `to` so far.
    pub fn mail_count(&self, to: &str, kind: &str) -> usize {
        self.outbox().iter().filter(|m| m["to"] == to && m["kind"] == kind).count()
    }

    /// Waits until no message has gone out for 200 ms (woken by each one that does). Mail that
    /// must *not* be sent cannot be awaited: nothing signals that a background task decided to
    /// send none. So a test that counts messages after its marker mail arrived first gives any
    /// straggler this quiet spell.
    pub async fn mail_settled(&self) {
        let mut sent = self.state.mailer.watch_sent();
        while let Ok(changed) = tokio::time::timeout(Duration::from_millis(200), sent.changed()).await {
            changed.expect("the mailer lives as long as the app");
        }
    }

    /// Waits until the mailer has handed `n` messages in all to its transport (the outbox, or an
    /// SMTP server, delivered or not), failing after `limit`.
    pub async fn mail_handed_over(&self, n: u64, limit: Duration) {
        let mut sent = self.state.mailer.watch_sent();
        let handed = tokio::time::timeout(limit, sent.wait_for(|count| *count >= n)).await;
        let count = *handed.expect("the mailer did not hand the messages over in time").expect("mailer");
        assert!(count >= n);
    }

    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        response_of(self.router.clone(), req).await
    }

    /// A request under the base path; `path` like `/sign-in/email`.
    pub fn req(&self, method: Method, path: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(format!("{}{path}", self.state.settings.base_path))
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> TestResponse {
        let mut b = self.req(Method::GET, path);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// A browser-like JSON POST: same-origin `Origin` header, and the cookie if given.
    /// A form post from one of Gatehouse's own pages (`body` already urlencoded).
    pub async fn post_form(&self, path: &str, body: &str) -> TestResponse {
        let req = self
            .req(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    pub async fn post(&self, path: &str, body: Value, cookie: Option<&str>) -> TestResponse {
        let mut b = self
            .req(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body.to_string())).unwrap()).await
    }

    pub async fn sign_up(&self, email: &str) -> TestResponse {
        self.post(
            "/sign-up/email",
            serde_json::json!({"name": "Test User", "email": email, "password": PASSWORD}),
            None,
        )
        .await
    }

    /// Signs up a new user and returns the `Cookie` header value for their session.
    pub async fn signed_up_cookie(&self, email: &str) -> String {
        let res = self.sign_up(email).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        res.session_cookie(&self.state.session_cookie).expect("session cookie")
    }

    /// Signs up a new user, follows the verification link mailed to them, and returns the
    /// `Cookie` header value for their session.
    pub async fn verified_cookie(&self, email: &str) -> String {
        let cookie = self.signed_up_cookie(email).await;
        self.verify_email_of(email).await;
        cookie
    }

    /// Follows the newest verification link mailed to `email`.
    pub async fn verify_email_of(&self, email: &str) {
        let mail = self.mail(email, "verify").await;
        let token = mail["token"].as_str().expect("verification token");
        let res = self.get(&format!("/verify-email?token={token}"), None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> TestResponse {
        self.post("/sign-in/email", serde_json::json!({"email": email, "password": password}), None).await
    }

    /// The `Cookie` header value for the session `res` set (which it must have).
    pub fn cookie_of(&self, res: &TestResponse) -> String {
        res.session_cookie(&self.state.session_cookie)
            .unwrap_or_else(|| panic!("no session cookie: {}", res.text()))
    }

    /// `GET /get-session` with this cookie: the body (`null` without a live session).
    pub async fn session(&self, cookie: &str) -> Value {
        self.get("/get-session", Some(cookie)).await.assert_ok()
    }

    /// A browser-like JSON POST request (as `post` sends it, without a cookie).
    pub fn json_request(&self, path: &str, body: &Value) -> Request<Body> {
        self.req(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    /// Sends `n` copies of one JSON POST at once (each on its own task) and returns the answers.
    pub async fn in_parallel(&self, n: usize, path: &str, body: Value) -> Vec<TestResponse> {
        let barrier = Arc::new(tokio::sync::Barrier::new(n));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (router, barrier) = (self.router.clone(), barrier.clone());
            let req = self.json_request(path, &body);
            tasks.spawn(async move {
                barrier.wait().await;
                response_of(router, req).await
            });
        }
        tasks.join_all().await
    }

    /// Asks for an OTP of `kind` and returns the code (from the `n`-th otp mail to `email`).
    pub async fn otp_code(&self, email: &str, kind: &str, n: usize) -> String {
        let body = serde_json::json!({"email": email, "type": kind});
        let res = self.post("/email-otp/send-verification-otp", body, None).await;
        assert_eq!(res.assert_ok(), serde_json::json!({"success": true}));
        token_of(&self.nth_mail(email, "otp", n).await)
    }
}

async fn response_of(router: Router, req: Request<Body>) -> TestResponse {
    let res = router.oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes().to_vec();
    TestResponse { status, headers, body }
}

async fn fresh_pg_schema(url: &str) -> (PostgresStore, String) {
    use sqlx::Connection;
    let schema = format!("gh_test_{}", gatehouse::security::tokens::random_hex(8));
    let mut admin = sqlx::PgConnection::connect(url).await.expect("TEST_DATABASE_URL reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&mut admin)
        .await
        .expect("schema");
    (pg_store_in(url, &schema).await, schema)
}

async fn pg_store_in(url: &str, schema: &str) -> PostgresStore {
    let options =
        sqlx::postgres::PgConnectOptions::from_str(url).expect("url").options([("search_path", schema)]);
    PostgresStore::connect_with(options, StoreOptions::with_pool(4)).await.expect("postgres")
}

/// Asks `app` for `cookie`'s session until `done` holds for the body; returns how long that
/// took. A change made on another instance reaches this one's cache by a PostgreSQL
/// notification, which nothing here can await, so this polls (every 5 ms, failing after 5 s).
pub async fn until_session(app: &TestApp, cookie: &str, done: impl Fn(&Value) -> bool) -> Duration {
    let start = Instant::now();
    loop {
        let body = app.get("/get-session", Some(cookie)).await.json();
        if done(&body) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(5), "not propagated after 5 s: {body}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Two server instances (separate stores and caches) on one PostgreSQL database, or `None`
/// (with a message) without `TEST_DATABASE_URL`.
pub async fn two_instances() -> Option<(TestApp, TestApp)> {
    let first = TestApp::new(Backend::Postgres).await?;
    let url = std::env::var("TEST_DATABASE_URL").ok()?;
    let schema = first.pg_schema.clone()?;
    let store: Arc<dyn Store> = Arc::new(pg_store_in(&url, &schema).await);
    let state = AppState::new(first.state.settings.clone(), store, Clock::default()).expect("state");
    let router = gatehouse::app(state.clone());
    Some((first, TestApp { state, router, sqlite_file: None, pg_schema: Some(schema) }))
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every `Set-Cookie` as name → (value, attributes lowercased).
    pub fn set_cookies(&self) -> HashMap<String, (String, Vec<String>)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|line| {
                let mut parts = line.split(';').map(str::trim);
                let (name, value) = parts.next()?.split_once('=')?;
                Some((name.to_string(), (value.to_string(), parts.map(str::to_ascii_lowercase).collect())))
            })
            .collect()
    }

    /// `name=value` for the session cookie when this response sets a non-empty one.
    pub fn session_cookie(&self, name: &str) -> Option<String> {
        let (value, _) = self.set_cookies().remove(name)?;
        (!value.is_empty()).then(|| format!("{name}={value}"))
    }

    /// Asserts a 200 and returns the JSON body.
    #[track_caller]
    pub fn assert_ok(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        self.json()
    }

    /// Asserts the contract's error shape and returns the body.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text());
        let body = self.json();
        assert_eq!(body["code"], code, "body: {body}");
        assert!(body["error"].is_string() && body["message"].is_string(), "body: {body}");
        body
    }
}

/// Runs each named async test fn (taking a `Backend`) once per backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// `let app = app!(backend);` — a fresh app, or return early (skip) if the backend is absent.
#[macro_export]
macro_rules! app {
    ($backend:expr) => {
        match $crate::helpers::TestApp::new($backend).await {
            Some(app) => app,
            None => return,
        }
    };
    ($backend:expr, $tweak:expr) => {
        match $crate::helpers::TestApp::with($backend, $tweak).await {
            Some(app) => app,
            None => return,
        }
    };
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", gatehouse::security::tokens::random_hex(6))
}

// ---------------------------------------------------------------------------------------------
// Refusals and stored state

/// Asserts the error shape and that nothing internal leaks; returns the body.
pub fn rejected(res: &TestResponse, status: u16, code: &str) -> Value {
    let body = res.assert_error(status, code);
    let text = res.text();
    for leak in ["sqlx", "SQL", "panicked", "syntax error", "DROP TABLE", "src/", "Error {"] {
        assert!(!text.contains(leak), "{leak:?} leaked: {text}");
    }
    assert!(res.set_cookies().is_empty(), "a rejected request set cookies: {:?}", res.set_cookies());
    body
}

/// Asserts a 400 VALIDATION_ERROR whose message names `field` as `[body.field]`.
pub fn rejected_field(res: &TestResponse, field: &str) {
    let body = rejected(res, 400, "VALIDATION_ERROR");
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("[body.{field}]")), "message {message:?} should name {field}");
}

/// Whether a user with this (normalised) email is stored.
pub async fn user_exists(app: &TestApp, email: &str) -> bool {
    app.state.store.credential_by_email(email, "").await.expect("store").is_some()
}

/// The user behind a live session cookie, as get-session shows it.
pub async fn session_user(app: &TestApp, cookie: &str) -> Value {
    let body = app.get("/get-session", Some(cookie)).await.json();
    assert!(body["user"].is_object(), "session is gone: {body}");
    body["user"].clone()
}

/// How many live sessions the user with this email has.
pub async fn session_count(app: &TestApp, email: &str) -> usize {
    let user = app.state.store.credential_by_email(email, "").await.unwrap().expect("user").user;
    app.state.store.list_sessions(&user.id, app.clock().now_ms()).await.unwrap().len()
}

// ---------------------------------------------------------------------------------------------
// Mail contents and timestamps

/// A link from a mail, relative to the router's base path (what `TestApp::get` takes).
pub fn rel(url: &Value) -> String {
    let url = url.as_str().unwrap_or_else(|| panic!("mail has no url: {url}"));
    url.strip_prefix(LINK_BASE).unwrap_or_else(|| panic!("link not under {LINK_BASE}: {url}")).to_string()
}

/// The raw token or code a mail carries.
pub fn token_of(mail: &Value) -> String {
    mail["token"].as_str().unwrap_or_else(|| panic!("mail has no token: {mail}")).to_string()
}

/// The text of HTML as a browser reads it (the entities an auto-escaper writes, decoded).
pub fn unescape_html(html: &str) -> String {
    [("&#x2f;", "/"), ("&#x27;", "'"), ("&#39;", "'"), ("&quot;", "\""), ("&lt;", "<"), ("&gt;", ">")]
        .into_iter()
        .fold(html.to_string(), |acc, (entity, c)| acc.replace(entity, c))
        .replace("&amp;", "&")
}

/// The contract's timestamp: `2026-11-22T04:29:55.227Z`, exactly three fraction digits, UTC.
pub fn assert_iso_ms(ts: &Value) {
    let s = ts.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {ts}"));
    let b = s.as_bytes();
    assert_eq!(b.len(), 24, "{s}");
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        };
        assert!(ok, "bad character {:?} at {i} in {s}", *c as char);
    }
    let parsed = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339);
    assert!(parsed.is_ok(), "{s}: {parsed:?}");
    assert!(gatehouse::domain::time::parse_ms(s).is_some(), "{s}");
}

// ---------------------------------------------------------------------------------------------
// Client addresses, rate limits, lockout and Redis

/// `req` as if its connection came from `ip` (the peer address; IPv4 or IPv6).
pub fn from_ip(ip: &str, mut req: Request<Body>) -> Request<Body> {
    let addr: SocketAddr =
        format!("{ip}:40000").parse().unwrap_or_else(|_| format!("[{ip}]:40000").parse().unwrap());
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

/// A JSON sign-in POST to `path` as a plain HTTP client sends it (no `Origin`).
pub fn sign_in_req(app: &TestApp, path: &str, email: &str, password: &str) -> Request<Body> {
    app.req(Method::POST, path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::json!({"email": email, "password": password}).to_string()))
        .unwrap()
}

/// `POST /sign-in/email` from `ip`.
pub async fn sign_in_from(app: &TestApp, ip: &str, email: &str, password: &str) -> TestResponse {
    app.send(from_ip(ip, sign_in_req(app, "/sign-in/email", email, password))).await
}

/// Where rate limits and lockout failures are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    Memory,
    Redis,
}

/// An app (SQLite) with limits on, counting in process or in Redis under a key prefix of its
/// own, or `None` (with a message) for Redis without `TEST_REDIS_URL`.
pub async fn limited(counting: Counting, tweak: impl FnOnce(&mut Settings)) -> Option<TestApp> {
    let redis = match counting {
        Counting::Memory => None,
        Counting::Redis => match std::env::var("TEST_REDIS_URL") {
            Ok(url) => Some(url),
            Err(_) => {
                skip("TEST_REDIS_URL is not set, so the Redis run of this test is skipped");
                return None;
            }
        },
    };
    let prefix = format!("gh-test-{}:", gatehouse::security::tokens::random_hex(6));
    let app = TestApp::with(Backend::Sqlite, |s| {
        s.limits.enabled = true;
        s.limits.redis_url = redis.map(Secret::new);
        s.limits.redis_key_prefix = prefix;
        tweak(s);
    })
    .await?;
    wait_for_mode(&app, if counting == Counting::Redis { Mode::Redis } else { Mode::Memory }).await;
    Some(app)
}

/// Waits (up to 10 s) until the app's counters are in `mode`. The counters connect to Redis, and
/// find it gone or back, in a background task that signals nothing, so this polls.
pub async fn wait_for_mode(app: &TestApp, mode: Mode) {
    let start = Instant::now();
    while app.state.counters.mode() != mode {
        assert!(start.elapsed() < Duration::from_secs(10), "counters never reached {mode:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs each named async test fn (taking a `Counting`) once counting in process and once in
/// Redis.
#[macro_export]
macro_rules! counting_tests {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Counting::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Counting::Redis).await
                }
            )*
        }
    };
}

/// A redis-server of a test's own (so the test may stop it), stopped when dropped.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
}

impl RedisServer {
    pub fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        Self { child, port }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app (SQLite) counting in a redis-server of its own, its settings tweaked, or `None` (with
/// a message) without `TEST_REDIS_URL`.
pub async fn app_with_own_redis(tweak: impl FnOnce(&mut Settings)) -> Option<(TestApp, RedisServer)> {
    if std::env::var("TEST_REDIS_URL").is_err() {
        skip("TEST_REDIS_URL is not set (this test starts and stops a redis-server of its own)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = RedisServer::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let app = TestApp::with(Backend::Sqlite, |s| {
        s.limits.redis_url = Some(Secret::new(url));
        tweak(s);
    })
    .await?;
    wait_for_mode(&app, Mode::Redis).await;
    Some((app, server))
}

// ---------------------------------------------------------------------------------------------
// Organizations

/// Calls of the organization routes, and the error codes their refusals carry.
pub mod org {
    use axum::http::StatusCode;
    use serde_json::{Value, json};

    use super::{PASSWORD, TestApp, TestResponse, unique_email};

    pub const NOT_A_MEMBER: &str = "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION";
    pub const ONLY_OWNER: &str = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER";
    pub const NO_OWNER_LEFT: &str = "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER";
    pub const UPDATE_ORG: &str = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_ORGANIZATION";
    pub const DELETE_ORG: &str = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_ORGANIZATION";
    pub const INVITE: &str = "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION";
    pub const CANCEL: &str = "YOU_ARE_NOT_ALLOWED_TO_CANCEL_THIS_INVITATION";
    pub const UPDATE_MEMBER: &str = "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER";
    pub const DELETE_MEMBER: &str = "YOU_ARE_NOT_ALLOWED_TO_DELETE_THIS_MEMBER";

    pub fn slug() -> String {
        format!("org-{}", gatehouse::security::tokens::random_hex(4))
    }

    pub async fn create(app: &TestApp, cookie: &str, slug: &str) -> TestResponse {
        app.post(
            "/organization/create",
            json!({"name": "Acme", "slug": slug, "metadata": {"tier": 1}}),
            Some(cookie),
        )
        .await
    }

    pub async fn active_org(app: &TestApp, cookie: &str) -> Value {
        app.get("/get-session", Some(cookie)).await.json()["session"]["activeOrganizationId"].clone()
    }

    pub async fn invite(app: &TestApp, cookie: &str, email: &str, role: &str) -> TestResponse {
        app.post("/organization/invite-member", json!({"email": email, "role": role}), Some(cookie)).await
    }

    fn s(v: &Value) -> &str {
        v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
    }

    /// A fresh user with a fresh organization (active for them): (cookie, email, organization).
    pub async fn founder(app: &TestApp) -> (String, String, Value) {
        let email = unique_email();
        let cookie = app.signed_up_cookie(&email).await;
        let org = create(app, &cookie, &slug()).await.assert_ok();
        (cookie, email, org)
    }

    /// The creator's member id, from create's answer.
    pub fn creator_member(org: &Value) -> Value {
        org["members"][0]["id"].clone()
    }

    /// Invites a fresh email with `role` into `owner`'s active organization, signs it up and accepts
    /// (which makes that organization active for it): (cookie, email, member id).
    pub async fn add_member(app: &TestApp, owner: &str, role: &str) -> (String, String, Value) {
        let email = unique_email();
        let invitation = invite(app, owner, &email, role).await.assert_ok();
        let cookie = app.verified_cookie(&email).await;
        let body = json!({"invitationId": invitation["id"]});
        let accepted = app.post("/organization/accept-invitation", body, Some(&cookie)).await.assert_ok();
        assert_eq!(accepted["member"]["role"], role, "{accepted}");
        (cookie, email, accepted["member"]["id"].clone())
    }

    /// `body` naming the organization when given (else the route falls back to the active one).
    fn in_org(org_id: Option<&Value>, mut body: Value) -> Value {
        if let Some(id) = org_id {
            body["organizationId"] = id.clone();
        }
        body
    }

    pub async fn update(app: &TestApp, cookie: &str, org_id: Option<&Value>, data: Value) -> TestResponse {
        app.post("/organization/update", in_org(org_id, json!({"data": data})), Some(cookie)).await
    }

    pub async fn delete(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
        app.post("/organization/delete", json!({"organizationId": org_id}), Some(cookie)).await
    }

    pub async fn set_role(
        app: &TestApp,
        cookie: &str,
        org_id: Option<&Value>,
        member_id: &Value,
        role: &str,
    ) -> TestResponse {
        let body = in_org(org_id, json!({"memberId": member_id, "role": role}));
        app.post("/organization/update-member-role", body, Some(cookie)).await
    }

    /// `who` is a member id or an email.
    pub async fn remove(app: &TestApp, cookie: &str, org_id: Option<&Value>, who: &Value) -> TestResponse {
        let body = in_org(org_id, json!({"memberIdOrEmail": who}));
        app.post("/organization/remove-member", body, Some(cookie)).await
    }

    pub async fn leave(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
        app.post("/organization/leave", json!({"organizationId": org_id}), Some(cookie)).await
    }

    pub async fn full_org(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
        let path = format!("/organization/get-full-organization?organizationId={}", s(org_id));
        app.get(&path, Some(cookie)).await
    }

    pub async fn list_members(app: &TestApp, cookie: &str, org_id: &Value) -> TestResponse {
        app.get(&format!("/organization/list-members?organizationId={}", s(org_id)), Some(cookie)).await
    }

    /// The organization's members as listed to `cookie` (`total` agreeing with the list).
    pub async fn members(app: &TestApp, cookie: &str, org_id: &Value) -> Vec<Value> {
        let list = list_members(app, cookie, org_id).await.assert_ok();
        let members = list["members"].as_array().cloned().unwrap_or_default();
        assert_eq!(list["total"], members.len(), "{list}");
        members
    }

    pub async fn owners(app: &TestApp, cookie: &str, org_id: &Value) -> usize {
        members(app, cookie, org_id).await.iter().filter(|m| m["role"] == "owner").count()
    }

    /// The ids in `cookie`'s `/organization/list`.
    pub async fn listed(app: &TestApp, cookie: &str) -> Vec<Value> {
        let list = app.get("/organization/list", Some(cookie)).await.assert_ok();
        list.as_array().expect("a list").iter().map(|o| o["id"].clone()).collect()
    }

    /// Whether `slug` is free, as check-slug tells `cookie`.
    pub async fn slug_is_free(app: &TestApp, cookie: &str, slug: &Value) -> bool {
        app.post("/organization/check-slug", json!({"slug": slug}), Some(cookie)).await.status
            == StatusCode::OK
    }

    /// Everything a refused call could have changed: the organization's fields, its members' roles
    /// and its pending invitations (sorted, so the order of the lists does not matter).
    pub async fn snapshot(app: &TestApp, cookie: &str, org_id: &Value) -> Value {
        let full = full_org(app, cookie, org_id).await.assert_ok();
        let pairs = |key: &str, field: &str| {
            let mut v: Vec<(String, String)> = full[key]
                .as_array()
                .expect("a list")
                .iter()
                .map(|x| (s(&x["id"]).to_string(), x[field].to_string()))
                .collect();
            v.sort();
            v
        };
        json!({
            "fields": [full["name"], full["slug"], full["logo"], full["metadata"]],
            "members": pairs("members", "role"),
            "invitations": pairs("invitations", "status"),
        })
    }

    pub async fn delete_account(app: &TestApp, cookie: &str) -> TestResponse {
        app.post("/delete-user", json!({"password": PASSWORD}), Some(cookie)).await
    }
}

// ---------------------------------------------------------------------------------------------
// JWTs

/// Tokens and keys as a service sees them (`/token`, `/jwks`, `/verify-token`), checked
/// independently of the server where it matters.
pub mod jwt {
    use axum::{
        body::Body,
        http::{Method, StatusCode, header},
    };
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use gatehouse::jwt::keys::KeyVault;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
    use serde_json::Value;

    use super::{BASE, TestApp, TestResponse, test_settings};

    /// `GET /token` for this cookie; asserts success.
    pub async fn token(app: &TestApp, cookie: &str) -> String {
        let res = app.get("/token", Some(cookie)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        res.json()["token"].as_str().expect("token").to_string()
    }

    /// The JSON of a token's `i`th segment (0 header, 1 claims).
    pub fn segment(token: &str, i: usize) -> Value {
        let part = token.split('.').nth(i).unwrap_or_else(|| panic!("no segment {i} in {token}"));
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON segment")
    }

    pub fn kid_of(token: &str) -> String {
        segment(token, 0)["kid"].as_str().unwrap_or_else(|| panic!("no kid in {token}")).to_string()
    }

    pub async fn jwks(app: &TestApp) -> Vec<Value> {
        let res = app.get("/jwks", None).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        res.json()["keys"].as_array().unwrap_or_else(|| panic!("no keys: {}", res.text())).clone()
    }

    pub fn kids(keys: &[Value]) -> Vec<String> {
        keys.iter().map(|k| k["kid"].as_str().expect("kid").to_string()).collect()
    }

    /// `POST /verify-token` the way a service calls it: a Bearer token, no cookie, no Origin.
    pub async fn verify(app: &TestApp, token: &str) -> TestResponse {
        let req = app
            .req(Method::POST, "/verify-token")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        app.send(req).await
    }

    /// The published JWK for this token's `kid`.
    pub async fn published_key(app: &TestApp, token: &str) -> Value {
        let kid = kid_of(token);
        jwks(app)
            .await
            .into_iter()
            .find(|k| k["kid"] == kid.as_str())
            .unwrap_or_else(|| panic!("kid {kid} is not in /jwks"))
    }

    /// Verifies `token` without the server's code: the JWK from `/jwks`, jsonwebtoken, the
    /// expected algorithm, issuer and audience. Returns the claims.
    pub async fn verify_independently(app: &TestApp, token: &str, alg: Algorithm) -> Value {
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
    pub async fn current_private_key(app: &TestApp) -> (String, Vec<u8>) {
        let row = app.state.store.current_jwk().await.unwrap().expect("a current key");
        let secret = test_settings().secret.expect("test secret");
        let der =
            KeyVault::new(&[secret.expose()]).open(&row.id, &row.private_key).expect("opens with the secret");
        (row.id, der.to_vec())
    }

    pub const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

    pub fn assert_public_only(key: &Value) {
        for m in PRIVATE_MEMBERS {
            assert!(key.get(m).is_none(), "private member {m:?} published: {key}");
        }
        assert_eq!(key["use"], "sig", "{key}");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()), "{key}");
    }
}
