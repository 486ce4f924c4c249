//! [`RedisTokenStore`]: the access-token cache and refresh lock that several gateway instances share, so that
//! one of them fetches a token and every other one reads it instead of fetching (and, for classic tokens,
//! invalidating) its own.
use crate::conn::Conn;
use crate::error::Error;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wechat::{AccessToken, Clock, LockToken, StoredToken, TokenKey, TokenStore};

/// Removes the token only if it is still the one WeChat rejected: another instance may already have stored
/// its replacement, which must survive.
static INVALIDATE_IF: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Releases the lock only if it still holds our value: after our lease ran out another instance may hold it.
static UNLOCK: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// The shared token store. See the crate docs for its keys.
#[derive(Debug)]
pub struct RedisTokenStore {
    conn: Conn,
    /// Judges how long a token has left when it is saved, to set its TTL: the token managers' clock.
    clock: Arc<dyn Clock>,
}

impl RedisTokenStore {
    pub(crate) fn new(conn: Conn, clock: Arc<dyn Clock>) -> Self {
        Self { conn, clock }
    }

    fn token_key(&self, key: &TokenKey) -> String {
        self.conn.key(&format!("token:{}", key.name()))
    }

    fn lock_key(&self, key: &TokenKey) -> String {
        self.conn.key(&format!("token-lock:{}", key.name()))
    }
}

fn to_millis(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The stored record, if it has every field this crate writes.
fn parse_record(fields: &HashMap<String, String>) -> Option<StoredToken> {
    let token = fields.get("token").filter(|t| !t.is_empty())?;
    let fetched_at = fields.get("fetched_at_ms")?.parse().ok()?;
    let expires_at = fields.get("expires_at_ms")?.parse().ok()?;
    Some(StoredToken {
        token: AccessToken::new(token.clone()),
        fetched_at: from_millis(fetched_at),
        expires_at: from_millis(expires_at),
    })
}

#[async_trait::async_trait]
impl TokenStore for RedisTokenStore {
    async fn load(&self, key: &TokenKey) -> Result<Option<StoredToken>, wechat::Error> {
        let rkey = self.token_key(key);
        let fields: HashMap<String, String> = self
            .conn
            .run("load token", async |c| {
                redis::cmd("HGETALL").arg(&rkey).query_async(c).await
            })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let record = parse_record(&fields);
        if record.is_none() {
            // Treated as absent, so that the next save repairs it; failing instead would stop every
            // instance until the key expired.
            tracing::warn!(appid = %key.appid, kind = key.kind.as_str(), "ignoring a malformed token record in Redis");
        }
        Ok(record)
    }

    async fn save(&self, key: &TokenKey, token: &StoredToken) -> Result<(), wechat::Error> {
        let rkey = self.token_key(key);
        let ttl = millis(
            token
                .expires_at
                .duration_since(self.clock.now())
                .unwrap_or(Duration::ZERO),
        );
        let mut pipe = redis::pipe();
        pipe.atomic().del(&rkey).ignore();
        // A token already dead by our clock is not worth keeping: the save then only removes the old one.
        if ttl > 0 {
            pipe.hset_multiple(
                &rkey,
                &[
                    ("token", token.token.expose().to_owned()),
                    ("fetched_at_ms", to_millis(token.fetched_at).to_string()),
                    ("expires_at_ms", to_millis(token.expires_at).to_string()),
                ],
            )
            .ignore()
            .pexpire(&rkey, i64::try_from(ttl).unwrap_or(i64::MAX))
            .ignore();
        }
        self.conn
            .run("save token", async |c| pipe.query_async::<()>(c).await)
            .await?;
        Ok(())
    }

    async fn invalidate_if(
        &self,
        key: &TokenKey,
        failed: &AccessToken,
    ) -> Result<bool, wechat::Error> {
        let rkey = self.token_key(key);
        let removed: i64 = self
            .conn
            .run("invalidate token", async |c| {
                INVALIDATE_IF
                    .key(&rkey)
                    .arg(failed.expose())
                    .invoke_async(c)
                    .await
            })
            .await?;
        Ok(removed > 0)
    }

    async fn try_lock(
        &self,
        key: &TokenKey,
        lease: Duration,
    ) -> Result<Option<LockToken>, wechat::Error> {
        let rkey = self.lock_key(key);
        // Random, so that only its holder can release it (see `unlock`), whatever the number of instances.
        let value = format!("{:032x}", rand::random::<u128>());
        let lease_ms = millis(lease).max(1);
        let reply: Option<String> = self
            .conn
            .run("lock token refresh", async |c| {
                redis::cmd("SET")
                    .arg(&rkey)
                    .arg(&value)
                    .arg("NX")
                    .arg("PX")
                    .arg(lease_ms)
                    .query_async(c)
                    .await
            })
            .await?;
        match reply.as_deref() {
            Some("OK") => Ok(Some(LockToken::new(value))),
            None => Ok(None),
            Some(_) => Err(Error::Unexpected {
                op: "lock token refresh",
            }
            .into()),
        }
    }

    async fn unlock(&self, key: &TokenKey, lock: &LockToken) -> Result<(), wechat::Error> {
        let rkey = self.lock_key(key);
        self.conn
            .run("unlock token refresh", async |c| {
                UNLOCK
                    .key(&rkey)
                    .arg(lock.as_str())
                    .invoke_async::<i64>(c)
                    .await
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_and_clamp() {
        let t = from_millis(1_700_000_000_123);
        assert_eq!(to_millis(t), 1_700_000_000_123);
        assert_eq!(to_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }

    #[test]
    fn incomplete_records_are_rejected() {
        let full: HashMap<String, String> = [
            ("token", "t"),
            ("fetched_at_ms", "1000"),
            ("expires_at_ms", "8200000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let parsed = parse_record(&full).unwrap();
        assert_eq!(parsed.expires_at, from_millis(8_200_000));
        for missing in ["token", "fetched_at_ms", "expires_at_ms"] {
            let mut partial = full.clone();
            partial.remove(missing);
            assert!(parse_record(&partial).is_none(), "{missing}");
        }
        let mut garbled = full;
        garbled.insert("expires_at_ms".into(), "soon".into());
        assert!(parse_record(&garbled).is_none());
    }
}
