//! `gatehouse webhooks …`: the outbox of webhook deliveries, read and replayed by hand.

use anyhow::bail;

use crate::{
    domain::time::{Clock, format_ms},
    store::Store,
};

/// `webhooks list [--state S] [--limit N] [--json]`: deliveries, newest first.
pub async fn list(
    store: &dyn Store,
    state: Option<&str>,
    limit: u32,
    as_json: bool,
) -> anyhow::Result<String> {
    if let Some(s) = state
        && !matches!(s, "pending" | "delivered" | "failed")
    {
        bail!("--state: {s:?} is not one of pending, delivered, failed");
    }
    let deliveries = store.webhook_deliveries(state, limit.clamp(1, 1000)).await?;
    if as_json {
        return Ok(serde_json::to_string_pretty(&deliveries)?);
    }
    Ok(deliveries
        .iter()
        .map(|d| {
            let last = match (&d.last_status, &d.last_error) {
                (_, Some(error)) => error.clone(),
                (Some(status), None) => status.to_string(),
                (None, None) => "-".into(),
            };
            format!(
                "{}  {}  {:<28} {:<9} attempts {}  next {}  event {}  {}  last: {last}",
                d.id,
                format_ms(d.created_at),
                d.kind,
                d.state,
                d.attempts,
                if d.state == "pending" { format_ms(d.next_attempt_at) } else { "-".into() },
                d.event_id,
                d.url,
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `webhooks replay ID`: a delivery (or every delivery of an event) sent again from now.
pub async fn replay(store: &dyn Store, id: &str) -> anyhow::Result<String> {
    match store.replay_webhook(id, Clock::default().now_ms()).await? {
        0 => bail!("no webhook delivery or event {id:?}"),
        n => {
            Ok(format!("{n} delivery(ies) of {id} queued again; a running server sends them within a second"))
        }
    }
}
