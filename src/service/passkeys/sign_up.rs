//! Passkey-first accounts: registration options for a new address, a code mailed to it, and the
//! account created once both the code and the passkey check out.

use serde_json::Value;
use tower_cookies::Cookies;
use webauthn_rs::prelude::Uuid;

use super::{CHALLENGE_NOT_FOUND, CHALLENGE_TTL_MS, Ceremony, begin, relying_party, take, verify_new};
use crate::{
    domain::{app::Scope, input::Email, model::User},
    error::{ApiError, ApiResult},
    security::tokens::{random_digits, random_id},
    service::{
        audit::{Record, recorded},
        codes::{Checked, check_code, store_code},
        links::{in_background, mail_vars},
    },
    state::AppState,
    store::StoreError,
};

/// As long as the ceremony it belongs to.
const SIGN_UP_CODE_TTL_MS: i64 = CHALLENGE_TTL_MS;
const SIGN_UP_CODE_TRIES: u32 = 5;

/// Where the code for a sign-up with `email` in the request's app is stored.
fn sign_up_code_identifier(scope: &Scope, email: &Email) -> String {
    format!("passkey-sign-up:{}", scope.qualify(email.as_str()))
}

/// Registration options for a new account with `email`; a code is mailed to the address when it
/// is free (its owner gets a notice otherwise), so the answer never tells whether it is taken.
pub async fn sign_up_options(
    state: &AppState,
    cookies: &Cookies,
    scope: &Scope,
    email: &Email,
    name: String,
) -> ApiResult<Value> {
    let rp = relying_party(state, None)?;
    let (options, registration) = rp
        .start_passkey_registration(Uuid::new_v4(), email.as_str(), &name, None)
        .map_err(ApiError::internal)?;
    let ceremony = Ceremony::SignUp {
        user_id: random_id(),
        email: email.as_str().to_string(),
        name,
        state: registration,
    };
    begin(state, cookies, &ceremony).await?;
    let (st, email, scope) = (state.clone(), email.clone(), scope.clone());
    in_background(async move {
        let now = st.clock.now_ms();
        // A code is stored either way (a taken address's is never sent), so the tries a wrong
        // code uses up read the same for every address.
        let code = random_digits(6);
        store_code(&st, &sign_up_code_identifier(&scope, &email), &code, SIGN_UP_CODE_TTL_MS).await?;
        if let Some(owner) = st.store.credential_by_email(email.as_str(), scope.key()).await? {
            let vars = mail_vars(&st, &owner.user);
            st.mailer.send_template("existing-account", "verify", email.as_str(), None, None, vars, now);
            return Ok(());
        }
        let vars = minijinja::context! {
            app_name => st.settings.app_name.clone(), email => email.as_str(), otp => code.clone(),
            expires_in => "5 minutes",
        };
        st.mailer.send_template("otp", "passkey-sign-up", email.as_str(), None, Some(code), vars, now);
        Ok(())
    });
    let mut json = serde_json::to_value(&options.public_key).map_err(ApiError::internal)?;
    json["authenticatorSelection"]["residentKey"] = "preferred".into();
    Ok(json)
}

/// Creates a verified user with the passkey `response` registers, after the code mailed for
/// `email` checks out (400 `INVALID_OTP`, `OTP_EXPIRED`, `TOO_MANY_ATTEMPTS` as for email codes).
/// The user belongs to the request's app (whose code it must be).
pub async fn sign_up(
    state: &AppState,
    cookies: &Cookies,
    scope: &Scope,
    origin: Option<&str>,
    email: &Email,
    code: &str,
    response: Value,
) -> ApiResult<User> {
    let Ceremony::SignUp { user_id, email: expected, name, state: registration } =
        take(state, cookies).await?
    else {
        return Err(CHALLENGE_NOT_FOUND);
    };
    if expected != email.as_str() {
        return Err(CHALLENGE_NOT_FOUND);
    }
    // The passkey first: a client's mistake there does not use up a right code.
    let row_for = verify_new(state, origin, &registration, response)?;
    match check_code(state, &sign_up_code_identifier(scope, email), code, SIGN_UP_CODE_TRIES).await? {
        Checked::Right => {}
        Checked::Wrong | Checked::Missing => return Err(ApiError::InvalidOtp),
        Checked::Expired => return Err(ApiError::OtpExpired),
        Checked::Exhausted => return Err(ApiError::TooManyAttempts),
    }
    let now = state.clock.now_ms();
    let app_id = scope.app_id().map(String::from);
    let user = User {
        email_verified: true,
        fields: crate::domain::fields::defaults(&state.settings.user_fields),
        ..User::new(user_id, name, email.as_str().to_string(), app_id, now)
    };
    let row = row_for(&user.id, None, now);
    let signed_up = Record::own("sign-up", &user).with(serde_json::json!({ "method": "Passkey" }));
    match recorded(state, signed_up, None, state.store.create_user_with_passkey(&user, &row)).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict) => Err(ApiError::UserExists),
        Err(e) => Err(e.into()),
    }
}
