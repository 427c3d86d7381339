//! A stand-in for GitHub and Facebook on loopback (neither is OpenID Connect, neither has a
//! local distribution): it answers the documented calls Gatehouse makes — the authorize
//! redirect, the token request (client secret, single-use code, PKCE S256 verifier, redirect URI
//! all checked; GitHub's client by Basic auth, Facebook's in the body), GitHub's `GET /user` and
//! `GET /user/emails` and Facebook's `GET /me` with the bearer token — and can misbehave on
//! request (an HTML answer, an oversized one).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse::config::social::{Endpoints, Kind, ProviderConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "gh-client";
pub const CLIENT_SECRET: &str = "gh-secret";
pub const FB_CLIENT_ID: &str = "fb-app";
pub const FB_CLIENT_SECRET: &str = "fb-secret";

#[derive(Clone, Debug)]
pub struct GitHubUser {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    /// `(email, primary, verified)`.
    pub emails: Vec<(String, bool, bool)>,
}

/// How the API answers the profile calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Html,
    Huge,
    /// Answers after 12 s (Gatehouse gives up after 10).
    Slow,
}

#[derive(Default)]
struct Inner {
    next_login: Option<GitHubUser>,
    /// code → (user, code_challenge, redirect_uri)
    codes: HashMap<String, (GitHubUser, String, String)>,
    tokens: HashMap<String, GitHubUser>,
    /// refresh token → user (single use: each refresh rotates it).
    refresh_tokens: HashMap<String, GitHubUser>,
    behaviour: Option<Behaviour>,
    /// Refreshes answered with an error from now on.
    refuse_refresh: bool,
}

#[derive(Clone, Default)]
pub struct GitHubStandIn {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl GitHubStandIn {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let me = Self { inner: Arc::default(), base };
        let router = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .route("/api/user", get(user))
            .route("/api/user/emails", get(emails))
            .route("/fb/dialog/oauth", get(authorize))
            .route("/fb/oauth/access_token", post(access_token))
            .route("/fb/graph/me", get(facebook_me))
            .with_state(me.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        me
    }

    /// Who logs in at the next authorization.
    pub fn will_log_in(&self, user: GitHubUser) {
        self.inner.lock().unwrap().next_login = Some(user);
    }

    pub fn refuse_refresh(&self) {
        self.inner.lock().unwrap().refuse_refresh = true;
    }

    /// Whether `token` is an access token the API currently takes.
    pub fn takes(&self, token: &str) -> bool {
        self.inner.lock().unwrap().tokens.contains_key(token)
    }

    pub fn behave(&self, behaviour: Behaviour) {
        self.inner.lock().unwrap().behaviour = Some(behaviour);
    }

    pub fn facebook_config(&self) -> ProviderConfig {
        ProviderConfig {
            id: "facebook".into(),
            kind: Kind::Facebook,
            endpoints: Endpoints::Fixed {
                authorization: format!("{}/fb/dialog/oauth", self.base),
                token: format!("{}/fb/oauth/access_token", self.base),
                api: format!("{}/fb/graph", self.base),
            },
            client_id: FB_CLIENT_ID.into(),
            client_secret: FB_CLIENT_SECRET.into(),
            scopes: vec!["email".into(), "public_profile".into()],
            disable_sign_up: false,
        }
    }

    pub fn config(&self) -> ProviderConfig {
        ProviderConfig {
            id: "github".into(),
            kind: Kind::GitHub,
            endpoints: Endpoints::Fixed {
                authorization: format!("{}/login/oauth/authorize", self.base),
                token: format!("{}/login/oauth/access_token", self.base),
                api: format!("{}/api", self.base),
            },
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            scopes: vec!["read:user".into(), "user:email".into()],
            disable_sign_up: false,
        }
    }
}

async fn authorize(State(gh): State<GitHubStandIn>, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut inner = gh.inner.lock().unwrap();
    let Some(user) = inner.next_login.take() else {
        return (StatusCode::FORBIDDEN, "nobody logs in").into_response();
    };
    if !matches!(q.get("client_id").map(String::as_str), Some(CLIENT_ID | FB_CLIENT_ID))
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "bad authorize request").into_response();
    }
    let code = format!("code-{}", gatehouse::security::tokens::random_hex(8));
    let redirect = q["redirect_uri"].clone();
    inner.codes.insert(code.clone(), (user, q["code_challenge"].clone(), redirect.clone()));
    let state =
        serde_urlencoded::to_string([("code", code.as_str()), ("state", q["state"].as_str())]).unwrap();
    Redirect::to(&format!("{redirect}?{state}")).into_response()
}

async fn access_token(State(gh): State<GitHubStandIn>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    let by_basic = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(basic.as_str());
    let in_body = form.get("client_id").map(String::as_str) == Some(FB_CLIENT_ID)
        && form.get("client_secret").map(String::as_str) == Some(FB_CLIENT_SECRET);
    let authenticated = by_basic || in_body;
    let mut inner = gh.inner.lock().unwrap();
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        let user = form.get("refresh_token").and_then(|t| inner.refresh_tokens.remove(t));
        let answer = match user {
            Some(user) if authenticated && !inner.refuse_refresh => issue(&mut inner, user),
            _ => json!({"error": "bad_refresh_token", "error_description": "The refresh token is invalid."}),
        };
        return Json(answer).into_response();
    }
    let granted = form.get("code").and_then(|c| inner.codes.remove(c));
    let answer = match granted {
        Some((user, challenge, redirect))
            if authenticated
                && form.get("redirect_uri") == Some(&redirect)
                && form
                    .get("code_verifier")
                    .is_some_and(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == challenge) =>
        {
            issue(&mut inner, user)
        }
        // GitHub answers 200 with an error object.
        _ => {
            json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."})
        }
    };
    Json(answer).into_response()
}

/// The user the bearer token belongs to (`None`: answer 401).
/// New tokens for `user`, as GitHub apps with expiring tokens get them (8 hours, a refresh token).
fn issue(inner: &mut Inner, user: GitHubUser) -> Value {
    let token = format!("gho_{}", gatehouse::security::tokens::random_hex(12));
    let refresh = format!("ghr_{}", gatehouse::security::tokens::random_hex(12));
    inner.tokens.insert(token.clone(), user.clone());
    inner.refresh_tokens.insert(refresh.clone(), user);
    json!({
        "access_token": token, "token_type": "bearer", "scope": "read:user,user:email",
        "expires_in": 28800, "refresh_token": refresh, "refresh_token_expires_in": 15897600,
    })
}

/// The user the bearer token belongs to (`None`: answer 401).
fn caller(gh: &GitHubStandIn, headers: &HeaderMap) -> Option<GitHubUser> {
    let inner = gh.inner.lock().unwrap();
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    token.and_then(|t| inner.tokens.get(t).cloned())
}

fn misbehaviour(gh: &GitHubStandIn) -> Option<Response> {
    match gh.inner.lock().unwrap().behaviour {
        Some(Behaviour::Html) => {
            Some(([(header::CONTENT_TYPE, "text/html")], "<html>rate limited</html>").into_response())
        }
        Some(Behaviour::Huge) => Some(Json(json!({"padding": "x".repeat(2 * 1024 * 1024)})).into_response()),
        _ => None,
    }
}

async fn user(State(gh): State<GitHubStandIn>, headers: HeaderMap) -> Response {
    let slow = gh.inner.lock().unwrap().behaviour == Some(Behaviour::Slow);
    if slow {
        // What is tested is Gatehouse's own timeout: nothing but time passing shows it.
        tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    }
    if let Some(res) = misbehaviour(&gh) {
        return res;
    }
    match caller(&gh, &headers) {
        Some(u) => Json(json!({"id": u.id, "login": u.login, "name": u.name, "email": null, "avatar_url": format!("https://avatars.example/{}", u.id)})).into_response(),
        None => (StatusCode::UNAUTHORIZED, "Bad credentials").into_response(),
    }
}

async fn facebook_me(State(gh): State<GitHubStandIn>, headers: HeaderMap) -> Response {
    match caller(&gh, &headers) {
        Some(u) => Json(json!({
            "id": u.id.to_string(),
            "name": u.name.unwrap_or(u.login),
            "email": u.emails.first().map(|(e, _, _)| e.clone()),
            "picture": {"data": {"url": format!("https://pictures.example/{}", u.id)}},
        }))
        .into_response(),
        None => (StatusCode::UNAUTHORIZED, "Invalid OAuth access token").into_response(),
    }
}

async fn emails(State(gh): State<GitHubStandIn>, headers: HeaderMap) -> Response {
    match caller(&gh, &headers) {
        Some(u) => {
            let list: Vec<Value> = u
                .emails
                .iter()
                .map(|(e, p, v)| json!({"email": e, "primary": p, "verified": v, "visibility": null}))
                .collect();
            Json(list).into_response()
        }
        None => (StatusCode::UNAUTHORIZED, "Bad credentials").into_response(),
    }
}
