//! Password hashing: argon2id for new hashes, Better Auth's scrypt format accepted on sign-in.
//!
//! Hashing is CPU-heavy, so it runs on blocking threads behind a semaphore with one permit per
//! core: sign-ins queue there (asynchronously) instead of stalling the async workers, and
//! `get-session` stays fast while sign-ins saturate the CPU. Each permit owns one argon2 work
//! area (19 MiB by default), reused from hash to hash: no allocation or page faults per hash,
//! and memory bounded by the number of permits.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, ParamsString, SaltString},
};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

use crate::{
    error::{ApiError, ApiResult},
    security::tokens::constant_time_eq,
};

/// Argon2id cost parameters (OWASP's recommendation by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1 }
    }
}

/// What verifying a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, or no such user (checked against a dummy hash for equal timing).
    No,
    /// Right password; `rehash` when the stored hash is scrypt or uses other argon2 parameters.
    Yes { rehash: bool },
}

/// An argon2 work area (memory blocks), reused from hash to hash.
type WorkArea = Vec<Block>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Idle work areas; never more than one per permit.
    areas: Arc<Mutex<Vec<WorkArea>>>,
    /// Hashes requested and not yet done (running or queued for a permit).
    in_flight: Arc<AtomicUsize>,
    concurrency: usize,
    /// How long hashes waited for a permit, in seconds (for `/metrics`).
    waits: Histogram,
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    pub fn new(params: Argon2Params, concurrency: usize) -> anyhow::Result<Self> {
        let params = Params::new(params.memory_kib, params.iterations, params.parallelism, None)
            .map_err(|e| anyhow::anyhow!("ARGON2_*: invalid argon2 parameters: {e}"))?;
        let mut area = vec![Block::default(); params.block_count()];
        let dummy_hash = hash_blocking(&params, "gatehouse-dummy-password-for-equal-timing", &mut area)?;
        drop(area);
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            areas: Arc::new(Mutex::new(Vec::new())),
            in_flight: Arc::new(AtomicUsize::new(0)),
            concurrency: concurrency.max(1),
            waits: Histogram::new(exponential_buckets(0.001, 4.0, 8)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes waiting for a permit now.
    pub fn queued(&self) -> usize {
        let running = self.concurrency - self.permits.available_permits();
        self.in_flight.load(Ordering::Acquire).saturating_sub(running)
    }

    /// The histogram of waits for a permit (seconds).
    pub fn waits(&self) -> Histogram {
        self.waits.clone()
    }

    /// Hashes a new password to an argon2id PHC string.
    pub async fn hash(&self, password: &str) -> ApiResult<String> {
        let params = self.params.clone();
        let password = password.to_string();
        self.run(move |area| hash_blocking(&params, &password, area).map_err(ApiError::internal)).await
    }

    /// Verifies `password` against `stored`; with `None`, against a dummy hash so an unknown user
    /// costs the same time as a wrong password.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> ApiResult<Verified> {
        let params = self.params.clone();
        let password = password.to_string();
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_string);
        self.run(move |area| {
            let verified = verify_blocking(&params, &password, &stored, area);
            Ok(if known { verified } else { Verified::No })
        })
        .await
    }

    /// Runs `f` on a blocking thread with a work area, once a permit is free. Work areas are
    /// kept for the next hash while more are waiting, and given back to the OS when the queue
    /// runs dry, so an idle server does not hold tens of MiB.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WorkArea) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        struct Done(Arc<AtomicUsize>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let done = Done(self.in_flight.clone());
        let asked = crate::domain::time::Stopwatch::start();
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        self.waits.observe(asked.elapsed().as_secs_f64());
        let areas = self.areas.clone();
        let size = self.params.block_count();
        tokio::task::spawn_blocking(move || {
            let taken = areas.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
            let mut area = taken.unwrap_or_else(|| vec![Block::default(); size]);
            let result = f(&mut area);
            let mut idle = areas.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if done.0.load(Ordering::Acquire) > 1 {
                idle.push(area);
            } else {
                idle.clear();
            }
            result
        })
        .await
        .map_err(ApiError::internal)?
    }
}

fn hash_blocking(params: &Params, password: &str, area: &mut WorkArea) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, &mut area[..])
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2 output: {e}"))?),
    };
    Ok(phc.to_string())
}

fn verify_blocking(params: &Params, password: &str, stored: &str, area: &mut WorkArea) -> Verified {
    if stored.starts_with("$argon2") {
        return match verify_argon2(password, stored, area) {
            Some((true, theirs)) => {
                let current = theirs.m_cost() == params.m_cost()
                    && theirs.t_cost() == params.t_cost()
                    && theirs.p_cost() == params.p_cost()
                    && stored.starts_with("$argon2id$");
                Verified::Yes { rehash: !current }
            }
            _ => Verified::No,
        };
    }
    if verify_better_auth_scrypt(password, stored) { Verified::Yes { rehash: true } } else { Verified::No }
}

/// Recomputes a PHC-format argon2 hash with its own parameters and compares in constant time.
/// Returns whether it matched and the stored hash's parameters; `None` if it does not parse.
fn verify_argon2(password: &str, stored: &str, area: &mut WorkArea) -> Option<(bool, Params)> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from).ok()?;
    let params = Params::try_from(&parsed).ok()?;
    let expected = parsed.hash?;
    let mut salt_bytes = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    // The shared work area fits hashes made with the current parameters; others get their own.
    let computed = if area.len() == params.block_count() {
        argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut area[..])
    } else {
        argon.hash_password_into(password.as_bytes(), salt, &mut out)
    };
    computed.ok()?;
    Some((constant_time_eq(&out, expected.as_bytes()), params))
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
        let params = Params::new(19_456, 2, 1, None).unwrap();
        let mut area = vec![Block::default(); params.block_count()];
        let hash = hash_blocking(&params, "pw", &mut area).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        // Our PHC strings are what the argon2 crate itself verifies.
        use argon2::PasswordVerifier as _;
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"px", &parsed).is_err());
    }

    #[test]
    fn verifies_hashes_made_by_the_argon2_crate() {
        use argon2::PasswordHasher as _;
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default().hash_password(b"their-password", &salt).unwrap().to_string();
        let params = Params::new(64, 1, 1, None).unwrap();
        let mut area = vec![Block::default(); params.block_count()];
        assert_eq!(
            verify_blocking(&params, "their-password", &theirs, &mut area),
            Verified::Yes { rehash: true }
        );
        assert_eq!(verify_blocking(&params, "wrong", &theirs, &mut area), Verified::No);
        assert_eq!(verify_blocking(&params, "x", "$argon2id$garbage", &mut area), Verified::No);
    }
}
