//! A real OpenID provider for the social sign-in tests: panva's `oidc-provider` (npm, in
//! `tests/oidc/`), started on a free loopback port per test and driven through its development
//! login and consent pages over HTTP (no browser). Without `tests/oidc/node_modules` (run
//! `npm ci --prefix tests/oidc`; `.ci/run` does), the cases say they are skipped.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use gatehouse::config::social::{Endpoints, Kind, ProviderConfig};

use super::skip;

pub const CLIENT_ID: &str = "gatehouse-test";
pub const CLIENT_SECRET: &str = "gatehouse-test-secret-gatehouse-test-secret";

pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    http: reqwest::Client,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

impl OidcProvider {
    /// Starts the provider with one client that may return to each of `callbacks` (full URLs), or
    /// `None` (with a skip line) when it is not installed.
    pub async fn start(callbacks: &[String]) -> Option<Self> {
        if !dir().join("node_modules/oidc-provider").is_dir() {
            skip(
                "tests/oidc/node_modules is missing (npm ci --prefix tests/oidc), so the OpenID provider cases are skipped",
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let clients = serde_json::json!([{
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": callbacks,
        }]);
        let child = Command::new("node")
            .arg(dir().join("provider.mjs"))
            .arg(port.to_string())
            .env("OIDC_CLIENTS", clients.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs");
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let op = Self { child, issuer: format!("http://127.0.0.1:{port}"), http };
        // Node takes a moment to listen; nothing signals it but the port answering.
        let deadline = Instant::now() + Duration::from_secs(20);
        let discovery = format!("{}/.well-known/openid-configuration", op.issuer);
        while op.http.get(&discovery).send().await.is_err() {
            assert!(Instant::now() < deadline, "the OpenID provider did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(op)
    }

    /// Gatehouse's settings for this provider as `id` (the Google preset, or a generic one).
    pub fn config(&self, id: &str, kind: Kind) -> ProviderConfig {
        ProviderConfig {
            id: id.to_string(),
            kind,
            endpoints: Endpoints::Discovery { issuer: self.issuer.clone() },
            client_id: CLIENT_ID.to_string(),
            client_secret: CLIENT_SECRET.to_string(),
            scopes: vec!["openid".into(), "email".into(), "profile".into()],
            disable_sign_up: false,
        }
    }

    /// Follows an authorization URL through the login (as `login`, any password) and consent
    /// pages; the URL the provider sends the browser back to.
    pub async fn log_in(&self, authorization_url: &str, login: &str) -> String {
        let mut jar: HashMap<String, String> = HashMap::new();
        let mut url = authorization_url.to_string();
        for _ in 0..12 {
            if !url.starts_with(&self.issuer) {
                return url;
            }
            let res = if url.contains("/interaction/") {
                let page = self.send(self.http.get(&url), &mut jar).await.text().await.unwrap();
                let form: Vec<(&str, &str)> = if page.contains("name=\"login\"") {
                    vec![("prompt", "login"), ("login", login), ("password", "any")]
                } else {
                    vec![("prompt", "consent")]
                };
                self.send(self.http.post(&url).form(&form), &mut jar).await
            } else {
                self.send(self.http.get(&url), &mut jar).await
            };
            let location = res
                .headers()
                .get(reqwest::header::LOCATION)
                .unwrap_or_else(|| panic!("no redirect from {url}: {}", res.status()))
                .to_str()
                .unwrap()
                .to_string();
            url = if location.starts_with('/') { format!("{}{location}", self.issuer) } else { location };
        }
        panic!("the provider's pages did not lead back: {url}");
    }

    /// An ID token for this app's client, as a native app would get it itself (code flow with
    /// PKCE straight against the provider), for `login`, carrying `nonce`.
    pub async fn id_token(&self, login: &str, redirect_uri: &str, nonce: &str) -> String {
        use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
        use sha2::{Digest, Sha256};
        let verifier = "native-app-verifier-".repeat(3);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let query = serde_urlencoded::to_string([
            ("client_id", CLIENT_ID),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("state", "native"),
            ("nonce", nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .unwrap();
        let back = self.log_in(&format!("{}/auth?{query}", self.issuer), login).await;
        let code =
            url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.as_str()),
        ];
        let res = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&form)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
        body["id_token"].as_str().unwrap_or_else(|| panic!("no id_token: {body}")).to_string()
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        jar: &mut HashMap<String, String>,
    ) -> reqwest::Response {
        let cookie = jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let res = req.header(reqwest::header::COOKIE, cookie).send().await.unwrap();
        for line in res.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = line.to_str().unwrap().split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                jar.insert(k.trim().to_string(), v.to_string());
            }
        }
        res
    }
}
