//! `gatehouse secrets reseal`: every value sealed under an older secret (`BETTER_AUTH_SECRETS`
//! after the first) is sealed again under the current one, so the older secrets can be dropped.

use crate::{
    jwt::keys::KeyVault,
    security::sealing::{FactorSealer, TokenSealer},
    store::{
        Store,
        sealed::{SealedColumn, SealedValue},
    },
};

/// What resealing did to one column.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resealed {
    pub column: &'static str,
    /// Values sealed again under the current secret.
    pub resealed: u64,
    /// Values already under it.
    pub current: u64,
    /// Values no listed secret opens (left as they are).
    pub unreadable: u64,
}

/// Seals again, under `secrets[0]`, every value an older one of `secrets` sealed.
pub async fn reseal(store: &dyn Store, secrets: &[&str]) -> anyhow::Result<Vec<Resealed>> {
    let sealers = (KeyVault::new(secrets), TokenSealer::new(secrets), FactorSealer::new(secrets));
    let mut report = Vec::new();
    for column in SealedColumn::ALL {
        let mut done = Resealed { column: column.name(), ..Resealed::default() };
        let mut after = String::new();
        loop {
            let page = store.sealed_values(column, &after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for value in &page {
                match again(&sealers, column, value) {
                    Ok(None) => done.current += 1,
                    Ok(Some(fresh)) => {
                        // A value written meanwhile is under the current secret already.
                        if store.replace_sealed(column, &value.id, &value.value, &fresh).await? {
                            done.resealed += 1;
                        } else {
                            done.current += 1;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(column = column.name(), id = %value.id, error = %e, "a sealed value opens under no listed secret");
                        done.unreadable += 1;
                    }
                }
            }
        }
        report.push(done);
    }
    Ok(report)
}

fn again(
    (vault, tokens, factors): &(KeyVault, TokenSealer, FactorSealer),
    column: SealedColumn,
    v: &SealedValue,
) -> anyhow::Result<Option<String>> {
    match column {
        SealedColumn::JwkPrivateKey => vault.reseal(&v.owner, &v.value),
        SealedColumn::AccountToken(kind) => tokens.reseal(&v.owner, kind.as_str(), &v.value),
        SealedColumn::TwoFactor(field) => factors.reseal(&v.owner, field.as_str(), &v.value),
    }
}
