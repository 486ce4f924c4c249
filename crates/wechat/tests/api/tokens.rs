//! Access tokens against the sandbox: rotation, sharing, single flight, cancellation, failure, refresh
//! ahead, compare-and-invalidate, and the check's recovery from a revoked token.
use crate::helpers::*;
use futures::future::join_all;
use sandbox::{Endpoint, Fault};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wechat::{
    AccessToken, CheckOutcome, Error, LockToken, MemoryTokenStore, RealnameApi, StoredToken,
    TokenKey, TokenKind, TokenProvider, TokenStore,
};

/// A store that grants every lock (no mutual exclusion), and whose `load` panics once when asked to: it
/// isolates the in-process single flight from the store's lock, and checks that a refresh task that dies
/// does not wedge the manager.
#[derive(Debug, Default)]
struct LaxStore {
    inner: MemoryTokenStore,
    panic_next_load: AtomicBool,
}

#[async_trait::async_trait]
impl TokenStore for LaxStore {
    async fn load(&self, key: &TokenKey) -> Result<Option<StoredToken>, Error> {
        if self.panic_next_load.swap(false, Ordering::SeqCst) {
            panic!("store exploded");
        }
        self.inner.load(key).await
    }
    async fn save(&self, key: &TokenKey, token: &StoredToken) -> Result<(), Error> {
        self.inner.save(key, token).await
    }
    async fn invalidate_if(&self, key: &TokenKey, failed: &AccessToken) -> Result<bool, Error> {
        self.inner.invalidate_if(key, failed).await
    }
    async fn try_lock(&self, _: &TokenKey, _: Duration) -> Result<Option<LockToken>, Error> {
        Ok(Some(LockToken::new("everyone")))
    }
    async fn unlock(&self, _: &TokenKey, _: &LockToken) -> Result<(), Error> {
        Ok(())
    }
}

const SLOW: Duration = Duration::from_millis(300);
/// Long enough that dropping waiters surely happens mid-refresh, even on a loaded machine.
const SLOWER: Duration = Duration::from_millis(1000);

#[tokio::test]
async fn classic_rotation_with_grace() {
    let app = TestApp::spawn().await;
    let manager = Arc::new(app.manager(TokenKind::Classic));
    let api = RealnameApi::new(app.client.clone(), manager.clone());
    let first = manager.token().await.unwrap();

    // Another party fetches a classic token: ours is replaced but stays valid through the grace period.
    let rotated = app
        .client
        .token(&app.appid, &app.secret)
        .await
        .unwrap()
        .token;
    assert_ne!(rotated, first);
    let result = api.check(&Check::matching(&app).req()).await.unwrap();
    assert_eq!(
        (result.outcome, result.token_retries),
        (CheckOutcome::Match, 0)
    );

    // After the grace period WeChat rejects it; the api fetches a third token and resends once.
    app.sandbox.advance(Duration::from_secs(301));
    let result = api.check(&Check::matching(&app).req()).await.unwrap();
    assert_eq!(
        (result.outcome, result.token_retries),
        (CheckOutcome::Match, 1)
    );
    let third = manager.token().await.unwrap();
    assert_ne!(third, first);
    assert_ne!(third, rotated);
    let stats = app.stats();
    assert_eq!(stats.calls.token, 3);
    assert_eq!(stats.calls.checkrealnameinfo, 3);
}

#[tokio::test]
async fn stable_token_is_shared_by_independent_managers() {
    let app = TestApp::spawn().await;
    let a = app.manager(TokenKind::Stable);
    let b = app.manager(TokenKind::Stable);
    let (ta, tb) = tokio::join!(a.token(), b.token());
    assert_eq!(ta.unwrap(), tb.unwrap());
    assert_eq!(a.token().await.unwrap(), b.token().await.unwrap());
    let stats = app.stats();
    assert_eq!(stats.calls.stable_token, 2, "one fetch each");
    assert_eq!(stats.tokens_issued.stable_token, 1, "the same token");
    assert_eq!((a.status().fetches, b.status().fetches), (1, 1));
}

#[tokio::test]
async fn managers_sharing_a_store_fetch_once() {
    // Two "processes" over one store: the refresh lock lets one fetch while the other waits for its result.
    let app = TestApp::spawn().await;
    app.fault(Fault::delay(Endpoint::Token, SLOW));
    let store = Arc::new(MemoryTokenStore::new());
    let a = app
        .manager_with(TokenKind::Classic, store.clone())
        .with_lock_poll(Duration::from_millis(10));
    let b = app
        .manager_with(TokenKind::Classic, store)
        .with_lock_poll(Duration::from_millis(10));
    let (ta, tb) = tokio::join!(a.token(), b.token());
    assert_eq!(ta.unwrap(), tb.unwrap());
    assert_eq!(app.stats().calls.token, 1);
    assert_eq!(a.status().fetches + b.status().fetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_for_a_thousand_callers() {
    let app = TestApp::spawn().await;
    // Slow enough that every caller arrives while the one fetch is in flight.
    app.fault(Fault::delay(Endpoint::StableToken, SLOW));
    // With a store lock that excludes nobody, only the in-process single flight prevents extra fetches.
    let manager = Arc::new(app.manager_with(TokenKind::Stable, Arc::new(LaxStore::default())));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.token().await })
        })
        .collect();
    let tokens: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(app.stats().calls.stable_token, 1);
    assert_eq!(manager.status().fetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_waiters_neither_cancel_nor_wedge_the_refresh() {
    let app = TestApp::spawn().await;
    app.fault(Fault::delay(Endpoint::StableToken, SLOWER));
    let manager = Arc::new(app.manager(TokenKind::Stable));
    let waiters: Vec<_> = (0..100)
        .map(|_| {
            let manager = manager.clone();
            tokio::spawn(async move { manager.token().await })
        })
        .collect();
    app.wait_for_calls(Endpoint::StableToken, 1).await;
    // Drop half the waiters mid-refresh, including the one that started it.
    let (dropped, kept): (Vec<_>, Vec<_>) = waiters
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    for (_, task) in &dropped {
        task.abort();
    }
    let tokens: Vec<_> = join_all(kept.into_iter().map(|(_, t)| t))
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(tokens.len(), 50);
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    for (_, task) in dropped {
        assert!(task.await.unwrap_err().is_cancelled());
    }
    assert_eq!(app.stats().calls.stable_token, 1);
    assert_eq!(manager.token().await.unwrap(), tokens[0]);
    assert_eq!(app.stats().calls.stable_token, 1);
}

#[tokio::test]
async fn a_refresh_whose_waiters_all_left_still_completes() {
    let app = TestApp::spawn().await;
    app.fault(Fault::delay(Endpoint::StableToken, SLOWER));
    let manager = Arc::new(app.manager(TokenKind::Stable));
    let gone = tokio::spawn({
        let manager = manager.clone();
        async move { manager.token().await }
    });
    app.wait_for_calls(Endpoint::StableToken, 1).await;
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    // Nobody awaits the refresh any more, yet it completes and caches its token (it runs in its own task).
    for _ in 0..1000 {
        if manager.status().cached {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        manager.status().cached,
        "the abandoned refresh never completed"
    );
    manager.token().await.unwrap();
    assert_eq!(app.stats().calls.stable_token, 1);
    assert_eq!(manager.status().fetches, 1);
}

#[tokio::test]
async fn a_newcomer_joins_an_abandoned_refresh() {
    let app = TestApp::spawn().await;
    app.fault(Fault::delay(Endpoint::StableToken, SLOWER));
    let manager = Arc::new(app.manager(TokenKind::Stable));
    let gone = tokio::spawn({
        let manager = manager.clone();
        async move { manager.token().await }
    });
    app.wait_for_calls(Endpoint::StableToken, 1).await;
    gone.abort();
    manager.token().await.unwrap();
    assert_eq!(app.stats().calls.stable_token, 1);
}

#[tokio::test]
async fn a_failed_refresh_reaches_its_waiters_and_the_next_call_fetches_again() {
    let app = TestApp::spawn().await;
    app.fault(Fault::errcode(Endpoint::StableToken, -1).with_delay(SLOW));
    let manager = app.manager(TokenKind::Stable);
    let results = join_all((0..10).map(|_| manager.token())).await;
    for result in results {
        assert_eq!(result.unwrap_err().errcode(), Some(-1));
    }
    assert_eq!(
        app.stats().calls.stable_token,
        1,
        "the waiters shared the one failed fetch"
    );
    let status = manager.status();
    assert_eq!((status.failures, status.cached), (1, false));
    assert!(status.last_error.unwrap().contains("-1"));

    manager.token().await.unwrap();
    assert_eq!(app.stats().calls.stable_token, 2);
    let status = manager.status();
    assert_eq!(
        (status.fetches, status.failures, status.cached),
        (2, 1, true)
    );
    assert_eq!(status.last_error, None);
}

#[tokio::test]
async fn refresh_ahead_follows_the_injected_clock() {
    let app = TestApp::spawn().await;
    let manager = app.manager(TokenKind::Classic);
    let first = manager.token().await.unwrap();
    let status = manager.status();
    let fetched_at = status.fetched_at.unwrap();
    assert_eq!(
        status.expires_at,
        Some(fetched_at + Duration::from_secs(7200))
    );
    assert_eq!(
        status.refresh_at,
        Some(fetched_at + Duration::from_secs(6900)),
        "5 minutes ahead"
    );

    app.clock.advance(Duration::from_secs(6899));
    assert_eq!(manager.token().await.unwrap(), first);
    assert_eq!(app.stats().calls.token, 1);

    app.clock.advance(Duration::from_secs(1));
    let second = manager.token().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(app.stats().calls.token, 2);
    assert_eq!(manager.token().await.unwrap(), second);
    assert_eq!(app.stats().calls.token, 2);
}

#[tokio::test]
async fn a_failed_refresh_ahead_keeps_serving_the_valid_token() {
    let app = TestApp::spawn().await;
    let manager = app
        .manager(TokenKind::Classic)
        .with_retry_after_failure(Duration::from_secs(10));
    let first = manager.token().await.unwrap();
    app.clock.advance(Duration::from_secs(6950));
    app.fault(Fault::errcode(Endpoint::Token, -1));
    assert_eq!(
        manager.token().await.unwrap(),
        first,
        "still valid for 250 s"
    );
    assert_eq!(manager.status().failures, 1);
    // Within the back-off no new fetch; after it, the refresh succeeds.
    assert_eq!(manager.token().await.unwrap(), first);
    assert_eq!(app.stats().calls.token, 2);
    app.clock.advance(Duration::from_secs(10));
    assert_ne!(manager.token().await.unwrap(), first);
    assert_eq!(app.stats().calls.token, 3);
}

#[tokio::test]
async fn an_expired_token_is_never_served() {
    let app = TestApp::spawn().await;
    let manager = app.manager(TokenKind::Classic);
    manager.token().await.unwrap();
    app.clock.advance(Duration::from_secs(7200));
    app.fault(Fault::errcode(Endpoint::Token, -1));
    assert_eq!(manager.token().await.unwrap_err().errcode(), Some(-1));
    assert!(!manager.status().cached);
}

#[tokio::test]
async fn a_stale_failure_does_not_evict_a_newer_token() {
    let app = TestApp::spawn().await;
    let manager = app.manager(TokenKind::Classic);
    let old = manager.token().await.unwrap();
    manager.invalidate(&old).await;
    let new = manager.token().await.unwrap();
    assert_ne!(new, old);
    assert_eq!(app.stats().calls.token, 2);
    // A request that used the old token fails late: the newer cached token stays.
    manager.invalidate(&old).await;
    assert_eq!(manager.token().await.unwrap(), new);
    assert_eq!(app.stats().calls.token, 2);
}

#[tokio::test]
async fn check_after_revocation_refetches_and_resends_once() {
    let app = TestApp::spawn().await;
    let api = app.api();
    assert_eq!(
        api.check(&Check::matching(&app).req())
            .await
            .unwrap()
            .outcome,
        CheckOutcome::Match
    );
    let revoked = api.tokens().token().await.unwrap();

    app.sandbox.state().revoke_tokens(APPID).unwrap();
    let before = app.stats();
    let result = api.check(&Check::matching(&app).req()).await.unwrap();
    assert_eq!(
        (result.outcome, result.token_retries),
        (CheckOutcome::Match, 1)
    );
    let after = app.stats();
    assert_eq!(
        after.calls.checkrealnameinfo - before.calls.checkrealnameinfo,
        2
    );
    assert_eq!(after.calls.stable_token - before.calls.stable_token, 1);
    assert_eq!(after.errcode(40001) - before.errcode(40001), 1);
    assert_ne!(api.tokens().token().await.unwrap(), revoked);
}

#[tokio::test]
async fn a_refresh_task_that_dies_does_not_wedge_the_manager() {
    let app = TestApp::spawn().await;
    let store = Arc::new(LaxStore::default());
    store.panic_next_load.store(true, Ordering::SeqCst);
    let manager = app.manager_with(TokenKind::Stable, store);
    let err = manager.token().await.unwrap_err();
    assert_eq!(err.kind(), "store", "{err}");
    manager.token().await.unwrap();
    assert_eq!(app.stats().calls.stable_token, 1);
}
