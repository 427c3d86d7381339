//! Apps in tests: creating them (as `gatehouse apps create` does, on the test's database) and
//! requests that belong to one, by its key (a server or mobile back-end: no `Origin`) or from
//! one of its origins (a browser).

use axum::{
    body::Body,
    http::{Method, header},
};
use serde_json::Value;

use super::{TestApp, TestResponse};

/// An app as a test holds it: its id, slug and key.
#[derive(Debug, Clone)]
pub struct AppKey {
    pub id: String,
    pub slug: String,
    pub key: String,
}

impl TestApp {
    /// Creates an app (its first key with it) and makes this server see it at once.
    pub async fn new_app(&self, name: &str, origins: &[&str]) -> AppKey {
        let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
        let (app, key) = gatehouse::apps_cli::new_app(
            self.state.store.as_ref(),
            &self.state.settings,
            name,
            None,
            &origins,
        )
        .await
        .expect("app");
        self.reload_apps().await;
        AppKey { id: app.id, slug: app.slug, key }
    }

    /// Makes this server load the apps and keys now (a CLI change reaches it within seconds).
    pub async fn reload_apps(&self) {
        self.state.apps.reload(self.state.store.as_ref(), self.clock().now_ms()).await.expect("reload");
    }

    /// A JSON POST with `x-api-key` (no `Origin`: a server-side client), and the cookie if given.
    pub async fn post_as(&self, key: &str, path: &str, body: Value, cookie: Option<&str>) -> TestResponse {
        let mut b = self
            .req(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-api-key", key);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body.to_string())).unwrap()).await
    }

    /// A GET with `x-api-key`, and the cookie if given.
    pub async fn get_as(&self, key: &str, path: &str, cookie: Option<&str>) -> TestResponse {
        let mut b = self.req(Method::GET, path).header("x-api-key", key);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// A browser's JSON POST from `origin` (an app's, or any), and the cookie if given.
    pub async fn post_from(
        &self,
        origin: &str,
        path: &str,
        body: Value,
        cookie: Option<&str>,
    ) -> TestResponse {
        let mut b = self
            .req(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, origin);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::from(body.to_string())).unwrap()).await
    }

    /// A browser's GET from `origin`, and the cookie if given.
    pub async fn get_from(&self, origin: &str, path: &str, cookie: Option<&str>) -> TestResponse {
        let mut b = self.req(Method::GET, path).header(header::ORIGIN, origin);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// Signs up `email` in the app of `key` (password `PASSWORD`); the session cookie.
    pub async fn signed_up_in(&self, key: &str, email: &str) -> String {
        let body = serde_json::json!({"name": "App User", "email": email, "password": super::PASSWORD});
        let res = self.post_as(key, "/sign-up/email", body, None).await;
        assert_eq!(res.status, 200, "{}", res.text());
        self.cookie_of(&res)
    }
}
