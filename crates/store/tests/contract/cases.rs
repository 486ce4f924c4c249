//! Backend-independent test bodies.

use std::sync::Arc;
use store::chain::{AuditKeys, ChainError, VerifyReport, verify_store};
use store::*;

pub use crate::tamper::*;

/// The audit keys every test store is opened with.
pub fn keys() -> AuditKeys {
    AuditKeys::new([7; 32])
}

/// Verify with the test keys and no anchor.
pub async fn verify(s: &dyn Store) -> Result<VerifyReport, ChainError> {
    verify_store(s, &keys(), &[]).await.unwrap()
}

pub fn entry(i: i64) -> NewAuditEntry {
    NewAuditEntry {
        id: format!("v-{i}"),
        at_ms: 1_700_000_000_000 + i * 1000,
        key_id: "k1".into(),
        appid: "wxapp".into(),
        openid: format!("o-{i}"),
        masked_name: "张*".into(),
        masked_cred_id: "110***********002X".into(),
        blind_cred: vec![1; 32],
        blind_pair: vec![2; 32],
        key_version: 1,
        purpose: Some("test".into()),
        outcome: Some("match".into()),
        error_code: None,
        errcode: Some(0),
        verify_openid: vec!["V_OP_NM_MA".into()],
        verify_real_name: Some("V_NM_ID_MA".into()),
        minor: false,
        latency_ms: 12,
        kind: store::KIND_VERIFICATION.into(),
        provider: None,
        billed: None,
        consent_ref: None,
    }
}

fn key(id: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        name: "hospital".into(),
        key_hash: vec![7; 32],
        apps: vec!["wxapp".into()],
        scopes: Vec::new(),
        created_at_ms: 1,
        revoked_at_ms: None,
    }
}

pub async fn api_keys_round_trip_and_revoke(s: Arc<dyn Store>) {
    s.insert_api_key(&key("a")).await.unwrap();
    s.insert_api_key(&key("b")).await.unwrap();
    assert_eq!(s.api_key("a").await.unwrap(), Some(key("a")));
    assert_eq!(s.api_keys().await.unwrap().len(), 2);
    assert!(s.revoke_api_key("a", 5).await.unwrap());
    assert!(
        !s.revoke_api_key("a", 6).await.unwrap(),
        "revoking twice reports nothing to do"
    );
    assert!(!s.revoke_api_key("zz", 6).await.unwrap());
    assert_eq!(
        s.api_key("a").await.unwrap().unwrap().revoked_at_ms,
        Some(5)
    );
    assert!(s.insert_api_key(&key("b")).await.is_err(), "ids are unique");
    // Scopes round-trip; a key may have apps and the idcheck scope, or only the scope.
    let both = ApiKeyRecord {
        scopes: vec!["idcheck".into()],
        ..key("c")
    };
    let only = ApiKeyRecord {
        apps: Vec::new(),
        scopes: vec!["idcheck".into()],
        ..key("d")
    };
    for k in [&both, &only] {
        s.insert_api_key(k).await.unwrap();
        assert_eq!(s.api_key(&k.id).await.unwrap().as_ref(), Some(k));
    }
    assert_eq!(
        s.api_key("a").await.unwrap().unwrap().scopes,
        Vec::<String>::new()
    );
}

pub async fn code_reserved_once_even_when_racing(s: Arc<dyn Store>) {
    assert!(!s.code_seen(b"c1").await.unwrap());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.reserve_code(b"c1", "wxapp", 1).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one racer reserves the code");
    assert!(s.code_seen(b"c1").await.unwrap());
    assert!(s.reserve_code(b"c2", "wxapp", 1).await.unwrap());
}

/// The replay guard's read, asked by many verifications at once (PostgreSQL answers a batch of them in one
/// statement): each gets the answer for its own code.
pub async fn concurrent_replay_lookups_each_get_their_own_answer(s: Arc<dyn Store>) {
    for code in (0..200u32).step_by(2) {
        assert!(
            s.reserve_code(&code.to_be_bytes(), "wxapp", 1)
                .await
                .unwrap()
        );
    }
    let lookups: Vec<_> = (0..200u32)
        .map(|code| {
            let s = s.clone();
            tokio::spawn(async move { (code, s.code_seen(&code.to_be_bytes()).await.unwrap()) })
        })
        .collect();
    for l in lookups {
        let (code, seen) = l.await.unwrap();
        assert_eq!(seen, code % 2 == 0, "code {code}");
    }
}

pub async fn a_released_code_can_be_reserved_again(s: Arc<dyn Store>) {
    assert!(s.reserve_code(b"r1", "wxapp", 1).await.unwrap());
    assert!(s.reserve_code(b"r2", "wxapp", 1).await.unwrap());
    s.release_code(b"r1").await.unwrap();
    assert!(!s.code_seen(b"r1").await.unwrap());
    assert!(
        s.code_seen(b"r2").await.unwrap(),
        "only the released code is forgotten"
    );
    assert!(s.reserve_code(b"r1", "wxapp", 2).await.unwrap());
    assert!(!s.reserve_code(b"r1", "wxapp", 3).await.unwrap());
    // Releasing a code that was never reserved is harmless.
    s.release_code(b"never").await.unwrap();
}

pub async fn idempotency_states(s: Arc<dyn Store>) {
    let req = |fp: &[u8], now| IdemBeginRequest {
        key_id: "k1".into(),
        idem_key: "i1".into(),
        fingerprint: fp.to_vec(),
        now_ms: now,
        stale_after_ms: 1000,
    };
    assert_eq!(
        s.begin_idempotent(&req(b"f", 0)).await.unwrap(),
        IdemBegin::Started
    );
    assert_eq!(
        s.begin_idempotent(&req(b"f", 10)).await.unwrap(),
        IdemBegin::InProgress
    );
    assert_eq!(
        s.begin_idempotent(&req(b"g", 10)).await.unwrap(),
        IdemBegin::Mismatch
    );
    assert_eq!(
        s.begin_idempotent(&req(b"f", 5000)).await.unwrap(),
        IdemBegin::Started,
        "a stale one is taken over"
    );
    let answer = IdemAnswer {
        key_id: "k1".into(),
        idem_key: "i1".into(),
        status: 200,
        body: "{\"x\":1}".into(),
    };
    s.append(
        entry(1),
        AppendOptions {
            bind_identity: false,
            idempotent: Some(answer),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.begin_idempotent(&req(b"f", 6000)).await.unwrap(),
        IdemBegin::Done {
            status: 200,
            body: "{\"x\":1}".into()
        }
    );
    assert_eq!(
        s.begin_idempotent(&req(b"g", 6000)).await.unwrap(),
        IdemBegin::Mismatch
    );
    // Abort forgets an in-progress key only.
    let other = IdemBeginRequest {
        idem_key: "i2".into(),
        ..req(b"f", 0)
    };
    assert_eq!(
        s.begin_idempotent(&other).await.unwrap(),
        IdemBegin::Started
    );
    s.abort_idempotent("k1", "i2").await.unwrap();
    assert_eq!(
        s.begin_idempotent(&other).await.unwrap(),
        IdemBegin::Started
    );
    s.abort_idempotent("k1", "i1").await.unwrap();
    assert!(matches!(
        s.begin_idempotent(&req(b"f", 7000)).await.unwrap(),
        IdemBegin::Done { .. }
    ));
}

pub async fn append_chains_and_verify_inner(s: &Arc<dyn Store>, n: i64) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.append(entry(i), Default::default()).await.unwrap() })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().seq);
    }
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "concurrent appends get distinct, dense positions"
    );
}

pub async fn append_chains_and_verifies(s: Arc<dyn Store>) {
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 0);
    append_chains_and_verify_inner(&s, 300).await;
    let report = verify(s.as_ref()).await.unwrap();
    assert_eq!(report.rows, 300);
    assert_eq!(report.last_seq, Some(300));
    let first = s.audit_page(0, None, 1).await.unwrap().remove(0);
    assert_eq!(first.prev_hash, store::chain::GENESIS.to_vec());
    let v = s.verification(&first.entry.id).await.unwrap().unwrap();
    assert_eq!(v, first);
    assert!(s.verification("nope").await.unwrap().is_none());
    let recent = s.recent(2).await.unwrap();
    assert_eq!(
        recent.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![300, 299]
    );
}

/// An idcheck row (issue 14) in the same chain as verifications: its fields round-trip and take part in the
/// hash, so an edit of the provider, the billing or the consent reference is named like any other.
pub async fn idcheck_rows_share_the_chain(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 3).await;
    let idcheck = NewAuditEntry {
        id: "i-1".into(),
        appid: String::new(),
        openid: String::new(),
        outcome: Some("match".into()),
        kind: store::KIND_IDCHECK.into(),
        provider: Some("tencent".into()),
        billed: Some(true),
        consent_ref: Some("consent-2026-001".into()),
        ..entry(3)
    };
    let rec = s.append(idcheck.clone(), Default::default()).await.unwrap();
    s.append(entry(4), Default::default()).await.unwrap();
    assert_eq!(rec.seq, 4);
    assert_eq!(s.verification("i-1").await.unwrap().unwrap().entry, idcheck);
    let plain = s.verification("v-4").await.unwrap().unwrap().entry;
    assert_eq!(
        (plain.kind.as_str(), plain.provider, plain.billed),
        (store::KIND_VERIFICATION, None, None)
    );
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 5);
    let drop_trigger = if url.starts_with("sqlite:") {
        "DROP TRIGGER audit_append_only"
    } else {
        "DROP TRIGGER audit_append_only ON audit"
    };
    tamper(
        url,
        &[
            drop_trigger,
            "UPDATE audit SET consent_ref = 'forged' WHERE seq = 4",
        ],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::BadHash { seq: 4 }
    );
}

pub async fn identity_binds_latest_match(s: Arc<dyn Store>) {
    assert!(s.identity("wxapp", "o-1").await.unwrap().is_none());
    s.append(
        entry(1),
        AppendOptions {
            bind_identity: true,
            idempotent: None,
        },
    )
    .await
    .unwrap();
    let mut later = entry(1);
    later.id = "v-later".into();
    later.at_ms += 50_000;
    s.append(
        later,
        AppendOptions {
            bind_identity: true,
            idempotent: None,
        },
    )
    .await
    .unwrap();
    let mut not_bound = entry(1);
    not_bound.id = "v-mismatch".into();
    s.append(not_bound, Default::default()).await.unwrap();
    let id = s.identity("wxapp", "o-1").await.unwrap().unwrap();
    assert_eq!(id.verification_id, "v-later");
    assert_eq!(id.masked_name, "张*");
    assert!(s.identity("other", "o-1").await.unwrap().is_none());

    // Erasure forgets the binding, not the audit rows; a later match binds afresh.
    assert!(!s.delete_identity("other", "o-1").await.unwrap());
    assert!(s.delete_identity("wxapp", "o-1").await.unwrap());
    assert!(s.identity("wxapp", "o-1").await.unwrap().is_none());
    assert!(!s.delete_identity("wxapp", "o-1").await.unwrap());
    assert!(s.verification("v-later").await.unwrap().is_some());
    assert!(s.chain_state().await.is_ok());
    let mut again = entry(1);
    again.id = "v-again".into();
    s.append(
        again,
        AppendOptions {
            bind_identity: true,
            idempotent: None,
        },
    )
    .await
    .unwrap();
    let id = s.identity("wxapp", "o-1").await.unwrap().unwrap();
    assert_eq!(id.verification_id, "v-again");
}

/// Change stored rows behind the store's back, as an attacker with database access would.
pub async fn tamper(url: &str, sql: &[&str]) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        for q in sql {
            conn.execute(q, []).unwrap();
        }
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        for q in sql {
            sqlx::query(q).execute(&pool).await.unwrap();
        }
    }
}

pub async fn edited_row_is_named(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    let drop_trigger = if url.starts_with("sqlite:") {
        "DROP TRIGGER audit_append_only"
    } else {
        "DROP TRIGGER audit_append_only ON audit"
    };
    tamper(
        url,
        &[
            drop_trigger,
            "UPDATE audit SET outcome = 'id_mismatch' WHERE seq = 7",
        ],
    )
    .await;
    let err = verify(s.as_ref()).await.unwrap_err();
    assert_eq!(err, ChainError::BadHash { seq: 7 });
}

pub async fn deleted_row_is_named(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    let drop_trigger = if url.starts_with("sqlite:") {
        "DROP TRIGGER audit_delete_only_by_purge"
    } else {
        "DROP TRIGGER audit_delete_only_by_purge ON audit"
    };
    tamper(url, &[drop_trigger, "DELETE FROM audit WHERE seq = 4"]).await;
    assert_eq!(verify(s.as_ref()).await.unwrap_err().seq(), 5);
    tamper(url, &["DELETE FROM audit WHERE seq >= 9"]).await;
    // still the first fault that is named
    assert_eq!(verify(s.as_ref()).await.unwrap_err().seq(), 5);
}

pub async fn purge_keeps_chain_verifiable(s: Arc<dyn Store>) {
    for i in 0..20 {
        s.reserve_code(
            format!("c{i}").as_bytes(),
            "wxapp",
            1_700_000_000_000 + i * 1000,
        )
        .await
        .unwrap();
        s.append(entry(i), Default::default()).await.unwrap();
    }
    // rows 0..=9 are older than the cut-off
    let report = s
        .purge_audit(1_700_000_000_000 + 10_000, 1_800_000_000_000)
        .await
        .unwrap();
    assert_eq!(report.rows_deleted, 10);
    assert_eq!(report.checkpoint_seq, Some(10));
    assert_eq!(report.codes_forgotten, 10);
    let v = verify(s.as_ref()).await.unwrap();
    assert_eq!(
        (v.rows, v.first_seq, v.from_checkpoint),
        (10, Some(11), true)
    );
    let r = s.append(entry(99), Default::default()).await.unwrap();
    assert_eq!(r.seq, 21);
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 11);
    // Purging everything still leaves a verifiable (empty) chain whose head matches the checkpoint.
    s.purge_audit(i64::MAX, 1_800_000_000_000).await.unwrap();
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 0);
    assert_eq!(
        s.append(entry(100), Default::default()).await.unwrap().seq,
        22
    );
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 1);
}

pub async fn export_pages_since(s: Arc<dyn Store>) {
    for i in 0..5 {
        s.append(entry(i), Default::default()).await.unwrap();
    }
    let since = s
        .audit_page(0, Some(1_700_000_000_000 + 3000), 100)
        .await
        .unwrap();
    assert_eq!(since.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 5]);
    let page = s.audit_page(2, None, 2).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 4]);
}

pub async fn a_bad_write_does_not_fail_its_neighbours(s: Arc<dyn Store>) {
    s.append(entry(0), Default::default()).await.unwrap();
    // Queued together, these may share one transaction; the duplicate id fails it, and the rest are retried.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = s.clone();
            let e = if i == 20 { entry(0) } else { entry(i + 1) };
            tokio::spawn(async move { (i, s.append(e, Default::default()).await) })
        })
        .collect();
    let mut failed = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        if r.is_err() {
            failed.push(i);
        }
    }
    assert_eq!(failed, vec![20], "only the duplicate fails");
    let report = verify(s.as_ref()).await.unwrap();
    assert_eq!((report.rows, report.last_seq), (40, Some(40)));
}

pub async fn prune_forgets_old_codes_and_finished_answers(s: Arc<dyn Store>) {
    s.reserve_code(b"old", "wxapp", 1_000).await.unwrap();
    s.reserve_code(b"new", "wxapp", 9_000).await.unwrap();
    let begin = |key: &str, now| IdemBeginRequest {
        key_id: "k1".into(),
        idem_key: key.into(),
        fingerprint: b"f".to_vec(),
        now_ms: now,
        stale_after_ms: 1_000_000,
    };
    assert_eq!(
        s.begin_idempotent(&begin("done", 1_000)).await.unwrap(),
        IdemBegin::Started
    );
    let answer = IdemAnswer {
        key_id: "k1".into(),
        idem_key: "done".into(),
        status: 200,
        body: "{}".into(),
    };
    s.append(
        entry(1),
        AppendOptions {
            bind_identity: false,
            idempotent: Some(answer),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.begin_idempotent(&begin("running", 1_000)).await.unwrap(),
        IdemBegin::Started
    );
    assert_eq!(s.prune(5_000, 5_000).await.unwrap(), (1, 1));
    assert!(!s.code_seen(b"old").await.unwrap());
    assert!(s.code_seen(b"new").await.unwrap());
    assert_eq!(
        s.begin_idempotent(&begin("done", 6_000)).await.unwrap(),
        IdemBegin::Started,
        "forgotten"
    );
    assert_eq!(
        s.begin_idempotent(&begin("running", 6_000)).await.unwrap(),
        IdemBegin::InProgress,
        "kept"
    );
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 1, "the audit stays");
}

/// Issue 12 §5: an identity-match row keeps its kind, and the kind is bound into its hash.
pub async fn an_identity_match_row_keeps_its_kind_in_a_verifiable_chain(s: Arc<dyn Store>) {
    let first = s.append(entry(1), Default::default()).await.unwrap();
    let mut matched = entry(2);
    matched.kind = KIND_IDENTITY_MATCH.into();
    matched.outcome = Some("no_identity".into());
    s.append(matched.clone(), Default::default()).await.unwrap();
    let rows = s.audit_page(0, None, 10).await.unwrap();
    let kinds: Vec<_> = rows.iter().map(|r| r.entry.kind.as_str()).collect();
    assert_eq!(kinds, [KIND_VERIFICATION, KIND_IDENTITY_MATCH]);
    assert_eq!(rows[1].entry, matched);
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 2);
    let as_verification = NewAuditEntry {
        kind: KIND_VERIFICATION.into(),
        ..matched
    };
    assert_ne!(
        store::chain::link_hash(&first.hash, 2, &as_verification),
        rows[1].hash,
        "the kind is part of what the hash covers"
    );
}

/// The idcheck cache's lookup: the newest billed provider verdict for the pair within the window; not a
/// verification with the same pair, not a "no record", not a row answered from the cache, not one too old, not
/// another pair.
pub async fn idcheck_verdict_finds_the_newest_billed_verdict_for_the_pair(s: Arc<dyn Store>) {
    let idcheck = |i: i64, pair: u8, outcome: &str, billed: bool| NewAuditEntry {
        id: format!("i-{i}"),
        appid: String::new(),
        openid: String::new(),
        blind_pair: vec![pair; 32],
        outcome: Some(outcome.into()),
        errcode: None,
        verify_openid: Vec::new(),
        verify_real_name: None,
        kind: store::KIND_IDCHECK.into(),
        provider: Some(if i % 2 == 0 { "tencent" } else { "aliyun" }.into()),
        billed: Some(billed),
        consent_ref: Some(format!("consent-{i}")),
        ..entry(i)
    };
    let t = |i: i64| entry(i).at_ms;
    assert!(s.idcheck_verdict(&[7; 32], 0).await.unwrap().is_none());
    for e in [
        idcheck(1, 7, "match", true),
        idcheck(2, 7, "mismatch", true),
        // Newer, but not sources: a cached answer, a "no record", a verification, another pair.
        idcheck(3, 7, "mismatch", false),
        idcheck(4, 7, "no_record", true),
        NewAuditEntry {
            blind_pair: vec![7; 32],
            ..entry(5)
        },
        idcheck(6, 8, "match", true),
    ] {
        s.append(e, Default::default()).await.unwrap();
    }
    let found = s.idcheck_verdict(&[7; 32], t(1)).await.unwrap().unwrap();
    assert_eq!(found.entry, idcheck(2, 7, "mismatch", true));
    assert_eq!(
        s.idcheck_verdict(&[7; 32], t(2))
            .await
            .unwrap()
            .unwrap()
            .entry
            .id,
        "i-2"
    );
    // The window starts after the newest verdict: nothing to repeat.
    assert!(
        s.idcheck_verdict(&[7; 32], t(2) + 1)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        s.idcheck_verdict(&[8; 32], 0)
            .await
            .unwrap()
            .unwrap()
            .entry
            .id,
        "i-6"
    );
}
