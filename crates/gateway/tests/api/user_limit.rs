//! Issue 13 §3: `limits.per_openid_per_day` counts only calls that reached WeChat, so an outage does not lock a
//! user out for the day. Attempts refused before (local validation, no access token, the circuit breaker open, and,
//! in the fault matrix's "counted against the user's limit" column, a connection that failed before anything was
//! sent) do not count; `limits.per_key_per_second` still counts every attempt that reaches the rate limits. The same
//! with the counters in Redis, and two concurrent attempts never pass the limit together.

use crate::helpers::*;
use limits::Window;
use serde_json::json;
use std::time::Duration;
use wechat::Clock;

const COOL_DOWN_SECS: u64 = 10;

async fn used(app: &TestApp, openid: &str) -> u32 {
    app.state
        .limiter
        .used(
            &format!("openid:{APPID}:{openid}"),
            Window::Day,
            app.clock.now(),
        )
        .await
        .unwrap()
}

fn builder(per_openid_per_day: u32, per_key_per_second: u32) -> Builder {
    TestApp::builder().config(|c| {
        c.limits.per_openid_per_day = per_openid_per_day;
        c.limits.per_key_per_second = per_key_per_second;
        c.upstream_breaker.failures = 2;
        c.upstream_breaker.cool_down_secs = COOL_DOWN_SECS;
    })
}

async fn only_calls_that_reached_wechat_count(app: TestApp) {
    let user = USERS[0].openid;

    // Local validation.
    let mut bad = app.body_for(0);
    bad["cred_id"] = json!("12345");
    let (s, b, _) = app.verify(&bad).await;
    assert_eq!((s, error_code(&b)), (422, "invalid_cred_id"));
    assert_eq!(used(&app, user).await, 0, "a refused request counted");

    // No access token: WeChat's token endpoint is failing and the gateway has none yet.
    app.fault(Fault::http_status(Endpoint::StableToken, 502).times(100));
    for _ in 0..3 {
        let (s, b, _) = app.verify(&app.body_for(0)).await;
        assert_eq!((s, error_code(&b)), (503, "upstream_unavailable"), "{b}");
    }
    assert_eq!(app.checks(), 0);
    assert_eq!(
        used(&app, user).await,
        0,
        "an attempt without a token counted"
    );
    app.sandbox.state().clear_faults();

    // The breaker open, after two other users' calls failed.
    for other in [2, 3] {
        app.fault(Fault::http_status(CHECK, 500));
        let (s, b, _) = app.verify(&app.body_for(other)).await;
        assert_eq!((s, error_code(&b)), (503, "upstream_unavailable"), "{b}");
    }
    let checks = app.checks();
    let (s, b, h) = app.verify(&app.body_for(0)).await;
    assert_eq!((s, error_code(&b)), (503, "upstream_unavailable"), "{b}");
    assert!(h.contains_key("retry-after"), "the breaker's answer: {b}");
    assert_eq!(app.checks(), checks);
    assert_eq!(
        used(&app, user).await,
        0,
        "an attempt refused by the breaker counted"
    );

    // After the cool-down the user's first real call goes through, and counts.
    app.clock.advance(Duration::from_secs(COOL_DOWN_SECS + 1));
    let (s, b, _) = app.verify(&app.body_for(0)).await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("match")), "{b}");
    assert_eq!(used(&app, user).await, 1);

    // The day's one call is used: 429 with Retry-After, and WeChat is not called.
    let checks = app.checks();
    let (s, b, h) = app.verify(&app.body_for(0)).await;
    assert_eq!((s, error_code(&b)), (429, "rate_limited"), "{b}");
    assert!(h.contains_key("retry-after"));
    assert_eq!(app.checks(), checks);
    assert_eq!(used(&app, user).await, 1);
}

#[tokio::test]
async fn the_daily_limit_counts_only_calls_that_reached_wechat() {
    only_calls_that_reached_wechat_count(builder(1, 0).spawn().await).await;
}

#[tokio::test]
async fn the_daily_limit_counts_only_calls_that_reached_wechat_in_redis() {
    test_support::needs!(Redis);
    only_calls_that_reached_wechat_count(
        builder(1, 0)
            .redis(&test_support::redis_test_url())
            .spawn()
            .await,
    )
    .await;
}

/// Refused attempts that do not count for the user still count for the API key.
#[tokio::test]
async fn the_per_key_limit_counts_every_attempt() {
    let app = builder(0, 1).spawn().await;
    app.fault(Fault::http_status(Endpoint::StableToken, 502).times(100));
    let (s, b, _) = app.verify(&app.body_for(0)).await;
    assert_eq!((s, error_code(&b)), (503, "upstream_unavailable"), "{b}");
    app.sandbox.state().clear_faults();
    // The same second: the key's one attempt is used, although nothing reached WeChat.
    let (s, b, _) = app.verify(&app.body_for(0)).await;
    assert_eq!((s, error_code(&b)), (429, "rate_limited"), "{b}");
    assert_eq!(app.checks(), 0);
    app.clock.advance(Duration::from_secs(1));
    let (s, b, _) = app.verify(&app.body_for(0)).await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("match")), "{b}");
}

async fn two_concurrent_attempts_never_pass_the_limit(app: TestApp) {
    let (first, second) = (app.body_for(0), app.body_for(0));
    let ((s1, b1, _), (s2, b2, _)) = tokio::join!(app.verify(&first), app.verify(&second));
    let mut answers = [
        (s1, error_code(&b1).to_owned()),
        (s2, error_code(&b2).to_owned()),
    ];
    answers.sort();
    assert_eq!(
        answers,
        [(200, "<none>".to_owned()), (429, "rate_limited".to_owned())],
        "{b1} {b2}"
    );
    assert_eq!(app.checks(), 1);
    assert_eq!(used(&app, USERS[0].openid).await, 1);
}

#[tokio::test]
async fn two_concurrent_attempts_never_pass_the_daily_limit() {
    two_concurrent_attempts_never_pass_the_limit(builder(1, 0).spawn().await).await;
}

#[tokio::test]
async fn two_concurrent_attempts_never_pass_the_daily_limit_in_redis() {
    test_support::needs!(Redis);
    two_concurrent_attempts_never_pass_the_limit(
        builder(1, 0)
            .redis(&test_support::redis_test_url())
            .spawn()
            .await,
    )
    .await;
}
