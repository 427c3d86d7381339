//! (Just over 400 lines: one case per body rule, each needing its own malformed requests.)
//!
//! Request bodies as the extractors take them: malformed or ill-typed JSON, wrong content types,
//! oversized bodies (declared and chunked), form bodies where they are allowed, and body rules on
//! routes that read no body. Every rejection has the contract's error shape, leaks nothing
//! internal, and leaves stored data as it was.
//!
//! Long (just over 400 lines): a body of unknown length needs an `HttpBody` of its own here.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes, HttpBody},
    http::{Method, StatusCode, header},
};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::{app, backend_tests, helpers::*};

const LIMIT: usize = 64 * 1024;

/// What one polled frame of a body is (named through `http_body_util`, which re-exports the
/// future that yields it; `http_body` itself is not a direct dependency).
type NextFrame = <http_body_util::combinators::Frame<'static, Full<Bytes>> as std::future::Future>::Output;

/// A body sent in several chunks with no known length (like `Transfer-Encoding: chunked`): the
/// server cannot learn its size before reading it.
struct Chunked(VecDeque<Full<Bytes>>);

impl HttpBody for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<NextFrame> {
        while let Some(front) = self.0.front_mut() {
            match Pin::new(front).poll_frame(cx) {
                Poll::Ready(None) => {
                    self.0.pop_front();
                }
                other => return other,
            }
        }
        Poll::Ready(None)
    }
}

fn chunked(bytes: Vec<u8>, chunk: usize) -> Body {
    let parts = bytes.chunks(chunk).map(|c| Full::new(Bytes::copy_from_slice(c))).collect();
    let body = Chunked(parts);
    assert_eq!(body.size_hint().upper(), None, "a chunked body must not announce its size");
    Body::new(body)
}

/// A POST with a same-origin `Origin`, the given content type (if any) and cookie (if any).
async fn raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: Body,
    cookie: Option<&str>,
) -> TestResponse {
    let mut b = app.req(Method::POST, path).header(header::ORIGIN, ORIGIN);
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    if let Some(c) = cookie {
        b = b.header(header::COOKIE, c);
    }
    app.send(b.body(body).unwrap()).await
}

async fn json_raw(app: &TestApp, path: &str, body: &str, cookie: Option<&str>) -> TestResponse {
    raw(app, path, Some("application/json"), Body::from(body.to_string()), cookie).await
}

fn sign_up_body(email: &str) -> Value {
    json!({"name": "Test User", "email": email, "password": PASSWORD})
}

async fn malformed_json_is_validation_error(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let bad_bodies =
        ["{\"email\": ", "{email: 1}", "{\"name\": \"x\"} trailing", "\u{7b}'a': 1}", "nul\u{0}l"];
    for path in ["/sign-up/email", "/sign-in/email"] {
        for body in bad_bodies {
            let res = json_raw(&app, path, body, None).await;
            rejected(&res, 400, "VALIDATION_ERROR");
        }
    }
    for path in ["/update-user", "/revoke-session", "/sign-out"] {
        for body in bad_bodies {
            let res = json_raw(&app, path, body, Some(&cookie)).await;
            rejected(&res, 400, "VALIDATION_ERROR");
        }
    }
    // Valid JSON of the wrong shape.
    for body in ["[]", "null", "\"x\"", "5"] {
        rejected(&json_raw(&app, "/sign-in/email", body, None).await, 400, "VALIDATION_ERROR");
        rejected(&json_raw(&app, "/update-user", body, Some(&cookie)).await, 400, "VALIDATION_ERROR");
    }
    // serde fills a struct from an array field by field; a body must be an object.
    let as_array = format!("[\"{email}\", null, \"{PASSWORD}\", null, null, false]");
    rejected(&json_raw(&app, "/sign-in/email", &as_array, None).await, 400, "VALIDATION_ERROR");
    for path in ["/sign-out", "/revoke-sessions", "/revoke-other-sessions"] {
        rejected(&json_raw(&app, path, "[]", Some(&cookie)).await, 400, "VALIDATION_ERROR");
        // Declared JSON that is only whitespace is not `{}` (an empty body is).
        rejected(&json_raw(&app, path, "\n", Some(&cookie)).await, 400, "VALIDATION_ERROR");
    }
    assert_eq!(session_user(&app, &cookie).await["name"], "Test User");
    assert_eq!(session_count(&app, &email).await, 1);
}

async fn wrong_content_type_is_415(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let other = unique_email();
    for ct in ["text/plain", "application/xml", "multipart/form-data; boundary=x", "application/jsonx"] {
        let body = sign_up_body(&other).to_string();
        let res = raw(&app, "/sign-up/email", Some(ct), Body::from(body), None).await;
        rejected(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
        let body = json!({"email": email, "password": PASSWORD}).to_string();
        let res = raw(&app, "/sign-in/email", Some(ct), Body::from(body), None).await;
        rejected(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    for (path, body) in [
        ("/update-user", json!({"name": "Changed"})),
        ("/revoke-session", json!({"token": "whatever"})),
        ("/sign-out", json!({})),
    ] {
        let res = raw(&app, path, Some("text/plain"), Body::from(body.to_string()), Some(&cookie)).await;
        rejected(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    // A JSON body with no Content-Type at all is not JSON either.
    let res = raw(&app, "/sign-up/email", None, Body::from(sign_up_body(&other).to_string()), None).await;
    rejected(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    assert!(!user_exists(&app, &other).await);
    assert_eq!(session_user(&app, &cookie).await["name"], "Test User");
    assert_eq!(session_count(&app, &email).await, 1);

    // Parameters and case do not matter.
    let res = raw(
        &app,
        "/sign-up/email",
        Some("Application/JSON; charset=utf-8"),
        Body::from(sign_up_body(&other).to_string()),
        None,
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
}

async fn missing_fields_name_the_field(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let fresh = unique_email();
    for (missing, body) in [
        ("email", json!({"name": "N", "password": PASSWORD})),
        ("password", json!({"name": "N", "email": fresh})),
        ("name", json!({"email": fresh, "password": PASSWORD})),
    ] {
        rejected_field(&app.post("/sign-up/email", body, None).await, missing);
    }
    assert!(!user_exists(&app, &fresh).await);
    rejected_field(&app.post("/sign-in/email", json!({"password": PASSWORD}), None).await, "email");
    rejected_field(&app.post("/sign-in/email", json!({"email": email}), None).await, "password");
    rejected_field(&app.post("/revoke-session", json!({}), Some(&cookie)).await, "token");
    assert_eq!(session_count(&app, &email).await, 1);
}

async fn ill_typed_fields_name_the_field(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let fresh = unique_email();
    for (field, body) in [
        ("email", json!({"name": "N", "email": 5, "password": PASSWORD})),
        ("password", json!({"name": "N", "email": fresh, "password": ["x"]})),
        ("name", json!({"name": {"first": "N"}, "email": fresh, "password": PASSWORD})),
        ("rememberMe", json!({"name": "N", "email": fresh, "password": PASSWORD, "rememberMe": "x"})),
        ("image", json!({"name": "N", "email": fresh, "password": PASSWORD, "image": 5})),
    ] {
        rejected_field(&app.post("/sign-up/email", body, None).await, field);
    }
    assert!(!user_exists(&app, &fresh).await);
    for (field, body) in [
        ("email", json!({"email": 5, "password": PASSWORD})),
        ("password", json!({"email": email, "password": 12345678})),
        ("rememberMe", json!({"email": email, "password": PASSWORD, "rememberMe": "x"})),
        ("callbackURL", json!({"email": email, "password": PASSWORD, "callbackURL": true})),
    ] {
        rejected_field(&app.post("/sign-in/email", body, None).await, field);
    }
    rejected_field(&app.post("/update-user", json!({"name": 5}), Some(&cookie)).await, "name");
    rejected_field(&app.post("/update-user", json!({"image": 5}), Some(&cookie)).await, "image");
    rejected_field(&app.post("/revoke-session", json!({"token": 5}), Some(&cookie)).await, "token");
    assert_eq!(session_user(&app, &cookie).await["name"], "Test User");
    assert_eq!(session_count(&app, &email).await, 1);
}

/// A JSON sign-up body of exactly `size` bytes (padding in the name).
fn sized_sign_up(email: &str, size: usize) -> Vec<u8> {
    let empty = sign_up_body(email).to_string().replace("\"Test User\"", "\"\"");
    let mut value = sign_up_body(email);
    value["name"] = json!("n".repeat(size - empty.len()));
    let bytes = value.to_string().into_bytes();
    assert_eq!(bytes.len(), size);
    bytes
}

async fn oversized_body_with_content_length_is_413(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let fresh = unique_email();
    let big = sized_sign_up(&fresh, LIMIT + 1);
    let req = app
        .req(Method::POST, "/sign-up/email")
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    rejected(&app.send(req).await, 413, "PAYLOAD_TOO_LARGE");
    assert!(!user_exists(&app, &fresh).await);

    // Declared too large even though the content type is wrong or the body is cut short.
    let req = app
        .req(Method::POST, "/sign-in/email")
        .header(header::ORIGIN, ORIGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, 10 * LIMIT)
        .body(Body::from(vec![b' '; 2 * LIMIT]))
        .unwrap();
    rejected(&app.send(req).await, 413, "PAYLOAD_TOO_LARGE");

    let name = format!("{{\"name\":\"{}\"}}", "x".repeat(LIMIT));
    let req = app
        .req(Method::POST, "/update-user")
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, name.len())
        .body(Body::from(name))
        .unwrap();
    rejected(&app.send(req).await, 413, "PAYLOAD_TOO_LARGE");
    assert_eq!(session_user(&app, &cookie).await["name"], "Test User");

    // The same body without a Content-Length header.
    let big = sized_sign_up(&fresh, LIMIT + 1);
    let res = raw(&app, "/sign-up/email", Some("application/json"), Body::from(big), None).await;
    rejected(&res, 413, "PAYLOAD_TOO_LARGE");
    assert!(!user_exists(&app, &fresh).await);
}

async fn oversized_chunked_body_is_413(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let fresh = unique_email();

    let res = raw(
        &app,
        "/sign-up/email",
        Some("application/json"),
        chunked(sized_sign_up(&fresh, LIMIT + 1), 16 * 1024),
        None,
    )
    .await;
    rejected(&res, 413, "PAYLOAD_TOO_LARGE");
    let res = raw(
        &app,
        "/sign-up/email",
        Some("application/json"),
        chunked(sized_sign_up(&fresh, 4 * LIMIT), 8 * 1024),
        None,
    )
    .await;
    rejected(&res, 413, "PAYLOAD_TOO_LARGE");
    assert!(!user_exists(&app, &fresh).await);

    let body = format!("{{\"name\":\"{}\"}}", "x".repeat(2 * LIMIT)).into_bytes();
    let res = raw(&app, "/update-user", Some("application/json"), chunked(body, 10_000), Some(&cookie)).await;
    rejected(&res, 413, "PAYLOAD_TOO_LARGE");
    let body = format!("{{\"token\":\"{}\"}}", "x".repeat(2 * LIMIT)).into_bytes();
    let res =
        raw(&app, "/revoke-session", Some("application/json"), chunked(body, 10_000), Some(&cookie)).await;
    rejected(&res, 413, "PAYLOAD_TOO_LARGE");
    let body = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 * LIMIT)).into_bytes();
    let res = raw(&app, "/sign-out", Some("application/json"), chunked(body, 10_000), Some(&cookie)).await;
    rejected(&res, 413, "PAYLOAD_TOO_LARGE");
    assert_eq!(session_user(&app, &cookie).await["name"], "Test User");
    assert_eq!(session_count(&app, &email).await, 1);

    // A chunked body of exactly the limit is read and judged on its content (a 64 KiB name
    // may be refused as a name, but not as a body).
    let at_limit = unique_email();
    let res = raw(
        &app,
        "/sign-up/email",
        Some("application/json"),
        chunked(sized_sign_up(&at_limit, LIMIT), 16 * 1024),
        None,
    )
    .await;
    assert_ne!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.text());
    if res.status != StatusCode::OK {
        rejected_field(&res, "name");
    }
    // And a small chunked body works.
    let body = sign_up_body(&fresh).to_string().into_bytes();
    let res = raw(&app, "/sign-up/email", Some("application/json"), chunked(body, 7), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(user_exists(&app, &fresh).await);
}

async fn form_bodies_on_sign_up_and_sign_in(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let form = |s: String| Body::from(s);
    let encoded = email.replace('@', "%40");
    let ct = "application/x-www-form-urlencoded";
    let res = raw(
        &app,
        "/sign-up/email",
        Some(ct),
        form(format!("name=Form+User&email={encoded}&password={PASSWORD}")),
        None,
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["name"], "Form User");
    assert_eq!(res.json()["user"]["email"], email);
    assert!(res.session_cookie(&app.state.session_cookie).is_some());

    let res = raw(
        &app,
        "/sign-in/email",
        Some("application/x-www-form-urlencoded; charset=UTF-8"),
        form(format!("email={encoded}&password={PASSWORD}&rememberMe=true&callbackURL=%2Fdashboard")),
        None,
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let body = res.json();
    assert_eq!(body["user"]["email"], email);
    assert_eq!(body["url"], "/dashboard");
    let cookie = res.session_cookie(&app.state.session_cookie).expect("session cookie");

    // Form bodies follow the same rules as JSON ones.
    let res = raw(&app, "/sign-in/email", Some(ct), form(format!("email={encoded}")), None).await;
    rejected_field(&res, "password");
    let res =
        raw(&app, "/sign-in/email", Some(ct), form(format!("email={encoded}&password=wrong-password")), None)
            .await;
    rejected(&res, 401, "INVALID_EMAIL_OR_PASSWORD");
    let fresh = unique_email().replace('@', "%40");
    let res =
        raw(&app, "/sign-up/email", Some(ct), form(format!("name=N&email={fresh}&password=short")), None)
            .await;
    rejected(&res, 400, "PASSWORD_TOO_SHORT");

    // update-user, revoke-session and sign-out take JSON only.
    let res = raw(&app, "/update-user", Some(ct), form("name=Formed".into()), Some(&cookie)).await;
    rejected(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    let res = raw(&app, "/revoke-session", Some(ct), form("token=x".into()), Some(&cookie)).await;
    rejected(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    let res = raw(&app, "/sign-out", Some(ct), form(String::new()), Some(&cookie)).await;
    rejected(&res, 415, "UNSUPPORTED_MEDIA_TYPE");
    assert_eq!(session_user(&app, &cookie).await["name"], "Form User");
    assert_eq!(session_count(&app, &email).await, 2);
}

async fn errors_name_no_internal_types(backend: Backend) {
    let app = app!(backend);
    let req = app
        .req(Method::POST, "/sign-in/email")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("5"))
        .unwrap();
    let body = app.send(req).await.assert_error(400, "VALIDATION_ERROR");
    assert!(!body["message"].as_str().unwrap().contains("struct"), "{body}");
    let res = app.get("/reset-password/%FF%FE", None).await;
    assert_eq!(res.header("content-type").map(|c| c.starts_with("text/html")), Some(true), "{}", res.text());
}

async fn bodiless_routes_still_apply_body_rules(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    for path in ["/revoke-sessions", "/revoke-other-sessions", "/sign-out"] {
        let req = app
            .req(Method::POST, path)
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &cookie)
            .body(Body::from("x".repeat(100)))
            .unwrap();
        app.send(req).await.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    }
    assert!(app.get("/get-session", Some(&cookie)).await.json()["session"].is_object(), "nothing revoked");
}

backend_tests!(
    malformed_json_is_validation_error,
    wrong_content_type_is_415,
    missing_fields_name_the_field,
    ill_typed_fields_name_the_field,
    oversized_body_with_content_length_is_413,
    oversized_chunked_body_is_413,
    form_bodies_on_sign_up_and_sign_in,
    errors_name_no_internal_types,
    bodiless_routes_still_apply_body_rules,
);
