//! The one sign-in gate. Every way in (password, email code, and the ways still to come: social,
//! passkey, refresh token, username) ends in [`admit`], which decides whether a session may be
//! created and creates it, so a check added here holds everywhere.

use serde_json::json;

use crate::{
    domain::{
        audit::AuditEvent,
        model::{SessionRow, User},
    },
    error::{ApiError, ApiResult},
    service::{
        audit::{self, Record, recorded},
        links::{Purpose, in_background, return_to, send_verification},
        sessions::SignInContext,
        two_factor::{challenge, trusted},
    },
    state::AppState,
};

/// How the user proved who they are on this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// A password, already checked under the lockout (`credentials::check_password`).
    Password,
    /// A one-time code mailed to the address.
    EmailCode,
    /// A new account (sign-up).
    NewAccount,
    /// Another provider vouched for the user (sign-in with Google, an OpenID provider, …).
    Provider,
    /// A second factor completed a challenge this gate issued to an earlier proof.
    SecondFactor,
    /// A passkey with user verification: something the user has and is (or knows), so both
    /// factors at once.
    Passkey,
    /// A refresh token of a live session: no new session, only the account checks
    /// ([`check_account`]).
    RefreshToken,
}

/// What a sign-in asks for beyond the user.
pub struct Admission<'a> {
    pub proof: Proof,
    pub remember_me: bool,
    /// Where a verification link mailed by this gate returns the browser.
    pub callback: Option<&'a str>,
}

/// Decides whether `user` may have a session now, and starts it:
/// - a locked account gets none, whatever the proof (403 `ACCOUNT_LOCKED`; passwords were already
///   checked under the lockout, and a new account has no lock of its own yet), so a lock set by
///   guessing the password also holds for email codes and other providers;
/// - with `REQUIRE_EMAIL_VERIFICATION`, an unverified address gets none (403
///   `EMAIL_NOT_VERIFIED`, and a fresh link at most once a minute);
/// - a user with a second factor gets none until it passes, unless this browser is one they
///   trust: a challenge instead (the two-factor cookie and 200 `{twoFactorRedirect: true,
///   twoFactorMethods}`, see [`ApiError::SecondFactorNeeded`]);
/// - a user of another app than the request's gets none (401 `UNAUTHORIZED`): every lookup is
///   already scoped, and this holds even if one is not;
/// - with `TWO_FACTOR_REQUIRED`, a user without one gets a restricted session (it can only
///   enroll; see `http::extract`) and 200 `{twoFactorRedirect: true, twoFactorSetupRequired: true}`;
/// - a banned user gets none (403 `BANNED_USER`, see [`check_account`]).
///
/// Every outcome but a second factor still to give is written to the audit log (`sign-in`, or
/// `sign-up` for a new account; a refusal with its code).
pub async fn admit(
    state: &AppState,
    ctx: SignInContext,
    user: &User,
    admission: Admission<'_>,
) -> ApiResult<SessionRow> {
    let client = ctx.client.clone();
    let proof = admission.proof;
    let method = format!("{proof:?}");
    // A new account's sign-up event was written with the account.
    let signed_in = (proof != Proof::NewAccount).then(|| {
        audit::event(
            &Record::own("sign-in", user).from(&client).with(json!({ "method": method })),
            None,
            state.clock.now_ms(),
        )
    });
    let result = gate(state, ctx, user, admission, signed_in).await;
    match &result {
        Ok(_) | Err(ApiError::SecondFactorNeeded(_) | ApiError::SecondFactorSetupNeeded) => {}
        Err(_) if proof == Proof::NewAccount => {}
        Err(e) => {
            let reason = e.code().unwrap_or("INTERNAL_SERVER_ERROR");
            let event = Record::own("sign-in", user).from(&client).failed();
            audit::record(state, event.with(json!({ "method": method, "reason": reason })), None).await;
        }
    }
    result
}

async fn gate(
    state: &AppState,
    ctx: SignInContext,
    user: &User,
    admission: Admission<'_>,
    signed_in: Option<AuditEvent>,
) -> ApiResult<SessionRow> {
    if !ctx.scope.admits(user) {
        tracing::warn!(user = %user.id, "sign-in of a user outside the request's app refused");
        return Err(ApiError::Unauthorized);
    }
    check_account(state, user, admission.proof).await?;
    let require_verification =
        ctx.scope.require_email_verification(state.settings.sessions.require_email_verification);
    if require_verification && !user.email_verified {
        if admission.proof != Proof::NewAccount {
            resend_verification(state, user, admission.callback).await?;
        }
        return Err(ApiError::EmailNotVerified);
    }
    if admission.proof != Proof::SecondFactor {
        if user.two_factor_enabled {
            let agent = ctx.client.user_agent.clone();
            let both_factors = admission.proof == Proof::Passkey;
            if !both_factors && !trusted::recognise(state, &ctx.cookies, user, agent).await? {
                let mail = admission.proof == Proof::EmailCode;
                let methods =
                    challenge::issue(state, &ctx.cookies, user, admission.remember_me, mail).await?;
                return Err(ApiError::SecondFactorNeeded(methods));
            }
        } else if state.settings.two_factor.required {
            ctx.start(state, user, admission.remember_me, signed_in).await?;
            return Err(ApiError::SecondFactorSetupNeeded);
        }
    }
    ctx.start(state, user, admission.remember_me, signed_in).await
}

/// The checks on the account itself, for every proof (a refresh included): a banned user is
/// refused (403 `BANNED_USER`; a ban past its `banExpires` is lifted on the spot); a locked
/// account is refused (403 `ACCOUNT_LOCKED`; a password was already checked under the lockout,
/// and a new account has no lock of its own yet).
pub async fn check_account(state: &AppState, user: &User, proof: Proof) -> ApiResult<()> {
    if user.banned {
        let now = state.clock.now_ms();
        match user.ban_expires {
            Some(until) if until <= now => {
                // Only the ended ban is lifted: one set meanwhile stands (another sign-in may
                // have lifted this one already).
                let lifted = Record::own("user-unbanned", user).with(json!({ "reason": "the ban ended" }));
                let lifted =
                    recorded(state, lifted, None, state.store.lift_expired_ban(&user.id, now)).await?;
                if !lifted && state.store.user_by_id(&user.id).await?.is_none_or(|u| u.banned_at(now)) {
                    return Err(ApiError::BannedUser);
                }
            }
            _ => return Err(ApiError::BannedUser),
        }
    }
    if !matches!(proof, Proof::Password | Proof::NewAccount) {
        let (lockout, counters, db) = (&state.lockout, state.counters.as_ref(), state.store.as_ref());
        if lockout.locked(counters, db, &user.lockout_key(), state.clock.now_ms()).await? {
            return Err(ApiError::AccountLocked);
        }
    }
    Ok(())
}

/// The server requires a second factor and `user` has none yet: their sessions are restricted
/// to enrolling one.
pub fn second_factor_setup_pending(state: &AppState, user: &User) -> bool {
    state.settings.two_factor.required && !user.two_factor_enabled
}

/// A fresh verification link, at most one a minute per user.
async fn resend_verification(state: &AppState, user: &User, callback: Option<&str>) -> ApiResult<()> {
    let since = state.clock.now_ms() - 60_000;
    if state.store.verification_created_since(Purpose::Verify.prefix(), &user.id, since).await? {
        return Ok(());
    }
    let (st, user) = (state.clone(), user.clone());
    let callback = return_to(callback);
    in_background(async move { send_verification(&st, &user, Some(&callback)).await });
    Ok(())
}
