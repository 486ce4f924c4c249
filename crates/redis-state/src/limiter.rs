//! [`RedisLimiter`]: fixed-window rate-limit counters shared by every instance, so that a limit holds for
//! the deployment and not per instance.
//!
//! Windows are located from the `now` the caller passes (its clock), exactly as the in-memory limiter does, so
//! instances agree on a window as long as their clocks agree to well under a second.
use crate::conn::Conn;
use limits::{Decision, LimitError, Limiter, Window};
use std::sync::LazyLock;
use std::time::SystemTime;

/// Kept past the end of its window, so that an instance whose clock lags a little still finds the count.
const EXPIRY_SLACK_MS: u64 = 1_000;

/// Counts one call unless the count already reached the limit; the first count of a window sets the expiry.
/// One script, so that concurrent calls from any number of instances never pass the limit together.
static HIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then
    return 0
end
if redis.call('INCR', KEYS[1]) == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1",
    )
});

/// Gives back one counted call, never below zero; a key that is gone (its window ended) is left gone.
static GIVE_BACK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then
    redis.call('DECR', KEYS[1])
end
return 0",
    )
});

/// The shared limiter. See the crate docs for its keys.
#[derive(Debug)]
pub struct RedisLimiter {
    conn: Conn,
}

impl RedisLimiter {
    pub(crate) fn new(conn: Conn) -> Self {
        Self { conn }
    }

    fn key(&self, bucket: &str, window: Window, number: u64) -> String {
        let name = window.name();
        self.conn.key(&format!("limit:{name}:{number}:{bucket}"))
    }
}

#[async_trait::async_trait]
impl Limiter for RedisLimiter {
    async fn hit(
        &self,
        bucket: &str,
        limit: u32,
        window: Window,
        now: SystemTime,
    ) -> Result<Decision, LimitError> {
        let slot = window.locate(now);
        let key = self.key(bucket, window, slot.number);
        let expiry_ms = slot.secs_left * 1_000 + EXPIRY_SLACK_MS;
        let allowed: i64 = self
            .conn
            .run("rate-limit hit", async |c| {
                HIT.key(&key)
                    .arg(limit)
                    .arg(expiry_ms)
                    .invoke_async(c)
                    .await
            })
            .await?;
        Ok(if allowed == 1 {
            Decision::Allowed
        } else {
            slot.denied()
        })
    }

    async fn give_back(
        &self,
        bucket: &str,
        window: Window,
        counted_at: SystemTime,
    ) -> Result<(), LimitError> {
        let key = self.key(bucket, window, window.locate(counted_at).number);
        let _: i64 = self
            .conn
            .run("rate-limit give back", async |c| {
                GIVE_BACK.key(&key).invoke_async(c).await
            })
            .await?;
        Ok(())
    }

    async fn used(&self, bucket: &str, window: Window, now: SystemTime) -> Result<u32, LimitError> {
        let key = self.key(bucket, window, window.locate(now).number);
        let count: Option<u32> = self
            .conn
            .run("rate-limit read", async |c| {
                redis::cmd("GET").arg(&key).query_async(c).await
            })
            .await?;
        Ok(count.unwrap_or(0))
    }
}
