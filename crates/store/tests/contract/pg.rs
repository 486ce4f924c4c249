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

/// Chain `n`'s position `p` as a `seq`.
fn at(n: u32, p: i64) -> i64 {
    store::chain::base(n) + p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_appending_at_once_make_a_chain_each_and_all_verifies() {
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
    // Verifying while others append must not cry "truncated": it checks up to the heads it started from.
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
    let mut by_store = [Vec::new(), Vec::new()];
    for (i, t) in tasks.into_iter().enumerate() {
        by_store[i / 300].push(t.await.unwrap().seq);
    }
    done.store(true, Ordering::Relaxed);
    // Each instance holds a chain of its own: its rows are dense within it.
    let mut chains = Vec::new();
    for seqs in &mut by_store {
        seqs.sort();
        let n = store::chain::chain_of(seqs[0]);
        assert_eq!(*seqs, (1..=300).map(|p| at(n, p)).collect::<Vec<_>>());
        chains.push(n);
    }
    chains.sort();
    assert_eq!(chains, [1, 2]);
    assert!(verifier.await.unwrap() >= 1);
    for s in [&a, &b] {
        let report = crate::cases::verify(s.as_ref()).await.unwrap();
        assert_eq!(
            (report.rows, report.chains, report.last_seq),
            (600, 2, Some(at(2, 300)))
        );
    }
}

/// The promise of one chain per process: no append waits for another process's. Instance A's append
/// transaction is held open on its chain's head (as a stalled process would, mid-batch); instance B's appends
/// commit all the same, and once A's transaction ends, A appends on and everything verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_one_instance_holds_its_append_open_another_commits() {
    test_support::needs!(Postgres);
    let (a, b, url, _guard) = two_instances().await;
    let first = a.append(entry(1), Default::default()).await.unwrap();
    let chain_a = store::chain::chain_of(first.seq);
    // B's chain is another one: it starts when B first appends.
    let b_first = b.append(entry(2), Default::default()).await.unwrap();
    let chain_b = store::chain::chain_of(b_first.seq);
    assert_ne!(chain_a, chain_b);
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut held = pool.begin().await.unwrap();
    sqlx::query("SELECT seq FROM chain_head WHERE id = $1 FOR UPDATE")
        .bind(chain_a as i32)
        .execute(&mut *held)
        .await
        .unwrap();
    // A's next append now waits for the held transaction, exactly as when A's own batch is in flight.
    let a_waits = {
        let a = a.clone();
        tokio::spawn(async move { a.append(entry(3), Default::default()).await })
    };
    let b_rows = tokio::time::timeout(Duration::from_secs(10), async {
        let mut seqs = Vec::new();
        for i in 0..20 {
            seqs.push(
                b.append(entry(100 + i), Default::default())
                    .await
                    .unwrap()
                    .seq,
            );
        }
        seqs
    })
    .await
    .expect("B's appends committed while A's transaction held A's chain");
    assert_eq!(b_rows, (2..=21).map(|p| at(chain_b, p)).collect::<Vec<_>>());
    assert!(
        !a_waits.is_finished(),
        "A's append waited for its own chain"
    );
    held.rollback().await.unwrap();
    let a_next = a_waits.await.unwrap().unwrap();
    assert_eq!(a_next.seq, at(chain_a, 2));
    let report = crate::cases::verify(a.as_ref()).await.unwrap();
    assert_eq!((report.rows, report.chains), (23, 2));
}

/// A process that starts while another holds chain 1 takes a chain of its own; one that starts after a chain
/// is let go takes that one again rather than starting yet another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_let_go_is_taken_again() {
    test_support::needs!(Postgres);
    let (a, b, url, _guard) = two_instances().await;
    let sa = a.append(entry(1), Default::default()).await.unwrap().seq;
    let sb = b.append(entry(2), Default::default()).await.unwrap().seq;
    assert_eq!((sa, sb), (at(1, 1), at(2, 1)));
    drop(b);
    let c = store::open(&url, crate::cases::keys()).await.unwrap();
    let sc = c.append(entry(3), Default::default()).await.unwrap().seq;
    assert_eq!(sc, at(2, 2), "chain 2 again, not a third");
    let report = crate::cases::verify(c.as_ref()).await.unwrap();
    assert_eq!((report.rows, report.chains), (3, 2));
}

/// Run `statements` as the database's owner would, past the audit table's triggers (switched off for the
/// transaction only).
async fn as_the_owner(pool: &sqlx::PgPool, statements: &[String]) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("ALTER TABLE audit DISABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    for sql in statements {
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
    }
    sqlx::query("ALTER TABLE audit ENABLE TRIGGER USER")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Tampering with a chain other than the first is found as surely as with the first: an edited row, a row cut
/// from its end, and the whole chain deleted (head and rows) while the anchor remembers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_with_a_second_chain_is_found() {
    test_support::needs!(Postgres);
    let (a, b, url, _guard) = two_instances().await;
    for i in 0..3 {
        a.append(entry(i), Default::default()).await.unwrap();
        b.append(entry(10 + i), Default::default()).await.unwrap();
    }
    let keys = crate::cases::keys();
    let heads: Vec<_> = b
        .chain_states()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.head)
        .collect();
    assert_eq!(heads.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let anchor_path = dir.path().join("anchor");
    store::anchor::append_all(&anchor_path, &keys, &heads).unwrap();
    let anchor = store::anchor::read(&anchor_path).unwrap().unwrap();
    let ok = store::chain::verify_store(b.as_ref(), &keys, &anchor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((ok.rows, ok.chains, ok.anchor_entries), (6, 2, 2));

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    as_the_owner(
        &pool,
        &[format!(
            "UPDATE audit SET outcome = 'id_mismatch' WHERE seq = {}",
            at(2, 2)
        )],
    )
    .await;
    let err = crate::cases::verify(b.as_ref()).await.unwrap_err();
    assert_eq!(err, store::chain::ChainError::BadHash { seq: at(2, 2) });
    assert!(err.to_string().starts_with("row 2 of chain 2:"), "{err}");

    // The whole second chain gone, head and rows: only the anchor can tell.
    sqlx::query("DELETE FROM audit WHERE seq > $1")
        .bind(at(2, 0))
        .execute(&pool)
        .await
        .expect_err("the trigger refuses");
    as_the_owner(
        &pool,
        &[
            format!("DELETE FROM audit WHERE seq > {}", at(2, 0)),
            "DELETE FROM chain_head WHERE id = 2".into(),
        ],
    )
    .await;
    let gone = store::chain::verify_store(b.as_ref(), &keys, &anchor)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        gone,
        store::chain::ChainError::MissingChain {
            anchor_seq: at(2, 3)
        }
    );
}

/// A purge cuts the old prefix of every chain, each behind a checkpoint of its own, and the rest verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_cuts_every_chain_behind_its_own_checkpoint() {
    test_support::needs!(Postgres);
    let (a, b, _url, _guard) = two_instances().await;
    for i in 0..4 {
        a.append(entry(i), Default::default()).await.unwrap();
        let twin = store::NewAuditEntry {
            id: format!("b-{i}"),
            ..entry(i)
        };
        b.append(twin, Default::default()).await.unwrap();
    }
    // `entry(i)` is at 1_700_000_000_000 + i s: rows 0 and 1 of each chain are older than entry(2).
    let report = a.purge_audit(entry(2).at_ms, entry(2).at_ms).await.unwrap();
    assert_eq!((report.rows_deleted, report.chains_purged), (4, 2));
    let v = crate::cases::verify(a.as_ref()).await.unwrap();
    assert_eq!((v.rows, v.chains, v.from_checkpoint), (4, 2, true));
    let states = a.chain_states().await.unwrap();
    let checkpoints: Vec<_> = states
        .iter()
        .map(|c| c.checkpoint.as_ref().map(|cp| cp.seq))
        .collect();
    assert_eq!(checkpoints, [Some(at(1, 2)), Some(at(2, 2))]);
    b.append(entry(9), Default::default()).await.unwrap();
    assert_eq!(crate::cases::verify(a.as_ref()).await.unwrap().rows, 5);
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

/// Two batches in flight (`append_workers=2`): the second is linked to the head the first will end on. When the first fails (here a
/// duplicate id rejects it, and its writes are retried one by one), the second, linked to a head that never
/// committed, writes nothing and is linked again: only the duplicates fail, and the chain is dense and whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_linked_to_a_failed_one_is_linked_again() {
    test_support::needs!(Postgres);
    let (url, _guard) = fresh_pg_schema(&pg_test_url()).await;
    let sep = if url.contains('?') { '&' } else { '?' };
    let s = store::open(&format!("{url}{sep}append_workers=2"), crate::cases::keys())
        .await
        .unwrap();
    s.append(entry(0), Default::default()).await.unwrap();
    let tasks: Vec<_> = (1..=1500)
        .map(|i| {
            let s = s.clone();
            let e = if i % 100 == 0 { entry(0) } else { entry(i) };
            tokio::spawn(async move { (i, s.append(e, Default::default()).await) })
        })
        .collect();
    let mut failed = Vec::new();
    let mut seqs = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match r {
            Ok(r) => seqs.push(r.seq),
            Err(_) => failed.push(i),
        }
    }
    assert_eq!(failed, (1..=15).map(|k| k * 100).collect::<Vec<_>>());
    seqs.sort();
    assert_eq!(seqs, (2..=1486).collect::<Vec<_>>(), "dense");
    let report = crate::cases::verify(s.as_ref()).await.unwrap();
    assert_eq!((report.rows, report.last_seq), (1486, Some(1486)));
}

/// An idempotency key looked at by one instance (its request still running in another) leaves no lock behind:
/// the instance running the request stores its answer at once. (The look is a `SELECT ... FOR UPDATE` in a
/// transaction; one dropped rather than ended kept its row locked until that connection's next statement, so the
/// answer's write waited for another request to come by, or for the server's idle-transaction timeout.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looking_at_a_running_idempotency_key_leaves_no_lock_behind() {
    test_support::needs!(Postgres);
    let (a, b, _url, _guard) = two_instances().await;
    let req = IdemBeginRequest {
        key_id: "k1".into(),
        idem_key: "i1".into(),
        fingerprint: b"f".to_vec(),
        now_ms: 0,
        stale_after_ms: 60_000,
    };
    assert_eq!(a.begin_idempotent(&req).await.unwrap(), IdemBegin::Started);
    for fingerprint in [b"f".to_vec(), b"g".to_vec()] {
        let look = IdemBeginRequest {
            fingerprint,
            now_ms: 10,
            ..req.clone()
        };
        assert!(matches!(
            b.begin_idempotent(&look).await.unwrap(),
            IdemBegin::InProgress | IdemBegin::Mismatch
        ));
    }
    let answer = store::IdemAnswer {
        key_id: "k1".into(),
        idem_key: "i1".into(),
        status: 200,
        body: "{}".into(),
    };
    let stored = tokio::time::timeout(
        Duration::from_secs(3),
        a.append(
            entry(1),
            store::AppendOptions {
                bind_identity: false,
                idempotent: Some(answer),
            },
        ),
    )
    .await
    .expect("the answer is stored without waiting for the other instance");
    stored.unwrap();
}
