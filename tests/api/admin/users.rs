//! The permission table, and the user routes: create, list (search, filter, sort, page), get,
//! update, set-role, set-user-password, remove, has-permission.

use serde_json::json;

use super::{admin, call, member, routes, send_route};
use crate::{app, helpers::*};

async fn every_route_needs_a_session_and_the_permission(backend: Backend) {
    let app = app!(backend);
    let (_, cookie, id) = member(&app).await;
    let (_, _, other) = member(&app).await;
    for (route, body, code) in routes(&other) {
        rejected(&send_route(&app, None, route, body.clone(), &other).await, 401, "UNAUTHORIZED");
        rejected(&send_route(&app, Some(&cookie), route, body, &other).await, 403, code);
    }
    // Nothing changed: the other user is there, a user, not banned, with their sessions.
    let (admin_cookie, _) = admin(&app).await;
    let user = app.get(&format!("/admin/get-user?id={other}"), Some(&admin_cookie)).await.assert_ok();
    assert_eq!(
        (user["role"].as_str(), user["banned"].as_bool(), user["name"].as_str()),
        (Some("user"), Some(false), Some("Test User"))
    );
    // has-permission answers for anyone.
    let res = call(&app, &cookie, "has-permission", json!({"permissions": {"user": ["ban"]}})).await;
    assert_eq!(res.assert_ok(), json!({"error": null, "success": false}));
    let res = call(
        &app,
        &admin_cookie,
        "has-permission",
        json!({"permissions": {"user": ["ban", "list"], "session": ["revoke"]}}),
    )
    .await;
    assert_eq!(res.assert_ok()["success"], true);
    let res =
        call(&app, &admin_cookie, "has-permission", json!({"permission": {"user": ["impersonate-admins"]}}))
            .await;
    assert_eq!(res.assert_ok()["success"], false);
    let res =
        call(&app, &cookie, "has-permission", json!({"role": "admin", "permissions": {"user": ["delete"]}}))
            .await;
    assert_eq!(res.assert_ok()["success"], true);
    let res =
        call(&app, &cookie, "has-permission", json!({"userId": id, "permissions": {"user": ["delete"]}}))
            .await;
    assert_eq!(res.assert_ok()["success"], false);
}

async fn admin_user_ids_may_do_everything(backend: Backend) {
    let first = app!(backend);
    let (_, cookie, id) = member(&first).await;
    let app = first.sibling(|s| s.admin.user_ids = vec![id.clone()]);
    let (_, _, other) = member(&app).await;
    let res = call(&app, &cookie, "set-role", json!({"userId": other, "role": "admin"})).await;
    assert_eq!(res.assert_ok()["user"]["role"], "admin");
    // Even impersonating an admin (which the admin role may not).
    let res = call(&app, &cookie, "impersonate-user", json!({"userId": other})).await;
    assert_eq!(res.assert_ok()["session"]["impersonatedBy"], id.as_str());
}

async fn creating_users(backend: Backend) {
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    let email = unique_email();
    let body = json!({"email": email, "name": "Made", "password": PASSWORD, "role": ["user", "admin"], "data": {"emailVerified": true}});
    let user = call(&app, &cookie, "create-user", body.clone()).await.assert_ok()["user"].clone();
    assert_eq!((user["role"].as_str(), user["emailVerified"].as_bool()), (Some("user,admin"), Some(true)));
    app.sign_in(&email, PASSWORD).await.assert_ok();
    rejected(&call(&app, &cookie, "create-user", body).await, 400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    // Without a password: no way in by password.
    let other = unique_email();
    call(&app, &cookie, "create-user", json!({"email": other, "name": "No Pass"})).await.assert_ok();
    rejected(&app.sign_in(&other, PASSWORD).await, 401, "INVALID_EMAIL_OR_PASSWORD");
    // Bad input.
    let bad_role = json!({"email": unique_email(), "name": "R", "role": "root"});
    rejected(
        &call(&app, &cookie, "create-user", bad_role).await,
        400,
        "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
    );
    let bad_type = json!({"email": unique_email(), "name": "R", "role": 7});
    rejected(&call(&app, &cookie, "create-user", bad_type).await, 400, "INVALID_ROLE_TYPE");
    rejected(
        &call(&app, &cookie, "create-user", json!({"email": "nope", "name": "R"})).await,
        400,
        "INVALID_EMAIL",
    );
    let short = json!({"email": unique_email(), "name": "R", "password": "short"});
    rejected(&call(&app, &cookie, "create-user", short).await, 400, "PASSWORD_TOO_SHORT");
}

async fn listing_users(backend: Backend) {
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    for (name, email) in
        [("Zed Able", "zed@list.example"), ("Amy Baker", "amy@list.example"), ("Bob Zed", "bob@else.example")]
    {
        call(&app, &cookie, "create-user", json!({"email": email, "name": name})).await.assert_ok();
    }
    let list = |q: &str| {
        let app = &app;
        let cookie = cookie.clone();
        let q = q.to_string();
        async move { app.get(&format!("/admin/list-users?{q}"), Some(&cookie)).await.assert_ok() }
    };
    let names = |v: &serde_json::Value| -> Vec<String> {
        v["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_string()).collect()
    };
    // The search looks in the email and the name, case-insensitively.
    let found = list("searchValue=zed&sortBy=name").await;
    assert_eq!(
        (names(&found), found["total"].as_u64()),
        (vec!["Bob Zed".to_string(), "Zed Able".to_string()], Some(2))
    );
    let found =
        list("searchValue=LIST.example&searchOperator=ends_with&sortBy=email&sortDirection=desc").await;
    assert_eq!(names(&found), vec!["Zed Able", "Amy Baker"]);
    // Filters, and pages with the total of all that match.
    let found = list("filterField=role&filterValue=admin").await;
    assert_eq!(found["total"], 1);
    let page = list("sortBy=email&limit=2&offset=1").await;
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(4), Some(2), Some(1))
    );
    assert_eq!(names(&page).len(), 2);
    // A `%` is a character, not a wildcard.
    assert_eq!(list("searchValue=%25").await["total"], 0);
    rejected(&app.get("/admin/list-users?sortBy=password", Some(&cookie)).await, 400, "VALIDATION_ERROR");
    rejected(&app.get("/admin/list-users?limit=lots", Some(&cookie)).await, 400, "VALIDATION_ERROR");
    // Every parameter is checked, used or not; a repeated one is not silently dropped.
    for query in ["searchOperator=like", "filterOperator=like", "filterField=password", "limit=1&limit=2"] {
        let res = app.get(&format!("/admin/list-users?{query}"), Some(&cookie)).await;
        rejected(&res, 400, "VALIDATION_ERROR");
    }
}

async fn getting_and_changing_users(backend: Backend) {
    let app = app!(backend);
    let (cookie, admin_id) = admin(&app).await;
    let (email, user_cookie, id) = member(&app).await;
    rejected(&app.get("/admin/get-user?id=nobody", Some(&cookie)).await, 404, "USER_NOT_FOUND");
    let changed = call(
        &app,
        &cookie,
        "update-user",
        json!({"userId": id, "data": {"name": "Renamed", "emailVerified": true}}),
    )
    .await;
    assert_eq!(
        (changed.assert_ok()["name"].as_str(), changed.assert_ok()["emailVerified"].as_bool()),
        (Some("Renamed"), Some(true))
    );
    assert_eq!(session_user(&app, &user_cookie).await["name"], "Renamed");
    let update = |data: serde_json::Value| json!({"userId": id, "data": data});
    rejected(
        &call(&app, &cookie, "update-user", update(json!({"password": "x"}))).await,
        400,
        "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
    );
    rejected(
        &call(&app, &cookie, "update-user", update(json!({"id": "x"}))).await,
        400,
        "USER_ID_CANNOT_BE_UPDATED",
    );
    rejected(&call(&app, &cookie, "update-user", update(json!({}))).await, 400, "NO_DATA_TO_UPDATE");
    rejected(
        &call(&app, &cookie, "update-user", update(json!({"banned": true}))).await,
        400,
        "VALIDATION_ERROR",
    );
    // Roles.
    rejected(
        &call(&app, &cookie, "set-role", json!({"userId": id, "role": "god"})).await,
        400,
        "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
    );
    // A password set by an admin; sessions stay.
    call(&app, &cookie, "set-user-password", json!({"userId": id, "newPassword": NEW_PASSWORD}))
        .await
        .assert_ok();
    app.sign_in(&email, NEW_PASSWORD).await.assert_ok();
    assert!(session_user(&app, &user_cookie).await.is_object());
    rejected(
        &call(&app, &cookie, "set-user-password", json!({"userId": id, "newPassword": "short"})).await,
        400,
        "PASSWORD_TOO_SHORT",
    );
    // Made an admin, the user is beyond an admin who may not impersonate admins.
    let res = call(&app, &cookie, "set-role", json!({"userId": id, "role": "admin"})).await;
    assert_eq!(res.assert_ok()["user"]["role"], "admin");
    let res =
        call(&app, &cookie, "set-user-password", json!({"userId": id, "newPassword": NEW_PASSWORD})).await;
    rejected(&res, 403, "YOU_CANNOT_MANAGE_ADMINS");
    let changes = gatehouse::store::admin::AdminChanges { role: Some("user".into()), ..Default::default() };
    app.state.store.admin_update_user(&id, &changes, app.clock().now_ms()).await.unwrap();
    // Removing: not oneself; the user and their sessions go.
    rejected(
        &call(&app, &cookie, "remove-user", json!({"userId": admin_id})).await,
        400,
        "YOU_CANNOT_REMOVE_YOURSELF",
    );
    assert_eq!(
        call(&app, &cookie, "remove-user", json!({"userId": id})).await.assert_ok(),
        json!({"success": true})
    );
    assert!(app.session(&user_cookie).await.is_null());
    assert!(!user_exists(&app, &email).await);
    rejected(&call(&app, &cookie, "remove-user", json!({"userId": id})).await, 404, "USER_NOT_FOUND");
}

async fn an_admin_acts_within_their_app(backend: Backend) {
    let app = app!(backend);
    let (cookie, _) = admin(&app).await;
    let alpha = app.new_app("Alpha", &[]).await;
    let email = unique_email();
    let app_cookie = app.signed_up_in(&alpha.key, &email).await;
    let id = app.get_as(&alpha.key, "/get-session", Some(&app_cookie)).await.assert_ok()["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    rejected(&app.get(&format!("/admin/get-user?id={id}"), Some(&cookie)).await, 404, "USER_NOT_FOUND");
    rejected(&call(&app, &cookie, "ban-user", json!({"userId": id})).await, 404, "USER_NOT_FOUND");
    let listed = app.get(&format!("/admin/list-users?searchValue={email}"), Some(&cookie)).await.assert_ok();
    assert_eq!(listed["total"], 0);
    // Users the admin creates are in the admin's app (here the default space).
    let made =
        call(&app, &cookie, "create-user", json!({"email": email, "name": "Twin", "password": PASSWORD}))
            .await;
    assert!(made.assert_ok()["user"].get("appId").is_none());
}

crate::backend_tests!(
    every_route_needs_a_session_and_the_permission,
    admin_user_ids_may_do_everything,
    creating_users,
    listing_users,
    getting_and_changing_users,
    an_admin_acts_within_their_app,
);
