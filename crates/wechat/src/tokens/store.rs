//! Where tokens live. The trait is shaped for a store shared by several processes (Redis): plain load and
//! save, a compare-and-invalidate, and a refresh lock with a lease so that one process refreshes while the
//! others wait and then read its result. A lease, not a plain lock, so that a holder that dies mid-refresh
//! blocks the others for at most the lease.
use crate::{AccessToken, Clock, Error, SystemClock, TokenKind};
use identity::AppId;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Which token: one per app and kind (stable and classic tokens are independent at WeChat).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub appid: AppId,
    pub kind: TokenKind,
}

impl TokenKey {
    /// A stable string form, e.g. for a Redis key: `stable:wx1234`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.kind, self.appid)
    }
}

/// A token with the times that govern its refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub token: AccessToken,
    pub fetched_at: SystemTime,
    pub expires_at: SystemTime,
}

impl StoredToken {
    /// When to refresh: `ahead` before expiry, but never earlier than half the lifetime, so that a short
    /// lifetime (tests, or a stable token handed out near its end) does not trigger a refresh on every call.
    pub fn refresh_at(&self, ahead: Duration) -> SystemTime {
        let lifetime = self
            .expires_at
            .duration_since(self.fetched_at)
            .unwrap_or_default();
        self.expires_at - ahead.min(lifetime / 2)
    }
}

/// Proof of holding the refresh lock; `unlock` releases only the holder's own lock.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockToken(String);

impl LockToken {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[async_trait::async_trait]
pub trait TokenStore: Send + Sync + Debug {
    async fn load(&self, key: &TokenKey) -> Result<Option<StoredToken>, Error>;
    /// Replaces whatever is stored.
    async fn save(&self, key: &TokenKey, token: &StoredToken) -> Result<(), Error>;
    /// Removes the stored token only if it is `failed`; true if it did. Atomic (a Redis script).
    async fn invalidate_if(&self, key: &TokenKey, failed: &AccessToken) -> Result<bool, Error>;
    /// Takes the refresh lock for `lease` unless someone holds an unexpired one.
    async fn try_lock(&self, key: &TokenKey, lease: Duration) -> Result<Option<LockToken>, Error>;
    /// Releases the lock if `lock` still holds it (an expired lease may have passed to someone else).
    async fn unlock(&self, key: &TokenKey, lock: &LockToken) -> Result<(), Error>;
}

/// The in-process store. Leases are judged by its clock.
#[derive(Debug)]
pub struct MemoryTokenStore {
    clock: Arc<dyn Clock>,
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    tokens: HashMap<TokenKey, StoredToken>,
    locks: HashMap<TokenKey, (LockToken, SystemTime)>,
    next_lock: u64,
}

impl MemoryTokenStore {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(MemoryState::default()),
        }
    }
    fn state(&self) -> std::sync::MutexGuard<'_, MemoryState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, key: &TokenKey) -> Result<Option<StoredToken>, Error> {
        Ok(self.state().tokens.get(key).cloned())
    }

    async fn save(&self, key: &TokenKey, token: &StoredToken) -> Result<(), Error> {
        self.state().tokens.insert(key.clone(), token.clone());
        Ok(())
    }

    async fn invalidate_if(&self, key: &TokenKey, failed: &AccessToken) -> Result<bool, Error> {
        let mut state = self.state();
        if state.tokens.get(key).is_some_and(|t| t.token == *failed) {
            state.tokens.remove(key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn try_lock(&self, key: &TokenKey, lease: Duration) -> Result<Option<LockToken>, Error> {
        let now = self.clock.now();
        let mut state = self.state();
        if state.locks.get(key).is_some_and(|(_, until)| now < *until) {
            return Ok(None);
        }
        state.next_lock += 1;
        let lock = LockToken::new(format!("mem-{}", state.next_lock));
        state.locks.insert(key.clone(), (lock.clone(), now + lease));
        Ok(Some(lock))
    }

    async fn unlock(&self, key: &TokenKey, lock: &LockToken) -> Result<(), Error> {
        let mut state = self.state();
        if state.locks.get(key).is_some_and(|(held, _)| held == lock) {
            state.locks.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn key() -> TokenKey {
        TokenKey {
            appid: AppId::parse("wx0001").unwrap(),
            kind: TokenKind::Stable,
        }
    }

    fn stored(token: &str, at: SystemTime) -> StoredToken {
        StoredToken {
            token: AccessToken::new(token.into()),
            fetched_at: at,
            expires_at: at + Duration::from_secs(7200),
        }
    }

    #[test]
    fn refresh_at_is_ahead_but_not_before_half_life() {
        let t0 = SystemTime::UNIX_EPOCH;
        let long = stored("a", t0);
        assert_eq!(
            long.refresh_at(Duration::from_secs(300)),
            t0 + Duration::from_secs(6900)
        );
        let short = StoredToken {
            expires_at: t0 + Duration::from_secs(60),
            ..long
        };
        assert_eq!(
            short.refresh_at(Duration::from_secs(300)),
            t0 + Duration::from_secs(30)
        );
        assert_eq!(key().name(), "stable:wx0001");
    }

    #[tokio::test]
    async fn invalidate_only_removes_the_failed_token() {
        let store = MemoryTokenStore::new();
        let now = SystemTime::now();
        store.save(&key(), &stored("new", now)).await.unwrap();
        assert!(
            !store
                .invalidate_if(&key(), &AccessToken::new("old".into()))
                .await
                .unwrap()
        );
        assert!(store.load(&key()).await.unwrap().is_some());
        assert!(
            store
                .invalidate_if(&key(), &AccessToken::new("new".into()))
                .await
                .unwrap()
        );
        assert!(store.load(&key()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn lock_is_exclusive_until_unlocked_or_the_lease_ends() {
        let clock = Arc::new(ManualClock::default());
        let store = MemoryTokenStore::with_clock(clock.clone());
        let lease = Duration::from_secs(30);
        let first = store
            .try_lock(&key(), lease)
            .await
            .unwrap()
            .expect("free lock");
        assert!(store.try_lock(&key(), lease).await.unwrap().is_none());
        store.unlock(&key(), &first).await.unwrap();
        let second = store
            .try_lock(&key(), lease)
            .await
            .unwrap()
            .expect("released lock");
        assert_ne!(first, second);

        // A dead holder's lease runs out; its late unlock must not release the new holder's lock.
        clock.advance(lease);
        let third = store
            .try_lock(&key(), lease)
            .await
            .unwrap()
            .expect("expired lease");
        store.unlock(&key(), &second).await.unwrap();
        assert!(store.try_lock(&key(), lease).await.unwrap().is_none());
        store.unlock(&key(), &third).await.unwrap();
        assert!(store.try_lock(&key(), lease).await.unwrap().is_some());
    }
}
