//! A jsonwebtoken crypto provider that remembers the last Ed25519 key it parsed.
//!
//! jsonwebtoken builds a signer from the key's bytes on every `encode`; for Ed25519 that derives
//! the public key, a scalar multiplication as costly as the signature itself. Gatehouse signs
//! with one key at a time, so keeping the parsed key roughly halves the cost of minting. Every
//! other algorithm, and all verification, is jsonwebtoken's own RustCrypto provider.

use std::sync::{Mutex, OnceLock};

use ed25519_dalek::{SigningKey, pkcs8::DecodePrivateKey};
use jsonwebtoken::{
    Algorithm, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, rust_crypto},
    errors::{ErrorKind, Result},
    signature::{Error, Signer},
};

struct Ed25519Signer(SigningKey);

impl Signer<Vec<u8>> for Ed25519Signer {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}

impl JwtSigner for Ed25519Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

/// The last Ed25519 key parsed: its DER and the parsed key.
static LAST_ED25519: Mutex<Option<(Vec<u8>, SigningKey)>> = Mutex::new(None);

fn signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    if *alg != Algorithm::EdDSA {
        return (rust_crypto::DEFAULT_PROVIDER.signer_factory)(alg, key);
    }
    let der = key.as_bytes();
    let mut last = LAST_ED25519.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let parsed = match last.as_ref() {
        Some((cached, parsed)) if cached == der => parsed.clone(),
        _ => {
            let parsed = SigningKey::from_pkcs8_der(der).map_err(|_| ErrorKind::InvalidEddsaKey)?;
            *last = Some((der.to_vec(), parsed.clone()));
            parsed
        }
    };
    Ok(Box::new(Ed25519Signer(parsed)))
}

/// Installs the provider for this process (once; later calls do nothing).
pub fn install() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER
        .get_or_init(|| CryptoProvider { signer_factory: signer, ..rust_crypto::DEFAULT_PROVIDER.clone() });
    let _ = provider.install_default();
}
