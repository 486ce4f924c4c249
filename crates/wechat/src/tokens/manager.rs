//! The single-flight token manager.
//!
//! `token()` answers from a local copy while it is fresh. Otherwise it joins the one refresh in flight, or
//! starts it. The refresh runs in its own spawned task and publishes its result through a `Shared` future,
//! so a caller that drops its future never cancels the refresh nor starves the others, and the task itself
//! (not a waiter) records the result and clears the in-flight slot, on success, failure or panic.
//!
//! Across processes, the refresh takes the store's lock: one process fetches, the others poll the store
//! until the new token appears (or the lease runs out and one of them takes over).
use super::{StoredToken, TokenKey, TokenKind, TokenProvider, TokenStatus, TokenStore};
use crate::{AccessToken, AppSecret, Client, Clock, Error, IssuedToken};
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use identity::AppId;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

type Flight = Shared<BoxFuture<'static, Result<StoredToken, Error>>>;

/// Provides one app's access token. Needs a Tokio runtime: refreshes run in spawned tasks.
#[derive(Debug)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    secret: AppSecret,
    key: TokenKey,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    refresh_ahead: Duration,
    lock_lease: Duration,
    lock_poll: Duration,
    retry_after_failure: Duration,
}

struct State {
    settings: Settings,
    local: Option<StoredToken>,
    flight: Option<(u64, Flight)>,
    next_flight: u64,
    /// The last token WeChat rejected: never served again, even if a store or stable_token hands it back.
    rejected: Option<AccessToken>,
    fetches: u64,
    failures: u64,
    last_error: Option<String>,
    last_failure_at: Option<SystemTime>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("local", &self.local)
            .field("in_flight", &self.flight.is_some())
            .field("fetches", &self.fetches)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl TokenManager {
    pub fn new(
        client: Client,
        appid: AppId,
        secret: AppSecret,
        kind: TokenKind,
        store: Arc<dyn TokenStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let settings = Settings {
            refresh_ahead: Duration::from_secs(300),
            lock_lease: Duration::from_secs(30),
            lock_poll: Duration::from_millis(50),
            retry_after_failure: Duration::from_secs(10),
        };
        let state = State {
            settings,
            local: None,
            flight: None,
            next_flight: 0,
            rejected: None,
            fetches: 0,
            failures: 0,
            last_error: None,
            last_failure_at: None,
        };
        let key = TokenKey { appid, kind };
        Self {
            inner: Arc::new(Inner {
                client,
                secret,
                key,
                store,
                clock,
                state: Mutex::new(state),
            }),
        }
    }

    /// Refresh this long before expiry (default 5 minutes), capped at half the token's lifetime.
    pub fn with_refresh_ahead(self, ahead: Duration) -> Self {
        self.inner.state().settings.refresh_ahead = ahead;
        self
    }

    /// The lease on a shared store's refresh lock (default 30 s): how long a crashed refresher can block the
    /// others. Should exceed the client's timeout.
    pub fn with_lock_lease(self, lease: Duration) -> Self {
        self.inner.state().settings.lock_lease = lease;
        self
    }

    /// How often to look for another process's result while it holds the lock (default 50 ms).
    pub fn with_lock_poll(self, poll: Duration) -> Self {
        self.inner.state().settings.lock_poll = poll;
        self
    }

    /// After a failed refresh, keep serving the still-valid token this long before trying again (default
    /// 10 s by the manager's clock). Without a valid token every call tries again.
    pub fn with_retry_after_failure(self, wait: Duration) -> Self {
        self.inner.state().settings.retry_after_failure = wait;
        self
    }

    pub fn key(&self) -> &TokenKey {
        &self.inner.key
    }
}

#[async_trait::async_trait]
impl TokenProvider for TokenManager {
    async fn token(&self) -> Result<AccessToken, Error> {
        let flight = {
            let mut state = self.inner.state();
            let now = self.inner.clock.now();
            if let Some(local) = &state.local {
                if now < local.refresh_at(state.settings.refresh_ahead) {
                    return Ok(local.token.clone());
                }
                let backing_off = state
                    .last_failure_at
                    .is_some_and(|failed| now < failed + state.settings.retry_after_failure);
                if now < local.expires_at && backing_off && state.flight.is_none() {
                    return Ok(local.token.clone());
                }
            }
            Inner::join_or_start(&self.inner, &mut state)
        };
        match flight.await {
            Ok(stored) => Ok(stored.token),
            Err(err) => {
                // A failed refresh ahead of expiry does not fail callers while the old token still works.
                let state = self.inner.state();
                match &state.local {
                    Some(local) if self.inner.clock.now() < local.expires_at => {
                        Ok(local.token.clone())
                    }
                    _ => Err(err),
                }
            }
        }
    }

    async fn invalidate(&self, failed: &AccessToken) {
        {
            let mut state = self.inner.state();
            if state.local.as_ref().is_some_and(|l| l.token == *failed) {
                state.local = None;
            }
            state.rejected = Some(failed.clone());
        }
        let fingerprint = failed.fingerprint();
        match self
            .inner
            .store
            .invalidate_if(&self.inner.key, failed)
            .await
        {
            Ok(true) => {
                tracing::info!(appid = %self.inner.key.appid, token = %fingerprint, "access token invalidated")
            }
            Ok(false) => {
                tracing::debug!(appid = %self.inner.key.appid, token = %fingerprint, "rejected token already replaced")
            }
            Err(e) => {
                tracing::warn!(appid = %self.inner.key.appid, error = %e, "token store invalidate failed")
            }
        }
    }

    fn status(&self) -> TokenStatus {
        let state = self.inner.state();
        let now = self.inner.clock.now();
        let local = state.local.as_ref();
        TokenStatus {
            kind: self.inner.key.kind,
            cached: local.is_some_and(|l| now < l.expires_at),
            fetched_at: local.map(|l| l.fetched_at),
            expires_at: local.map(|l| l.expires_at),
            refresh_at: local.map(|l| l.refresh_at(state.settings.refresh_ahead)),
            fetches: state.fetches,
            failures: state.failures,
            last_error: state.last_error.clone(),
        }
    }
}

/// Clears the in-flight slot if the refresh task ends without doing so (it panicked).
struct SlotGuard {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut state = self.inner.state();
        if state.flight.as_ref().is_some_and(|(id, _)| *id == self.id) {
            state.flight = None;
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state consistent (every update is a plain assignment).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called with the state locked, so that "no flight yet" and "start one" are one step.
    fn join_or_start(this: &Arc<Self>, state: &mut State) -> Flight {
        if let Some((_, flight)) = &state.flight {
            return flight.clone();
        }
        let id = state.next_flight;
        state.next_flight += 1;
        let inner = Arc::clone(this);
        let task = tokio::spawn(async move {
            let _guard = SlotGuard {
                inner: Arc::clone(&inner),
                id,
            };
            let result = inner.refresh().await;
            inner.finish(id, &result);
            result
        });
        let flight = async move {
            task.await.unwrap_or_else(|_| {
                Err(Error::Store("token refresh task ended unexpectedly".into()))
            })
        }
        .boxed()
        .shared();
        state.flight = Some((id, flight.clone()));
        flight
    }

    /// Records the result and clears the slot in one step, so that a caller never sees neither a flight
    /// nor the new token.
    fn finish(&self, id: u64, result: &Result<StoredToken, Error>) {
        let mut state = self.state();
        match result {
            Ok(stored) => {
                if state.rejected.as_ref() != Some(&stored.token) {
                    state.local = Some(stored.clone());
                }
                state.last_error = None;
                state.last_failure_at = None;
            }
            Err(err) => {
                state.failures += 1;
                state.last_error = Some(err.to_string());
                state.last_failure_at = Some(self.clock.now());
            }
        }
        if state
            .flight
            .as_ref()
            .is_some_and(|(flight, _)| *flight == id)
        {
            state.flight = None;
        }
    }

    async fn refresh(&self) -> Result<StoredToken, Error> {
        let settings = self.state().settings;
        let started = Instant::now();
        loop {
            if let Some(stored) = self.usable_from_store().await? {
                return Ok(stored);
            }
            if let Some(lock) = self.store.try_lock(&self.key, settings.lock_lease).await? {
                let result = self.refresh_locked().await;
                if let Err(e) = self.store.unlock(&self.key, &lock).await {
                    tracing::warn!(appid = %self.key.appid, error = %e, "token store unlock failed");
                }
                return result;
            }
            // Someone else is refreshing; after twice its lease it is surely dead and we would have taken over.
            if started.elapsed() >= settings.lock_lease * 2 {
                return Err(Error::Store(
                    "timed out waiting for another instance's token refresh".into(),
                ));
            }
            tokio::time::sleep(settings.lock_poll).await;
        }
    }

    async fn refresh_locked(&self) -> Result<StoredToken, Error> {
        // The previous holder may have saved between our load and our lock.
        if let Some(stored) = self.usable_from_store().await? {
            return Ok(stored);
        }
        let stored = self.fetch().await?;
        // The token is already ours (and, for a classic token, the old one is already doomed): a store
        // failure must not throw it away.
        if let Err(e) = self.store.save(&self.key, &stored).await {
            tracing::warn!(appid = %self.key.appid, error = %e, "token store save failed; using the token anyway");
        }
        Ok(stored)
    }

    /// The stored token, if it is fresh and not the one WeChat last rejected.
    async fn usable_from_store(&self) -> Result<Option<StoredToken>, Error> {
        let Some(stored) = self.store.load(&self.key).await? else {
            return Ok(None);
        };
        let (ahead, rejected) = {
            let state = self.state();
            (state.settings.refresh_ahead, state.rejected.clone())
        };
        let fresh = self.clock.now() < stored.refresh_at(ahead);
        Ok((fresh && rejected.as_ref() != Some(&stored.token)).then_some(stored))
    }

    async fn fetch(&self) -> Result<StoredToken, Error> {
        // Expiry counts from before the request: the token may have been issued at any point during it.
        let fetched_at = self.clock.now();
        let result = self.fetch_upstream().await;
        let label = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.metric_result(),
        };
        metrics::counter!("wxrn_token_fetches_total", "kind" => self.key.kind.as_str(), "result" => label).increment(1);
        match result {
            Ok(issued) => {
                tracing::info!(
                    appid = %self.key.appid,
                    kind = self.key.kind.as_str(),
                    token = %issued.token.fingerprint(),
                    expires_in_s = issued.expires_in.as_secs(),
                    "access token fetched"
                );
                Ok(StoredToken {
                    token: issued.token,
                    fetched_at,
                    expires_at: fetched_at + issued.expires_in,
                })
            }
            Err(e) => {
                tracing::warn!(appid = %self.key.appid, kind = self.key.kind.as_str(), error = %e, "access token fetch failed");
                Err(e)
            }
        }
    }

    async fn fetch_upstream(&self) -> Result<IssuedToken, Error> {
        let appid = &self.key.appid;
        self.state().fetches += 1;
        match self.key.kind {
            TokenKind::Classic => self.client.token(appid, &self.secret).await,
            TokenKind::Stable => {
                let issued = self.client.stable_token(appid, &self.secret, false).await?;
                let rejected = self.state().rejected.clone();
                if rejected.as_ref() != Some(&issued.token) {
                    return Ok(issued);
                }
                // WeChat hands out the very token it just rejected (it was replaced behind its back): only a
                // forced refresh gets past it. Rare, and limited by WeChat to 20 a day, so only here.
                tracing::warn!(appid = %appid, "stable_token returned the rejected token; forcing a refresh");
                self.state().fetches += 1;
                self.client.stable_token(appid, &self.secret, true).await
            }
        }
    }
}
