//! The organization itself: `create`, `list`, `set-active`, `get-full-organization`,
//! `check-slug`, `update` and `delete`, `get-active-member`, and the active organization's
//! subscription on the session.

use axum::http::StatusCode;
use gatehouse::domain::model::SubscriptionRow;
use serde_json::{Value, json};

use crate::{
    app, backend_tests,
    helpers::{org::*, *},
};

async fn create_makes_the_caller_owner_and_the_org_active(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let s = slug();
    let res = create(&app, &cookie, &s).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let org = res.json();
    assert_eq!(org["slug"], s.as_str());
    assert_eq!(org["metadata"], json!({"tier": 1}));
    assert_eq!(org["members"][0]["role"], "owner");
    assert_eq!(active_org(&app, &cookie).await, org["id"]);
    // The persistent session cookie is not turned into a browser-session one.
    if let Some((_, attrs)) = res.set_cookies().get("better-auth.session_token") {
        assert!(attrs.iter().any(|a| a.starts_with("max-age=")), "{attrs:?}");
    }
    // Taken slug.
    create(&app, &cookie, &s).await.assert_error(400, "ORGANIZATION_ALREADY_EXISTS");
    // keepCurrentActiveOrganization.
    let body = json!({"name": "Other", "slug": slug(), "keepCurrentActiveOrganization": true});
    assert_eq!(app.post("/organization/create", body, Some(&cookie)).await.status, StatusCode::OK);
    assert_eq!(active_org(&app, &cookie).await, org["id"]);
    app.post("/organization/create", json!({"name": "x", "slug": "Bad Slug!"}), Some(&cookie))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.post("/organization/create", json!({"name": "x", "slug": slug()}), None)
        .await
        .assert_error(401, "UNAUTHORIZED");
}

async fn list_check_slug_and_set_active(backend: Backend) {
    let app = app!(backend);
    let alice = app.signed_up_cookie(&unique_email()).await;
    let bob = app.signed_up_cookie(&unique_email()).await;
    let (a1, a2, b1) = (slug(), slug(), slug());
    let org1 = create(&app, &alice, &a1).await.json();
    create(&app, &alice, &a2).await;
    let bobs = create(&app, &bob, &b1).await.json();
    let list = app.get("/organization/list", Some(&alice)).await.json();
    let slugs: Vec<&str> = list.as_array().unwrap().iter().map(|o| o["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs.len(), 2, "{list}");
    assert!(slugs.contains(&a1.as_str()) && slugs.contains(&a2.as_str()));

    assert_eq!(
        app.post("/organization/check-slug", json!({"slug": slug()}), Some(&alice)).await.json(),
        json!({"status": true})
    );
    app.post("/organization/check-slug", json!({"slug": a1}), Some(&alice))
        .await
        .assert_error(400, "ORGANIZATION_SLUG_ALREADY_TAKEN");

    let res = app.post("/organization/set-active", json!({"organizationId": org1["id"]}), Some(&alice)).await;
    assert_eq!(res.json()["id"], org1["id"]);
    assert_eq!(active_org(&app, &alice).await, org1["id"]);
    app.post("/organization/set-active", json!({"organizationId": bobs["id"]}), Some(&alice))
        .await
        .assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
    app.post("/organization/set-active", json!({"organizationId": "nope"}), Some(&alice))
        .await
        .assert_error(400, "ORGANIZATION_NOT_FOUND");
    let res = app.post("/organization/set-active", json!({"organizationSlug": a2}), Some(&alice)).await;
    assert_eq!(res.json()["slug"], a2.as_str());
    let res = app.post("/organization/set-active", json!({"organizationId": null}), Some(&alice)).await;
    assert!(res.json().is_null());
    assert!(active_org(&app, &alice).await.is_null());
}

async fn full_organization_and_active_member(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    assert!(app.get("/organization/get-full-organization", Some(&cookie)).await.json().is_null());
    app.get("/organization/get-active-member", Some(&cookie))
        .await
        .assert_error(400, "NO_ACTIVE_ORGANIZATION");
    let org = create(&app, &cookie, &slug()).await.json();
    let full = app.get("/organization/get-full-organization", Some(&cookie)).await.json();
    assert_eq!(full["id"], org["id"]);
    assert_eq!(full["members"][0]["user"]["email"], email.as_str());
    assert_eq!(full["invitations"], json!([]));
    let by_slug = app
        .get(
            &format!(
                "/organization/get-full-organization?organizationSlug={}",
                org["slug"].as_str().unwrap()
            ),
            Some(&cookie),
        )
        .await
        .json();
    assert_eq!(by_slug["id"], org["id"]);
    let member = app.get("/organization/get-active-member", Some(&cookie)).await.json();
    assert_eq!((member["role"].clone(), member["user"]["email"].clone()), (json!("owner"), json!(email)));
    let stranger = app.signed_up_cookie(&unique_email()).await;
    let path = format!("/organization/get-full-organization?organizationId={}", org["id"].as_str().unwrap());
    app.get(&path, Some(&stranger)).await.assert_error(403, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
}

async fn the_active_organizations_subscription_counts(backend: Backend) {
    let app = app!(backend);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let org = create(&app, &cookie, &slug()).await.json();
    let org_id = org["id"].as_str().unwrap().to_string();
    let now = app.clock().now_ms();
    let row = SubscriptionRow::manual(&org_id, "team", "active", None, now);
    app.state.store.put_subscription(&row).await.unwrap();
    let sub = app.get("/get-session", Some(&cookie)).await.json()["subscription"].clone();
    assert_eq!((sub["isSubscribed"].clone(), sub["productId"].clone()), (json!(true), json!("team")));
    app.post("/organization/set-active", json!({"organizationId": null}), Some(&cookie)).await;
    let sub = app.get("/get-session", Some(&cookie)).await.json()["subscription"].clone();
    assert_eq!(sub["isSubscribed"], false, "the user has none of their own");
}

async fn update_changes_what_it_is_given(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let new_slug = slug();
    let logo = "https://example.com/logo.png";
    let data = json!({"name": "Renamed", "slug": new_slug, "logo": logo, "metadata": {"plan": "pro"}});
    let updated = update(&app, &owner, None, data).await.assert_ok();
    let expected = json!({
        "id": id, "name": "Renamed", "slug": new_slug, "logo": logo, "metadata": {"plan": "pro"},
        "createdAt": org["createdAt"], "requireTwoFactor": false,
    });
    assert_eq!(updated, expected);
    let full = full_org(&app, &owner, id).await.assert_ok();
    for key in ["name", "slug", "logo", "metadata"] {
        assert_eq!(full[key], expected[key], "{key}: {full}");
    }
    assert!(slug_is_free(&app, &owner, &org["slug"]).await, "the old slug is free again");

    // Only what is given changes; null clears logo and metadata; the own slug is no conflict.
    let other = create(&app, &owner, &slug()).await.assert_ok(); // now the active one
    let data = json!({"logo": null, "metadata": null, "slug": new_slug});
    let updated = update(&app, &owner, Some(id), data).await.assert_ok();
    assert_eq!(updated["id"], *id);
    assert_eq!(
        [&updated["name"], &updated["slug"], &updated["logo"], &updated["metadata"]],
        [&json!("Renamed"), &json!(new_slug), &Value::Null, &Value::Null]
    );
    let untouched = full_org(&app, &owner, &other["id"]).await.assert_ok();
    for key in ["name", "slug", "logo", "metadata"] {
        assert_eq!(untouched[key], other[key], "{key}: the active organization changed instead");
    }
}

async fn update_refusals_change_nothing(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let (member, _, _) = add_member(&app, &owner, "member").await;
    let lonely = app.signed_up_cookie(&unique_email()).await;
    let before = snapshot(&app, &owner, id).await;
    let rename = || json!({"name": "Renamed", "slug": slug()});

    update(&app, &lonely, None, rename()).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    update(&app, &lonely, Some(&json!("nope")), rename()).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    update(&app, &lonely, Some(id), rename()).await.assert_error(403, NOT_A_MEMBER);
    update(&app, &member, None, rename()).await.assert_error(403, UPDATE_ORG);
    let (_, _, taken) = founder(&app).await;
    let bad = [
        (json!({"name": "Renamed", "slug": taken["slug"]}), "ORGANIZATION_SLUG_ALREADY_TAKEN"),
        (json!({"name": "", "slug": slug()}), "VALIDATION_ERROR"),
        (json!({"name": "Renamed", "slug": "Bad Slug!"}), "VALIDATION_ERROR"),
    ];
    for (data, code) in bad {
        update(&app, &owner, Some(id), data).await.assert_error(400, code);
    }
    app.post("/organization/update", json!({"organizationId": id}), Some(&owner))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    assert_eq!(snapshot(&app, &owner, id).await, before);
}

async fn delete_is_for_the_owner_and_leaves_no_trace(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let (admin, _, _) = add_member(&app, &owner, "admin").await;
    let (member, _, _) = add_member(&app, &owner, "member").await;
    invite(&app, &owner, &unique_email(), "member").await.assert_ok();
    let stranger = app.signed_up_cookie(&unique_email()).await;
    let before = snapshot(&app, &owner, id).await;
    for cookie in [&admin, &member] {
        delete(&app, cookie, id).await.assert_error(403, DELETE_ORG);
    }
    delete(&app, &stranger, id).await.assert_error(403, NOT_A_MEMBER);
    delete(&app, &owner, &json!("nope")).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    app.post("/organization/delete", json!({}), Some(&owner)).await.assert_error(400, "VALIDATION_ERROR");
    assert_eq!(snapshot(&app, &owner, id).await, before);

    let deleted = delete(&app, &owner, id).await.assert_ok();
    for key in ["id", "name", "slug", "logo", "metadata", "createdAt"] {
        assert_eq!(deleted[key], org[key], "{key}: {deleted}");
    }
    for (who, cookie) in [("owner", &owner), ("admin", &admin), ("member", &member)] {
        assert!(active_org(&app, cookie).await.is_null(), "{who}'s session still has it active");
        assert!(!listed(&app, cookie).await.contains(id), "{who} still lists it");
        full_org(&app, cookie, id).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    }
    let free =
        app.post("/organization/check-slug", json!({"slug": org["slug"]}), Some(&owner)).await.assert_ok();
    assert_eq!(free, json!({"status": true}));
    delete(&app, &owner, id).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
}

async fn unverified_users_cannot_create_when_verification_is_required(backend: Backend) {
    let app = app!(backend);
    let strict = app.sibling(|settings| settings.sessions.require_email_verification = true);
    let cookie = app.signed_up_cookie(&unique_email()).await;
    let org_slug = slug();
    create(&strict, &cookie, &org_slug).await.assert_error(403, "EMAIL_NOT_VERIFIED");
    assert_eq!(listed(&app, &cookie).await, Vec::<Value>::new());
    let org = create(&app, &cookie, &org_slug).await.assert_ok();
    assert_eq!(org["slug"], org_slug.as_str());
}

backend_tests!(
    create_makes_the_caller_owner_and_the_org_active,
    list_check_slug_and_set_active,
    full_organization_and_active_member,
    the_active_organizations_subscription_counts,
    update_changes_what_it_is_given,
    update_refusals_change_nothing,
    delete_is_for_the_owner_and_leaves_no_trace,
    unverified_users_cannot_create_when_verification_is_required,
);
