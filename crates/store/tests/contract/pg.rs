//! What only a shared PostgreSQL can show: several gateway instances on one schema, and outages.

use crate::cases::entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use store::{IdemBegin, IdemBeginRequest, Store};
use test_support::{SchemaGuard, TcpProxy, fresh_pg_schema, pg_test_url, reroute};

/// Two stores with their own pools and writer tasks on one schema: two gateway processes, as far as the
/// database can tell.
async fn two_instances() -> (Arc<dyn Store>, Arc<dyn Store>, String, SchemaGuard) {
    let (url, guard) = fresh_pg_schema(&pg_test_url()).await;
    let a = store::open(&url, crate::cases::keys()).await.unwrap();
    let b = store::open(&url, crate::cases::keys()).await.unwrap();
    (a, b, url, guard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_appending_at_once_make_one_chain() {
    test_support::needs!(Postgres);
    let (a, b, _url, _guard) = two_instances().await;
    let appends = |s: Arc<dyn Store>, from: i64| {
        (from..from + 300)
            .map(move |i| {
                let s = s.clone();
                tokio::spawn(async move { s.append(entry(i), Default::default()).await.unwrap() })
            })
            .collect::<Vec<_>>()
    };
    let mut tasks = appends(a.clone(), 0);
    tasks.extend(appends(b.clone(), 10_000));
    // Verifying while others append must not cry "truncated": it checks up to the head it started from.
    let done = Arc::new(AtomicBool::new(false));
    let verifier = {
        let (a, done) = (a.clone(), done.clone());
        tokio::spawn(async move {
            let mut walks = 0;
            while !done.load(Ordering::Relaxed) {
                crate::cases::verify(a.as_ref()).await.unwrap();
                walks += 1;
            }
            walks
        })
    };
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().seq);
    }
    done.store(true, Ordering::Relaxed);
    seqs.sort();
    assert_eq!(seqs, (1..=600).collect::<Vec<_>>(), "dense, distinct seqs");
    assert!(verifier.await.unwrap() >= 1);
    for s in [&a, &b] {
        let report = crate::cases::verify(s.as_ref()).await.unwrap();
        assert_eq!((report.rows, report.last_seq), (600, Some(600)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_code_from_two_instances_is_reserved_once() {
    test_support::needs!(Postgres);
    let (a, b, _url, _guard) = two_instances().await;
    let mut tasks = Vec::new();
    for code in 0..100u32 {
        for s in [&a, &b, &a, &b] {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let won = s
                    .reserve_code(&code.to_be_bytes(), "wxapp", 1)
                    .await
                    .unwrap();
                (code, won)
            }));
        }
    }
    let mut wins = [0; 100];
    for t in tasks {
        let (code, won) = t.await.unwrap();
        wins[code as usize] += usize::from(won);
    }
    assert!(wins.iter().all(|&w| w == 1), "{wins:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_from_two_instances_starts_once() {
    test_support::needs!(Postgres);
    let (a, b, _url, _guard) = two_instances().await;
    let mut tasks = Vec::new();
    for key in 0..50 {
        for s in [&a, &b] {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let req = IdemBeginRequest {
                    key_id: "k1".into(),
                    idem_key: format!("i{key}"),
                    fingerprint: b"f".to_vec(),
                    now_ms: 0,
                    stale_after_ms: 1000,
                };
                (key, s.begin_idempotent(&req).await.unwrap())
            }));
        }
    }
    let mut started = [0; 50];
    for t in tasks {
        let (key, begin) = t.await.unwrap();
        match begin {
            IdemBegin::Started => started[key] += 1,
            IdemBegin::InProgress => {}
            other => panic!("key {key}: {other:?}"),
        }
    }
    assert!(started.iter().all(|&n| n == 1), "{started:?}");
}

#[tokio::test]
async fn postgresql_scheme_and_search_path_reach_the_store() {
    test_support::needs!(Postgres);
    let (url, guard) = fresh_pg_schema(&pg_test_url()).await;
    let url = url.replacen("postgres://", "postgresql://", 1);
    let s = store::open(&url, crate::cases::keys()).await.unwrap();
    s.append(entry(1), Default::default()).await.unwrap();
    let pool = sqlx::PgPool::connect(&pg_test_url()).await.unwrap();
    let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}.audit", guard.schema()))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "the row landed in the test's own schema");
}

#[tokio::test]
async fn postgres_rejects_update_of_audit_rows() {
    test_support::needs!(Postgres);
    let (s, url, _guard) = crate::postgres().await;
    s.append(entry(1), Default::default()).await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let err = sqlx::query("UPDATE audit SET outcome = 'match'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_without_leaking_the_password() {
    let started = Instant::now();
    let err = store::open(
        "postgres://postgres:s3cret@127.0.0.1:1/test",
        crate::cases::keys(),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[tokio::test]
async fn an_outage_fails_calls_fast_and_the_store_recovers_by_itself() {
    test_support::needs!(Postgres);
    let (url, _guard) = fresh_pg_schema(&pg_test_url()).await;
    let (_, upstream) = reroute(&url, "127.0.0.1:1".parse().unwrap(), 5432);
    let mut proxy = TcpProxy::start(&upstream).await;
    let (via_proxy, _) = reroute(&url, proxy.addr, 5432);
    let s = store::open(&via_proxy, crate::cases::keys()).await.unwrap();
    s.append(entry(1), Default::default()).await.unwrap();
    s.ping().await.unwrap();

    proxy.down().await;
    let started = Instant::now();
    let (ping, append, reserve) = tokio::join!(
        s.ping(),
        s.append(entry(2), Default::default()),
        s.reserve_code(b"c", "wxapp", 1),
    );
    assert!(ping.is_err() && append.is_err() && reserve.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "calls fail within the acquire timeout, not hang: {:?}",
        started.elapsed()
    );

    proxy.up().await;
    s.ping().await.unwrap();
    let r = s.append(entry(3), Default::default()).await.unwrap();
    assert_eq!(r.seq, 2, "the failed append left nothing behind");
    assert!(s.reserve_code(b"c", "wxapp", 1).await.unwrap());
    let report = crate::cases::verify(s.as_ref()).await.unwrap();
    assert_eq!(report.rows, 2);
}
