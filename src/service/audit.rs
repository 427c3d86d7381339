//! Writing the audit log: one row per security event. A change's event is written in the
//! change's own transaction ([`recorded`]), so it exists if and only if the change committed. An
//! event that records no change (a refused sign-in) is written on its own ([`record`]); a row that
//! cannot be written then is logged, and the request goes on.

use serde_json::Value;

use crate::{
    domain::{
        audit::AuditEvent,
        model::{SessionRow, User},
    },
    security::tokens::random_id,
    service::sessions::ClientInfo,
    state::AppState,
    store::audit::with_event_to,
};

/// An event to record.
pub struct Record<'a> {
    pub action: &'static str,
    pub success: bool,
    /// Who acted, and the session they acted through (its `impersonatedBy`).
    pub actor: Option<&'a User>,
    pub impersonator: Option<&'a str>,
    /// What it was done to: (`user`, id), (`session`, id), …
    pub target: Option<(&'static str, &'a str)>,
    pub client: Option<&'a ClientInfo>,
    pub details: Value,
}

impl<'a> Record<'a> {
    /// `action` by `user` on themselves.
    pub fn own(action: &'static str, user: &'a User) -> Self {
        Self {
            action,
            success: true,
            actor: Some(user),
            impersonator: None,
            target: Some(("user", &user.id)),
            client: None,
            details: Value::Null,
        }
    }

    /// Done to `id`, of kind `kind` (`organization`, …), not to the actor.
    pub fn on(mut self, kind: &'static str, id: &'a str) -> Self {
        self.target = Some((kind, id));
        self
    }

    /// Done through `session`: its impersonator, if an admin opened it as the user.
    pub fn through(mut self, session: &'a SessionRow) -> Self {
        self.impersonator = session.impersonated_by.as_deref();
        self
    }

    pub fn from(mut self, client: &'a ClientInfo) -> Self {
        self.client = Some(client);
        self
    }

    pub fn with(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn failed(mut self) -> Self {
        self.success = false;
        self
    }
}

/// Makes `change` with `r` as its event (in `app_id`, else the actor's app): the store writes the
/// event in the transaction that makes the change (`store::audit::with_event`), so a change that
/// fails or finds nothing to change writes none.
pub async fn recorded<F: std::future::Future>(
    state: &AppState,
    r: Record<'_>,
    app_id: Option<&str>,
    change: F,
) -> F::Output {
    recorded_event(state, event(&r, app_id, state.clock.now_ms()), change).await
}

/// As [`recorded`], with the event already made.
pub async fn recorded_event<F: std::future::Future>(state: &AppState, e: AuditEvent, change: F) -> F::Output {
    let (action, success) = (e.action.clone(), e.outcome == "success");
    let hooks = crate::service::webhooks::endpoints_of_event(state, &e).await;
    let (out, left) = with_event_to(e, hooks, change).await;
    if left.is_none() {
        // Events that record a change are successes: no failure code to count.
        state.metrics.event(&action, success, None);
    }
    out
}

/// Counts `r` in `/metrics` (by action and outcome, a failure by its code).
fn count(state: &AppState, r: &Record<'_>) {
    state.metrics.event(r.action, r.success, r.details.get("reason").and_then(Value::as_str));
}

/// Writes `r`, an event that records no change (in `app_id`, else the actor's app).
pub async fn record(state: &AppState, r: Record<'_>, app_id: Option<&str>) {
    count(state, &r);
    let event = event(&r, app_id, state.clock.now_ms());
    if let Err(e) = state.store.record_audit(&event).await {
        tracing::error!(error = %e, action = r.action, "could not write an audit event");
    }
}

/// As [`record`], off the request's path (a failed sign-in: an account's failure must not take
/// longer to answer than an unknown address's).
pub fn record_later(state: &AppState, r: Record<'_>, app_id: Option<&str>) {
    count(state, &r);
    let event = event(&r, app_id, state.clock.now_ms());
    let st = state.clone();
    tokio::spawn(async move {
        if let Err(e) = st.store.record_audit(&event).await {
            tracing::error!(error = %e, action = %event.action, "could not write an audit event");
        }
    });
}

/// An event id that sorts in the order this instance made its events (the log reads newest
/// first by time, then id: events of the same millisecond keep their order), then random.
fn event_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{n:016x}{}", random_id())
}

/// The row for `r` at `now`.
pub fn event(r: &Record<'_>, app_id: Option<&str>, now: i64) -> AuditEvent {
    AuditEvent {
        id: event_id(),
        at: now,
        app_id: app_id.map(str::to_string).or_else(|| r.actor.and_then(|u| u.app_id.clone())),
        actor_id: r.actor.map(|u| u.id.clone()),
        impersonator_id: r.impersonator.map(str::to_string),
        actor_ip: r.client.and_then(|c| c.ip.clone()),
        user_agent: r.client.and_then(|c| c.user_agent.clone()),
        action: r.action.to_string(),
        target_type: r.target.map(|(t, _)| t.to_string()),
        target_id: r.target.map(|(_, id)| id.to_string()),
        outcome: if r.success { "success" } else { "failure" }.to_string(),
        details: if r.details.is_null() { "{}".into() } else { r.details.to_string() },
    }
}
