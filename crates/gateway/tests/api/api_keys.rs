//! The API-key cache over real HTTP: a key's row is reused for at most `limits.api_key_cache_ms` (the injected
//! clock's), so a key revoked in the store (by `keys revoke`, another instance) is refused once that has passed,
//! on every instance; the secret is checked on every request.

use crate::helpers::*;
use std::time::Duration;

/// An authenticated GET that finds nothing: 404 with a live key, 401 without one.
async fn status(app: &TestApp, key: &str) -> u16 {
    app.http
        .get(app.url("/v1/verifications/vrf_none"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn id_of(key: &str) -> &str {
    key.split('_').nth(1).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn a_revoked_key_is_accepted_until_the_cache_bound_then_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(app.cfg.limits.api_key_cache_ms, 1000, "the default");
    let (id, key) = app.key_for(&[APPID]).await;
    assert_eq!(status(&app, &key).await, 404, "a live key");
    // Revoked in the store behind the gateway's back, as `keys revoke` or another instance would.
    assert!(app.state.store.revoke_api_key(&id, 1).await.unwrap());
    assert_eq!(
        status(&app, &key).await,
        404,
        "cached: the revocation is not seen yet"
    );
    app.clock.advance(ms(999));
    assert_eq!(status(&app, &key).await, 404, "still within the bound");
    app.clock.advance(ms(1));
    assert_eq!(
        status(&app, &key).await,
        401,
        "refused once the bound is reached"
    );
    app.clock.advance(ms(5_000));
    assert_eq!(status(&app, &key).await, 401);
    let (s, body, _) = app.verify_with(&app.body_for(0), Some(&key), None).await;
    assert_eq!((s, error_code(&body)), (401, "unauthorized"));
    assert_eq!(app.checks(), 0);
    // The other key was never touched.
    assert_eq!(status(&app, &app.key).await, 404);
}

#[tokio::test]
async fn a_wrong_secret_for_a_cached_key_is_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(status(&app, &app.key).await, 404);
    let last = app.key.chars().last().unwrap();
    let wrong = format!(
        "{}{}",
        &app.key[..app.key.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    assert_eq!(id_of(&wrong), app.key_id, "the same id");
    for _ in 0..3 {
        assert_eq!(status(&app, &wrong).await, 401);
        let (s, body, _) = app.verify_with(&app.body_for(0), Some(&wrong), None).await;
        assert_eq!((s, error_code(&body)), (401, "unauthorized"));
    }
    assert_eq!(
        status(&app, &app.key).await,
        404,
        "the right secret still works"
    );
    assert_eq!(app.checks(), 0);
}

#[tokio::test]
async fn with_the_cache_off_revocation_is_immediate() {
    let app = TestApp::builder()
        .config(|c| c.limits.api_key_cache_ms = 0)
        .spawn()
        .await;
    let (id, key) = app.key_for(&[APPID]).await;
    assert_eq!(status(&app, &key).await, 404);
    assert!(app.state.store.revoke_api_key(&id, 1).await.unwrap());
    assert_eq!(status(&app, &key).await, 401, "no cache: at once");
    assert!(app.state.key_cache.is_empty());
}

#[tokio::test]
async fn unknown_key_ids_are_not_cached() {
    let app = TestApp::spawn().await;
    for i in 0..20 {
        let unknown = format!("wxrn_{:012x}_{}", i, "0".repeat(48));
        assert_eq!(status(&app, &unknown).await, 401);
    }
    assert!(app.state.key_cache.is_empty());
    assert_eq!(status(&app, &app.key).await, 404);
    assert_eq!(app.state.key_cache.len(), 1);
}

#[tokio::test]
async fn a_key_revoked_on_one_instance_is_refused_by_the_other_within_the_bound() {
    test_support::needs!(Postgres);
    let (db, _schema) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    let build = || TestApp::builder().config(|c| c.database_url = Some(db.clone().into()));
    let a = build().spawn().await;
    let b = build().spawn().await;
    // A key made on A, used on both: each instance has its row cached.
    let (id, key) = a.key_for(&[APPID]).await;
    assert_eq!(status(&a, &key).await, 404);
    assert_eq!(status(&b, &key).await, 404);
    assert!(a.state.store.revoke_api_key(&id, 1).await.unwrap());
    b.clock.advance(ms(999));
    assert_eq!(status(&b, &key).await, 404, "B, within the bound");
    b.clock.advance(ms(1));
    assert_eq!(status(&b, &key).await, 401, "B, once the bound is reached");
    a.clock.advance(ms(1000));
    assert_eq!(status(&a, &key).await, 401, "A too");
    // B's own key, unrevoked, still works on both.
    assert_eq!(status(&a, &b.key).await, 404);
    assert_eq!(status(&b, &b.key).await, 404);
}
