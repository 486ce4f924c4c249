//! The contract of the shared state, one body per behaviour, run against every backend by `contract_suite!`.
use crate::helpers::{Backend, whole_ms};
use identity::AppId;
use limits::{Decision, Window};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wechat::{AccessToken, LockToken, StoredToken, TokenKey, TokenKind};

const LONG_LEASE: Duration = Duration::from_secs(30);

fn key(appid: &str, kind: TokenKind) -> TokenKey {
    TokenKey {
        appid: AppId::parse(appid).unwrap(),
        kind,
    }
}

fn stable() -> TokenKey {
    key("wx00000000000000a1", TokenKind::Stable)
}

fn token(value: &str) -> AccessToken {
    AccessToken::new(value.to_owned())
}

/// A token fetched at `now` that lives a minute.
fn stored(value: &str, now: SystemTime) -> StoredToken {
    let fetched_at = whole_ms(now);
    StoredToken {
        token: token(value),
        fetched_at,
        expires_at: fetched_at + Duration::from_secs(60),
    }
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// 2026-01-01 04:00:00 UTC: noon in Shanghai, 12 hours before the day ends.
const NOON: u64 = 1_767_240_000;
/// 2026-01-01 15:59:59 UTC: the day's last second in Shanghai.
const LAST_SECOND: u64 = 1_767_283_199;

pub async fn tokens_round_trip_and_replace(b: &impl Backend) {
    let (a, other) = (b.instance().await, b.instance().await);
    assert_eq!(a.tokens.load(&stable()).await.unwrap(), None);

    let first = stored("token-one", b.now());
    a.tokens.save(&stable(), &first).await.unwrap();
    assert_eq!(other.tokens.load(&stable()).await.unwrap(), Some(first));

    let second = stored("token-two", b.now() + Duration::from_secs(1));
    other.tokens.save(&stable(), &second).await.unwrap();
    assert_eq!(a.tokens.load(&stable()).await.unwrap(), Some(second));

    // One entry per app and kind.
    let classic = key("wx00000000000000a1", TokenKind::Classic);
    let other_app = key("wx00000000000000b2", TokenKind::Stable);
    assert_eq!(a.tokens.load(&classic).await.unwrap(), None);
    assert_eq!(a.tokens.load(&other_app).await.unwrap(), None);
}

pub async fn invalidate_removes_only_the_failed_token(b: &impl Backend) {
    let (a, other) = (b.instance().await, b.instance().await);
    assert!(
        !a.tokens
            .invalidate_if(&stable(), &token("old"))
            .await
            .unwrap()
    );

    let new = stored("new", b.now());
    a.tokens.save(&stable(), &new).await.unwrap();
    // Another instance still holding the old token learns that it failed: the new one must survive.
    assert!(
        !other
            .tokens
            .invalidate_if(&stable(), &token("old"))
            .await
            .unwrap()
    );
    assert_eq!(a.tokens.load(&stable()).await.unwrap(), Some(new));

    assert!(
        other
            .tokens
            .invalidate_if(&stable(), &token("new"))
            .await
            .unwrap()
    );
    assert_eq!(a.tokens.load(&stable()).await.unwrap(), None);
    assert!(
        !a.tokens
            .invalidate_if(&stable(), &token("new"))
            .await
            .unwrap()
    );
}

pub async fn lock_is_exclusive_across_instances(b: &impl Backend) {
    let (a, other) = (b.instance().await, b.instance().await);
    let held = a
        .tokens
        .try_lock(&stable(), LONG_LEASE)
        .await
        .unwrap()
        .expect("a free lock");
    assert!(
        other
            .tokens
            .try_lock(&stable(), LONG_LEASE)
            .await
            .unwrap()
            .is_none()
    );
    // Not re-entrant either: a second refresh in the same instance waits like any other.
    assert!(
        a.tokens
            .try_lock(&stable(), LONG_LEASE)
            .await
            .unwrap()
            .is_none()
    );

    // Locks are per key.
    let classic = key("wx00000000000000a1", TokenKind::Classic);
    let other_lock = other
        .tokens
        .try_lock(&classic, LONG_LEASE)
        .await
        .unwrap()
        .expect("another key's lock");
    other.tokens.unlock(&classic, &other_lock).await.unwrap();

    // Only the holder's token releases it.
    other
        .tokens
        .unlock(&stable(), &LockToken::new("forged"))
        .await
        .unwrap();
    assert!(
        other
            .tokens
            .try_lock(&stable(), LONG_LEASE)
            .await
            .unwrap()
            .is_none()
    );

    a.tokens.unlock(&stable(), &held).await.unwrap();
    let next = other
        .tokens
        .try_lock(&stable(), LONG_LEASE)
        .await
        .unwrap()
        .expect("a released lock");
    assert_ne!(next, held);
    other.tokens.unlock(&stable(), &next).await.unwrap();
}

pub async fn an_expired_lease_frees_the_lock_and_a_stale_unlock_keeps_the_new_one(
    b: &impl Backend,
) {
    let (dead, next, third) = (b.instance().await, b.instance().await, b.instance().await);
    let lease = b.short_lease();
    let stale = dead
        .tokens
        .try_lock(&stable(), lease)
        .await
        .unwrap()
        .expect("a free lock");
    assert!(
        next.tokens
            .try_lock(&stable(), LONG_LEASE)
            .await
            .unwrap()
            .is_none()
    );

    b.outlive(lease).await;
    let current = next
        .tokens
        .try_lock(&stable(), LONG_LEASE)
        .await
        .unwrap()
        .expect("the lease ran out");

    // The first holder comes back late and unlocks: the new holder's lock must stay.
    dead.tokens.unlock(&stable(), &stale).await.unwrap();
    assert!(
        third
            .tokens
            .try_lock(&stable(), LONG_LEASE)
            .await
            .unwrap()
            .is_none()
    );

    next.tokens.unlock(&stable(), &current).await.unwrap();
    assert!(
        third
            .tokens
            .try_lock(&stable(), LONG_LEASE)
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn limiter_counts_to_the_limit_then_denies_until_the_window_ends(b: &impl Backend) {
    let l = b.instance().await.limiter;
    for _ in 0..3 {
        assert_eq!(
            l.hit("k", 3, Window::Second, at(NOON)).await.unwrap(),
            Decision::Allowed
        );
    }
    assert_eq!(
        l.hit("k", 3, Window::Second, at(NOON)).await.unwrap(),
        Decision::Denied {
            retry_after_secs: 1
        }
    );
    assert_eq!(
        l.hit("k", 3, Window::Second, at(NOON + 1)).await.unwrap(),
        Decision::Allowed
    );

    for _ in 0..2 {
        assert_eq!(
            l.hit("u", 2, Window::Day, at(NOON)).await.unwrap(),
            Decision::Allowed
        );
    }
    assert_eq!(
        l.hit("u", 2, Window::Day, at(NOON)).await.unwrap(),
        Decision::Denied {
            retry_after_secs: 12 * 3600
        }
    );
    // Later the same day: still denied, with less left to wait.
    assert_eq!(
        l.hit("u", 2, Window::Day, at(LAST_SECOND)).await.unwrap(),
        Decision::Denied {
            retry_after_secs: 1
        }
    );
    assert_eq!(
        l.hit("u", 2, Window::Day, at(LAST_SECOND + 1))
            .await
            .unwrap(),
        Decision::Allowed
    );

    assert_eq!(
        l.hit("closed", 0, Window::Second, at(NOON)).await.unwrap(),
        Decision::Denied {
            retry_after_secs: 1
        }
    );
}

pub async fn limiter_windows_and_buckets_are_independent(b: &impl Backend) {
    let l = b.instance().await.limiter;
    assert_eq!(
        l.hit("k", 1, Window::Second, at(NOON)).await.unwrap(),
        Decision::Allowed
    );
    assert!(matches!(
        l.hit("k", 1, Window::Second, at(NOON)).await.unwrap(),
        Decision::Denied { .. }
    ));
    // Same bucket, other window; same window, other bucket.
    assert_eq!(
        l.hit("k", 1, Window::Day, at(NOON)).await.unwrap(),
        Decision::Allowed
    );
    assert_eq!(
        l.hit("k2", 1, Window::Second, at(NOON)).await.unwrap(),
        Decision::Allowed
    );
    // A limit is not part of the counter: a higher one lets more through the same window.
    assert_eq!(
        l.hit("k", 2, Window::Second, at(NOON)).await.unwrap(),
        Decision::Allowed
    );
}

pub async fn limits_hold_across_instances(b: &impl Backend) {
    let instances = [b.instance().await, b.instance().await];
    let mut allowed = 0;
    for i in 0..10 {
        let l = &instances[i % 2].limiter;
        if l.hit("shared", 5, Window::Day, at(NOON)).await.unwrap() == Decision::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
    for instance in &instances {
        assert!(matches!(
            instance
                .limiter
                .hit("shared", 5, Window::Day, at(NOON))
                .await
                .unwrap(),
            Decision::Denied {
                retry_after_secs: 43_200
            }
        ));
    }
}

pub async fn concurrent_hits_never_pass_the_limit(b: &impl Backend) {
    let instances = [b.instance().await.limiter, b.instance().await.limiter];
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = instances[i % 2].clone();
            tokio::spawn(async move { l.hit("burst", 50, Window::Day, at(NOON)).await.unwrap() })
        })
        .collect();
    let mut decisions = Vec::new();
    for task in tasks {
        decisions.push(task.await.unwrap());
    }
    let allowed = decisions
        .iter()
        .filter(|d| **d == Decision::Allowed)
        .count();
    assert_eq!(allowed, 50);
    assert!(
        decisions
            .iter()
            .filter(|d| **d != Decision::Allowed)
            .all(|d| *d
                == Decision::Denied {
                    retry_after_secs: 43_200
                })
    );
}

/// Issue 13 §3: a count given back (the call did not happen) frees its place for every instance, never goes
/// below zero, and only in the window it was counted in.
pub async fn a_count_given_back_frees_its_place_across_instances(b: &impl Backend) {
    let (one, two) = (b.instance().await.limiter, b.instance().await.limiter);
    assert_eq!(
        one.hit("u", 1, Window::Day, at(NOON)).await.unwrap(),
        Decision::Allowed
    );
    assert!(matches!(
        two.hit("u", 1, Window::Day, at(NOON)).await.unwrap(),
        Decision::Denied { .. }
    ));
    two.give_back("u", Window::Day, at(NOON)).await.unwrap();
    assert_eq!(one.used("u", Window::Day, at(NOON)).await.unwrap(), 0);
    assert_eq!(
        two.hit("u", 1, Window::Day, at(NOON)).await.unwrap(),
        Decision::Allowed
    );
    assert_eq!(one.used("u", Window::Day, at(NOON)).await.unwrap(), 1);
    for _ in 0..3 {
        one.give_back("u", Window::Day, at(NOON)).await.unwrap();
    }
    assert_eq!(two.used("u", Window::Day, at(NOON)).await.unwrap(), 0);
    let tomorrow = at(NOON + 86_400);
    assert_eq!(
        one.hit("u", 1, Window::Day, tomorrow).await.unwrap(),
        Decision::Allowed
    );
    two.give_back("u", Window::Day, at(NOON)).await.unwrap();
    assert_eq!(one.used("u", Window::Day, tomorrow).await.unwrap(), 1);
}

/// Counting first and giving back after never lets concurrent callers on several instances hold more than the
/// limit: what is kept at the end is what was counted and not given back, at most the limit.
pub async fn concurrent_counts_and_give_backs_never_pass_the_limit(b: &impl Backend) {
    let instances = [b.instance().await.limiter, b.instance().await.limiter];
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = instances[i % 2].clone();
            tokio::spawn(async move {
                let allowed =
                    l.hit("burst", 20, Window::Day, at(NOON)).await.unwrap() == Decision::Allowed;
                // Every third call "does not happen" and gives its count back.
                if allowed && i % 3 == 0 {
                    l.give_back("burst", Window::Day, at(NOON)).await.unwrap();
                    return 0;
                }
                u32::from(allowed)
            })
        })
        .collect();
    let mut kept = 0;
    for task in tasks {
        kept += task.await.unwrap();
    }
    assert!(kept <= 20, "{kept} calls kept with a limit of 20");
    assert_eq!(
        instances[0]
            .used("burst", Window::Day, at(NOON))
            .await
            .unwrap(),
        kept
    );
}
