//! Password hashing: argon2id for new hashes, Better Auth's scrypt format accepted on sign-in.
//!
//! Hashing is CPU-heavy, so it runs on blocking threads behind a semaphore with one permit per
//! core: sign-ins queue there (asynchronously) instead of stalling the async workers, and
//! `get-session` stays fast while sign-ins saturate the CPU.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
    password_hash::SaltString,
};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::{
    config::Argon2Params,
    error::{ApiError, ApiResult},
    security::tokens::constant_time_eq,
};

/// What verifying a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, or no such user (checked against a dummy hash for equal timing).
    No,
    /// Right password; `rehash` when the stored hash is scrypt or uses other argon2 parameters.
    Yes { rehash: bool },
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(params: Argon2Params, concurrency: usize) -> anyhow::Result<Self> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| anyhow::anyhow!("ARGON2_*: invalid argon2 parameters: {e}"))?;
        let dummy_hash = hash_blocking(&params, "gatehouse-dummy-password-for-equal-timing")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a new password to an argon2id PHC string.
    pub async fn hash(&self, password: &str) -> ApiResult<String> {
        let params = self.params.clone();
        let password = password.to_string();
        self.run(move || hash_blocking(&params, &password).map_err(ApiError::internal)).await
    }

    /// Verifies `password` against `stored`; with `None`, against a dummy hash so an unknown user
    /// costs the same time as a wrong password.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> ApiResult<Verified> {
        let params = self.params.clone();
        let password = password.to_string();
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_string);
        self.run(move || {
            let verified = verify_blocking(&params, &password, &stored);
            Ok(if known { verified } else { Verified::No })
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))
}

fn verify_blocking(params: &Params, password: &str, stored: &str) -> Verified {
    if stored.starts_with("$argon2") {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verified::No;
        };
        if argon2(params).verify_password(password.as_bytes(), &parsed).is_err() {
            return Verified::No;
        }
        let current = parsed.algorithm.as_str() == "argon2id"
            && Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == params.m_cost()
                    && p.t_cost() == params.t_cost()
                    && p.p_cost() == params.p_cost()
            });
        return Verified::Yes { rehash: !current };
    }
    if verify_better_auth_scrypt(password, stored) { Verified::Yes { rehash: true } } else { Verified::No }
}

/// Better Auth's default hash: `saltHex:keyHex`, scrypt(N=16384, r=16, p=1, dkLen=64) over the
/// NFKC-normalised password, with the salt's hex *string* (not its bytes) as the scrypt salt.
fn verify_better_auth_scrypt(password: &str, stored: &str) -> bool {
    let Some((salt_hex, key_hex)) = stored.split_once(':') else {
        return false;
    };
    let Some(expected) = decode_hex(key_hex) else {
        return false;
    };
    if expected.len() != 64 || salt_hex.is_empty() {
        return false;
    }
    let params = scrypt::Params::new(14, 16, 1, 64).expect("valid scrypt parameters");
    let normalized: String = password.nfkc().collect();
    let mut derived = [0u8; 64];
    if scrypt::scrypt(normalized.as_bytes(), salt_hex.as_bytes(), &params, &mut derived).is_err() {
        return false;
    }
    constant_time_eq(&derived, &expected)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made with Python's hashlib.scrypt (OpenSSL), the parameters Better Auth uses:
    /// `hashlib.scrypt(pw, salt=salt_hex.encode(), n=16384, r=16, p=1, dklen=64)`.
    const SCRYPT_VECTOR: &str = "357f3bb7eaa15359f555bb0f5a4327af:1d2628b2de84535f92cadb2150c86bb6cea0a6c2f57fe5bccccded9207aa09b43f40e84afb27aa0888877b61378201977dd359fb54f7b5558ef559405124eb5e";

    fn cheap() -> Argon2Params {
        Argon2Params { memory_kib: 64, iterations: 1, parallelism: 1 }
    }

    #[test]
    fn better_auth_scrypt_vector_verifies() {
        assert!(verify_better_auth_scrypt("correct horse battery staple", SCRYPT_VECTOR));
        assert!(!verify_better_auth_scrypt("correct horse battery stapler", SCRYPT_VECTOR));
        assert!(!verify_better_auth_scrypt("x", "zz:zz"));
        assert!(!verify_better_auth_scrypt("x", "no-colon"));
    }

    #[tokio::test]
    async fn argon2id_round_trip_and_rehash_flags() {
        let hasher = PasswordHasher::new(cheap(), 2).unwrap();
        let hash = hasher.hash("hunter2hunter2").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert_eq!(
            hasher.verify("hunter2hunter2", Some(&hash)).await.unwrap(),
            Verified::Yes { rehash: false }
        );
        assert_eq!(hasher.verify("wrong-password", Some(&hash)).await.unwrap(), Verified::No);
        assert_eq!(hasher.verify("hunter2hunter2", None).await.unwrap(), Verified::No);
        let stronger = PasswordHasher::new(Argon2Params { memory_kib: 128, ..cheap() }, 1).unwrap();
        assert_eq!(
            stronger.verify("hunter2hunter2", Some(&hash)).await.unwrap(),
            Verified::Yes { rehash: true }
        );
        assert_eq!(
            hasher.verify("correct horse battery staple", Some(SCRYPT_VECTOR)).await.unwrap(),
            Verified::Yes { rehash: true }
        );
    }

    #[test]
    fn default_parameters_are_owasp() {
        let hash = hash_blocking(&Params::new(19_456, 2, 1, None).unwrap(), "pw").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }
}
