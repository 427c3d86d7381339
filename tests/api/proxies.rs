//! Behind a trusted proxy: `X-Forwarded-For` names the client, also when its entries carry ports.

use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use gatehouse::security::client_ip::TrustedProxies;
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

async fn forwarded_for_with_a_port_names_the_client(backend: Backend) {
    let app = app!(backend, |s| s.trusted_proxies = TrustedProxies::parse("10.0.0.0/8").unwrap());
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    for (forwarded, client) in [
        ("203.0.113.5:5678", "203.0.113.5"),
        ("[2001:db8::5]:443, 10.0.0.9:80", "2001:db8::5"),
        ("2001:db8::1:443", "2001:db8::1:443"),
    ] {
        let req = app
            .req(Method::POST, "/sign-in/email")
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-forwarded-for", forwarded)
            .body(Body::from(json!({"email": email, "password": PASSWORD}).to_string()))
            .unwrap();
        let res = app.send(from_ip("10.0.0.7", req)).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text());
        assert_eq!(res.json()["session"]["ipAddress"], client, "X-Forwarded-For: {forwarded}");
    }
}

async fn session_records_the_client_behind_a_trusted_proxy(backend: Backend) {
    let app = app!(backend, |s| {
        s.trusted_proxies = gatehouse::security::client_ip::TrustedProxies::parse("10.0.0.0/8").unwrap();
    });
    let req = app
        .req(Method::POST, "/sign-up/email")
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-for", "203.0.113.50")
        .body(Body::from(json!({"name": "P", "email": unique_email(), "password": PASSWORD}).to_string()))
        .unwrap();
    let body = app.send(from_ip("10.0.0.7", req)).await.json();
    assert_eq!(body["session"]["ipAddress"], "203.0.113.50");
}

backend_tests!(forwarded_for_with_a_port_names_the_client, session_records_the_client_behind_a_trusted_proxy);
