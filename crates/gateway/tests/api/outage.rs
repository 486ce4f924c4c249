//! PostgreSQL or Redis going away: `/readyz` fails, requests get 503 `dependency_unavailable` with nothing
//! written and no WeChat call, and service resumes by itself when the dependency is back (no restart).

use crate::helpers::*;
use serde_json::Value;
use std::time::Duration;
use test_support::{TcpProxy, fresh_pg_schema, pg_test_url, reroute};

/// Retry until the gateway answers 200 again; the pools reconnect in the background.
async fn until_ok(app: &TestApp, body: &Value) -> Value {
    for _ in 0..100 {
        let (s, b, _) = app.verify(body).await;
        if s == 200 {
            return b;
        }
        assert_eq!((s, error_code(&b)), (503, "dependency_unavailable"), "{b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not recover");
}

#[tokio::test]
async fn redis_down_then_back() {
    test_support::needs!(Redis);
    let redis = test_support::redis_test_url();
    let (_, upstream) = reroute(&redis, "127.0.0.1:1".parse().unwrap(), 6379);
    let mut proxy = TcpProxy::start(&upstream).await;
    let app = TestApp::builder()
        .redis(&format!("redis://{}", proxy.addr))
        .spawn()
        .await;
    let (s, body, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200, "{body}");
    let (s, ready) = app.get("/readyz").await;
    assert_eq!((s, &ready["redis"]), (200, &Value::from("ok")));

    proxy.down().await;
    let b = app.body_for(3);
    let (s, body, _) = app.verify(&b).await;
    assert_eq!(
        (s, error_code(&body)),
        (503, "dependency_unavailable"),
        "{body}"
    );
    let (s, ready) = app.get("/readyz").await;
    assert_eq!(
        (s, &ready["redis"]),
        (503, &Value::from("unavailable")),
        "{ready}"
    );
    assert_eq!(
        app.checks(),
        1,
        "no WeChat call while the limits cannot be counted"
    );
    assert_eq!(
        app.state.store.audit_page(0, None, 10).await.unwrap().len(),
        1,
        "nothing half-written"
    );

    proxy.up().await;
    let body = until_ok(&app, &b).await;
    assert_eq!(
        body["outcome"], "id_mismatch",
        "the same code works: it was never spent"
    );
    let (s, _) = app.get("/readyz").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn postgres_down_then_back() {
    test_support::needs!(Postgres);
    let (url, _schema) = fresh_pg_schema(&pg_test_url()).await;
    let (_, upstream) = reroute(&url, "127.0.0.1:1".parse().unwrap(), 5432);
    let mut proxy = TcpProxy::start(&upstream).await;
    let (via_proxy, _) = reroute(&url, proxy.addr, 5432);
    let app = TestApp::builder()
        .config(|c| c.database_url = Some(via_proxy.into()))
        .spawn()
        .await;
    let (s, body, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200, "{body}");

    proxy.down().await;
    let b = app.body_for(3);
    let (s, body, _) = app.verify(&b).await;
    assert_eq!(
        (s, error_code(&body)),
        (503, "dependency_unavailable"),
        "{body}"
    );
    let (s, ready) = app.get("/readyz").await;
    assert_eq!(
        (s, &ready["database"]),
        (503, &Value::from("unavailable")),
        "{ready}"
    );
    assert_eq!(app.checks(), 1, "no WeChat call without the database");

    proxy.up().await;
    let body = until_ok(&app, &b).await;
    assert_eq!(
        body["outcome"], "id_mismatch",
        "the same code works: it was never spent"
    );
    let report =
        store::chain::verify_store(app.state.store.as_ref(), &app.state.pii.audit_keys(), &[])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        report.rows, 2,
        "one row per answered request, nothing from the outage"
    );
}
