//! Email addresses as the routes take them: one mailbox has one spelling. Look-alike forms
//! (fullwidth letters) are the same address; display names, comments, quoted local parts and
//! domain literals are refused.

use axum::http::StatusCode;
use serde_json::json;

use crate::{
    app, backend_tests,
    helpers::{org::*, *},
};

/// `s` in fullwidth forms (`a@b.c` → `ａ＠ｂ．ｃ`), which NFKC maps back.
fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() { char::from_u32(c as u32 + 0xFEE0).unwrap() } else { c })
        .collect()
}

async fn decorated_addresses_are_refused_on_sign_up(backend: Backend) {
    let app = app!(backend);
    for email in [
        "Victim <vic@example.com>",
        "vic(comment)@example.com",
        "\"vic\"@example.com",
        "\"v c\"@example.com",
        "vic@[127.0.0.1]",
        "vic@[IPv6:::1]",
        "vic @example.com",
    ] {
        app.sign_up(email).await.assert_error(400, "INVALID_EMAIL");
    }
    assert!(app.outbox().is_empty());
    assert!(app.state.store.credential_by_email("vic@example.com", "").await.unwrap().is_none());
}

async fn fullwidth_look_alike_is_the_same_account(backend: Backend) {
    let app = app!(backend);
    app.signed_up_cookie("sec@example.com").await;
    for look_alike in ["ｓｅｃ@ｅｘａｍｐｌｅ.com", "ｓｅｃ@example.com", "ＳＥＣ＠ＥＸＡＭＰＬＥ．ＣＯＭ"]
    {
        app.sign_up(look_alike).await.assert_error(409, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    }
    let res = app.sign_in("ｓｅｃ@ｅｘａｍｐｌｅ.com", PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["email"], "sec@example.com");
}

async fn fullwidth_sign_up_stores_the_plain_address(backend: Backend) {
    let app = app!(backend);
    let res = app.sign_up("ａｌｉｃｅ@ｅｘａｍｐｌｅ.com").await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json()["user"]["email"], "alice@example.com");
    assert_eq!(app.sign_in("alice@example.com", PASSWORD).await.status, StatusCode::OK);
}

async fn reset_for_a_look_alike_mails_the_plain_address(backend: Backend) {
    let app = app!(backend);
    app.signed_up_cookie("sec@example.com").await;
    let res = app.post("/request-password-reset", json!({"email": "ｓｅｃ@ｅｘａｍｐｌｅ.com"}), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let mail = app.mail("sec@example.com", "reset").await;
    assert!(mail["token"].is_string(), "{mail}");
    assert!(app.outbox().iter().all(|m| m["to"] != "ｓｅｃ@ｅｘａｍｐｌｅ.com"));
}

async fn remove_member_takes_a_look_alike_email(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let (_, email, member_id) = add_member(&app, &owner, "member").await;
    let body = json!({"organizationId": org["id"], "memberIdOrEmail": fullwidth(&email)});
    let removed = app.post("/organization/remove-member", body, Some(&owner)).await.assert_ok();
    assert_eq!(removed["member"]["id"], member_id, "{removed}");
}

backend_tests!(
    decorated_addresses_are_refused_on_sign_up,
    fullwidth_look_alike_is_the_same_account,
    fullwidth_sign_up_stores_the_plain_address,
    reset_for_a_look_alike_mails_the_plain_address,
    remove_member_takes_a_look_alike_email,
);
