//! Members: `update-member-role`, `remove-member` and `leave` follow rank, and an organization
//! with members always keeps an owner (also under races, and when an owner deletes their
//! account).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::{
    app, backend_tests,
    helpers::{org::*, *},
};

/// The role `member_id` has in the organization; `None` when it is not a member.
async fn role_of(app: &TestApp, cookie: &str, org_id: &Value, member_id: &Value) -> Option<String> {
    let members = members(app, cookie, org_id).await;
    members.iter().find(|m| m["id"] == *member_id).and_then(|m| m["role"].as_str()).map(str::to_string)
}

async fn update_member_role_follows_rank(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let (id, owner_id) = (&org["id"], creator_member(&org));
    let (admin, _, admin_id) = add_member(&app, &owner, "admin").await;
    let (bob, _, bob_id) = add_member(&app, &owner, "member").await;
    let (_, _, carol_id) = add_member(&app, &owner, "member").await;

    // An owner changes a role; the organization defaults to the active one.
    let updated = set_role(&app, &owner, None, &bob_id, "admin").await.assert_ok();
    assert_eq!(
        (&updated["id"], &updated["organizationId"], &updated["role"]),
        (&bob_id, id, &json!("admin")),
        "{updated}"
    );
    assert_eq!(role_of(&app, &owner, id, &bob_id).await.as_deref(), Some("admin"));
    set_role(&app, &owner, Some(id), &bob_id, "member").await.assert_ok();

    let lonely = app.signed_up_cookie(&unique_email()).await;
    set_role(&app, &lonely, None, &bob_id, "admin").await.assert_error(400, "NO_ACTIVE_ORGANIZATION");
    set_role(&app, &lonely, Some(id), &bob_id, "admin").await.assert_error(403, NOT_A_MEMBER);
    let (_, _, elsewhere) = founder(&app).await;
    for outsider in [creator_member(&elsewhere), json!("nope")] {
        set_role(&app, &owner, Some(id), &outsider, "admin").await.assert_error(400, "MEMBER_NOT_FOUND");
    }
    set_role(&app, &owner, Some(id), &bob_id, "superuser").await.assert_error(400, "ROLE_NOT_FOUND");

    // Members change no one (not even themselves); admins neither touch owners nor make them.
    let refused = [
        (&bob, &carol_id, "admin"),
        (&bob, &bob_id, "admin"),
        (&admin, &owner_id, "member"),
        (&admin, &bob_id, "owner"),
    ];
    for (cookie, target, role) in refused {
        set_role(&app, cookie, Some(id), target, role).await.assert_error(403, UPDATE_MEMBER);
    }
    set_role(&app, &admin, Some(id), &carol_id, "admin").await.assert_ok();
    let expected = [(&owner_id, "owner"), (&admin_id, "admin"), (&bob_id, "member"), (&carol_id, "admin")];
    for (member_id, role) in expected {
        assert_eq!(role_of(&app, &owner, id, member_id).await.as_deref(), Some(role), "{member_id}");
    }

    // The only owner cannot step down; with a second owner either may be demoted.
    set_role(&app, &owner, Some(id), &owner_id, "admin").await.assert_error(400, NO_OWNER_LEFT);
    assert_eq!(role_of(&app, &owner, id, &owner_id).await.as_deref(), Some("owner"));
    set_role(&app, &owner, Some(id), &bob_id, "owner").await.assert_ok();
    assert_eq!(set_role(&app, &owner, Some(id), &bob_id, "admin").await.assert_ok()["role"], "admin");
    set_role(&app, &owner, Some(id), &bob_id, "owner").await.assert_ok();
    assert_eq!(set_role(&app, &owner, Some(id), &owner_id, "member").await.assert_ok()["role"], "member");
    set_role(&app, &owner, Some(id), &bob_id, "member").await.assert_error(403, UPDATE_MEMBER);
    assert_eq!(owners(&app, &bob, id).await, 1);
}

async fn remove_member_follows_rank_and_takes_the_org_away(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let (id, owner_id) = (&org["id"], creator_member(&org));
    let (admin, _, _) = add_member(&app, &owner, "admin").await;
    let (bob, _, bob_id) = add_member(&app, &owner, "member").await;
    let (carol, carol_email, carol_id) = add_member(&app, &owner, "member").await;
    let lonely_email = unique_email();
    let lonely = app.signed_up_cookie(&lonely_email).await;

    remove(&app, &lonely, None, &bob_id).await.assert_error(400, "NO_ACTIVE_ORGANIZATION");
    remove(&app, &lonely, Some(id), &bob_id).await.assert_error(403, NOT_A_MEMBER);
    for nobody in [json!("nope"), json!(lonely_email)] {
        remove(&app, &owner, Some(id), &nobody).await.assert_error(400, "MEMBER_NOT_FOUND");
    }
    for (cookie, target) in [(&bob, &carol_id), (&bob, &bob_id), (&admin, &owner_id)] {
        remove(&app, cookie, Some(id), target).await.assert_error(403, DELETE_MEMBER);
    }
    remove(&app, &owner, None, &owner_id).await.assert_error(400, ONLY_OWNER);
    assert_eq!(members(&app, &owner, id).await.len(), 4);

    // By id (active organization), and by email (named organization, by an admin).
    let removed = remove(&app, &owner, None, &bob_id).await.assert_ok();
    assert_eq!(
        (&removed["member"]["id"], &removed["member"]["organizationId"], &removed["member"]["role"]),
        (&bob_id, id, &json!("member")),
        "{removed}"
    );
    let removed = remove(&app, &admin, Some(id), &json!(carol_email)).await.assert_ok();
    assert_eq!(removed["member"]["id"], carol_id, "{removed}");
    for (who, cookie) in [("bob", &bob), ("carol", &carol)] {
        assert!(active_org(&app, cookie).await.is_null(), "{who}'s session still has it active");
        assert!(!listed(&app, cookie).await.contains(id), "{who} still lists it");
        app.post("/organization/set-active", json!({"organizationId": id}), Some(cookie))
            .await
            .assert_error(403, NOT_A_MEMBER);
    }
    assert_eq!(members(&app, &owner, id).await.len(), 2);
    remove(&app, &owner, Some(id), &bob_id).await.assert_error(400, "MEMBER_NOT_FOUND");
}

async fn leave_refuses_the_only_owner(backend: Backend) {
    let app = app!(backend);
    let (owner, _, org) = founder(&app).await;
    let id = &org["id"];
    let (admin, _, _) = add_member(&app, &owner, "admin").await;
    let (bob, _, bob_id) = add_member(&app, &owner, "member").await;
    let lonely = app.signed_up_cookie(&unique_email()).await;

    app.post("/organization/leave", json!({}), Some(&bob)).await.assert_error(400, "VALIDATION_ERROR");
    leave(&app, &bob, &json!("nope")).await.assert_error(400, "ORGANIZATION_NOT_FOUND");
    leave(&app, &lonely, id).await.assert_error(403, NOT_A_MEMBER);
    leave(&app, &owner, id).await.assert_error(400, ONLY_OWNER);
    assert_eq!(members(&app, &owner, id).await.len(), 3);

    let left = leave(&app, &bob, id).await.assert_ok();
    assert_eq!(
        (&left["id"], &left["organizationId"], &left["role"]),
        (&bob_id, id, &json!("member")),
        "{left}"
    );
    assert!(active_org(&app, &bob).await.is_null());
    assert_eq!(members(&app, &owner, id).await.len(), 2);
    leave(&app, &bob, id).await.assert_error(403, NOT_A_MEMBER);

    // Leaving an organization that is not the active one keeps the active one.
    let own = create(&app, &admin, &slug()).await.assert_ok();
    leave(&app, &admin, id).await.assert_ok();
    assert_eq!(active_org(&app, &admin).await, own["id"]);
    assert_eq!(members(&app, &owner, id).await.len(), 1);
}

async fn the_last_owner_survives_a_race(backend: Backend) {
    let app = app!(backend);
    let creator = app.signed_up_cookie(&unique_email()).await;
    for round in 1..=5 {
        for demotion in [false, true] {
            let org = create(&app, &creator, &slug()).await.assert_ok();
            let (id, creator_id) = (&org["id"], creator_member(&org));
            let (second, _, second_id) = add_member(&app, &creator, "owner").await;
            let (what, code, (a, b)) = if demotion {
                let both = tokio::join!(
                    set_role(&app, &creator, Some(id), &creator_id, "member"),
                    set_role(&app, &second, Some(id), &second_id, "member")
                );
                ("self-demotions", NO_OWNER_LEFT, both)
            } else {
                let both = tokio::join!(leave(&app, &creator, id), leave(&app, &second, id));
                ("leaves", ONLY_OWNER, both)
            };
            let outcomes = [(a, &creator), (b, &second)];
            let wins = outcomes.iter().filter(|(res, _)| res.status == StatusCode::OK).count();
            let texts = [outcomes[0].0.text(), outcomes[1].0.text()];
            assert_eq!(wins, 1, "round {round}, concurrent {what}: {texts:?}");
            let (loser, loser_cookie) =
                outcomes.iter().find(|(res, _)| res.status != StatusCode::OK).expect("a loser");
            loser.assert_error(400, code);
            assert_eq!(owners(&app, loser_cookie, id).await, 1, "round {round}, concurrent {what}");
        }
    }
}

async fn delete_user_respects_the_last_owner(backend: Backend) {
    let app = app!(backend);
    let witness = app.signed_up_cookie(&unique_email()).await;

    // Alone in their organization: it goes with them.
    let (alone, _, solo) = founder(&app).await;
    delete_account(&app, &alone).await.assert_ok();
    assert!(slug_is_free(&app, &witness, &solo["slug"]).await, "the organization is still there");
    full_org(&app, &witness, &solo["id"]).await.assert_error(400, "ORGANIZATION_NOT_FOUND");

    // The only owner of an organization with others: refused, and nothing is deleted.
    let (owner, owner_email, org) = founder(&app).await;
    let id = &org["id"];
    let (bob, _, bob_id) = add_member(&app, &owner, "admin").await;
    let solo = create(&app, &owner, &slug()).await.assert_ok();
    delete_account(&app, &owner).await.assert_error(400, ONLY_OWNER);
    app.sign_in(&owner_email, PASSWORD).await.assert_ok();
    assert_eq!(members(&app, &owner, id).await.len(), 2);
    assert!(!slug_is_free(&app, &witness, &solo["slug"]).await, "the refusal rolled back everything");

    // With another owner it goes through, and the organization stays with them.
    set_role(&app, &owner, Some(id), &bob_id, "owner").await.assert_ok();
    delete_account(&app, &owner).await.assert_ok();
    app.sign_in(&owner_email, PASSWORD).await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let left = members(&app, &bob, id).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!((&left[0]["id"], &left[0]["role"]), (&bob_id, &json!("owner")));
    assert!(!slug_is_free(&app, &witness, &org["slug"]).await);
    assert!(slug_is_free(&app, &witness, &solo["slug"]).await, "their own organization went with them");
}

backend_tests!(
    update_member_role_follows_rank,
    remove_member_follows_rank_and_takes_the_org_away,
    leave_refuses_the_only_owner,
    the_last_owner_survives_a_race,
    delete_user_respects_the_last_owner,
);
