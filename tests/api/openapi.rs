//! `GET /open-api/generate-schema` and `GET /reference`: the document describes what is served
//! (every described route is routed, with its method), its references resolve, and the page
//! needs nothing from elsewhere. That each answer matches the document is checked by
//! schemathesis against a running server (`tests/openapi/schemathesis.sh`, in `.ci/run`).

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::Value;

use crate::helpers::*;
use crate::{app, backend_tests};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let res = app.get("/open-api/generate-schema", None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert!(res.header("content-type").unwrap_or_default().starts_with("application/json"));
    res.json()
}

/// Every (method, path) the document describes.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                found.push((method.to_string(), path.clone(), op.clone()));
            }
        }
    }
    found
}

/// Every `$ref` anywhere in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

async fn every_described_route_is_served(backend: Backend) {
    let app = app!(backend);
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = operations(&doc);
    assert!(ops.len() >= 95, "only {} operations described", ops.len());
    for (method, path, op) in &ops {
        assert!(path.starts_with("/api/auth/"), "{path}");
        assert!(op["tags"][0].is_string(), "{method} {path} has no tag");
        assert!(op["summary"].is_string(), "{method} {path} has no summary");
        let answers = op["responses"].as_object().expect("responses");
        assert!(
            answers.keys().any(|s| s.starts_with('2') || s.starts_with('3')),
            "{method} {path}: no success"
        );
        // The error answers every route may give: the shared one, or the route's own.
        for status in ["400", "401", "403", "429", "503"] {
            assert!(answers.contains_key(status), "{method} {path}: no {status}");
        }
        assert_eq!(answers["429"]["$ref"], "#/components/responses/Error", "{method} {path}");
        // Routed with this method: not the fallback's bare 404, not 405.
        let uri = path.replace("{id}", "nobody").replace("{token}", "nothing");
        let req = Request::builder()
            .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
            .uri(&uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .body(Body::from(if method == "get" { "" } else { "{}" }))
            .unwrap();
        let res = app.send(req).await;
        assert_ne!(res.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not routed");
        let fallback = res.status == StatusCode::NOT_FOUND && res.text().is_empty();
        assert!(!fallback, "{method} {path} is described but not routed");
        assert!(!res.status.is_server_error(), "{method} {path} answered {}: {}", res.status, res.text());
    }
}

async fn references_resolve_and_security_is_named(backend: Backend) {
    let app = app!(backend);
    let doc = document(&app).await;
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], app.state.session_cookie.as_str());
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    for field in ["code", "error", "message"] {
        assert!(error["required"].as_array().unwrap().contains(&Value::from(field)), "{error}");
    }
    // A route that needs a session says so; a public one does not.
    let ops = operations(&doc);
    let secured = |p: &str| {
        let op = &ops.iter().find(|(_, path, _)| path == p).expect(p).2;
        op["security"].as_array().is_some_and(|s| !s.is_empty())
    };
    assert!(secured("/api/auth/list-sessions"));
    assert!(!secured("/api/auth/sign-in/email"));
}

async fn the_base_path_is_the_documents(backend: Backend) {
    let app = app!(backend, |s| s.base_path = "/auth".into());
    let doc = document(&app).await;
    let ops = operations(&doc);
    assert!(!ops.is_empty());
    assert!(ops.iter().all(|(_, path, _)| path.starts_with("/auth/")), "{ops:?}");
}

async fn the_reference_page_works_offline(backend: Backend) {
    let app = app!(backend);
    let doc = document(&app).await;
    let res = app.get("/reference", None).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").unwrap_or_default().starts_with("text/html"));
    let page = res.text();
    for (_, path, _) in operations(&doc) {
        // Every value is HTML-escaped (minijinja writes `/` as `&#x2f;`).
        let escaped = path.replace('/', "&#x2f;");
        assert!(page.contains(&format!("<code>{escaped}</code>")), "{path} missing from the page");
    }
    // Text from the document is escaped: `<session token>` is not a tag.
    assert!(page.contains("Bearer &lt;session token&gt;"), "unescaped description");
    // Nothing fetched from elsewhere: no scripts, no external styles or images.
    for outside in ["<script", "src=\"http", "<link", "@import", "url("] {
        assert!(!page.contains(outside), "the page loads {outside}");
    }
}

backend_tests!(
    every_described_route_is_served,
    references_resolve_and_security_is_named,
    the_base_path_is_the_documents,
    the_reference_page_works_offline
);
