//! Passwords: hashing (`ARGON2_*`, `HASH_CONCURRENCY`) and the policy for new ones
//! (`PASSWORD_MIN_LENGTH`, `PASSWORD_MAX_LENGTH`, `PASSWORD_REQUIRE`).

use anyhow::bail;

use crate::domain::input::{CharClass, PASSWORD_HARD_MAX, PasswordPolicy};
pub use crate::security::password::Argon2Params;

use super::env::*;

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub argon2: Argon2Params,
    /// Hashes computed at once (each takes `memory_kib`); the rest wait.
    pub hash_concurrency: usize,
    pub policy: PasswordPolicy,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            argon2: Argon2Params::default(),
            hash_concurrency: super::cores(),
            policy: PasswordPolicy::default(),
        }
    }
}

impl PasswordSettings {
    pub fn read(env: &Env) -> anyhow::Result<Self> {
        let d = Self::default();
        Ok(Self {
            argon2: Argon2Params {
                memory_kib: env.or("ARGON2_MEMORY_KIB", d.argon2.memory_kib, at_least(8))?,
                iterations: env.or("ARGON2_ITERATIONS", d.argon2.iterations, at_least(1))?,
                parallelism: env.or("ARGON2_PARALLELISM", d.argon2.parallelism, at_least(1))?,
            },
            hash_concurrency: env.or("HASH_CONCURRENCY", d.hash_concurrency, at_least(1))?,
            policy: read_policy(env, d.policy)?,
        })
    }
}

fn read_policy(env: &Env, d: PasswordPolicy) -> anyhow::Result<PasswordPolicy> {
    let min = env.or("PASSWORD_MIN_LENGTH", d.min, at_least(1))?;
    let max = env.or("PASSWORD_MAX_LENGTH", d.max, at_least(1))?;
    if min > max || max > PASSWORD_HARD_MAX {
        bail!("PASSWORD_MIN_LENGTH / PASSWORD_MAX_LENGTH: need 1 <= min <= max <= {PASSWORD_HARD_MAX}");
    }
    let require = env.or("PASSWORD_REQUIRE", d.require, |v| {
        let mut classes = Vec::new();
        for word in v.split(',').filter(|w| !w.trim().is_empty()) {
            let class = CharClass::parse(word)?;
            if !classes.contains(&class) {
                classes.push(class);
            }
        }
        Some(classes)
    })?;
    Ok(PasswordPolicy { min, max, require })
}
