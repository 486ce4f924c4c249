//! Redis only: what each key holds and when it expires (the table in the crate docs), prefixes, and records
//! this crate did not write.
use crate::helpers::{keys, random_prefix, raw, redis_state, remove_prefix, whole_ms};
use identity::AppId;
use limits::{Decision, Window};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wechat::{AccessToken, ManualClock, StoredToken, TokenKey, TokenKind, TokenStore};

fn stable() -> TokenKey {
    TokenKey {
        appid: AppId::parse("wx00000000000000a1").unwrap(),
        kind: TokenKind::Stable,
    }
}

fn ms(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

async fn pttl(key: &str) -> i64 {
    raw().await.pttl(key).await.unwrap()
}

#[tokio::test]
async fn the_token_key_holds_the_record_and_expires_with_the_token() {
    test_support::needs!(Redis);
    let prefix = random_prefix();
    // The managers' clock, deliberately far from Redis's: the TTL must follow it, not the wall clock.
    let clock = Arc::new(ManualClock::default());
    let state = redis_state(&prefix, clock.clone()).await;
    let now = whole_ms(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let token = StoredToken {
        token: AccessToken::new("the-token".into()),
        fetched_at: now - Duration::from_secs(40),
        expires_at: now + Duration::from_secs(60),
    };
    state.tokens.save(&stable(), &token).await.unwrap();

    let key = format!("{prefix}token:stable:wx00000000000000a1");
    assert_eq!(keys(&prefix).await, std::slice::from_ref(&key));
    let fields: HashMap<String, String> = raw().await.hgetall(&key).await.unwrap();
    let expected: HashMap<String, String> = [
        ("token", "the-token".to_owned()),
        ("fetched_at_ms", ms(token.fetched_at).to_string()),
        ("expires_at_ms", ms(token.expires_at).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(fields, expected);
    let ttl = pttl(&key).await;
    assert!((55_000..=60_000).contains(&ttl), "{ttl}");

    // Dead by the managers' clock: saving it only removes the previous record.
    clock.advance(Duration::from_secs(61));
    let dead = StoredToken {
        token: AccessToken::new("dead".into()),
        ..token
    };
    state.tokens.save(&stable(), &dead).await.unwrap();
    assert_eq!(state.tokens.load(&stable()).await.unwrap(), None);
    assert!(keys(&prefix).await.is_empty());
}

#[tokio::test]
async fn the_lock_key_holds_the_random_value_for_the_lease() {
    test_support::needs!(Redis);
    let prefix = random_prefix();
    let state = redis_state(&prefix, Arc::new(ManualClock::default())).await;
    let lock = state
        .tokens
        .try_lock(&stable(), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let key = format!("{prefix}token-lock:stable:wx00000000000000a1");
    let value: String = raw().await.get(&key).await.unwrap();
    assert_eq!(value, lock.as_str());
    assert_eq!(value.len(), 32);
    assert!(value.chars().all(|c| c.is_ascii_hexdigit()));
    let ttl = pttl(&key).await;
    assert!((25_000..=30_000).contains(&ttl), "{ttl}");

    state.tokens.unlock(&stable(), &lock).await.unwrap();
    assert!(keys(&prefix).await.is_empty());
}

#[tokio::test]
async fn limit_keys_name_their_window_and_expire_after_it() {
    test_support::needs!(Redis);
    let prefix = random_prefix();
    let state = redis_state(&prefix, Arc::new(ManualClock::default())).await;
    // 2026-01-01 04:00:00 UTC, noon in Shanghai: day 20454 since the epoch there, 12 hours left.
    let noon = UNIX_EPOCH + Duration::from_secs(1_767_240_000);
    let limiter = &state.limiter;
    use limits::Limiter as _;
    assert_eq!(
        limiter
            .hit("openid:wxa:o1", 5, Window::Day, noon)
            .await
            .unwrap(),
        Decision::Allowed
    );
    assert_eq!(
        limiter
            .hit("key:k1", 5, Window::Second, noon)
            .await
            .unwrap(),
        Decision::Allowed
    );
    let day = format!("{prefix}limit:d:20454:openid:wxa:o1");
    let second = format!("{prefix}limit:s:1767240000:key:k1");
    assert_eq!(keys(&prefix).await, [day.clone(), second.clone()]);
    let count: i64 = raw().await.get(&day).await.unwrap();
    assert_eq!(count, 1);
    let day_ttl = pttl(&day).await;
    assert!((43_195_000..=43_201_000).contains(&day_ttl), "{day_ttl}");
    let second_ttl = pttl(&second).await;
    assert!((0..=2_000).contains(&second_ttl), "{second_ttl}");
    remove_prefix(&prefix).await;
}

#[tokio::test]
async fn prefixes_keep_deployments_apart() {
    test_support::needs!(Redis);
    let (p1, p2) = (random_prefix(), random_prefix());
    let clock = Arc::new(ManualClock::default());
    let (one, two) = (
        redis_state(&p1, clock.clone()).await,
        redis_state(&p2, clock.clone()).await,
    );
    assert_eq!(one.prefix(), p1);
    let token = StoredToken {
        token: AccessToken::new("one".into()),
        fetched_at: whole_ms(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        expires_at: whole_ms(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060)),
    };
    one.tokens.save(&stable(), &token).await.unwrap();
    assert_eq!(two.tokens.load(&stable()).await.unwrap(), None);
    let lock = one
        .tokens
        .try_lock(&stable(), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(lock.is_some());
    assert!(
        two.tokens
            .try_lock(&stable(), Duration::from_secs(30))
            .await
            .unwrap()
            .is_some()
    );
    use limits::Limiter as _;
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_240_000);
    assert_eq!(
        one.limiter.hit("b", 1, Window::Day, now).await.unwrap(),
        Decision::Allowed
    );
    assert_eq!(
        two.limiter.hit("b", 1, Window::Day, now).await.unwrap(),
        Decision::Allowed
    );
    remove_prefix(&p1).await;
    remove_prefix(&p2).await;
}

#[tokio::test]
async fn a_record_this_crate_did_not_write_is_ignored_or_refused_without_its_value() {
    test_support::needs!(Redis);
    let prefix = random_prefix();
    let state = redis_state(&prefix, Arc::new(ManualClock::default())).await;
    let key = format!("{prefix}token:stable:wx00000000000000a1");
    let mut conn = raw().await;

    // Incomplete: read as absent, and the next save repairs it.
    let _: () = conn.hset(&key, "token", "half-written").await.unwrap();
    assert_eq!(state.tokens.load(&stable()).await.unwrap(), None);

    // Another type altogether: an error, which names the operation and not the value.
    let _: () = conn.del(&key).await.unwrap();
    let _: () = conn.set(&key, "a-plain-string-value").await.unwrap();
    let err = state.tokens.load(&stable()).await.unwrap_err();
    assert_eq!(err.kind(), "store");
    let message = err.to_string();
    assert!(message.contains("load token"), "{message}");
    assert!(!message.contains("a-plain-string-value"), "{message}");
    remove_prefix(&prefix).await;
}
