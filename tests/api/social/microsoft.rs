//! The Microsoft (Entra ID) preset against the OpenID provider stand-in, which sends `oid` and,
//! like work accounts, may leave out `email_verified` (then `xms_edov` decides).

use serde_json::json;

use super::{location, sign_in_as, social_app};
use crate::{backend_tests, helpers::*};

async fn the_account_is_the_object_id(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let email = unique_email();
    let res = sign_in_as(&app, &op, "microsoft", &email, json!({"callbackURL": "/in"})).await;
    assert_eq!(location(&res), "/in");
    let cookie = res.session_cookie(&app.state.session_cookie).unwrap();
    let accounts = app.get("/list-accounts", Some(&cookie)).await.assert_ok();
    assert_eq!(accounts[0]["providerId"], "microsoft");
    assert_eq!(accounts[0]["accountId"], format!("oid-{email}"), "oid, not sub");
    assert_eq!(session_user(&app, &cookie).await["emailVerified"], true);
}

async fn a_work_account_needs_xms_edov(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let plain = format!("work-{}", unique_email());
    let res = sign_in_as(&app, &op, "microsoft", &plain, json!({})).await;
    assert!(
        location(&res).ends_with("?error=email_not_verified"),
        "no proof, not verified: {}",
        location(&res)
    );
    let edov = format!("work-edov-{}", unique_email());
    let res = sign_in_as(&app, &op, "microsoft", &edov, json!({})).await;
    let cookie = res.session_cookie(&app.state.session_cookie).expect("xms_edov vouches");
    assert_eq!(session_user(&app, &cookie).await["emailVerified"], true);
}

backend_tests!(the_account_is_the_object_id, a_work_account_needs_xms_edov);
