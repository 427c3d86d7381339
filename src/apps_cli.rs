//! `gatehouse apps …`: create, list, change and delete apps, and rotate and revoke their keys.
//! Each command opens the database, does its work and answers the text to print. Running
//! servers see a change within `service::apps::RELOAD_MS`.

use anyhow::{Context, bail};
use serde_json::json;

use crate::{
    config::Settings,
    domain::{
        app::{App, AppSettings, normalize_origin},
        time::{Clock, format_ms},
    },
    security::{origin::TrustedOrigins, tokens::random_id},
    server::open_store,
    service::apps::mint_key,
    store::{
        Store, StoreError,
        apps::{AppDeleted, AppKeyRow},
    },
};

/// Active keys an app may have at once: the current one and the one replacing it.
const MAX_ACTIVE_KEYS: usize = 2;

/// Runs `work` on the database of `settings` (migrated first), then closes it.
pub async fn with_store<T>(
    settings: &Settings,
    work: impl AsyncFnOnce(&dyn Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let store = open_store(settings).await?;
    let result = work(store.as_ref()).await;
    store.close().await;
    result
}

async fn find(store: &dyn Store, id_or_slug: &str) -> anyhow::Result<App> {
    store.app(id_or_slug).await?.with_context(|| format!("no app {id_or_slug:?}"))
}

/// A slug from a name: lowercase letters, digits and dashes.
fn slug_of(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').chars().take(64).collect()
}

/// Origins, normalised; refused when malformed, listed by another app (a browser request must
/// belong to one app), or the server's own or trusted (the default space's: its pages and
/// clients would move into the app).
async fn check_origins(
    store: &dyn Store,
    server: &Settings,
    app_id: &str,
    raw: &[String],
) -> anyhow::Result<Vec<String>> {
    let (apps, _) = store.apps_and_keys().await?;
    let trusted = TrustedOrigins::new(&server.base_url, &server.trusted_origins);
    let mut origins = Vec::new();
    for r in raw {
        let o = normalize_origin(r).with_context(|| format!("--origin {r:?}: not an http(s) origin"))?;
        if let Some(other) = apps.iter().find(|a| a.id != app_id && a.allowed_origins.contains(&o)) {
            bail!("origin {o} is already listed by app {}", other.slug);
        }
        if trusted.is_trusted(&o) {
            bail!("origin {o} is the server's own (BASE_URL or TRUSTED_ORIGINS): the default space's");
        }
        if !origins.contains(&o) {
            origins.push(o);
        }
    }
    Ok(origins)
}

/// A new app with its first key: the app, and the key (shown only now).
pub async fn new_app(
    store: &dyn Store,
    server: &Settings,
    name: &str,
    slug: Option<&str>,
    origins: &[String],
) -> anyhow::Result<(App, String)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        bail!("NAME: 1 to 200 characters");
    }
    let slug = slug.map_or_else(|| slug_of(name), slug_of);
    if slug.is_empty() {
        bail!("--slug: needs letters or digits");
    }
    let id = random_id();
    let now = Clock::default().now_ms();
    let app = App {
        id: id.clone(),
        name: name.to_string(),
        slug: slug.clone(),
        allowed_origins: check_origins(store, server, &id, origins).await?,
        settings: AppSettings::default(),
        created_at: now,
        updated_at: now,
    };
    let (row, key) = mint_key(&id, "first key", now);
    match store.create_app(&app, &row).await {
        Err(StoreError::Conflict) => bail!("an app with the slug {slug:?} exists"),
        done => done?,
    }
    Ok((app, key))
}

/// `apps create NAME [--slug S] [--origin URL…] [--json]`: the app's id and its first key (shown
/// only now).
pub async fn create(
    store: &dyn Store,
    server: &Settings,
    name: &str,
    slug: Option<&str>,
    origins: &[String],
    as_json: bool,
) -> anyhow::Result<String> {
    let (app, key) = new_app(store, server, name, slug, origins).await?;
    let id = app.id;
    Ok(if as_json {
        json!({ "id": id, "key": key }).to_string()
    } else {
        format!(
            "app {id} ({})\nkey {key}\n  (shown once: store it now; it goes in the x-api-key header of server and mobile-backend requests)",
            app.slug
        )
    })
}

/// `apps list [--json]`: every app with its settings, origins, users and keys.
pub async fn list(store: &dyn Store, as_json: bool) -> anyhow::Result<String> {
    {
        let (apps, _) = store.apps_and_keys().await?;
        let mut shown = Vec::new();
        let mut text = String::new();
        for app in apps {
            let users = store.app_user_count(&app.id).await?;
            let keys = store.app_keys(&app.id).await?;
            text.push_str(&format!(
                "{}  {}  {:?}  users {users}  origins [{}]\n  settings {}\n",
                app.id,
                app.slug,
                app.name,
                app.allowed_origins.join(", "),
                serde_json::to_string(&app.settings.shown())?
            ));
            for k in &keys {
                text.push_str(&format!("  {}\n", key_line(k)));
            }
            shown.push(json!({
                "id": app.id, "name": app.name, "slug": app.slug, "allowedOrigins": app.allowed_origins,
                "settings": app.settings.shown(), "users": users, "createdAt": format_ms(app.created_at),
                "keys": keys.iter().map(|k| json!({
                    "id": k.id, "start": k.start, "enabled": k.enabled, "createdAt": format_ms(k.created_at),
                })).collect::<Vec<_>>(),
            }));
        }
        Ok(if as_json { serde_json::to_string_pretty(&shown)? } else { text })
    }
}

fn key_line(k: &AppKeyRow) -> String {
    let status = if k.enabled { "active" } else { "revoked" };
    format!(
        "key {}  {}…  {status}  created {}",
        k.id,
        k.start.as_deref().unwrap_or(""),
        format_ms(k.created_at)
    )
}

/// `apps set APP SETTING=VALUE…` (see `domain::app::SETTING_NAMES`); the app's settings after.
pub async fn set(
    store: &dyn Store,
    server: &Settings,
    app: &str,
    assignments: &[String],
) -> anyhow::Result<String> {
    if assignments.is_empty() {
        bail!("nothing to set: give SETTING=VALUE pairs");
    }
    {
        let mut found = find(store, app).await?;
        for a in assignments {
            let (name, value) = a.split_once('=').with_context(|| format!("{a:?}: write SETTING=VALUE"))?;
            if name.eq_ignore_ascii_case("ORIGINS") {
                let raw: Vec<String> =
                    value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect();
                found.allowed_origins = check_origins(store, server, &found.id, &raw).await?;
                continue;
            }
            found.set(name, value).map_err(anyhow::Error::msg)?;
        }
        let policy = found.password_policy(&server.passwords.policy);
        if policy.min > policy.max {
            bail!("the app's password length would be at least {} and at most {}", policy.min, policy.max);
        }
        check_audience(store, server, &found).await?;
        if found.settings.webhook_urls.is_some() && found.settings.webhook_secret.is_none() {
            bail!(
                "WEBHOOK_SECRET: required with the app's WEBHOOK_URLS (its receivers check signatures with it)"
            );
        }
        found.updated_at = Clock::default().now_ms();
        store.update_app(&found).await?;
        Ok(format!(
            "app {} ({}): origins [{}], settings {}",
            found.id,
            found.slug,
            found.allowed_origins.join(", "),
            serde_json::to_string(&found.settings.shown())?
        ))
    }
}

/// An app's JWT audience is its own: not the server's, nor another app's (a verifier that checks
/// `aud` alone would take one app's tokens for another's).
async fn check_audience(store: &dyn Store, server: &Settings, app: &App) -> anyhow::Result<()> {
    let aud = app.jwt_audience();
    if aud == server.jwt.audience {
        bail!("JWT_AUDIENCE {aud:?} is the server's own (the default space's tokens)");
    }
    let (apps, _) = store.apps_and_keys().await?;
    if let Some(other) = apps.iter().find(|a| a.id != app.id && (a.jwt_audience() == aud || a.id == aud)) {
        bail!("JWT_AUDIENCE {aud:?} is app {}'s", other.slug);
    }
    Ok(())
}

/// `apps key rotate APP`: a new key beside the current one (both work until one is revoked).
pub async fn rotate_key(store: &dyn Store, app: &str) -> anyhow::Result<String> {
    {
        let found = find(store, app).await?;
        let active = store.app_keys(&found.id).await?.into_iter().filter(|k| k.enabled).count();
        if active >= MAX_ACTIVE_KEYS {
            bail!(
                "app {} already has {active} active keys: revoke the old one first (apps key revoke KEY_ID)",
                found.slug
            );
        }
        let (row, key) = mint_key(&found.id, "rotated key", Clock::default().now_ms());
        store.insert_app_key(&row).await?;
        Ok(format!(
            "key {} for app {}\n{key}\n  (shown once; the previous key works until you revoke it)",
            row.id, found.slug
        ))
    }
}

/// `apps key revoke KEY_ID`.
pub async fn revoke_key(store: &dyn Store, key_id: &str) -> anyhow::Result<String> {
    {
        if !store.revoke_app_key(key_id, Clock::default().now_ms()).await? {
            bail!("no active app key {key_id:?}");
        }
        Ok(format!("key {key_id} revoked"))
    }
}

/// `apps delete APP [--with-users]`.
pub async fn delete(store: &dyn Store, app: &str, with_users: bool) -> anyhow::Result<String> {
    {
        let found = find(store, app).await?;
        match store.delete_app(&found.id, with_users).await? {
            AppDeleted::Done { users } => Ok(format!("app {} deleted, with {users} users", found.slug)),
            AppDeleted::HasUsers(n) => {
                bail!("app {} has {n} users: delete them with it (--with-users), or keep the app", found.slug)
            }
            AppDeleted::NotFound => bail!("no app {app:?}"),
        }
    }
}
