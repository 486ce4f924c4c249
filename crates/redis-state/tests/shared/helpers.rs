//! Backends for the contract suite, and Redis access for the tests that look at keys.
use limits::{Limiter, MemoryLimiter};
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wechat::{Clock, ManualClock, MemoryTokenStore, SystemClock, TokenStore};

pub fn redis_url() -> String {
    test_support::redis_test_url()
}

/// A prefix no other test uses.
pub fn random_prefix() -> String {
    format!("wxrn-test:{:016x}:", rand::random::<u64>())
}

/// A connection for looking at keys directly. Panics (fails the test) when Redis cannot be reached.
pub async fn raw() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(redis_url()).unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .expect("Redis did not answer in time")
    .unwrap_or_else(|e| panic!("Redis at {} cannot be reached: {e}", redis_url()))
}

/// Every key under `prefix`.
pub async fn keys(prefix: &str) -> Vec<String> {
    let mut conn = raw().await;
    let (mut cursor, mut keys) = (0u64, Vec::new());
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys
}

/// Removes every key under `prefix`.
pub async fn remove_prefix(prefix: &str) {
    let found = keys(prefix).await;
    if !found.is_empty() {
        let mut conn = raw().await;
        let _: () = conn.del(found).await.unwrap();
    }
}

pub async fn redis_state(prefix: &str, clock: Arc<dyn Clock>) -> redis_state::RedisState {
    let options = redis_state::RedisOptions {
        prefix: prefix.to_owned(),
        clock,
        ..Default::default()
    };
    redis_state::RedisState::connect_with(&redis_url(), options)
        .await
        .unwrap_or_else(|e| panic!("Redis at {} cannot be reached: {e}", redis_url()))
}

/// Times on whole milliseconds: Redis keeps token times in ms.
pub fn whole_ms(t: SystemTime) -> SystemTime {
    let ms = t.duration_since(UNIX_EPOCH).unwrap().as_millis();
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap())
}

/// What one gateway instance holds.
pub struct Instance {
    pub tokens: Arc<dyn TokenStore>,
    pub limiter: Arc<dyn Limiter>,
}

/// Shared state as the contract sees it: handles for several instances, and a way to let a lease run out.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// A new handle on the same shared state, as another instance would hold.
    async fn instance(&self) -> Instance;
    /// Now, by the clock the token store judges by.
    fn now(&self) -> SystemTime;
    /// A lease that a test waits out.
    fn short_lease(&self) -> Duration;
    /// Lets `lease` run out.
    async fn outlive(&self, lease: Duration);
    /// Removes what the test left behind.
    async fn finish(self);
}

/// The in-process stores: every "instance" holds the same ones, as within one process.
pub struct MemoryBackend {
    clock: Arc<ManualClock>,
    tokens: Arc<MemoryTokenStore>,
    limiter: Arc<MemoryLimiter>,
}

impl MemoryBackend {
    pub async fn new() -> Self {
        let clock = Arc::new(ManualClock::default());
        Self {
            tokens: Arc::new(MemoryTokenStore::with_clock(clock.clone())),
            limiter: Arc::new(MemoryLimiter::default()),
            clock,
        }
    }
}

#[async_trait::async_trait]
impl Backend for MemoryBackend {
    async fn instance(&self) -> Instance {
        Instance {
            tokens: self.tokens.clone(),
            limiter: self.limiter.clone(),
        }
    }
    fn now(&self) -> SystemTime {
        self.clock.now()
    }
    fn short_lease(&self) -> Duration {
        Duration::from_secs(30)
    }
    async fn outlive(&self, lease: Duration) {
        self.clock.advance(lease);
    }
    async fn finish(self) {}
}

/// Redis under a fresh prefix; each instance has its own connection.
pub struct RedisBackend {
    prefix: String,
}

impl RedisBackend {
    pub async fn new() -> Self {
        Self {
            prefix: random_prefix(),
        }
    }
}

#[async_trait::async_trait]
impl Backend for RedisBackend {
    async fn instance(&self) -> Instance {
        let state = redis_state(&self.prefix, Arc::new(SystemClock)).await;
        Instance {
            tokens: state.tokens,
            limiter: state.limiter,
        }
    }
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn short_lease(&self) -> Duration {
        Duration::from_millis(200)
    }
    /// Leases run on Redis's own clock: there is nothing to advance, only to wait for.
    async fn outlive(&self, lease: Duration) {
        tokio::time::sleep(lease + Duration::from_millis(50)).await;
    }
    async fn finish(self) {
        remove_prefix(&self.prefix).await;
    }
}
