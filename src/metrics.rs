//! Prometheus metrics for `GET /metrics` (served only when `METRICS_TOKEN` is set): counters and
//! histograms updated as requests run, and gauges read when scraped. Every label comes from a
//! bounded set — route patterns as matched, status codes, the server's own event names, outcomes
//! and error codes — never a user, an address or an IP.

use std::{sync::Mutex, time::Duration};

use axum::{extract::MatchedPath, http::Method};
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::security::counters::Mode;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Route,
    status: u16,
}

/// A route's pattern (`/api/auth/sign-in/email`) as matched, `unmatched` for no route: shared
/// with the router, so labelling a request copies no string.
#[derive(Clone, Debug)]
pub struct Route(pub Option<MatchedPath>);

impl Route {
    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl std::hash::Hash for Route {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// The methods routes answer, as label values (anything else: `other`).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    action: String,
    outcome: &'static str,
    /// A failure's error code (`INVALID_EMAIL_OR_PASSWORD`, `BANNED_USER`, …); empty otherwise.
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

/// What a scrape reads from the rest of the server.
pub struct Readings {
    /// Database connections in use, and the pool's maximum.
    pub pool: (u32, u32),
    /// Session lookups answered by the cache, and not, since start.
    pub cache: (u64, u64),
    /// Password hashes waiting for a worker.
    pub hash_queue: usize,
    /// Where limits and lockouts are counted: `memory`, `redis`, or `degraded` (Redis configured
    /// and unreachable: counted in memory meanwhile).
    pub counters: Mode,
    /// Seconds since the current signing key was made (none yet: no JWT issued so far).
    pub signing_key_age: Option<i64>,
    /// Webhook deliveries waiting (to be tried, or tried again), and given up on (kept 30 days).
    pub webhooks: crate::store::webhooks::DeliveryCounts,
}

pub struct Metrics {
    registry: Registry,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    events: Family<EventLabels, Counter>,
    rate_limited: Family<RouteLabels, Counter>,
    pool_in_use: Gauge,
    pool_max: Gauge,
    cache_hits: Counter,
    cache_misses: Counter,
    hash_queue: Gauge,
    counters: Family<BackendLabels, Gauge>,
    signing_key_age: Gauge,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    webhooks_pending: Gauge,
    webhooks_failed: Gauge,
    /// One scrape at a time (it turns readings into the registered metrics, then encodes them).
    scraping: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 2 s.
    Histogram::new(exponential_buckets(0.0005, 2.5, 10))
}

impl Metrics {
    /// The metrics, with the password hasher's wait histogram among them.
    pub fn new(hash_waits: Histogram) -> Self {
        let mut registry = Registry::with_prefix("gatehouse");
        let m = Self {
            latency: Family::new_with_constructor(latency_histogram),
            events: Family::default(),
            rate_limited: Family::default(),
            pool_in_use: Gauge::default(),
            pool_max: Gauge::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            hash_queue: Gauge::default(),
            counters: Family::default(),
            signing_key_age: Gauge::default(),
            webhook_attempts: Family::default(),
            webhooks_pending: Gauge::default(),
            webhooks_failed: Gauge::default(),
            scraping: Mutex::new(()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_request_duration_seconds",
            "Time to answer, by method, matched route and status (its _count counts requests)",
            m.latency.clone(),
        );
        r.register(
            "auth_events",
            "Security events (the audit log's actions) by outcome, failures by error code",
            m.events.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused by a rate limit, by matched route",
            m.rate_limited.clone(),
        );
        r.register("db_pool_in_use", "Database connections in use", m.pool_in_use.clone());
        r.register("db_pool_max", "The most database connections the pool opens", m.pool_max.clone());
        r.register("session_cache_hits", "Session lookups answered from the cache", m.cache_hits.clone());
        r.register(
            "session_cache_misses",
            "Session lookups that went to the database",
            m.cache_misses.clone(),
        );
        r.register("password_hash_queue", "Password hashes waiting for a worker", m.hash_queue.clone());
        r.register("password_hash_wait_seconds", "How long password hashes waited for a worker", hash_waits);
        r.register(
            "counters_backend",
            "Where limits and lockouts are counted (1 for the current one; degraded: Redis unreachable)",
            m.counters.clone(),
        );
        r.register(
            "signing_key_age_seconds",
            "Age of the current JWT signing key (0: none yet)",
            m.signing_key_age.clone(),
        );
        r.register(
            "webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, retrying, failed: given up)",
            m.webhook_attempts.clone(),
        );
        r.register("webhooks_pending", "Webhook deliveries not yet delivered", m.webhooks_pending.clone());
        r.register(
            "webhooks_failed",
            "Webhook deliveries given up on (gatehouse webhooks list --state failed)",
            m.webhooks_failed.clone(),
        );
        Self { registry, ..m }
    }

    /// A request answered.
    pub fn request(&self, method: &Method, route: Route, status: u16, took: Duration) {
        let labels = RequestLabels { method: method_label(method), route, status };
        self.latency.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// A security event (an audit log action), with a failure's error code.
    pub fn event(&self, action: &str, success: bool, reason: Option<&str>) {
        let labels = EventLabels {
            action: action.to_string(),
            outcome: if success { "success" } else { "failure" },
            reason: reason.filter(|_| !success).unwrap_or_default().to_string(),
        };
        self.events.get_or_create(&labels).inc();
    }

    /// A webhook delivery attempt: `delivered`, `retrying` or `failed`.
    pub fn webhook_attempt(&self, outcome: &'static str) {
        self.webhook_attempts.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// A request refused by a rate limit.
    pub fn rate_limited(&self, route: &str) {
        self.rate_limited.get_or_create(&RouteLabels { route: route.to_string() }).inc();
    }

    /// The Prometheus text exposition of everything, with `now` read in.
    pub fn render(&self, now: &Readings) -> String {
        let _one_at_a_time = self.scraping.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.pool_in_use.set(i64::from(now.pool.0));
        self.pool_max.set(i64::from(now.pool.1));
        self.cache_hits.inc_by(now.cache.0.saturating_sub(self.cache_hits.get()));
        self.cache_misses.inc_by(now.cache.1.saturating_sub(self.cache_misses.get()));
        self.hash_queue.set(i64::try_from(now.hash_queue).unwrap_or(i64::MAX));
        for mode in Mode::ALL {
            let labels = BackendLabels { backend: mode.as_str() };
            self.counters.get_or_create(&labels).set(i64::from(mode == now.counters));
        }
        self.signing_key_age.set(now.signing_key_age.unwrap_or(0).max(0));
        self.webhooks_pending.set(i64::try_from(now.webhooks.pending).unwrap_or(i64::MAX));
        self.webhooks_failed.set(i64::try_from(now.webhooks.failed).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}
