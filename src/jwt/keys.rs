//! Signing keys: generation per algorithm, the public JWK, and the private key's encryption at
//! rest (ChaCha20-Poly1305 under a key derived from the server secret with HKDF-SHA256, the key
//! id bound in as associated data).

use jsonwebtoken::{Algorithm, EncodingKey, jwk::Jwk};
use zeroize::Zeroizing;

use crate::security::sealing::Sealer;

/// The algorithms Gatehouse signs with (`JWT_ALGORITHM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    EdDsa,
    Rs256,
    Es256,
}

impl SigningAlg {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "EDDSA" | "ED25519" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }

    pub fn jwt_algorithm(self) -> Algorithm {
        match self {
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
            Self::Es256 => Algorithm::ES256,
        }
    }

    /// Turns a stored private key (DER, as jsonwebtoken expects it) into an encoding key.
    pub fn encoding_key(self, der: &[u8]) -> EncodingKey {
        match self {
            Self::EdDsa => EncodingKey::from_ed_der(der),
            Self::Rs256 => EncodingKey::from_rsa_der(der),
            Self::Es256 => EncodingKey::from_ec_der(der),
        }
    }

    /// A fresh private key, DER-encoded (PKCS#8; PKCS#1 for RSA).
    pub fn generate(self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let mut rng = rand::rngs::OsRng;
        let der = match self {
            Self::EdDsa => {
                use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
                let key = ed25519_dalek::SigningKey::generate(&mut rng);
                // PKCS#8 v1 (seed only): the form jsonwebtoken derives the public JWK from.
                let bytes = KeypairBytes { secret_key: key.to_bytes(), public_key: None };
                bytes.to_pkcs8_der().map_err(|e| anyhow::anyhow!("ed25519 key: {e}"))?.as_bytes().to_vec()
            }
            Self::Rs256 => {
                use rsa::pkcs1::EncodeRsaPrivateKey;
                let key = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
                key.to_pkcs1_der().map_err(|e| anyhow::anyhow!("rsa key: {e}"))?.as_bytes().to_vec()
            }
            Self::Es256 => {
                use p256::pkcs8::EncodePrivateKey;
                let key = p256::SecretKey::random(&mut rng);
                key.to_pkcs8_der().map_err(|e| anyhow::anyhow!("p256 key: {e}"))?.as_bytes().to_vec()
            }
        };
        Ok(Zeroizing::new(der))
    }

    /// The public JWK for a private key, with `kid`, `alg` and `use: "sig"`.
    pub fn public_jwk(self, der: &[u8], kid: &str) -> anyhow::Result<Jwk> {
        let mut jwk = Jwk::from_encoding_key(&self.encoding_key(der), self.jwt_algorithm())?;
        jwk.common.key_id = Some(kid.to_string());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        Ok(jwk)
    }
}

/// Encrypts and decrypts private keys at rest (each bound to its key id).
pub struct KeyVault(Sealer);

impl KeyVault {
    pub fn new(secrets: &[&str]) -> Self {
        Self(Sealer::new(secrets, b"gatehouse/jwks-private-key/v1"))
    }

    /// `base64(nonce || ciphertext)`, bound to `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> anyhow::Result<String> {
        self.0.seal(kid, plaintext)
    }

    pub fn open(&self, kid: &str, sealed: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        self.0.open(kid, sealed)
    }

    /// A private key sealed under an older secret, sealed under the current one (`None`: it is).
    pub fn reseal(&self, kid: &str, sealed: &str) -> anyhow::Result<Option<String>> {
        let (plain, old) = self.0.open_with_age(kid, sealed)?;
        if !old {
            return Ok(None);
        }
        Ok(Some(self.0.seal(kid, &plain)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let vault = KeyVault::new(&["0123456789abcdef0123456789abcdef"]);
        let sealed = vault.seal("kid-1", b"private bytes").unwrap();
        assert!(!sealed.contains("private"));
        assert_eq!(vault.open("kid-1", &sealed).unwrap().as_slice(), b"private bytes");
        assert!(vault.open("kid-2", &sealed).is_err(), "bound to the key id");
        assert!(KeyVault::new(&["another-secret-another-secret-0000"]).open("kid-1", &sealed).is_err());
    }

    #[test]
    fn ed25519_and_es256_keys_give_public_jwks() {
        for alg in [SigningAlg::EdDsa, SigningAlg::Es256] {
            let der = alg.generate().unwrap();
            let jwk = serde_json::to_value(alg.public_jwk(&der, "k1").unwrap()).unwrap();
            assert_eq!(jwk["kid"], "k1");
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], alg.name());
            assert!(jwk.get("d").is_none(), "no private part: {jwk}");
        }
    }
}
