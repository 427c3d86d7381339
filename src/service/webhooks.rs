//! Outbound webhooks: where an event goes (the endpoints of its app, else the server's), and the
//! worker that delivers what the outbox holds. Deliveries are rows written by the change's own
//! transaction (`store::sql::webhooks`); the worker leases the due ones, posts them signed, and
//! records each attempt, so a delivery survives a restart and several instances share the work.
//! Delivery is at least once: a process that dies after the receiver answered and before the
//! answer was recorded sends that delivery again (receivers drop repeats by the body's `id`).

use std::time::Duration;

use crate::{
    config::Settings,
    domain::{app::App, audit::AuditEvent, time::duration_ms, webhooks},
    state::AppState,
    store::{
        Store,
        webhooks::{Attempt, Delivery},
    },
};

/// How often the worker looks for due deliveries when it found none.
const POLL: Duration = Duration::from_millis(500);
const IDLE_POLL: Duration = Duration::from_secs(10);
/// Deliveries leased at a time (one per endpoint and user, sent together).
const BATCH: u32 = 32;
/// Deliveries and failures are kept this long for `gatehouse webhooks list|replay`.
pub const KEPT_MS: i64 = 30 * 86_400_000;
/// The most of an error kept with a delivery.
const MAX_ERROR_CHARS: usize = 200;

/// The endpoints events of `app_id` go to: the app's own if it set some, else the server's.
pub async fn endpoints(state: &AppState, app_id: Option<&str>) -> Vec<String> {
    let app = match app_id {
        Some(id) => state.apps.app(state.store.as_ref(), id, state.clock.now_ms()).await.ok().flatten(),
        None => None,
    };
    chosen(app.as_deref(), &state.settings)
}

/// The endpoints of an event of `app` (`None`: the default space, or an app that cannot be read
/// now): the app's own if it set some, else the server's.
fn chosen(app: Option<&App>, settings: &Settings) -> Vec<String> {
    match app.and_then(|a| a.settings.webhook_urls.as_ref()) {
        Some(urls) => urls.clone(),
        None => settings.webhooks.urls.clone(),
    }
}

/// The endpoints `event` goes to (none when it is not reported).
pub async fn endpoints_of_event(state: &AppState, event: &AuditEvent) -> Vec<String> {
    match webhooks::reported(event) {
        Some(_) => endpoints(state, event.app_id.as_deref()).await,
        None => Vec::new(),
    }
}

/// As [`endpoints_of_event`], for a process that serves nothing (the CLI): the app read from `store`.
/// Empty for an event that is not reported.
pub async fn endpoints_of(settings: &Settings, store: &dyn Store, event: &AuditEvent) -> Vec<String> {
    if webhooks::reported(event).is_none() {
        return Vec::new();
    }
    let app = match event.app_id.as_deref() {
        Some(id) => store.app(id).await.ok().flatten(),
        None => None,
    };
    chosen(app.as_ref(), settings)
}

/// Why a delivery cannot be signed now.
enum Unsigned {
    /// The app could not be read: try again later.
    Unreadable,
    /// Its endpoint is in no list any more, or its list has no secret: give up.
    Unconfigured(&'static str),
}

/// The secret `d` is signed with: its app's, when its URL is among the app's own endpoints, else
/// the server's, when among the server's. Never another list's secret.
async fn secret_for(state: &AppState, d: &Delivery) -> Result<String, Unsigned> {
    if let Some(id) = d.app_id.as_deref() {
        let app = state.apps.app(state.store.as_ref(), id, state.clock.now_ms()).await;
        let app = app.map_err(|_| Unsigned::Unreadable)?;
        if let Some(app) = app
            && app.settings.webhook_urls.as_ref().is_some_and(|urls| urls.contains(&d.url))
        {
            let secret = app.settings.webhook_secret.as_ref().map(|s| s.0.clone());
            return secret.ok_or(Unsigned::Unconfigured("the app has no WEBHOOK_SECRET"));
        }
    }
    let server = &state.settings.webhooks;
    if !server.urls.contains(&d.url) {
        return Err(Unsigned::Unconfigured("the endpoint is no longer configured"));
    }
    server.secret.as_ref().map(|s| s.expose().to_string()).ok_or(Unsigned::Unconfigured("no WEBHOOK_SECRET"))
}

/// `url` as it may be logged or kept: without credentials, query or fragment.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}{}", u.scheme(), u.host_str().unwrap_or(""), u.path()),
        Err(_) => "(unparsable URL)".into(),
    }
}

/// The client deliveries are posted with: bounded time, no redirects followed.
pub fn client(state: &AppState) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(state.settings.webhooks.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("gatehouse-webhooks")
        .build()
        .unwrap_or_default()
}

/// Delivers due deliveries until the process stops. With no endpoint configured it looks only
/// every [`IDLE_POLL`] (a replay, or an app given endpoints, is picked up then).
pub async fn run(state: AppState) {
    let client = client(&state);
    loop {
        match deliver_due(&state, &client).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook delivery: reading the outbox failed"),
        }
        let configured = !state.settings.webhooks.urls.is_empty() || state.apps.any_webhooks();
        tokio::time::sleep(if configured { POLL } else { IDLE_POLL }).await;
    }
}

/// One pass: leases the due deliveries and makes one attempt of each (together: each is the
/// oldest pending one of its endpoint and user, so order per user holds). How many it tried.
pub async fn deliver_due(state: &AppState, client: &reqwest::Client) -> crate::store::StoreResult<usize> {
    let now = state.clock.now_ms();
    // The lease outlasts an attempt, so nobody else takes a delivery while it is being tried.
    let lease_until = now + duration_ms(state.settings.webhooks.timeout) + 20_000;
    let due = state.store.claim_webhooks(now, lease_until, BATCH).await?;
    let n = due.len();
    let mut attempts = tokio::task::JoinSet::new();
    for delivery in due {
        let (state, client) = (state.clone(), client.clone());
        attempts.spawn(async move { attempt(&state, &client, &delivery).await });
    }
    while attempts.join_next().await.is_some() {}
    Ok(n)
}

async fn attempt(state: &AppState, client: &reqwest::Client, d: &Delivery) {
    let (sent, retry) = match secret_for(state, d).await {
        Ok(secret) => (post(state, client, d, &secret).await, true),
        Err(Unsigned::Unreadable) => (Err((None, "the app could not be read".to_string())), true),
        Err(Unsigned::Unconfigured(why)) => (Err((None, why.to_string())), false),
    };
    let now = state.clock.now_ms();
    let attempt = match sent {
        Ok(status) => Attempt::Delivered { status },
        Err((status, error)) => {
            let retry_for = duration_ms(state.settings.webhooks.retry_for);
            let retry_at =
                webhooks::next_attempt(d.created_at, d.attempts + 1, now, retry_for).filter(|_| retry);
            tracing::warn!(delivery = %d.id, url = %shown(&d.url), error = %error,
                given_up = retry_at.is_none(), "webhook delivery failed");
            Attempt::Failed { status, error, retry_at }
        }
    };
    state.metrics.webhook_attempt(match &attempt {
        Attempt::Delivered { .. } => "delivered",
        Attempt::Failed { retry_at: Some(_), .. } => "retrying",
        Attempt::Failed { retry_at: None, .. } => "failed",
    });
    if let Err(e) = state.store.webhook_attempted(d, now, &attempt).await {
        // The lease runs out and the delivery is tried again (at least once).
        tracing::warn!(delivery = %d.id, error = %e, "could not record a webhook attempt");
    }
}

/// Posts `d` signed with `secret`: the status of a 2xx answer, or the status and why not.
async fn post(
    state: &AppState,
    client: &reqwest::Client,
    d: &Delivery,
    secret: &str,
) -> Result<i32, (Option<i32>, String)> {
    let signature = webhooks::signature(secret, state.clock.now_ms() / 1000, &d.body);
    let answer = client
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Gatehouse-Signature", signature)
        .header("Gatehouse-Event-Id", &d.event_id)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| (None, shortened(&e.without_url().to_string())))?;
    let status = answer.status();
    let code = i32::from(status.as_u16());
    if status.is_success() { Ok(code) } else { Err((Some(code), format!("answered {status}"))) }
}

fn shortened(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}
