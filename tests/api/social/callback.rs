//! The callback's checks: the state (bound to the browser, single use, ten minutes), the
//! provider's `iss`, its own errors, a forged code.

use serde_json::json;

use super::{back, location, social_app, start};
use crate::{backend_tests, helpers::*};

async fn the_state_binds_the_sign_in_to_the_browser(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let started = start(&app, "google", json!({})).await;
    let redirect = op.log_in(&started.url, &email).await;

    // Without the state cookie (another browser, or cookies blocked).
    let res = back(&app, &redirect, None).await;
    assert!(location(&res).ends_with("/api/auth/error?error=state_mismatch"), "{}", location(&res));
    assert!(!user_exists(&app, &email).await);
    // That attempt could not burn the state: the browser that holds the cookie still signs in.
    let res = back(&app, &redirect, Some(&started.state_cookie)).await;
    assert_eq!(location(&res), "/");
    assert!(user_exists(&app, &email).await);

    // A tampered state, and no state at all.
    let started = start(&app, "google", json!({})).await;
    let redirect = op.log_in(&started.url, &email).await;
    let tampered = redirect.replace("state=", "state=x");
    assert!(
        location(&back(&app, &tampered, Some(&started.state_cookie)).await)
            .ends_with("?error=state_mismatch")
    );
    let res = app.get("/callback/google?code=abc", Some(&started.state_cookie)).await;
    assert!(location(&res).ends_with("?error=state_not_found"));
}

async fn a_used_callback_cannot_be_replayed(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let started = start(&app, "google", json!({})).await;
    let redirect = op.log_in(&started.url, &unique_email()).await;
    let first = back(&app, &redirect, Some(&started.state_cookie)).await;
    assert!(first.session_cookie(&app.state.session_cookie).is_some());
    let replay = back(&app, &redirect, Some(&started.state_cookie)).await;
    assert!(location(&replay).ends_with("?error=state_mismatch"));
    assert!(replay.session_cookie(&app.state.session_cookie).is_none());
}

async fn an_expired_state_is_refused(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let started = start(&app, "google", json!({})).await;
    let redirect = op.log_in(&started.url, &unique_email()).await;
    app.clock().advance(std::time::Duration::from_secs(11 * 60));
    let res = back(&app, &redirect, Some(&started.state_cookie)).await;
    assert!(location(&res).ends_with("?error=state_mismatch"));
}

async fn another_issuer_is_refused(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let started = start(&app, "google", json!({"errorCallbackURL": "/failed"})).await;
    let redirect = op.log_in(&started.url, &unique_email()).await;
    assert!(redirect.contains("iss="), "the provider says who it is (RFC 9207): {redirect}");
    let forged = redirect.replace("iss=http", "iss=https");
    let res = back(&app, &forged, Some(&started.state_cookie)).await;
    assert_eq!(location(&res), "/failed?error=issuer_mismatch");
    // The provider says it always sends iss (authorization_response_iss_parameter_supported):
    // a redirect without one is refused.
    let started = start(&app, "google", json!({"errorCallbackURL": "/failed"})).await;
    let redirect = op.log_in(&started.url, &unique_email()).await;
    let url = url::Url::parse(&redirect).unwrap();
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != "iss").map(|(k, v)| (k.into(), v.into())).collect();
    let stripped =
        format!("{}?{}", redirect.split('?').next().unwrap(), serde_urlencoded::to_string(kept).unwrap());
    let res = back(&app, &stripped, Some(&started.state_cookie)).await;
    assert_eq!(location(&res), "/failed?error=issuer_missing");
}

async fn a_provider_error_is_passed_on(backend: Backend) {
    let Some((app, _op)) = social_app(backend, |_| {}).await else { return };
    let started = start(&app, "google", json!({"errorCallbackURL": "/failed"})).await;
    let state = started.url.split("state=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let path = format!("/callback/google?state={state}&error=access_denied");
    assert_eq!(location(&app.get(&path, Some(&started.state_cookie)).await), "/failed?error=access_denied");
    let started = start(&app, "google", json!({"errorCallbackURL": "/failed"})).await;
    let state = started.url.split("state=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let path = format!("/callback/google?state={state}");
    assert_eq!(location(&app.get(&path, Some(&started.state_cookie)).await), "/failed?error=no_code");
}

async fn a_forged_code_is_refused(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let started = start(&app, "google", json!({"errorCallbackURL": "/failed"})).await;
    let state = started.url.split("state=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let iss = serde_urlencoded::to_string([("iss", op.issuer.as_str())]).unwrap();
    let path = format!("/callback/google?state={state}&code=forged&{iss}");
    assert_eq!(location(&app.get(&path, Some(&started.state_cookie)).await), "/failed?error=invalid_code");
}

backend_tests!(
    the_state_binds_the_sign_in_to_the_browser,
    a_used_callback_cannot_be_replayed,
    an_expired_state_is_refused,
    another_issuer_is_refused,
    a_provider_error_is_passed_on,
    a_forged_code_is_refused,
);
