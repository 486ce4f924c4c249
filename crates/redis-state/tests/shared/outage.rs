//! Redis unreachable, hung, or gone and back: calls fail fast, nothing is fetched behind the other instances'
//! backs, and service resumes by itself.
use crate::helpers::{random_prefix, redis_url, remove_prefix};
use identity::AppId;
use redis_state::{Error, RedisOptions, RedisState};
use sandbox::{Sandbox, SandboxConfig, demo};
use std::sync::Arc;

use limits::{Decision, Limiter, Window};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use wechat::{
    AppSecret, Client, ClientConfig, ManualClock, TokenKind, TokenManager, TokenProvider,
};

/// The time limit these tests configure, and the bound within which a failure must be reported.
const TIMEOUT: Duration = Duration::from_millis(500);
const FAIL_FAST: Duration = Duration::from_secs(3);

fn options(prefix: &str) -> RedisOptions {
    RedisOptions {
        prefix: prefix.to_owned(),
        timeout: TIMEOUT,
        ..Default::default()
    }
}

fn noon() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_240_000)
}

#[tokio::test]
async fn with_redis_unreachable_calls_fail_fast_and_nothing_is_fetched() {
    let url = "redis://:hunter2-password@127.0.0.1:1";
    let started = Instant::now();
    let err = RedisState::connect_with(url, options("wxrn-test:down:"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Redis { op: "ping", .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    let state = RedisState::lazy(url, options("wxrn-test:down:")).unwrap();
    assert!(!format!("{state:?}").contains("hunter2"));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sandbox = Sandbox::spawn(
        listener,
        SandboxConfig {
            seed_demo: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let client = Client::new(ClientConfig {
        base_url: sandbox.base_url(),
        ..Default::default()
    })
    .unwrap();
    let manager = TokenManager::new(
        client,
        AppId::parse(demo::APPID).unwrap(),
        AppSecret::new(demo::SECRET.into()),
        TokenKind::Classic,
        state.tokens.clone(),
        Arc::new(ManualClock::default()),
    );
    let err = manager.token().await.unwrap_err();
    assert_eq!(err.kind(), "store", "{err}");
    // A classic token fetched here would invalidate the one the other instances share.
    assert_eq!(sandbox.stats().calls.token, 0);

    let err = state
        .limiter
        .hit("k", 10, Window::Second, noon())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rate-limit hit"), "{err}");
    assert!(state.ping().await.is_err());
    assert!(started.elapsed() < FAIL_FAST, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_hung_redis_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let state = RedisState::lazy(&format!("redis://{addr}"), options("wxrn-test:hung:")).unwrap();
    let started = Instant::now();
    let err = state.ping().await.unwrap_err();
    assert_eq!(
        err,
        Error::Timeout {
            op: "ping",
            after_ms: 500
        }
    );
    let err = state
        .limiter
        .hit("k", 10, Window::Second, noon())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < FAIL_FAST, "{:?}", started.elapsed());
    held.abort();
}

#[tokio::test]
async fn service_resumes_by_itself_when_redis_comes_back() {
    test_support::needs!(Redis);
    let target = {
        let info = redis::Client::open(redis_url()).unwrap();
        let addr = info.get_connection_info().addr.to_string();
        tokio::net::lookup_host(addr).await.unwrap().next().unwrap()
    };
    let mut relay = test_support::TcpProxy::start(&target.to_string()).await;
    let prefix = random_prefix();
    let state = RedisState::connect_with(&format!("redis://{}", relay.addr), options(&prefix))
        .await
        .unwrap();
    let hit = || state.limiter.hit("k", 3, Window::Day, noon());
    assert_eq!(hit().await.unwrap(), Decision::Allowed);

    relay.down().await;
    for _ in 0..3 {
        let started = Instant::now();
        assert!(hit().await.is_err());
        assert!(started.elapsed() < FAIL_FAST, "{:?}", started.elapsed());
    }

    relay.up().await;
    // The connection is re-opened in the background; a call may still fail while that happens.
    let mut resumed = None;
    for attempt in 0..50 {
        if let Ok(decision) = hit().await {
            resumed = Some((attempt, decision));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, decision) = resumed.expect("service never resumed after Redis came back");
    // The counts survived in Redis: 2 of 3 now, the failed calls counted nothing.
    assert_eq!(decision, Decision::Allowed);
    assert_eq!(hit().await.unwrap(), Decision::Allowed);
    assert!(matches!(hit().await.unwrap(), Decision::Denied { .. }));
    remove_prefix(&prefix).await;
}
