//! The admin API (Better Auth's admin plugin): the permission table, users, bans on every way
//! in, sessions, impersonation.

mod audit;
mod bans;
mod impersonation;
mod users;

use serde_json::{Value, json};

use crate::helpers::*;

/// A signed-in admin (role `admin`): their cookie and id.
pub async fn admin(app: &TestApp) -> (String, String) {
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let id = session_user(app, &cookie).await["id"].as_str().unwrap().to_string();
    let changes = gatehouse::store::admin::AdminChanges { role: Some("admin".into()), ..Default::default() };
    app.state.store.admin_update_user(&id, &changes, app.clock().now_ms()).await.unwrap();
    (cookie, id)
}

/// A signed-up user: their email, cookie and id.
pub async fn member(app: &TestApp) -> (String, String, String) {
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let id = session_user(app, &cookie).await["id"].as_str().unwrap().to_string();
    (email, cookie, id)
}

/// `POST /admin/<route>` with this cookie.
pub async fn call(app: &TestApp, cookie: &str, route: &str, body: Value) -> TestResponse {
    app.post(&format!("/admin/{route}"), body, Some(cookie)).await
}

/// Every admin route, with a body (or query) that names `user_id`, and the code a caller
/// without the permission gets.
pub fn routes(user_id: &str) -> Vec<(&'static str, Value, &'static str)> {
    vec![
        (
            "create-user",
            json!({"email": unique_email(), "name": "N", "password": PASSWORD}),
            "YOU_ARE_NOT_ALLOWED_TO_CREATE_USERS",
        ),
        ("list-users", json!(null), "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS"),
        ("get-user", json!(null), "YOU_ARE_NOT_ALLOWED_TO_GET_USER"),
        (
            "update-user",
            json!({"userId": user_id, "data": {"name": "X"}}),
            "YOU_ARE_NOT_ALLOWED_TO_UPDATE_USERS",
        ),
        ("set-role", json!({"userId": user_id, "role": "admin"}), "YOU_ARE_NOT_ALLOWED_TO_CHANGE_USERS_ROLE"),
        ("ban-user", json!({"userId": user_id}), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
        ("unban-user", json!({"userId": user_id}), "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS"),
        ("list-user-sessions", json!({"userId": user_id}), "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS_SESSIONS"),
        ("revoke-user-session", json!({"sessionToken": "x"}), "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"),
        ("revoke-user-sessions", json!({"userId": user_id}), "YOU_ARE_NOT_ALLOWED_TO_REVOKE_USERS_SESSIONS"),
        ("remove-user", json!({"userId": user_id}), "YOU_ARE_NOT_ALLOWED_TO_DELETE_USERS"),
        (
            "set-user-password",
            json!({"userId": user_id, "newPassword": NEW_PASSWORD}),
            "YOU_ARE_NOT_ALLOWED_TO_SET_USERS_PASSWORD",
        ),
        ("impersonate-user", json!({"userId": user_id}), "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS"),
    ]
}

/// Sends one of [`routes`] (GETs with the id as query).
pub async fn send_route(
    app: &TestApp,
    cookie: Option<&str>,
    route: &str,
    body: Value,
    user_id: &str,
) -> TestResponse {
    match route {
        "list-users" => app.get("/admin/list-users", cookie).await,
        "get-user" => app.get(&format!("/admin/get-user?id={user_id}"), cookie).await,
        _ => app.post(&format!("/admin/{route}"), body, cookie).await,
    }
}
