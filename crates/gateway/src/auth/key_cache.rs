//! The API-key cache: the key rows [`caller`](super::caller) read from the store, reused for at most
//! `limits.api_key_cache_ms` (at most 1000 ms, the default; 0 turns it off), so that a request with a known key
//! costs no store read.
//!
//! What it promises, and how:
//! - **Revocation within the bound.** An entry is used only while the clock (the injected `wechat::Clock`) is less
//!   than `ttl` past the moment taken *before* its row was read, so the row is never older than the entry says. A
//!   key revoked in the store at time R (by `keys revoke`, another instance, anyone writing the store) was read,
//!   at the latest, just before R, and that entry is dropped before R + `ttl`: every instance refuses it within
//!   `ttl`. A clock that goes backwards makes entries stale, never fresher.
//! - **The secret is not cached.** Only the key's record (hash, apps, scopes, revoked flag) is; the caller
//!   compares SHA-256(secret) with the hash in constant time on every request, so a wrong secret with a right id
//!   is refused whether or not the id is cached.
//! - **Only keys that exist.** An unknown id is not cached (every request naming one reads the store, as it did
//!   before the cache), so presenting random ids cannot grow it. A revoked key is cached like a live one (it
//!   exists; it is refused without a store read). A store error is not cached: it is returned, and the next
//!   request asks again. An entry past its time is never used as a fallback.
//! - **Bounded memory.** At most `cap` entries (10,000 in the gateway). When full, entries past their time are
//!   dropped first; if every entry is fresh (more distinct keys used within `ttl` than `cap`), the oldest, the one
//!   nearest to its expiry, is evicted.
//!
//! No single-flight: when an entry expires, the requests for that key that arrive before the first re-read
//! finishes each read the row themselves. That is one wave of at most `limits.max_in_flight` reads per key per
//! `ttl` (in practice the few requests of the re-read's round trip), against one read per request without the
//! cache.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};
use store::ApiKeyRecord;
use wechat::Clock;

/// The gateway's cap on cached keys.
pub const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    cap: usize,
    entries: RwLock<HashMap<String, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    key: Arc<ApiKeyRecord>,
    /// The clock just before the row was read.
    read_at: SystemTime,
}

impl Entry {
    fn is_fresh(&self, now: SystemTime, ttl: Duration) -> bool {
        // Err: the clock went back past `read_at`; the entry's age is unknown, so it is stale.
        now.duration_since(self.read_at).is_ok_and(|age| age < ttl)
    }
}

impl KeyCache {
    /// Entries live `ttl` (clamped to [`crate::config::MAX_API_KEY_CACHE_MS`]); at most `cap` of them. A zero
    /// `ttl` or `cap`: no cache.
    pub fn new(ttl: Duration, cap: usize) -> Self {
        Self {
            ttl: ttl.min(Duration::from_millis(crate::config::MAX_API_KEY_CACHE_MS)),
            cap,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// From `limits.api_key_cache_ms`, with the gateway's cap.
    pub fn from_config(cfg: &crate::Config) -> Self {
        Self::new(
            Duration::from_millis(cfg.limits.api_key_cache_ms),
            MAX_ENTRIES,
        )
    }

    fn is_on(&self) -> bool {
        !self.ttl.is_zero() && self.cap > 0
    }

    /// How many keys are cached (fresh or not yet swept).
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key with this id: the cached record while its entry is fresh, otherwise `load`'s answer (the store's
    /// `api_key(id)`), cached when the key exists. `load`'s error is returned as is, and not cached.
    pub async fn get<F, Fut, E>(
        &self,
        id: &str,
        clock: &dyn Clock,
        load: F,
    ) -> Result<Option<Arc<ApiKeyRecord>>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<ApiKeyRecord>, E>>,
    {
        if !self.is_on() {
            return Ok(load().await?.map(Arc::new));
        }
        // Taken before the read: the entry is never younger than the row it holds.
        let read_at = clock.now();
        if let Some(key) = self.fresh(id, read_at) {
            return Ok(Some(key));
        }
        match load().await? {
            Some(key) => {
                let key = Arc::new(key);
                self.insert(id, key.clone(), read_at, clock.now());
                Ok(Some(key))
            }
            None => {
                self.forget(id);
                Ok(None)
            }
        }
    }

    fn fresh(&self, id: &str, now: SystemTime) -> Option<Arc<ApiKeyRecord>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(id)?;
        entry.is_fresh(now, self.ttl).then(|| entry.key.clone())
    }

    fn insert(&self, id: &str, key: Arc<ApiKeyRecord>, read_at: SystemTime, now: SystemTime) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(id) {
            // Of two concurrent reads, keep the later one's.
            if entry.read_at <= read_at {
                *entry = Entry { key, read_at };
            }
            return;
        }
        if entries.len() >= self.cap {
            let ttl = self.ttl;
            entries.retain(|_, e| e.is_fresh(now, ttl));
        }
        if entries.len() >= self.cap {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.read_at)
                .map(|(id, _)| id.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(id.to_owned(), Entry { key, read_at });
    }

    /// The store no longer has this id (its row was deleted): drop a stale entry, if any.
    fn forget(&self, id: &str) {
        let present = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(id);
        if present {
            self.entries
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use wechat::ManualClock;

    fn record(id: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.into(),
            name: "test".into(),
            key_hash: vec![7; 32],
            apps: vec!["wx1".into()],
            scopes: Vec::new(),
            created_at_ms: 0,
            revoked_at_ms: None,
        }
    }

    /// A store of the given ids that counts its reads; `fail` makes every read an error.
    #[derive(Default)]
    struct Store {
        reads: AtomicUsize,
        revoked: std::sync::Mutex<bool>,
        fail: std::sync::atomic::AtomicBool,
    }

    impl Store {
        async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRecord>, &'static str> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            if self.fail.load(Ordering::SeqCst) {
                return Err("store down");
            }
            if !id.starts_with('k') {
                return Ok(None);
            }
            let mut r = record(id);
            if *self.revoked.lock().unwrap() {
                r.revoked_at_ms = Some(1);
            }
            Ok(Some(r))
        }

        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    async fn get(
        cache: &KeyCache,
        store: &Store,
        clock: &ManualClock,
        id: &str,
    ) -> Result<Option<Arc<ApiKeyRecord>>, &'static str> {
        cache.get(id, clock, || store.api_key(id)).await
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test]
    async fn a_key_is_read_once_per_ttl_and_a_revocation_shows_once_it_has_passed() {
        let cache = KeyCache::new(ms(1000), 10);
        let store = Store::default();
        let clock = ManualClock::default();
        for _ in 0..100 {
            let key = get(&cache, &store, &clock, "k1").await.unwrap().unwrap();
            assert_eq!(key.revoked_at_ms, None);
        }
        assert_eq!(store.reads(), 1, "one read for 100 requests");
        *store.revoked.lock().unwrap() = true;
        clock.advance(ms(999));
        let key = get(&cache, &store, &clock, "k1").await.unwrap().unwrap();
        assert_eq!(key.revoked_at_ms, None, "within the bound: the cached row");
        clock.advance(ms(1));
        let key = get(&cache, &store, &clock, "k1").await.unwrap().unwrap();
        assert_eq!(key.revoked_at_ms, Some(1), "at the bound: read again");
        assert_eq!(store.reads(), 2);
        // A revoked key stays cached: refused without a store read.
        get(&cache, &store, &clock, "k1").await.unwrap().unwrap();
        assert_eq!(store.reads(), 2);
    }

    #[tokio::test]
    async fn a_clock_that_goes_back_makes_entries_stale() {
        let cache = KeyCache::new(ms(1000), 10);
        let store = Store::default();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clock = ManualClock::new(start);
        get(&cache, &store, &clock, "k1").await.unwrap();
        clock.set(start - ms(1));
        get(&cache, &store, &clock, "k1").await.unwrap();
        assert_eq!(store.reads(), 2);
    }

    #[tokio::test]
    async fn unknown_ids_and_errors_are_not_cached() {
        let cache = KeyCache::new(ms(1000), 10);
        let store = Store::default();
        let clock = ManualClock::default();
        for _ in 0..3 {
            assert!(get(&cache, &store, &clock, "x1").await.unwrap().is_none());
        }
        assert_eq!((store.reads(), cache.len()), (3, 0));
        store.fail.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            assert_eq!(get(&cache, &store, &clock, "k1").await, Err("store down"));
        }
        assert_eq!((store.reads(), cache.len()), (5, 0));
        store.fail.store(false, Ordering::SeqCst);
        get(&cache, &store, &clock, "k1").await.unwrap().unwrap();
        assert_eq!(cache.len(), 1);
        // A stale entry is no fallback when the store fails.
        store.fail.store(true, Ordering::SeqCst);
        clock.advance(ms(1000));
        assert_eq!(get(&cache, &store, &clock, "k1").await, Err("store down"));
    }

    #[tokio::test]
    async fn the_cap_holds_stale_entries_go_first_then_the_oldest() {
        let cache = KeyCache::new(ms(1000), 3);
        let store = Store::default();
        let clock = ManualClock::default();
        for id in ["k1", "k2", "k3"] {
            get(&cache, &store, &clock, id).await.unwrap();
            clock.advance(ms(100));
        }
        assert_eq!(cache.len(), 3);
        // Full of fresh entries: the oldest (k1) makes room.
        get(&cache, &store, &clock, "k4").await.unwrap();
        assert_eq!(cache.len(), 3);
        let reads = store.reads();
        for id in ["k2", "k3", "k4"] {
            get(&cache, &store, &clock, id).await.unwrap();
        }
        assert_eq!(store.reads(), reads, "k2, k3, k4 still cached");
        get(&cache, &store, &clock, "k1").await.unwrap();
        assert_eq!(store.reads(), reads + 1, "k1 was evicted");
        // Once they are past their time, every stale entry goes at the next insert.
        clock.advance(ms(1000));
        get(&cache, &store, &clock, "k5").await.unwrap();
        assert_eq!(cache.len(), 1);
        // Many ids, many keys: never more than the cap.
        for i in 0..50 {
            get(&cache, &store, &clock, &format!("k{i}x"))
                .await
                .unwrap();
            get(&cache, &store, &clock, &format!("x{i}")).await.unwrap();
            assert!(cache.len() <= 3);
        }
    }

    #[tokio::test]
    async fn off_reads_every_time() {
        for cache in [
            KeyCache::new(Duration::ZERO, 10),
            KeyCache::new(ms(1000), 0),
        ] {
            let store = Store::default();
            let clock = ManualClock::default();
            for _ in 0..3 {
                get(&cache, &store, &clock, "k1").await.unwrap().unwrap();
            }
            assert_eq!((store.reads(), cache.len()), (3, 0));
        }
    }

    #[test]
    fn the_bound_is_never_above_a_second() {
        assert_eq!(KeyCache::new(ms(60_000), 10).ttl, ms(1000));
    }

    #[tokio::test]
    async fn concurrent_requests_at_expiry_read_once_each_then_hit() {
        let cache = Arc::new(KeyCache::new(ms(1000), 10));
        let store = Arc::new(Store::default());
        let clock = Arc::new(ManualClock::default());
        let wave = |n: usize| {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let (cache, store, clock) = (cache.clone(), store.clone(), clock.clone());
                    tokio::spawn(async move {
                        get(&cache, &store, &clock, "k1").await.unwrap().unwrap();
                    })
                })
                .collect();
            async move {
                for t in tasks {
                    t.await.unwrap();
                }
            }
        };
        wave(64).await;
        let first = store.reads();
        assert!((1..=64).contains(&first), "{first}");
        wave(64).await;
        assert_eq!(store.reads(), first, "the second wave is all hits");
        clock.advance(ms(1000));
        wave(64).await;
        assert!(store.reads() - first <= 64);
        let after = store.reads();
        wave(64).await;
        assert_eq!(store.reads(), after);
    }
}
