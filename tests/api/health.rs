//! `GET /ok`, `GET /health` (under the base path and at the root), and what unknown routes and
//! wrong methods answer.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::json;

use crate::helpers::*;
use crate::{app, backend_tests};

fn root(method: Method, uri: &str) -> Request<Body> {
    Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()
}

fn assert_json(res: &TestResponse) {
    let ct = res.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
}

async fn ok_route(backend: Backend) {
    let app = app!(backend);
    let res = app.get("/ok", None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_json(&res);
    assert_eq!(res.json(), json!({"ok": true}));
}

async fn health_is_healthy(backend: Backend) {
    let app = app!(backend);
    let under_base = app.get("/health", None).await;
    let at_root = app.send(root(Method::GET, "/health")).await;
    for res in [under_base, at_root] {
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_json(&res);
        let body = res.json();
        assert_eq!(body["status"], "healthy", "{body}");
        assert_eq!(body["service"], "gatehouse", "{body}");
        assert_eq!(body["database"], "connected", "{body}");
        assert_iso_ms(&body["timestamp"]);
    }
}

async fn health_timestamp_follows_the_clock(backend: Backend) {
    let app = app!(backend);
    app.clock().advance(std::time::Duration::from_secs(3 * 365 * 86_400));
    let body = app.get("/health", None).await.json();
    assert_iso_ms(&body["timestamp"]);
    let ts = body["timestamp"].as_str().unwrap();
    let at = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
    let expected = app.clock().now();
    assert!((expected - at).whole_seconds().abs() < 60, "{ts} vs {expected}");
}

async fn health_unhealthy_when_database_closed(backend: Backend) {
    let app = app!(backend);
    app.state.store.close().await;
    let under_base = app.get("/health", None).await;
    let at_root = app.send(root(Method::GET, "/health")).await;
    for res in [under_base, at_root] {
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.text());
        assert_json(&res);
        let body = res.json();
        assert_eq!(body["status"], "unhealthy", "{body}");
        assert_eq!(body["service"], "gatehouse", "{body}");
        assert_ne!(body["database"], "connected", "{body}");
        assert_iso_ms(&body["timestamp"]);
        let text = res.text();
        for leak in ["sqlx", "SQL", "panicked", "pool"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
    // `/ok` does not touch the database.
    let ok = app.get("/ok", None).await;
    assert_eq!(ok.status, StatusCode::OK);
}

async fn unknown_route_is_empty_404(backend: Backend) {
    let app = app!(backend);
    let requests = [
        app.req(Method::GET, "/no-such-route").body(Body::empty()).unwrap(),
        app.req(Method::POST, "/no-such-route")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
        app.req(Method::GET, "/sign-in/email/extra").body(Body::empty()).unwrap(),
        root(Method::GET, "/no-such-route"),
        root(Method::GET, "/api/no-such-route"),
        root(Method::POST, "/"),
    ];
    for req in requests {
        let uri = req.uri().clone();
        let res = app.send(req).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{uri}: {}", res.text());
        assert!(res.body.is_empty(), "{uri}: body {:?}", res.text());
    }
}

async fn wrong_method_is_empty_404(backend: Backend) {
    let app = app!(backend);
    let requests = [
        app.req(Method::GET, "/sign-in/email").body(Body::empty()).unwrap(),
        app.req(Method::GET, "/sign-up/email").body(Body::empty()).unwrap(),
        app.req(Method::PUT, "/update-user")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
        app.req(Method::DELETE, "/get-session").body(Body::empty()).unwrap(),
        app.req(Method::POST, "/ok").body(Body::empty()).unwrap(),
        root(Method::POST, "/health"),
    ];
    for req in requests {
        let what = format!("{} {}", req.method(), req.uri());
        let res = app.send(req).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{what}: {}", res.text());
        assert!(res.body.is_empty(), "{what}: body {:?}", res.text());
    }
}

backend_tests!(
    ok_route,
    health_is_healthy,
    health_timestamp_follows_the_clock,
    health_unhealthy_when_database_closed,
    unknown_route_is_empty_404,
    wrong_method_is_empty_404,
);
