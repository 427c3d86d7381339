//! Mailed links and callbacks across apps: a link's callback is checked in its user's app, so no
//! chain of redirects carries a token to another app's page.

use gatehouse::security::origin::OriginPattern;
use serde_json::json;

use crate::{app, helpers::*};

const ALPHA: &str = "https://alpha.example";
const BETA: &str = "https://beta.example";

fn location(res: &TestResponse) -> String {
    assert_eq!(res.status, 302, "{}", res.text());
    res.header("location").expect("location").to_string()
}

async fn a_reset_link_sends_its_token_only_to_its_app(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[ALPHA]).await;
    app.new_app("Beta", &[BETA]).await;
    let email = unique_email();
    app.signed_up_in(&alpha.key, &email).await;
    // A relative callback (allowed) that would bounce through verify-email to Beta's page, with
    // the token in a fragment the browser keeps.
    let chain = format!("/api/auth/verify-email?callbackURL={BETA}/#");
    let body = json!({"email": email, "redirectTo": chain});
    app.post_from(ALPHA, "/request-password-reset", body, None).await.assert_ok();
    let token = token_of(&app.mail(&email, "reset").await);
    let first =
        location(&app.get(&format!("/reset-password/{token}?callbackURL={}", urlencode(&chain)), None).await);
    assert!(first.starts_with("/api/auth/verify-email?") && first.ends_with('#'), "{first}");
    // The second hop names Beta: refused (the token is no verify-email token, so the default
    // space's trust applies), and the token goes nowhere.
    let second = app.get(first.strip_prefix("/api/auth").unwrap(), None).await;
    rejected(&second, 403, "INVALID_CALLBACK_URL");
    // Directly: Beta's page is refused for Alpha's user's token; Alpha's gets it.
    let res = app.get(&format!("/reset-password/{token}?callbackURL={BETA}/reset"), None).await;
    rejected(&res, 403, "INVALID_CALLBACK_URL");
    let to = location(&app.get(&format!("/reset-password/{token}?callbackURL={ALPHA}/reset"), None).await);
    assert_eq!(to, format!("{ALPHA}/reset?token={token}"));
    // A fragment stays last, after the token.
    let to = location(
        &app.get(
            &format!("/reset-password/{token}?callbackURL={}", urlencode(&format!("{ALPHA}/r#x"))),
            None,
        )
        .await,
    );
    assert_eq!(to, format!("{ALPHA}/r?token={token}#x"));
}

async fn a_trusted_wildcard_does_not_reach_an_app_s_origins(backend: Backend) {
    let first = app!(backend);
    first.new_app("Alpha", &[ALPHA]).await;
    let app = first.sibling(|s| s.trusted_origins = vec![OriginPattern::parse("https://*.example").unwrap()]);
    app.reload_apps().await;
    let email = unique_email();
    app.signed_up_cookie(&email).await;
    // The default space trusts *.example, but not Alpha's origin.
    let body = |to: &str| json!({"email": email, "redirectTo": format!("{to}/reset")});
    rejected(&app.post("/request-password-reset", body(ALPHA), None).await, 403, "INVALID_CALLBACK_URL");
    app.post("/request-password-reset", body("https://other.example"), None).await.assert_ok();
}

async fn a_server_s_fetch_with_a_key_needs_no_origin(backend: Backend) {
    let app = app!(backend);
    let alpha = app.new_app("Alpha", &[ALPHA]).await;
    let cookie = app.signed_up_in(&alpha.key, &unique_email()).await;
    let send = |extra: Option<(&'static str, &'static str)>| {
        let mut b = app
            .req(axum::http::Method::POST, "/update-user")
            .header("content-type", "application/json")
            .header("x-api-key", &alpha.key)
            .header("cookie", &cookie);
        if let Some((k, v)) = extra {
            b = b.header(k, v);
        }
        b.body(axum::body::Body::from(json!({"name": "Ann"}).to_string())).unwrap()
    };
    // Node's fetch sends Sec-Fetch-Mode on every request; a browser sends Sec-Fetch-Site too.
    app.send(send(Some(("sec-fetch-mode", "cors")))).await.assert_ok();
    app.send(send(None)).await.assert_ok();
    rejected(&app.send(send(Some(("sec-fetch-site", "cross-site")))).await, 403, "MISSING_OR_NULL_ORIGIN");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

crate::backend_tests!(
    a_reset_link_sends_its_token_only_to_its_app,
    a_trusted_wildcard_does_not_reach_an_app_s_origins,
    a_server_s_fetch_with_a_key_needs_no_origin,
);
