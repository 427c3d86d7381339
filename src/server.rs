//! Running the server: connect, migrate, serve with graceful shutdown, sweep expired sessions.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{
    config::Settings,
    domain::{
        model::{Subscription, SubscriptionRow},
        time::{Clock, duration_ms, format_ms, parse_ms},
    },
    state::AppState,
    store,
};

/// Connects to the configured database and applies migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<std::sync::Arc<dyn store::Store>> {
    let store = store::connect(settings.database.url.expose(), settings.database.store_options()).await?;
    store.migrate().await?;
    Ok(store)
}

/// `gatehouse keys rotate`: returns the new key's id.
pub async fn rotate_signing_key(mut settings: Settings) -> anyhow::Result<String> {
    settings.resolve_secret()?;
    let store = open_store(&settings).await?;
    let jwt = crate::jwt::JwtService::new(settings.jwt.clone(), &settings.secrets());
    let now = Clock::default().now_ms();
    let key = jwt.new_key_row(now)?;
    let rotated = crate::service::audit::Record {
        action: "signing-key-rotated",
        success: true,
        actor: None,
        impersonator: None,
        target: Some(("key", &key.id)),
        client: None,
        details: serde_json::json!({ "via": "cli" }),
    };
    let event = crate::service::audit::event(&rotated, None, now);
    crate::store::audit::with_event(event, jwt.make_current(store.as_ref(), &key, now)).await.0?;
    let kid = key.id;
    store.close().await;
    Ok(kid)
}

/// `gatehouse secrets reseal`: one line per sealed column, with what was done.
pub async fn reseal_secrets(mut settings: Settings) -> anyhow::Result<Vec<String>> {
    settings.resolve_secret()?;
    let store = open_store(&settings).await?;
    let report = crate::service::secrets::reseal(store.as_ref(), &settings.secrets()).await;
    store.close().await;
    Ok(report?
        .iter()
        .map(|r| {
            format!(
                "{:<22} resealed {}, already current {}, unreadable {}",
                r.column, r.resealed, r.current, r.unreadable
            )
        })
        .collect())
}

/// `gatehouse keys list`: one line per key, newest first (private keys are never shown).
pub async fn list_signing_keys(settings: Settings) -> anyhow::Result<Vec<String>> {
    let store = open_store(&settings).await?;
    let keys = store.jwks_valid_after(i64::MIN).await?;
    store.close().await;
    let now = Clock::default().now_ms();
    Ok(keys
        .iter()
        .map(|k| {
            let status = match k.expires_at {
                None => "current".to_string(),
                Some(t) if t > now => format!("retired, in /jwks until {}", format_ms(t)),
                Some(t) => format!("expired {}", format_ms(t)),
            };
            format!("{}  {:<5}  created {}  {status}", k.id, k.alg, format_ms(k.created_at))
        })
        .collect())
}

/// `gatehouse subscription set`: a manual grant (id `manual:<reference>`), shown as get-session
/// would report it.
pub async fn set_subscription(
    settings: Settings,
    reference: &str,
    plan: &str,
    status: &str,
    until: Option<&str>,
) -> anyhow::Result<String> {
    let period_end = until
        .map(|u| {
            parse_ms(u).or_else(|| parse_ms(&format!("{u}T00:00:00.000Z"))).context("--until: not a date")
        })
        .transpose()?;
    let store = open_store(&settings).await?;
    let now = Clock::default().now_ms();
    let row = SubscriptionRow::manual(reference, plan, status, period_end, now);
    store.put_subscription(&row).await?;
    let shown =
        serde_json::to_string(&Subscription::of(store.subscription_for(reference).await?.as_ref(), now))?;
    store.close().await;
    Ok(shown)
}

/// `gatehouse subscription show`.
pub async fn show_subscription(settings: Settings, reference: &str) -> anyhow::Result<String> {
    let store = open_store(&settings).await?;
    let row = store.subscription_for(reference).await?;
    store.close().await;
    let now = Clock::default().now_ms();
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "subscription": Subscription::of(row.as_ref(), now),
        "row": row,
    }))?)
}

/// Serves until SIGINT or SIGTERM, then finishes in-flight requests and closes the pool.
pub async fn serve(mut settings: Settings) -> anyhow::Result<()> {
    settings.resolve_secret()?;
    let store = open_store(&settings).await?;
    let state = AppState::new(settings, store.clone(), Clock::default())?;
    let listener = TcpListener::bind(state.settings.bind)
        .await
        .with_context(|| format!("BIND: cannot listen on {}", state.settings.bind))?;
    tracing::info!(
        address = %listener.local_addr()?,
        base_url = %state.settings.base_url,
        base_path = %state.settings.base_path,
        "gatehouse listening"
    );
    if let Some(why) = state.settings.passkeys.off_reason(&state.settings.base_url) {
        tracing::warn!("{why}");
    }
    if state.settings.sessions.require_email_verification && state.settings.clients.email_availability_check {
        tracing::warn!(
            "POST /is-email-available tells anyone which addresses have accounts, which sign-up hides under \
             REQUIRE_EMAIL_VERIFICATION; set EMAIL_AVAILABILITY_CHECK=false unless sign-up forms need it"
        );
    }
    state.apps.reload(state.store.as_ref(), state.clock.now_ms()).await?;
    let sweeper = tokio::spawn(sweep_expired(state.clone()));
    let apps = tokio::spawn(reload_apps(state.clone()));
    let webhooks = tokio::spawn(crate::service::webhooks::run(state.clone()));
    let app = crate::app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    sweeper.abort();
    apps.abort();
    webhooks.abort();
    store.close().await;
    tracing::info!("gatehouse stopped");
    Ok(())
}

/// Expired sessions, trusted devices and refresh tokens are already treated as absent when read, and lockout
/// rows whose window and lock have passed count for nothing; this deletes them every ten minutes
/// (unknown emails are counted too, so the lockout table must not grow without bound); and webhook
/// deliveries delivered or given up on more than 30 days ago.
async fn sweep_expired(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        let now = state.clock.now_ms();
        match sweep_sessions(&state, now).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "expired sessions removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "expired-session sweep failed"),
        }
        if let Err(e) = state.store.delete_expired_lockouts(now).await {
            tracing::warn!(error = %e, "lockout sweep failed");
        }
        if let Err(e) = state.store.delete_expired_trusted_devices(now).await {
            tracing::warn!(error = %e, "trusted-device sweep failed");
        }
        if let Err(e) = state.store.delete_expired_refresh_tokens(now).await {
            tracing::warn!(error = %e, "refresh-token sweep failed");
        }
        let kept_from = now - duration_ms(state.settings.admin.audit_retention);
        if let Err(e) = state.store.delete_audit_before(kept_from).await {
            tracing::warn!(error = %e, "audit-log sweep failed");
        }
        if let Err(e) = state.store.delete_webhooks_before(now - crate::service::webhooks::KEPT_MS).await {
            tracing::warn!(error = %e, "webhook sweep failed");
        }
    }
}

/// Expired sessions, in batches of 1,000 with a pause between them, so that a large backlog
/// (a server started on a big database) never holds a lock or the pool for long.
async fn sweep_sessions(state: &AppState, now: i64) -> Result<u64, crate::store::StoreError> {
    const BATCH: u32 = 1_000;
    let mut deleted = 0;
    loop {
        let n = state.store.delete_expired_sessions(now, BATCH).await?;
        deleted += n;
        if n < u64::from(BATCH) {
            return Ok(deleted);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Apps and their keys, reloaded every few seconds even when no request asks (links followed in
/// a browser and a provider's redirect back carry no key or origin that would load them).
async fn reload_apps(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(crate::service::apps::RELOAD_MS as u64));
    loop {
        tick.tick().await;
        if let Err(e) = state.apps.reload(state.store.as_ref(), state.clock.now_ms()).await {
            tracing::warn!(error = %e, "reloading the apps failed");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// Each argon2 hash takes ~19 MiB. glibc raises its mmap threshold after the first such block is
/// freed and then keeps later ones in per-thread arenas, so RSS grows to hundreds of MiB under
/// sign-in load. Pinning the threshold makes every large block a fresh mapping that is returned
/// to the OS when the hash is done.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called once at start-up before other threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
