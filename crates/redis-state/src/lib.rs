//! Shared state in Redis, for several gateway instances behind one load balancer.
//!
//! With one instance, the access token and the rate-limit counters live in its memory. With several, each
//! would fetch its own token (a classic token fetched by one invalidates the others': a storm of 40001) and
//! count its own calls (a limit of 10 a second would let 10 per instance through). This crate puts both in
//! Redis, behind the traits the instances already use:
//!
//! - [`RedisTokenStore`] implements [`wechat::TokenStore`]: the shared token cache, an atomic
//!   compare-and-invalidate, and the refresh lock under which one instance fetches while the others wait for
//!   its result.
//! - [`RedisLimiter`] implements [`limits::Limiter`]: one atomic counter per bucket and window.
//!
//! [`connect`] (or [`RedisState::connect_with`]) gives both, over one connection, with [`RedisState::ping`]
//! for readiness.
//!
//! # Security: Redis must be private
//! The access token is stored in Redis as is: whoever can read the key can call WeChat as the app until the
//! token expires (two hours at most). Run Redis where only the gateways reach it: bind it to a private
//! interface, require a password or an ACL user limited to the prefix's keys
//! (`redis://user:password@host/`), and use TLS (`rediss://host/`, verified against the system's trusted
//! roots) whenever the traffic leaves the host. The URL's password never appears in a `Debug`, a log line or
//! an error of this crate, nor does a token.
//!
//! # Layout
//! - `lib.rs`: [`RedisState`], [`RedisOptions`], [`connect`].
//! - `conn.rs`: the shared connection: opened on first use, re-opened after it breaks, a time limit on every
//!   call.
//! - `tokens.rs`: [`RedisTokenStore`] and its two scripts (compare-and-invalidate, compare-and-unlock).
//! - `limiter.rs`: [`RedisLimiter`] and its counting script.
//! - `error.rs`: [`Error`], and its conversions into `wechat::Error::Store` and `LimitError`.
//!
//! # Keys
//! Every key starts with the configured prefix (default `wxrn:`), so that deployments and test runs can share
//! one Redis. `{name}` is [`wechat::TokenKey::name`], e.g. `stable:wx1234`. Every key expires by itself;
//! nothing needs cleaning up.
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `{prefix}token:{name}` | hash | `token`, `fetched_at_ms`, `expires_at_ms` (Unix ms, by the managers' clock) | when the token does, by [`RedisOptions::clock`] at save time |
//! | `{prefix}token-lock:{name}` | string | a random 128-bit value, known only to the holder | after the lease (`SET NX PX`) |
//! | `{prefix}limit:{s\|d}:{window}:{bucket}` | integer | calls counted in that window (second, or Asia/Shanghai day) | 1 s after the window ends |
//!
//! # Failure behaviour
//! - Every call, connecting included, is bounded by [`RedisOptions::timeout`] (default 2 s): a hung Redis
//!   fails calls, it does not hang them.
//! - Errors say what failed, never with what: `wechat::Error::Store` from the token store, `LimitError` from
//!   the limiter. The gateway answers 503 for a limiter failure; a token manager with no valid token of its
//!   own fails the call rather than fetch a token the other instances do not know about, and one that still
//!   holds a valid token keeps using it.
//! - A lock holder that dies blocks the others for at most its lease; a holder that outlives its lease cannot
//!   release the next holder's lock.
//! - When the connection breaks it is re-opened in the background; calls fail until Redis answers again, then
//!   succeed with no restart. [`RedisState::lazy`] even starts while Redis is down.
//! - Window and token times come from the callers' clocks; instances should keep them in sync (NTP). Redis's
//!   own clock only runs the TTLs and leases.

mod conn;
mod error;
mod limiter;
mod tokens;

pub use error::{Error, Result};
pub use limiter::RedisLimiter;
pub use tokens::RedisTokenStore;

use conn::Conn;
use std::sync::Arc;
use std::time::Duration;
use wechat::{Clock, SystemClock};

/// The key prefix when none is configured.
pub const DEFAULT_PREFIX: &str = "wxrn:";
/// The per-call time limit when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// How to use Redis. Holds no secret (the URL is passed apart), so `Debug` is safe.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Prepended to every key.
    pub prefix: String,
    /// The limit on every call, connecting included.
    pub timeout: Duration,
    /// The clock a saved token's remaining lifetime is judged by, to set its TTL: the token managers' clock.
    pub clock: Arc<dyn Clock>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Both shared stores, over one connection.
#[derive(Debug, Clone)]
pub struct RedisState {
    pub tokens: Arc<RedisTokenStore>,
    pub limiter: Arc<RedisLimiter>,
    conn: Conn,
}

/// Connects to `url` (`redis://` or `rediss://`) with `prefix` and the default options, and checks that Redis
/// answers.
pub async fn connect(url: &str, prefix: &str) -> Result<RedisState> {
    let options = RedisOptions {
        prefix: prefix.to_owned(),
        ..RedisOptions::default()
    };
    RedisState::connect_with(url, options).await
}

impl RedisState {
    /// Connects and checks that Redis answers: a wrong URL or an unreachable Redis is an error at start-up.
    pub async fn connect_with(url: &str, options: RedisOptions) -> Result<Self> {
        let state = Self::lazy(url, options)?;
        state.ping().await?;
        Ok(state)
    }

    /// Checks the URL only, and connects on first use: the instance can start while Redis is down, its calls
    /// failing until Redis answers.
    pub fn lazy(url: &str, options: RedisOptions) -> Result<Self> {
        let conn = Conn::new(url, &options.prefix, options.timeout)?;
        Ok(Self {
            tokens: Arc::new(RedisTokenStore::new(conn.clone(), options.clock)),
            limiter: Arc::new(RedisLimiter::new(conn.clone())),
            conn,
        })
    }

    /// One round trip, for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        let reply: String = self
            .conn
            .run("ping", async |c| redis::cmd("PING").query_async(c).await)
            .await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(Error::Unexpected { op: "ping" })
        }
    }

    pub fn prefix(&self) -> &str {
        self.conn.prefix()
    }
}
