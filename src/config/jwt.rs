//! `JWT_*` and `ACCESS_TOKEN_EXPIRATION`: the JWT service's settings (`jwt::JwtSettings`), issuer and audience defaulting to
//! the base URL's origin.

use std::time::Duration;

pub use crate::jwt::JwtSettings;
use crate::jwt::keys::SigningAlg;

use super::env::*;

/// The defaults for a server at `origin`.
pub fn defaults(origin: &str) -> JwtSettings {
    JwtSettings {
        algorithm: SigningAlg::EdDsa,
        lifetime: Duration::from_secs(3600),
        access_lifetime: Duration::from_secs(15 * 60),
        issuer: origin.to_string(),
        audience: origin.to_string(),
        on_get_session: true,
    }
}

pub fn read(env: &Env, origin: &str) -> anyhow::Result<JwtSettings> {
    let d = defaults(origin);
    Ok(JwtSettings {
        algorithm: env.or("JWT_ALGORITHM", d.algorithm, SigningAlg::parse)?,
        lifetime: env.or("JWT_EXPIRATION", d.lifetime, parse_duration)?,
        access_lifetime: env.or("ACCESS_TOKEN_EXPIRATION", d.access_lifetime, parse_duration)?,
        issuer: env.get("JWT_ISSUER").unwrap_or(d.issuer),
        audience: env.get("JWT_AUDIENCE").unwrap_or(d.audience),
        on_get_session: env.or("JWT_ON_GET_SESSION", d.on_get_session, parse_bool)?,
    })
}
