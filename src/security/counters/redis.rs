//! Window counters in Redis, shared by every instance: keys carry a TTL and never pile up. The
//! connection manager reconnects by itself once connected; until the first connection, a task
//! keeps trying.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::RwLock;

use super::{Backend, Unavailable};

const TIMEOUT: Duration = Duration::from_millis(250);

const INCR_SCRIPT: &str = r"
local c = redis.call('INCRBY', KEYS[1], ARGV[2])
if c == tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c";

pub(super) struct Redis {
    url: String,
    connection: RwLock<Option<ConnectionManager>>,
    incr: redis::Script,
}

impl Redis {
    /// Checks the URL; connecting is [`Redis::connect`]'s.
    pub(super) fn new(url: &str) -> anyhow::Result<Self> {
        redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        Ok(Self {
            url: url.to_string(),
            connection: RwLock::new(None),
            incr: redis::Script::new(INCR_SCRIPT),
        })
    }

    /// Tries to connect once; true when connected (now or before).
    pub(super) async fn connect(&self) -> bool {
        if self.connection.read().await.is_some() {
            return true;
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let connected = async {
            redis::Client::open(self.url.as_str())?.get_connection_manager_with_config(config).await
        };
        match tokio::time::timeout(Duration::from_secs(3), connected).await {
            Ok(Ok(manager)) => {
                *self.connection.write().await = Some(manager);
                tracing::info!("rate limits: connected to Redis");
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "rate limits: Redis unreachable; counting in process");
                false
            }
            Err(_) => {
                tracing::warn!("rate limits: Redis connection timed out; counting in process");
                false
            }
        }
    }

    async fn run(&self, script: &redis::Script, key: &str, args: &[i64]) -> Result<i64, Unavailable> {
        let Some(mut con) = self.connection.read().await.clone() else {
            return Err(Unavailable("not connected yet".into()));
        };
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(*arg);
        }
        invocation.invoke_async::<i64>(&mut con).await.map_err(|e| Unavailable(e.to_string()))
    }
}

impl Backend for Redis {
    async fn add(&self, key: &str, by: u64, ttl_ms: i64) -> Result<u64, Unavailable> {
        let count = self.run(&self.incr, key, &[ttl_ms, i64::try_from(by).unwrap_or(i64::MAX)]).await?;
        Ok(count.max(0).unsigned_abs())
    }

    async fn script(&self, script: &redis::Script, key: &str, args: &[i64]) -> Result<i64, Unavailable> {
        self.run(script, key, args).await
    }
}
