//! Sessions and who may start one: `SESSION_*`, `REQUIRE_EMAIL_VERIFICATION`,
//! `SEND_VERIFICATION_ON_SIGN_UP`.

use std::time::Duration;

use anyhow::bail;

use super::env::*;

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub expires_in: Duration,
    /// A session last refreshed longer ago than this is pushed out on get-session.
    pub update_age: Duration,
    /// No refresh carries a session past this age.
    pub absolute_lifetime: Duration,
    /// Sensitive routes need a session younger than this.
    pub fresh_age: Duration,
    /// Sign-in needs a verified email.
    pub require_email_verification: bool,
    pub send_verification_on_sign_up: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Self {
            expires_in: Duration::from_secs(7 * DAY),
            update_age: Duration::from_secs(DAY),
            absolute_lifetime: Duration::from_secs(30 * DAY),
            fresh_age: Duration::from_secs(DAY),
            require_email_verification: false,
            send_verification_on_sign_up: true,
        }
    }
}

impl SessionSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        let s = Self {
            expires_in: env.or("SESSION_EXPIRES_IN", d.expires_in, parse_duration)?,
            update_age: env.or("SESSION_UPDATE_AGE", d.update_age, parse_duration)?,
            absolute_lifetime: env.or("SESSION_ABSOLUTE_LIFETIME", d.absolute_lifetime, parse_duration)?,
            fresh_age: env.or("SESSION_FRESH_AGE", d.fresh_age, parse_duration)?,
            require_email_verification: env.or(
                "REQUIRE_EMAIL_VERIFICATION",
                d.require_email_verification,
                parse_bool,
            )?,
            send_verification_on_sign_up: env.or(
                "SEND_VERIFICATION_ON_SIGN_UP",
                d.send_verification_on_sign_up,
                parse_bool,
            )?,
        };
        if s.absolute_lifetime < s.expires_in {
            bail!("SESSION_ABSOLUTE_LIFETIME: must not be shorter than SESSION_EXPIRES_IN");
        }
        Ok(s)
    }
}
