//! The apps a running server knows: every app and its enabled keys, held in memory and reloaded
//! from the store every few seconds (so a key created, revoked or rotated by the CLI, on this
//! machine or another, reaches every instance within [`RELOAD_MS`]); and minting app keys.
//!
//! Keys are compared by their SHA-256 (a hash-map lookup): what an attacker could learn from its
//! timing is a prefix of a hash, which gives no key away.

use std::{collections::HashMap, sync::Arc};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{Rng, distributions::Alphanumeric};
use sha2::{Digest, Sha256};

use crate::{
    domain::app::{App, Scope, normalize_origin},
    jwt::Audience,
    security::tokens::random_id,
    store::{Store, StoreResult, apps::AppKeyRow},
};

/// How old the apps in memory may get before a request reloads them.
pub const RELOAD_MS: i64 = 5_000;
/// An unknown key reloads the apps (a key created a moment ago) at most this often.
const UNKNOWN_KEY_RELOAD_MS: i64 = 1_000;
/// App keys start with this.
pub const KEY_PREFIX: &str = "gh_app_";
/// Random letters after the prefix (Better Auth's default key length).
const KEY_LETTERS: usize = 64;
/// Characters of the key kept in clear (`start`), to tell keys apart.
const START_CHARS: usize = 12;

/// The apps and keys as last loaded.
#[derive(Default)]
struct Known {
    loaded_at: Option<i64>,
    by_id: HashMap<String, Arc<App>>,
    /// Key hash → (key id, app, expiry).
    by_key: HashMap<String, (String, Arc<App>, Option<i64>)>,
    /// Origin → the one app that lists it (an origin two apps list selects neither).
    by_origin: HashMap<String, Arc<App>>,
}

#[derive(Default)]
pub struct AppRegistry {
    known: std::sync::RwLock<Arc<Known>>,
    reloading: tokio::sync::Mutex<()>,
}

/// The app a valid key belongs to, and the key's id.
pub struct KeyMatch {
    pub app: Arc<App>,
    pub key_id: String,
}

impl AppRegistry {
    fn known(&self) -> Arc<Known> {
        self.known.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reloads when what is held is older than `max_age_ms`. One request reloads; the others
    /// go on with what is held (on the first load, they wait for it).
    async fn refresh(&self, store: &dyn Store, now: i64, max_age_ms: i64) -> StoreResult<Arc<Known>> {
        let held = self.known();
        if held.loaded_at.is_some_and(|t| now - t < max_age_ms) {
            return Ok(held);
        }
        let _turn = match self.reloading.try_lock() {
            Ok(turn) => turn,
            Err(_) if held.loaded_at.is_some() => return Ok(held),
            Err(_) => self.reloading.lock().await,
        };
        let held = self.known();
        if held.loaded_at.is_some_and(|t| now - t < max_age_ms) {
            return Ok(held);
        }
        self.load(store, now).await
    }

    /// Loads every app and enabled key now (after a change made in this process, and in the
    /// background); one load at a time, so an older one never lands after a newer one.
    pub async fn reload(&self, store: &dyn Store, now: i64) -> StoreResult<()> {
        let _turn = self.reloading.lock().await;
        self.load(store, now).await.map(drop)
    }

    async fn load(&self, store: &dyn Store, now: i64) -> StoreResult<Arc<Known>> {
        let (apps, keys) = store.apps_and_keys().await?;
        let mut known = Known { loaded_at: Some(now), ..Known::default() };
        let mut origin_count: HashMap<String, usize> = HashMap::new();
        for app in apps {
            let app = Arc::new(app);
            for origin in &app.allowed_origins {
                *origin_count.entry(origin.clone()).or_default() += 1;
                known.by_origin.insert(origin.clone(), app.clone());
            }
            known.by_id.insert(app.id.clone(), app);
        }
        known.by_origin.retain(|origin, _| origin_count[origin] == 1);
        for key in keys {
            if let Some(app) = known.by_id.get(&key.reference_id) {
                known.by_key.insert(key.key, (key.id, app.clone(), key.expires_at));
            }
        }
        let known = Arc::new(known);
        *self.known.write().unwrap_or_else(std::sync::PoisonError::into_inner) = known.clone();
        Ok(known)
    }

    /// The app of a valid (enabled, unexpired) key.
    pub async fn by_key(&self, store: &dyn Store, raw: &str, now: i64) -> StoreResult<Option<KeyMatch>> {
        let hash = hash_key(raw);
        let find = |known: &Known| {
            known
                .by_key
                .get(&hash)
                .filter(|(_, _, exp)| exp.is_none_or(|t| t > now))
                .map(|(id, app, _)| KeyMatch { app: app.clone(), key_id: id.clone() })
        };
        let known = self.refresh(store, now, RELOAD_MS).await?;
        if let Some(found) = find(&known) {
            return Ok(Some(found));
        }
        let known = self.refresh(store, now, UNKNOWN_KEY_RELOAD_MS).await?;
        Ok(find(&known))
    }

    /// The app whose allowed origins include the origin of `url` (an `Origin` or a `Referer`).
    pub async fn by_origin(&self, store: &dyn Store, url: &str, now: i64) -> StoreResult<Option<Arc<App>>> {
        let known = self.refresh(store, now, RELOAD_MS).await?;
        if known.by_origin.is_empty() {
            return Ok(None);
        }
        Ok(normalize_origin(url).and_then(|origin| known.by_origin.get(&origin).cloned()))
    }

    /// An app by id (loaded as for a key: an unknown id reloads at most once a second).
    pub async fn app(&self, store: &dyn Store, id: &str, now: i64) -> StoreResult<Option<Arc<App>>> {
        let known = self.refresh(store, now, RELOAD_MS).await?;
        if let Some(app) = known.by_id.get(id) {
            return Ok(Some(app.clone()));
        }
        Ok(self.refresh(store, now, UNKNOWN_KEY_RELOAD_MS).await?.by_id.get(id).cloned())
    }

    /// Whether there is any app (as last loaded, loading first if need be).
    pub async fn any(&self, store: &dyn Store, now: i64) -> StoreResult<bool> {
        Ok(!self.refresh(store, now, RELOAD_MS).await?.by_id.is_empty())
    }

    /// Whether an app other than `except` lists `origin` (as last loaded: servers reload in the
    /// background).
    pub fn lists_origin_except(&self, origin: &str, except: Option<&str>) -> bool {
        self.known()
            .by_id
            .values()
            .any(|a| Some(a.id.as_str()) != except && a.allowed_origins.iter().any(|o| o == origin))
    }

    /// Whether an app has webhook endpoints of its own (as last loaded).
    pub fn any_webhooks(&self) -> bool {
        self.known().by_id.values().any(|a| a.settings.webhook_urls.is_some())
    }
}

/// Whom a scope's JWTs are for: an app's audience (default: its id), `app` claim and
/// lifetimes; the server's for the default space.
pub fn audience(scope: &Scope) -> Audience<'_> {
    let Some(app) = scope.app() else { return Audience::default() };
    let ms = |secs: Option<u64>| secs.map(|s| (s as i64).saturating_mul(1000));
    Audience {
        app: Some(&app.id),
        aud: Some(app.jwt_audience()),
        lifetime_ms: ms(app.settings.jwt_expiration),
        access_lifetime_ms: ms(app.settings.access_token_expiration),
    }
}

/// How an app key is stored: SHA-256, base64url without padding (Better Auth's hasher).
pub fn hash_key(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(raw.as_bytes()))
}

/// A new key for `app_id`: the row to store, and the key itself (shown once, never stored).
pub fn mint_key(app_id: &str, name: &str, now: i64) -> (AppKeyRow, String) {
    let letters: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .filter(u8::is_ascii_alphabetic)
        .take(KEY_LETTERS)
        .map(char::from)
        .collect();
    let raw = format!("{KEY_PREFIX}{letters}");
    let row = AppKeyRow {
        id: random_id(),
        reference_id: app_id.to_string(),
        name: Some(name.to_string()),
        start: Some(raw.chars().take(START_CHARS).collect()),
        prefix: Some(KEY_PREFIX.to_string()),
        key: hash_key(&raw),
        enabled: true,
        expires_at: None,
        created_at: now,
        updated_at: now,
    };
    (row, raw)
}
