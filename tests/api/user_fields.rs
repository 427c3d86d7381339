//! Custom user fields (`USER_FIELDS`): accepted on sign-up and `update-user`, typed, answered
//! top-level on the user object, stored (read back by another instance), and unknown fields
//! refused with 400 `VALIDATION_ERROR` naming them.

use axum::http::StatusCode;
use gatehouse::{config::Settings, domain::fields::parse_specs};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::{app, backend_tests};

const FIELDS: &str = "phone:string?,plan:string=free,age:number?,beta:boolean?";

fn declared(s: &mut Settings) {
    s.user_fields = parse_specs(FIELDS).unwrap();
}

fn sign_up_with(email: &str, extra: Value) -> Value {
    let mut body = json!({"name": "Field User", "email": email, "password": PASSWORD});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

async fn sign_up_stores_typed_fields_and_defaults(backend: Backend) {
    let app = app!(backend, declared);
    let email = unique_email();
    let res =
        app.post("/sign-up/email", sign_up_with(&email, json!({"phone": "+31 6 1", "age": 41})), None).await;
    let body = res.assert_ok();
    assert_eq!(body["user"]["phone"], "+31 6 1");
    assert_eq!(body["user"]["age"], 41);
    assert_eq!(body["user"]["plan"], "free", "the default is stored");
    assert!(body["user"].get("beta").is_none(), "an optional field not given is absent: {body}");
    assert!(body["user"].get("fields").is_none(), "top-level, not nested: {body}");
    // Read back from the database by another instance (no shared cache).
    let cookie = app.cookie_of(&res);
    let other = app.sibling(|_| {});
    let user = session_user(&other, &cookie).await;
    assert_eq!(
        (user["phone"].clone(), user["age"].clone(), user["plan"].clone()),
        (json!("+31 6 1"), json!(41), json!("free"))
    );
    // And in every answer that carries the user.
    let signed_in = app.sign_in(&email, PASSWORD).await.assert_ok();
    assert_eq!(signed_in["user"]["age"], 41);
}

async fn wrong_types_and_unknown_fields_are_refused(backend: Backend) {
    let app = app!(backend, declared);
    let cases = [
        (json!({"age": "41"}), "age"),
        (json!({"beta": "yes"}), "beta"),
        (json!({"phone": 5}), "phone"),
        (json!({"nickname": "x", "shoeSize": 44}), "nickname, shoeSize"),
    ];
    for (extra, named) in cases {
        let email = unique_email();
        let res = app.post("/sign-up/email", sign_up_with(&email, extra.clone()), None).await;
        let body = rejected(&res, 400, "VALIDATION_ERROR");
        assert!(body["message"].as_str().unwrap().contains(named), "{extra}: {body}");
        assert!(!user_exists(&app, &email).await, "{extra}: nothing is created");
    }
    // Without any declared field, an unknown field is refused just the same.
    let plain = app!(backend);
    let email = unique_email();
    let res = plain.post("/sign-up/email", sign_up_with(&email, json!({"plan": "pro"})), None).await;
    let body = rejected(&res, 400, "VALIDATION_ERROR");
    assert!(body["message"].as_str().unwrap().contains("plan"), "{body}");
}

async fn a_required_field_must_be_given(backend: Backend) {
    let app = app!(backend, |s| s.user_fields = parse_specs("company:string").unwrap());
    let email = unique_email();
    let res = app.post("/sign-up/email", sign_up_with(&email, json!({})), None).await;
    let body = rejected(&res, 400, "VALIDATION_ERROR");
    assert_eq!(body["message"], "[body.company] Required");
    let res = app.post("/sign-up/email", sign_up_with(&email, json!({"company": "Acme"})), None).await;
    assert_eq!(res.assert_ok()["user"]["company"], "Acme");
}

async fn form_sign_ups_read_values_as_their_types(backend: Backend) {
    let app = app!(backend, declared);
    let email = unique_email();
    let form = format!(
        "name=Form+User&email={}&password={PASSWORD}&age=41.5&beta=true&rememberMe=false",
        email.replace('@', "%40")
    );
    let res = app.post_form("/sign-up/email", &form).await;
    let user = res.assert_ok()["user"].clone();
    assert_eq!((user["age"].clone(), user["beta"].clone()), (json!(41.5), json!(true)));
    let bad = format!("name=F&email=x{}&password={PASSWORD}&age=old", email.replace('@', "%40"));
    rejected(&app.post_form("/sign-up/email", &bad).await, 400, "VALIDATION_ERROR");
}

async fn update_user_changes_and_clears_fields(backend: Backend) {
    let app = app!(backend, declared);
    let email = unique_email();
    let res =
        app.post("/sign-up/email", sign_up_with(&email, json!({"phone": "1", "plan": "pro"})), None).await;
    let cookie = app.cookie_of(&res);
    app.post("/update-user", json!({"age": 42, "beta": false}), Some(&cookie)).await.assert_ok();
    let user = session_user(&app, &cookie).await;
    assert_eq!(
        (user["age"].clone(), user["beta"].clone(), user["phone"].clone()),
        (json!(42), json!(false), json!("1"))
    );
    // `null` clears an optional field, and puts one with a default back to it.
    app.post("/update-user", json!({"phone": null, "plan": null}), Some(&cookie)).await.assert_ok();
    let user = session_user(&app, &cookie).await;
    assert!(user.get("phone").is_none(), "{user}");
    assert_eq!(user["plan"], "free");
    // Refused changes change nothing.
    for bad in [json!({"age": "old"}), json!({"nickname": "x"}), json!({"age": 50, "nickname": "x"})] {
        let res = app.post("/update-user", bad.clone(), Some(&cookie)).await;
        rejected(&res, 400, "VALIDATION_ERROR");
    }
    let user = session_user(&app.sibling(|_| {}), &cookie).await;
    assert_eq!(user["age"], 42);
    assert_eq!(user["name"], "Field User");
}

async fn a_required_field_cannot_be_cleared(backend: Backend) {
    let app = app!(backend, |s| s.user_fields = parse_specs("company:string").unwrap());
    let email = unique_email();
    let res = app.post("/sign-up/email", sign_up_with(&email, json!({"company": "Acme"})), None).await;
    let cookie = app.cookie_of(&res);
    let res = app.post("/update-user", json!({"company": null}), Some(&cookie)).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(session_user(&app, &cookie).await["company"], "Acme");
}

async fn admins_set_fields_and_the_document_names_them(backend: Backend) {
    let app = app!(backend, declared);
    let (admin_cookie, _) = crate::admin::admin(&app).await;
    let (_, user_cookie, user_id) = crate::admin::member(&app).await;
    let call = |body: Value| crate::admin::call(&app, &admin_cookie, "update-user", body);
    let res = call(json!({"userId": user_id, "data": {"age": 30, "phone": "9"}})).await;
    assert_eq!(res.assert_ok()["age"], 30);
    assert_eq!(session_user(&app, &user_cookie).await["phone"], "9");
    let wrong =
        rejected(&call(json!({"userId": user_id, "data": {"age": "thirty"}})).await, 400, "VALIDATION_ERROR");
    assert_eq!(wrong["message"], "[body.data.age] expected a number");
    // A name must be a string (it was once saved as an empty name).
    rejected(&call(json!({"userId": user_id, "data": {"name": 5}})).await, 400, "VALIDATION_ERROR");
    rejected(&call(json!({"userId": user_id, "data": {"image": 5}})).await, 400, "VALIDATION_ERROR");
    let user = session_user(&app, &user_cookie).await;
    assert_eq!((user["age"].clone(), user["name"].is_string()), (json!(30), true));
    assert_ne!(user["name"], "");
    // Created by an admin: declared fields from `data`, defaults for the rest.
    let res = crate::admin::call(
        &app,
        &admin_cookie,
        "create-user",
        json!({
            "email": unique_email(), "name": "Made", "password": PASSWORD, "data": {"beta": true}
        }),
    )
    .await;
    let made = res.assert_ok()["user"].clone();
    assert_eq!((made["beta"].clone(), made["plan"].clone()), (json!(true), json!("free")));

    let doc = app.get("/open-api/generate-schema", None).await.json();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["User"]["properties"]["age"]["type"], "number");
    assert_eq!(schemas["SignUpBody"]["properties"]["beta"]["type"], json!(["boolean", "null"]));
    let strict = app!(backend, |s| s.user_fields = parse_specs("company:string,age:number?").unwrap());
    let doc = strict.get("/open-api/generate-schema", None).await.json();
    let required = doc["components"]["schemas"]["SignUpBody"]["required"].as_array().unwrap().clone();
    assert!(required.contains(&json!("company")) && !required.contains(&json!("age")), "{required:?}");
}

async fn concurrent_updates_of_different_fields_both_hold(backend: Backend) {
    let app = app!(backend, declared);
    let email = unique_email();
    let res = app.post("/sign-up/email", sign_up_with(&email, json!({"phone": "1"})), None).await;
    let cookie = app.cookie_of(&res);
    // Two instances, each with the user in its own cache.
    let other = app.sibling(|_| {});
    session_user(&app, &cookie).await;
    session_user(&other, &cookie).await;
    app.post("/update-user", json!({"age": 7}), Some(&cookie)).await.assert_ok();
    other.post("/update-user", json!({"beta": true}), Some(&cookie)).await.assert_ok();
    let user = session_user(&app.sibling(|_| {}), &cookie).await;
    assert_eq!(
        (user["age"].clone(), user["beta"].clone(), user["phone"].clone()),
        (json!(7), json!(true), json!("1"))
    );
}

async fn admin_only_fields_and_long_text_are_refused(backend: Backend) {
    let app = app!(backend, |s| s.user_fields = parse_specs("tier:string!=basic,bio:string?").unwrap());
    let email = unique_email();
    let res = app.post("/sign-up/email", sign_up_with(&email, json!({"tier": "gold"})), None).await;
    rejected(&res, 400, "VALIDATION_ERROR");
    let res = app.post("/sign-up/email", sign_up_with(&email, json!({"bio": "x".repeat(1001)})), None).await;
    rejected(&res, 400, "VALIDATION_ERROR");
    assert!(!user_exists(&app, &email).await);
    let res = app.post("/sign-up/email", sign_up_with(&email, json!({})), None).await;
    assert_eq!(res.assert_ok()["user"]["tier"], "basic");
    let cookie = app.cookie_of(&res);
    rejected(
        &app.post("/update-user", json!({"tier": "gold"}), Some(&cookie)).await,
        400,
        "VALIDATION_ERROR",
    );
    let id = session_user(&app, &cookie).await["id"].as_str().unwrap().to_string();
    let (admin_cookie, _) = crate::admin::admin(&app).await;
    let res = crate::admin::call(
        &app,
        &admin_cookie,
        "update-user",
        json!({"userId": id, "data": {"tier": "gold"}}),
    )
    .await;
    assert_eq!(res.assert_ok()["tier"], "gold");
    assert_eq!(session_user(&app, &cookie).await["tier"], "gold");
}

backend_tests!(
    concurrent_updates_of_different_fields_both_hold,
    admin_only_fields_and_long_text_are_refused,
    admins_set_fields_and_the_document_names_them,
    sign_up_stores_typed_fields_and_defaults,
    wrong_types_and_unknown_fields_are_refused,
    a_required_field_must_be_given,
    form_sign_ups_read_values_as_their_types,
    update_user_changes_and_clears_fields,
    a_required_field_cannot_be_cleared,
);
