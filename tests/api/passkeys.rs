//! Passkeys end to end without a browser: `webauthn-authenticator-rs`'s software passkey
//! registers and signs in over the HTTP routes; tampered, replayed, expired, cloned and
//! wrong-origin ceremonies are refused.

use std::time::Duration;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::{app, backend_tests, helpers::*};

const ORIGIN_LOCALHOST: &str = "http://localhost:3000";

fn origin() -> Url {
    Url::parse(ORIGIN_LOCALHOST).unwrap()
}

/// An app whose base URL has a domain (`localhost`), so passkeys are on.
async fn passkey_app(backend: Backend) -> Option<TestApp> {
    TestApp::with(backend, |s| {
        s.base_url = Url::parse(ORIGIN_LOCALHOST).unwrap();
        s.passkeys.rp_id = Some("localhost".into());
    })
    .await
}

/// `cookie` plus the passkey challenge cookie `res` set.
fn with_challenge(app: &TestApp, res: &TestResponse, cookie: Option<&str>) -> String {
    let challenge = res.session_cookie(&app.state.passkey_cookie()).expect("challenge cookie");
    cookie.map_or(challenge.clone(), |c| format!("{c}; {challenge}"))
}

/// Registers a passkey of `key` for the signed-in `cookie`, from `from`: the answer.
async fn register_from(app: &TestApp, cookie: &str, key: &mut SoftPasskey, from: Url) -> TestResponse {
    let res = app.get("/passkey/generate-register-options", Some(cookie)).await;
    let options = res.assert_ok();
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required", "{options}");
    let ccr: CreationChallengeResponse = serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential = key.do_registration(from, ccr).expect("the software passkey registers");
    let body = json!({"response": credential, "name": "laptop"});
    app.post("/passkey/verify-registration", body, Some(&with_challenge(app, &res, Some(cookie)))).await
}

/// A sign-in assertion of `key` for credential `id` (the software passkey signs only for listed
/// credentials), and the challenge cookie to send it with.
async fn assertion(app: &TestApp, key: &mut SoftPasskey, id: &str, from: Url) -> (Value, String) {
    assertion_with(app, key, id, from, "required").await
}

/// As [`assertion`], with the options' `userVerification` replaced (the software passkey
/// verifies the user only when it is "required").
async fn assertion_with(
    app: &TestApp,
    key: &mut SoftPasskey,
    id: &str,
    from: Url,
    uv: &str,
) -> (Value, String) {
    let res = app.get("/passkey/generate-authenticate-options", None).await;
    let mut options = res.assert_ok();
    assert_eq!(options["userVerification"], "required", "{options}");
    options["userVerification"] = uv.into();
    options["allowCredentials"] = json!([{"type": "public-key", "id": id}]);
    let rcr: RequestChallengeResponse = serde_json::from_value(json!({"publicKey": options})).unwrap();
    let signed = key.do_authentication(from, rcr).expect("the software passkey signs");
    (serde_json::to_value(signed).unwrap(), with_challenge(app, &res, None))
}

async fn sign_in_with(app: &TestApp, response: &Value, cookie: &str) -> TestResponse {
    app.post("/passkey/verify-authentication", json!({"response": response}), Some(cookie)).await
}

/// A user with a registered passkey: (email, session cookie, the key, its credential id).
async fn with_passkey(app: &TestApp) -> (String, String, SoftPasskey, String) {
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let mut key = SoftPasskey::new(true);
    let row = register_from(app, &cookie, &mut key, origin()).await.assert_ok();
    let id = row["credentialID"].as_str().unwrap().to_string();
    (email, cookie, key, id)
}

async fn passkeys_are_off_without_a_domain(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    app.get("/passkey/generate-authenticate-options", None).await.assert_error(400, "PASSKEY_NOT_CONFIGURED");
    app.get("/passkey/generate-register-options", Some(&cookie))
        .await
        .assert_error(400, "PASSKEY_NOT_CONFIGURED");
    app.post("/passkey/verify-authentication", json!({"response": {}}), None)
        .await
        .assert_error(400, "PASSKEY_NOT_CONFIGURED");
    // Everything else works as before.
    app.session(&cookie).await["user"]["email"].as_str().unwrap();
}

async fn a_passkey_registers_and_signs_in(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let mut key = SoftPasskey::new(true);
    let row = register_from(&app, &cookie, &mut key, origin()).await.assert_ok();
    assert_eq!(row["name"], "laptop");
    assert_eq!(row["deviceType"], "singleDevice");
    assert_eq!(row["backedUp"], false);
    assert_eq!(row["aaguid"], "00000000-0000-0000-0000-000000000000");
    assert!(row["publicKey"].as_str().unwrap().starts_with("pQEC"), "COSE, standard base64: {row}");
    let id = row["credentialID"].as_str().unwrap().to_string();
    assert!(URL_SAFE_NO_PAD.decode(&id).is_ok(), "{id}");
    let listed = app.get("/passkey/list-user-passkeys", Some(&cookie)).await.assert_ok();
    assert_eq!(listed, json!([row]));
    // Sign in without a session: the session cookie and {session, user}.
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    let res = sign_in_with(&app, &response, &challenge).await;
    let body = res.assert_ok();
    assert_eq!(body["user"]["email"], email.as_str());
    assert!(body["session"]["token"].is_string(), "{body}");
    assert_eq!(session_user(&app, &app.cookie_of(&res)).await["email"], email.as_str());
    // The challenge was used up.
    sign_in_with(&app, &response, &challenge).await.assert_error(400, "CHALLENGE_NOT_FOUND");
}

async fn bad_ceremonies_are_refused(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let (_, _, mut key, id) = with_passkey(&app).await;
    // A tampered signature.
    let (mut response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    let mut signature = URL_SAFE_NO_PAD.decode(response["response"]["signature"].as_str().unwrap()).unwrap();
    *signature.last_mut().unwrap() ^= 1;
    response["response"]["signature"] = URL_SAFE_NO_PAD.encode(signature).into();
    sign_in_with(&app, &response, &challenge).await.assert_error(400, "AUTHENTICATION_FAILED");
    // A response replayed against a new challenge.
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    let (_, other_challenge) = assertion(&app, &mut key, &id, origin()).await;
    sign_in_with(&app, &response, &other_challenge).await.assert_error(400, "AUTHENTICATION_FAILED");
    sign_in_with(&app, &response, &challenge).await.assert_ok();
    // Another origin.
    let elsewhere = Url::parse("http://localhost:4000").unwrap();
    let (response, challenge) = assertion(&app, &mut key, &id, elsewhere).await;
    sign_in_with(&app, &response, &challenge).await.assert_error(400, "AUTHENTICATION_FAILED");
    // Without user verification (the server asked for it).
    let (response, challenge) = assertion_with(&app, &mut key, &id, origin(), "discouraged").await;
    sign_in_with(&app, &response, &challenge).await.assert_error(400, "AUTHENTICATION_FAILED");
    // An expired challenge.
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    app.clock().advance(Duration::from_secs(301));
    sign_in_with(&app, &response, &challenge).await.assert_error(400, "CHALLENGE_NOT_FOUND");
    // No challenge, and a malformed response.
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    sign_in_with(&app, &response, "").await.assert_error(400, "CHALLENGE_NOT_FOUND");
    sign_in_with(&app, &json!({"id": 5}), &challenge).await.assert_error(400, "AUTHENTICATION_FAILED");
}

async fn a_passkey_is_both_factors(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let (email, cookie, mut key, id) = with_passkey(&app).await;
    crate::two_factor::enroll(&app, &cookie).await;
    let challenged = app.sign_in(&email, PASSWORD).await.assert_ok();
    assert_eq!(challenged["twoFactorRedirect"], true, "a password alone is one factor");
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    let res = sign_in_with(&app, &response, &challenge).await;
    assert_eq!(res.assert_ok()["user"]["twoFactorEnabled"], true);
    app.cookie_of(&res);
}

async fn a_counter_going_back_is_refused(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let (_, _, mut key, id) = with_passkey(&app).await;
    let row = app.state.store.passkey_by_credential(&id, "").await.unwrap().unwrap();
    // The server has seen a higher counter (a clone signed meanwhile).
    assert!(app.state.store.passkey_used(&row.id, 1000, false, false).await.unwrap());
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    sign_in_with(&app, &response, &challenge).await.assert_error(400, "AUTHENTICATION_FAILED");
}

async fn registration_refusals_store_nothing(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let mut key = SoftPasskey::new(true);
    let elsewhere = Url::parse("http://localhost:4000").unwrap();
    register_from(&app, &cookie, &mut key, elsewhere)
        .await
        .assert_error(400, "FAILED_TO_VERIFY_REGISTRATION");
    // Another user's challenge.
    let other = app.signed_up_cookie(&unique_email()).await;
    let res = app.get("/passkey/generate-register-options", Some(&other)).await;
    let ccr: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": res.assert_ok()})).unwrap();
    let credential = key.do_registration(origin(), ccr).unwrap();
    let challenge = res.session_cookie(&app.state.passkey_cookie()).unwrap();
    app.post(
        "/passkey/verify-registration",
        json!({"response": credential}),
        Some(&format!("{cookie}; {challenge}")),
    )
    .await
    .assert_error(401, "YOU_ARE_NOT_ALLOWED_TO_REGISTER_THIS_PASSKEY");
    app.post("/passkey/verify-registration", json!({"response": credential}), Some(&cookie))
        .await
        .assert_error(400, "CHALLENGE_NOT_FOUND");
    assert_eq!(app.get("/passkey/list-user-passkeys", Some(&cookie)).await.assert_ok(), json!([]));
    app.get("/passkey/generate-register-options", None).await.assert_error(401, "UNAUTHORIZED");
}

async fn passkeys_are_renamed_and_deleted_by_their_owner(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let (_, cookie, _, id) = with_passkey(&app).await;
    let row = app.state.store.passkey_by_credential(&id, "").await.unwrap().unwrap();
    let stranger = app.signed_up_cookie(&unique_email()).await;
    app.post("/passkey/update-passkey", json!({"id": row.id, "name": "x"}), Some(&stranger))
        .await
        .assert_error(404, "PASSKEY_NOT_FOUND");
    app.post("/passkey/delete-passkey", json!({"id": row.id}), Some(&stranger))
        .await
        .assert_error(404, "PASSKEY_NOT_FOUND");
    app.post("/passkey/update-passkey", json!({"id": row.id, "name": "  "}), Some(&cookie))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    let renamed =
        app.post("/passkey/update-passkey", json!({"id": row.id, "name": " phone "}), Some(&cookie)).await;
    assert_eq!(renamed.assert_ok()["passkey"]["name"], "phone");
    let deleted = app.post("/passkey/delete-passkey", json!({"id": row.id}), Some(&cookie)).await;
    assert_eq!(deleted.assert_ok(), json!({"status": true}));
    assert_eq!(app.get("/passkey/list-user-passkeys", Some(&cookie)).await.assert_ok(), json!([]));
}

/// Starts a passkey sign-up for `email` and registers `key`: the finish request's body (without
/// the code) and the challenge cookie.
async fn sign_up_ceremony(app: &TestApp, email: &str, key: &mut SoftPasskey) -> (Value, String) {
    let res = app.post("/passkey/sign-up/start", json!({"email": email, "name": "Pat Passkey"}), None).await;
    let options = res.assert_ok();
    let ccr: CreationChallengeResponse = serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential = key.do_registration(origin(), ccr).unwrap();
    (json!({"email": email, "response": credential}), with_challenge(app, &res, None))
}

async fn a_passkey_first_account_signs_up_and_in(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let email = unique_email();
    let mut key = SoftPasskey::new(true);
    let (mut body, challenge) = sign_up_ceremony(&app, &email, &mut key).await;
    body["code"] = token_of(&app.mail(&email, "passkey-sign-up").await).into();
    let res = app.post("/passkey/sign-up/finish", body, Some(&challenge)).await;
    let answer = res.assert_ok();
    assert_eq!(answer["user"]["emailVerified"], true, "{answer}");
    assert_eq!(session_user(&app, &app.cookie_of(&res)).await["email"], email.as_str());
    // No password: the passkey is the way in.
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let listed = app.get("/passkey/list-user-passkeys", Some(&app.cookie_of(&res))).await.assert_ok();
    let id = listed[0]["credentialID"].as_str().unwrap().to_string();
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    assert_eq!(sign_in_with(&app, &response, &challenge).await.assert_ok()["user"]["email"], email.as_str());
}

async fn passkey_sign_up_refusals(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    // A taken address: the same answer, no code (its owner is told), and no account.
    let taken = unique_email();
    app.signed_up_cookie(&taken).await;
    let mut key = SoftPasskey::new(true);
    let (mut body, challenge) = sign_up_ceremony(&app, &taken, &mut key).await;
    app.mail_settled().await;
    assert_eq!(app.mail_count(&taken, "passkey-sign-up"), 0);
    assert_eq!(app.mail_count(&taken, "verify"), 2, "sign-up's link, then the owner's notice");
    body["code"] = "123456".into();
    app.post("/passkey/sign-up/finish", body, Some(&challenge)).await.assert_error(400, "INVALID_OTP");
    // A wrong code burns the ceremony.
    let email = unique_email();
    let (mut body, challenge) = sign_up_ceremony(&app, &email, &mut key).await;
    let code = token_of(&app.mail(&email, "passkey-sign-up").await);
    body["code"] = (if code == "000000" { "111111" } else { "000000" }).into();
    app.post("/passkey/sign-up/finish", body.clone(), Some(&challenge))
        .await
        .assert_error(400, "INVALID_OTP");
    body["code"] = code.into();
    app.post("/passkey/sign-up/finish", body.clone(), Some(&challenge))
        .await
        .assert_error(400, "CHALLENGE_NOT_FOUND");
    // Another address than the ceremony's.
    let (mut body, challenge) = sign_up_ceremony(&app, &unique_email(), &mut key).await;
    body["email"] = unique_email().into();
    body["code"] = "123456".into();
    app.post("/passkey/sign-up/finish", body, Some(&challenge))
        .await
        .assert_error(400, "CHALLENGE_NOT_FOUND");
    app.post("/passkey/sign-up/start", json!({"email": "nope", "name": "x"}), None)
        .await
        .assert_error(400, "INVALID_EMAIL");
}

async fn the_last_way_in_is_never_removed(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    // A password and nothing else: it stays.
    let only_password = app.signed_up_cookie(&unique_email()).await;
    app.post("/remove-password", json!({}), Some(&only_password))
        .await
        .assert_error(400, "CANNOT_REMOVE_LAST_SIGN_IN_METHOD");
    // A password and a passkey: the password may go, then the passkey may not.
    let (email, cookie, _, id) = with_passkey(&app).await;
    assert_eq!(
        app.post("/remove-password", json!({}), Some(&cookie)).await.assert_ok(),
        json!({"status": true})
    );
    app.sign_in(&email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    app.post("/remove-password", json!({}), Some(&cookie))
        .await
        .assert_error(400, "CREDENTIAL_ACCOUNT_NOT_FOUND");
    let row = app.state.store.passkey_by_credential(&id, "").await.unwrap().unwrap();
    app.post("/passkey/delete-passkey", json!({"id": row.id}), Some(&cookie))
        .await
        .assert_error(400, "CANNOT_REMOVE_LAST_SIGN_IN_METHOD");
    // A stale session cannot remove the password.
    let (_, stale, _, _) = with_passkey(&app).await;
    app.clock().advance(Duration::from_secs(2 * 86_400));
    app.post("/remove-password", json!({}), Some(&stale)).await.assert_error(403, "SESSION_NOT_FRESH");
}

async fn passkeys_added_before_the_address_was_proven_go(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    // Someone signs up with an address they do not own and adds a passkey…
    let (email, _, mut key, id) = with_passkey(&app).await;
    // …then the owner proves the address: that passkey no longer signs in.
    app.verify_email_of(&email).await;
    let (response, challenge) = assertion(&app, &mut key, &id, origin()).await;
    sign_in_with(&app, &response, &challenge).await.assert_error(401, "PASSKEY_NOT_FOUND");
}

async fn registering_needs_a_recent_sign_in_with_two_factor_on(backend: Backend) {
    let Some(app) = passkey_app(backend).await else { return };
    let cookie = app.signed_up_cookie(&unique_email()).await;
    crate::two_factor::enroll(&app, &cookie).await;
    app.clock().advance(Duration::from_secs(11 * 60));
    app.get("/passkey/generate-register-options", Some(&cookie)).await.assert_error(403, "SESSION_NOT_FRESH");
}

backend_tests!(
    passkeys_are_off_without_a_domain,
    a_passkey_registers_and_signs_in,
    a_passkey_is_both_factors,
    a_passkey_first_account_signs_up_and_in,
    passkey_sign_up_refusals,
    the_last_way_in_is_never_removed,
    passkeys_added_before_the_address_was_proven_go,
    registering_needs_a_recent_sign_in_with_two_factor_on,
    bad_ceremonies_are_refused,
    a_counter_going_back_is_refused,
    registration_refusals_store_nothing,
    passkeys_are_renamed_and_deleted_by_their_owner,
);
