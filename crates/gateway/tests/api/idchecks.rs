//! `POST /v1/idchecks` and `GET /v1/idchecks/{id}` over real HTTP, with Tencent and Aliyun simulated by the
//! sandbox (real signatures): every outcome, the cache, scopes, validation before any paid call, failover and
//! provider refusals through the route, the daily budget (one gateway, then two on PostgreSQL + Redis), the audit
//! rows. The sandbox counts every provider call, so each case asserts what it cost.
use crate::helpers::*;
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// Fictional people in the sandbox's authoritative record.
const REGISTERED: (&str, &str) = ("赵六", "110101198001010053");
const OTHER_NAME: &str = "孙七";
const UNREGISTERED: (&str, &str) = ("钱八", "110101199505050029");

/// 23:59:00 in Asia/Shanghai (15:59:00 UTC), a minute before the budget's day turns.
fn before_midnight() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_054_340)
}

async fn spawn(f: impl FnOnce(&mut gateway::Config)) -> TestApp {
    let app = TestApp::builder().idchecks().config(f).spawn().await;
    app.clock.set(before_midnight() - Duration::from_secs(3600));
    app.sandbox
        .state()
        .add_person(REGISTERED.0, REGISTERED.1)
        .unwrap();
    app
}

fn body((name, id): (&str, &str)) -> Value {
    json!({"real_name": name, "cred_id": id, "purpose": "registration", "consent_ref": "consent-0001"})
}

/// Provider calls so far: (Tencent, Aliyun).
fn calls(app: &TestApp) -> (u64, u64) {
    let c = app.stats().calls;
    (c.tencent_idcard, c.aliyun_id2meta)
}

async fn idcheck(app: &TestApp, body: &Value) -> (u16, Value) {
    let (s, b, _) = app.idcheck_with(&app.key, body).await;
    (s, b)
}

#[tokio::test]
async fn every_outcome_then_the_cache_answers_without_a_call() {
    let app = spawn(|_| {}).await;
    let (s, r) = idcheck(&app, &body(REGISTERED)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (&r["outcome"], &r["provider"], &r["billed"], &r["cached"]),
        (
            &json!("match"),
            &json!("tencent"),
            &json!(true),
            &json!(false)
        )
    );
    assert_eq!(
        (&r["masked_real_name"], &r["masked_cred_id"]),
        (&json!("赵*"), &json!("110***********0053"))
    );
    assert_eq!(
        (&r["purpose"], &r["consent_ref"], &r["minor"]),
        (
            &json!("registration"),
            &json!("consent-0001"),
            &json!(false)
        )
    );
    assert!(r["checked_at"].as_str().unwrap().ends_with('Z'), "{r}");
    let first_id = r["id"].as_str().unwrap().to_owned();

    // A mismatch is billed and cached too; no record is neither.
    let (s, r) = idcheck(&app, &body((OTHER_NAME, REGISTERED.1))).await;
    assert_eq!(
        (s, &r["outcome"], &r["billed"]),
        (200, &json!("mismatch"), &json!(true))
    );
    let (s, r) = idcheck(&app, &body(UNREGISTERED)).await;
    assert_eq!(
        (s, &r["outcome"], &r["billed"]),
        (200, &json!("no_record"), &json!(false))
    );
    assert_eq!(calls(&app), (3, 0));

    // Asked again: match and mismatch from the store, no record from the provider.
    app.clock.advance(Duration::from_secs(60));
    let (s, r) = idcheck(&app, &body(REGISTERED)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (&r["outcome"], &r["provider"], &r["billed"], &r["cached"]),
        (
            &json!("match"),
            &json!("tencent"),
            &json!(false),
            &json!(true)
        )
    );
    assert_ne!(r["id"].as_str().unwrap(), first_id, "a new row of its own");
    let cached_id = r["id"].as_str().unwrap().to_owned();
    let (_, r) = idcheck(&app, &body((OTHER_NAME, REGISTERED.1))).await;
    assert_eq!(
        (&r["outcome"], &r["cached"]),
        (&json!("mismatch"), &json!(true))
    );
    let (_, r) = idcheck(&app, &body(UNREGISTERED)).await;
    assert_eq!(
        (&r["outcome"], &r["cached"]),
        (&json!("no_record"), &json!(false))
    );
    assert_eq!(calls(&app), (4, 0));

    // GET shows each as answered.
    let (s, r) = app.get(&format!("/v1/idchecks/{first_id}")).await;
    assert_eq!(
        (s, &r["outcome"], &r["cached"], &r["billed"]),
        (200, &json!("match"), &json!(false), &json!(true)),
        "{r}"
    );
    let (_, r) = app.get(&format!("/v1/idchecks/{cached_id}")).await;
    assert_eq!(
        (&r["cached"], &r["billed"], &r["provider"]),
        (&json!(true), &json!(false), &json!("tencent"))
    );
    // An idcheck is not a verification, nor the other way round.
    let (s, _) = app.get(&format!("/v1/verifications/{first_id}")).await;
    assert_eq!(s, 404);
    let (s, r) = app.get("/v1/idchecks/no-such-id").await;
    assert_eq!((s, error_code(&r)), (404, "not_found"));

    // The cache lasts `cache_days` from the provider's answer, not from the last cached one.
    app.clock.advance(Duration::from_secs(30 * 86_400));
    let (_, r) = idcheck(&app, &body(REGISTERED)).await;
    assert_eq!((&r["cached"], &r["billed"]), (&json!(false), &json!(true)));
    assert_eq!(calls(&app), (5, 0));
}

#[tokio::test]
async fn cache_days_zero_asks_every_time() {
    let app = spawn(|c| c.idcheck.cache_days = 0).await;
    for _ in 0..2 {
        let (_, r) = idcheck(&app, &body(REGISTERED)).await;
        assert_eq!(
            (&r["outcome"], &r["cached"]),
            (&json!("match"), &json!(false))
        );
    }
    assert_eq!(calls(&app), (2, 0));
}

#[tokio::test]
async fn scopes_keep_the_two_checks_apart() {
    let app = spawn(|_| {}).await;
    // A WeChat-only key: 403 on idchecks, both ways in.
    let (_, wechat_only) = app.key_with(&[APPID], &[]).await;
    let (s, r, _) = app.idcheck_with(&wechat_only, &body(REGISTERED)).await;
    assert_eq!((s, error_code(&r)), (403, "forbidden"), "{r}");
    // An idcheck-only key: 403 on WeChat verifications, with or without an appid.
    let (_, idcheck_only) = app.key_with(&[], &["idcheck"]).await;
    let (s, r, _) = app
        .verify_with(&app.body_for(0), Some(&idcheck_only), None)
        .await;
    assert_eq!((s, error_code(&r)), (403, "forbidden"), "{r}");
    let mut with_app = app.body_for(0);
    with_app["appid"] = json!(APPID);
    let (s, _, _) = app.verify_with(&with_app, Some(&idcheck_only), None).await;
    assert_eq!(s, 403);
    assert_eq!((app.checks(), calls(&app)), (0, (0, 0)));
    // Its idchecks go through; the test key has both scopes and does both.
    let (s, _, _) = app.idcheck_with(&idcheck_only, &body(REGISTERED)).await;
    assert_eq!(s, 200);
    let (s, r, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200, "{r}");
    // No key at all.
    let resp = app
        .http
        .post(app.url("/v1/idchecks"))
        .json(&body(REGISTERED))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn without_providers_the_route_says_so() {
    let app = TestApp::spawn().await;
    let (_, key) = app.key_with(&[APPID], &["idcheck"]).await;
    let (s, r, _) = app.idcheck_with(&key, &body(REGISTERED)).await;
    assert_eq!((s, error_code(&r)), (404, "idcheck_not_configured"), "{r}");
}

#[tokio::test]
async fn bad_input_is_refused_before_any_provider_is_paid() {
    let app = spawn(|_| {}).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"real_name": REGISTERED.0, "cred_id": REGISTERED.1}),
            422,
            "consent_required",
        ),
        (
            json!({"real_name": REGISTERED.0, "cred_id": REGISTERED.1, "consent_ref": "  "}),
            422,
            "consent_required",
        ),
        // Consent first: nothing about the person is looked at without it.
        (
            json!({"real_name": "x", "cred_id": "1"}),
            422,
            "consent_required",
        ),
        (
            json!({"real_name": REGISTERED.0, "cred_id": "110101198001010054", "consent_ref": "c"}),
            422,
            "invalid_cred_id",
        ),
        (
            json!({"real_name": "Zhao6", "cred_id": REGISTERED.1, "consent_ref": "c"}),
            422,
            "invalid_real_name",
        ),
        (
            json!({"real_name": REGISTERED.0, "cred_id": REGISTERED.1, "consent_ref": format!("ref {}", REGISTERED.1)}),
            422,
            "personal_data_in_field",
        ),
        (
            json!({"real_name": REGISTERED.0, "cred_id": REGISTERED.1, "consent_ref": "c", "purpose": "p".repeat(201)}),
            400,
            "invalid_request",
        ),
        (
            json!({"real_name": REGISTERED.0, "cred_id": REGISTERED.1, "consent_ref": "c", "openid": "o1"}),
            400,
            "invalid_request",
        ),
        (
            json!({"cred_id": REGISTERED.1, "consent_ref": "c"}),
            400,
            "invalid_request",
        ),
    ];
    for (b, status, code) in cases {
        let (s, r) = idcheck(&app, &b).await;
        assert_eq!((s, error_code(&r)), (status, code), "{b}: {r}");
        assert!(
            r["error"]["user_message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(calls(&app), (0, 0));
    // No audit row for input refused locally.
    assert!(app.state.store.recent(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn failover_refusals_and_total_failure_through_the_route() {
    let app = spawn(|c| c.upstream_breaker.failures = 0).await;
    // Tencent busy: Aliyun answers.
    app.fault(Fault::result(Endpoint::TencentIdcard, "-4"));
    let (s, r) = idcheck(&app, &body(REGISTERED)).await;
    assert_eq!(
        (s, &r["provider"], &r["outcome"]),
        (200, &json!("aliyun"), &json!("match")),
        "{r}"
    );
    assert_eq!(calls(&app), (1, 1));

    // Tencent calls the ID number invalid: refused, not asked elsewhere, recorded.
    app.fault(Fault::result(Endpoint::TencentIdcard, "-2"));
    let (s, r) = idcheck(&app, &body(UNREGISTERED)).await;
    assert_eq!((s, error_code(&r)), (422, "invalid_cred_id"), "{r}");
    assert_eq!(r["error"]["reason"], json!("provider_refused"));
    assert_eq!(calls(&app), (2, 1));

    // Both failing: 503, each asked once; recorded with the error.
    app.fault(Fault::http_status(Endpoint::TencentIdcard, 502));
    app.fault(Fault::result(Endpoint::AliyunId2meta, "500"));
    let (s, r) = idcheck(&app, &body(UNREGISTERED)).await;
    assert_eq!((s, error_code(&r)), (503, "upstream_unavailable"), "{r}");
    assert_eq!(calls(&app), (3, 2));

    let rows = app.state.store.recent(10).await.unwrap();
    let shown: Vec<_> = rows
        .iter()
        .map(|r| {
            let e = &r.entry;
            (
                e.kind.as_str(),
                e.provider.as_deref(),
                e.outcome.as_deref(),
                e.error_code.as_deref(),
                e.billed,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            // Tencent's 502 came after the request was sent: it may have been processed, and billed.
            (
                "idcheck",
                Some("aliyun"),
                None,
                Some("upstream_unavailable"),
                Some(true)
            ),
            (
                "idcheck",
                Some("tencent"),
                None,
                Some("invalid_cred_id"),
                Some(false)
            ),
            ("idcheck", Some("aliyun"), Some("match"), None, Some(true)),
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.entry.consent_ref.as_deref() == Some("consent-0001"))
    );
    let id = rows[0].entry.id.clone();
    let (_, r) = app.get(&format!("/v1/idchecks/{id}")).await;
    assert_eq!(
        (&r["outcome"], &r["error_code"]),
        (&Value::Null, &json!("upstream_unavailable"))
    );
    // The metrics count calls per provider.
    let (_, metrics) = app.get("/metrics").await;
    let metrics = metrics.as_str().unwrap();
    for line in [
        "wxrn_provider_requests_total{provider=\"aliyun_cloudauth\",result=\"match\"}",
        "wxrn_idchecks_total{result=\"upstream_unavailable\",cached=\"false\"}",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn the_daily_budget_refuses_until_midnight_in_shanghai() {
    let app = spawn(|c| c.idcheck.daily_budget = 2).await;
    app.clock.set(before_midnight());
    for b in [body(REGISTERED), body(UNREGISTERED)] {
        let (s, r) = idcheck(&app, &b).await;
        assert_eq!(s, 200, "{r}");
    }
    // A cached answer costs nothing.
    let (s, r) = idcheck(&app, &body(REGISTERED)).await;
    assert_eq!((s, &r["cached"]), (200, &json!(true)));
    let (s, r, headers) = app
        .idcheck_with(&app.key, &body((OTHER_NAME, REGISTERED.1)))
        .await;
    assert_eq!((s, error_code(&r)), (429, "budget_exhausted"), "{r}");
    assert_eq!(headers["retry-after"], "60");
    assert_eq!(calls(&app), (2, 0));
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("wxrn_idcheck_budget_left 0")
    );
    // Recorded.
    let last = &app.state.store.recent(1).await.unwrap()[0].entry;
    assert_eq!(last.error_code.as_deref(), Some("budget_exhausted"));
    // A new day in Shanghai.
    app.clock.advance(Duration::from_secs(60));
    let (s, r) = idcheck(&app, &body((OTHER_NAME, REGISTERED.1))).await;
    assert_eq!((s, &r["outcome"]), (200, &json!("mismatch")), "{r}");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let app = spawn(|_| {}).await;
    let send = |b: Value| {
        let app = &app;
        async move {
            let resp = app
                .http
                .post(app.url("/v1/idchecks"))
                .bearer_auth(&app.key)
                .header("Idempotency-Key", "idc-1")
                .json(&b)
                .send()
                .await
                .unwrap();
            let replayed = resp.headers().contains_key("idempotent-replayed");
            (resp.status().as_u16(), resp.text().await.unwrap(), replayed)
        }
    };
    let first = send(body(UNREGISTERED)).await;
    let again = send(body(UNREGISTERED)).await;
    assert_eq!(
        (first.0, again.0, first.2, again.2),
        (200, 200, false, true)
    );
    assert_eq!(first.1, again.1);
    assert_eq!(calls(&app), (1, 0));
    let (s, _, _) = send(body(REGISTERED)).await;
    assert_eq!(s, 422, "the same key with another request");
}

#[tokio::test]
async fn idcheck_rows_keep_the_audit_chain_verifiable() {
    let app = spawn(|_| {}).await;
    let (s, _, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200);
    for b in [body(REGISTERED), body(REGISTERED), body(UNREGISTERED)] {
        idcheck(&app, &b).await;
    }
    let report =
        store::chain::verify_store(app.state.store.as_ref(), &app.state.pii.audit_keys(), &[])
            .await
            .unwrap()
            .unwrap();
    assert_eq!(report.rows, 4);
}

#[tokio::test]
async fn two_gateways_on_postgres_and_redis_share_the_budget_and_the_cache() {
    test_support::needs!(Postgres);
    test_support::needs!(Redis);
    let (db, _schema) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    let prefix = format!("wxrn-idc-{}:", uuid::Uuid::new_v4().simple());
    let redis = test_support::redis_test_url();
    let build = || {
        TestApp::builder()
            .idchecks()
            .redis(&redis)
            .redis_prefix(&prefix)
            .config(|c| {
                c.database_url = Some(db.clone().into());
                c.idcheck.daily_budget = 3;
            })
    };
    let a = build().spawn().await;
    let b = build().spawn().await;
    for app in [&a, &b] {
        app.clock.set(before_midnight() - Duration::from_secs(600));
        app.sandbox
            .state()
            .add_person(REGISTERED.0, REGISTERED.1)
            .unwrap();
    }
    let (s, r) = idcheck(&a, &body(REGISTERED)).await;
    assert_eq!((s, &r["cached"]), (200, &json!(false)), "{r}");
    // B answers the same pair from the shared store.
    let (s, r) = idcheck(&b, &body(REGISTERED)).await;
    assert_eq!(
        (s, &r["cached"], &r["provider"]),
        (200, &json!(true), &json!("tencent")),
        "{r}"
    );
    let (s, _) = idcheck(&b, &body(UNREGISTERED)).await;
    assert_eq!(s, 200);
    let (s, _) = idcheck(&a, &body((OTHER_NAME, REGISTERED.1))).await;
    assert_eq!(s, 200);
    // Three calls made between them: the budget is spent on both.
    for app in [&a, &b] {
        let (s, r) = idcheck(app, &body(UNREGISTERED)).await;
        assert_eq!((s, error_code(&r)), (429, "budget_exhausted"), "{r}");
    }
    assert_eq!((calls(&a), calls(&b)), ((2, 0), (1, 0)));
}
