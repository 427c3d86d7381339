//! Password hashing: `ARGON2_*`, `HASH_CONCURRENCY`.

pub use crate::security::password::Argon2Params;

use super::env::*;

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub argon2: Argon2Params,
    /// Hashes computed at once (each takes `memory_kib`); the rest wait.
    pub hash_concurrency: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        Self {
            argon2: Argon2Params::default(),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
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
        })
    }
}
