//! `POST /update-user`: name and image change, the email does not (that is `change-email`).

use axum::http::StatusCode;
use serde_json::json;

use crate::{app, backend_tests, helpers::*};

async fn update_user_rejects_email(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let other = unique_email();
    rejected(
        &app.post("/update-user", json!({"email": other}), Some(&cookie)).await,
        400,
        "EMAIL_CAN_NOT_BE_UPDATED",
    );
    rejected(
        &app.post("/update-user", json!({"name": "Changed", "email": other}), Some(&cookie)).await,
        400,
        "EMAIL_CAN_NOT_BE_UPDATED",
    );
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["email"], email);
    assert_eq!(user["name"], "Test User");
    assert!(!user_exists(&app, &other).await);
    assert_eq!(app.sign_in(&email, PASSWORD).await.status, StatusCode::OK);
}

async fn update_user_requires_session(backend: Backend) {
    let app = app!(backend);
    let res = app.post("/update-user", json!({"name": "Nobody"}), None).await;
    rejected(&res, 401, "UNAUTHORIZED");
    let res = app.post("/revoke-session", json!({"token": "x"}), None).await;
    rejected(&res, 401, "UNAUTHORIZED");
}

async fn update_user_name_and_image(backend: Backend) {
    let app = app!(backend);
    let email = unique_email();
    let cookie = app.signed_up_cookie(&email).await;
    let before = session_user(&app, &cookie).await;
    assert!(before["image"].is_null(), "{before}");

    let image = "https://cdn.example.com/avatar.png";
    let res = app.post("/update-user", json!({"name": "New Name", "image": image}), Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json(), json!({"status": true}));
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["name"], "New Name");
    assert_eq!(user["image"], image);
    assert_eq!(user["email"], email);
    assert_eq!(user["id"], before["id"]);

    // Absent image: kept. Name only changes the name.
    let res = app.post("/update-user", json!({"name": "Third Name"}), Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["name"], "Third Name");
    assert_eq!(user["image"], image);

    // A rejected update changes nothing.
    let res =
        app.post("/update-user", json!({"name": "Fourth", "image": "x".repeat(5000)}), Some(&cookie)).await;
    rejected_field(&res, "image");
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["name"], "Third Name");
    assert_eq!(user["image"], image);

    // null clears the image; the key is still present.
    let res = app.post("/update-user", json!({"image": null}), Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    let user = session_user(&app, &cookie).await;
    assert!(user.as_object().unwrap().contains_key("image"), "{user}");
    assert!(user["image"].is_null(), "{user}");
    assert_eq!(user["name"], "Third Name");

    // The stored row agrees, and a new sign-in sees the new values.
    let stored = app.state.store.credential_by_email(&email, "").await.unwrap().unwrap().user;
    assert_eq!(stored.name, "Third Name");
    assert_eq!(stored.image, None);
    let res = app.sign_in(&email, PASSWORD).await;
    assert_eq!(res.json()["user"]["name"], "Third Name");
}

backend_tests!(update_user_rejects_email, update_user_requires_session, update_user_name_and_image,);
