//! Every way in × every second-factor policy, as one table: the second factor is asked wherever a
//! session would start (the one sign-in gate), and mandatory policies hold on every way in.

use serde_json::{Value, json};

use super::*;
use crate::{
    backend_tests,
    helpers::*,
    social::{location, sign_in_as, social_app},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Password,
    EmailCode,
    Social,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// The user has no second factor.
    Off,
    /// The user has an authenticator.
    On,
    /// The user has none, and is a member of an organization that requires one.
    Organization,
    /// The user has none, and the server requires one.
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A session.
    Session,
    /// No session; a challenge the second factor completes.
    Challenge,
    /// A session, without the organization (it cannot be made active).
    SessionWithoutOrganization,
    /// A session that can only enroll a second factor.
    Restricted,
}

const EXPECTED: &[(Policy, Outcome)] = &[
    (Policy::Off, Outcome::Session),
    (Policy::On, Outcome::Challenge),
    (Policy::Organization, Outcome::SessionWithoutOrganization),
    (Policy::Server, Outcome::Restricted),
];

/// A user of `app` under `policy`: email, the TOTP key (when enrolled), the organization.
struct Subject {
    email: String,
    secret: Option<Vec<u8>>,
    org: Option<Value>,
}

async fn subject(app: &TestApp, policy: Policy) -> Subject {
    match policy {
        Policy::On => {
            let user = enrolled(app).await;
            app.verify_email_of(&user.email).await;
            Subject { email: user.email, secret: Some(user.secret), org: None }
        }
        Policy::Organization => {
            let owner = enrolled(app).await.cookie;
            let org = org::create(app, &owner, &org::slug()).await.assert_ok();
            let (_, email, _) = org::add_member(app, &owner, "member").await;
            org::update(app, &owner, Some(&org["id"]), json!({"requireTwoFactor": true})).await.assert_ok();
            Subject { email, secret: None, org: Some(org["id"].clone()) }
        }
        Policy::Off | Policy::Server => {
            let email = unique_email();
            app.verified_cookie(&email).await;
            Subject { email, secret: None, org: None }
        }
    }
}

/// Signs `who` in by `way`: what happened (a challenge is completed with the second factor).
async fn sign_in(app: &TestApp, op: &oidc::OidcProvider, way: Way, who: &Subject) -> Outcome {
    let res = match way {
        Way::Password => app.sign_in(&who.email, PASSWORD).await,
        Way::EmailCode => {
            let code = app.otp_code(&who.email, "sign-in", 1).await;
            app.post("/sign-in/email-otp", json!({"email": who.email, "otp": code}), None).await
        }
        Way::Social => sign_in_as(app, op, "google", &who.email, json!({"callbackURL": "/home"})).await,
    };
    let session = res.session_cookie(&app.state.session_cookie);
    let challenge = res.session_cookie(&app.state.two_factor_cookie());
    let (redirected, setup) = if way == Way::Social {
        let to = location(&res);
        (to.contains("error=two_factor_required"), to.contains("error=two_factor_setup_required"))
    } else {
        let body = res.assert_ok();
        (
            body["twoFactorRedirect"] == true && body.get("twoFactorSetupRequired").is_none(),
            body["twoFactorSetupRequired"] == true,
        )
    };
    match (session, challenge) {
        (None, Some(challenge)) if redirected => {
            // The second factor completes this very sign-in.
            let code = code_now(app, who.secret.as_ref().expect("enrolled"));
            let done = verify(app, "verify-totp", &code, &challenge).await;
            assert_eq!(session_user(app, &app.cookie_of(&done)).await["email"], who.email);
            next_step(app);
            Outcome::Challenge
        }
        (Some(cookie), None) if setup => {
            assert_eq!(app.session(&cookie).await["session"]["restricted"], true);
            app.get("/list-sessions", Some(&cookie)).await.assert_error(403, "TWO_FACTOR_REQUIRED");
            Outcome::Restricted
        }
        (Some(cookie), None) if !redirected && !setup => match &who.org {
            Some(org) => {
                let res =
                    app.post("/organization/set-active", json!({"organizationId": org}), Some(&cookie)).await;
                res.assert_error(403, "TWO_FACTOR_REQUIRED");
                Outcome::SessionWithoutOrganization
            }
            None => Outcome::Session,
        },
        other => panic!("{way:?}: unexpected answer {other:?}: {}", res.text()),
    }
}

async fn every_way_in_under_every_policy(backend: Backend) {
    let Some((app, op)) = social_app(backend, |_| {}).await else { return };
    let strict = app.sibling(|s| s.two_factor.required = true);
    mid_step(&app);
    for way in [Way::Password, Way::EmailCode, Way::Social] {
        for &(policy, expected) in EXPECTED {
            let app = if policy == Policy::Server { &strict } else { &app };
            let who = subject(app, policy).await;
            let outcome = sign_in(app, &op, way, &who).await;
            assert_eq!(outcome, expected, "{way:?} × {policy:?}");
        }
    }
}

backend_tests!(every_way_in_under_every_policy);
