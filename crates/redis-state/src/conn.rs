//! The one connection shared by the token store and the limiter: opened on first use, re-opened by the
//! client's [`ConnectionManager`] after it breaks, and bounded in time on every call.
//!
//! Opening lazily (rather than in a constructor) is what lets an instance start, or keep running, while Redis
//! is down: calls fail fast until Redis answers again, then succeed with no restart.
use crate::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// No retry inside the client: its back-off starts at a full second, longer than a call may take, and every
/// call that finds the connection broken starts a new attempt anyway. So calls fail fast while Redis is
/// away, and the first one after it is back reconnects.
const RECONNECT_RETRIES: usize = 0;

#[derive(Clone)]
pub(crate) struct Conn(Arc<Inner>);

struct Inner {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    timeout: Duration,
    prefix: String,
}

impl fmt::Debug for Conn {
    // The address only: the URL may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field(
                "addr",
                &self.0.client.get_connection_info().addr.to_string(),
            )
            .field("prefix", &self.0.prefix)
            .field("timeout", &self.0.timeout)
            .field("connected_once", &self.0.manager.initialized())
            .finish()
    }
}

impl Conn {
    /// Parses the URL; does no I/O.
    pub(crate) fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| Error::Config(e.to_string()))?;
        Ok(Self(Arc::new(Inner {
            client,
            manager: OnceCell::new(),
            timeout,
            prefix: prefix.to_owned(),
        })))
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.0.prefix
    }

    pub(crate) fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.0.prefix)
    }

    /// Runs `call` on the connection, opening it if needed, all within the time limit. `op` names the call in
    /// errors.
    pub(crate) async fn run<T>(
        &self,
        op: &'static str,
        call: impl AsyncFnOnce(&mut ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let timed_out = Error::Timeout {
            op,
            after_ms: u64::try_from(self.0.timeout.as_millis()).unwrap_or(u64::MAX),
        };
        // The client's own timeouts (set to ours) may fire first: the same failure, reported the same way.
        let failed = |e: redis::RedisError| {
            if e.is_timeout() {
                timed_out.clone()
            } else {
                Error::redis(op, &e)
            }
        };
        let attempt = async {
            let mut manager = self.manager().await.map_err(failed)?;
            call(&mut manager).await.map_err(failed)
        };
        // A call dropped here leaves the connection usable: the client matches replies to requests, and a
        // reply that comes too late is discarded.
        tokio::time::timeout(self.0.timeout, attempt)
            .await
            .unwrap_or_else(|_| Err(timed_out.clone()))
    }

    async fn manager(&self) -> redis::RedisResult<ConnectionManager> {
        // A failed or abandoned first connection leaves the cell empty, so the next call tries again.
        let manager = self
            .0
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(self.0.timeout)
                    .set_response_timeout(self.0.timeout)
                    .set_number_of_retries(RECONNECT_RETRIES);
                ConnectionManager::new_with_config(self.0.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }
}
