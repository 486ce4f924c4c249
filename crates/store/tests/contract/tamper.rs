//! The audit trail against someone who holds the database but not the master key: one case per tamper shape,
//! each on every backend. Each does what such an attacker can do (any SQL, the plain SHA-256 chain recomputed)
//! and asserts that `verify_store` fails, naming what was done.

use crate::cases::{append_chains_and_verify_inner, entry, keys, tamper, verify};
use std::sync::Arc;
use store::anchor::AnchorEntry;
use store::chain::{AuditKeys, ChainError, LinkKind, link_hash, verify_store};
use store::*;

fn sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// A byte string as an SQL literal of the backend.
fn bytes(url: &str, b: &[u8]) -> String {
    if sqlite(url) {
        format!("X'{}'", hex::encode(b))
    } else {
        format!("decode('{}', 'hex')", hex::encode(b))
    }
}

fn drop_trigger(url: &str, name: &str) -> String {
    if sqlite(url) {
        format!("DROP TRIGGER {name}")
    } else {
        format!("DROP TRIGGER {name} ON audit")
    }
}

/// The triggers out of the way, as the attacker would do first.
async fn untrigger(url: &str) {
    tamper(
        url,
        &[
            &drop_trigger(url, "audit_append_only"),
            &drop_trigger(url, "audit_delete_only_by_purge"),
        ],
    )
    .await;
}

async fn head(s: &Arc<dyn Store>) -> ChainLink {
    s.chain_state().await.unwrap().head.unwrap()
}

async fn anchored(s: &Arc<dyn Store>) -> AnchorEntry {
    AnchorEntry {
        chain: store::chain::MAIN_CHAIN.into(),
        link: head(s).await,
    }
}

pub async fn delete_is_refused_except_by_purge(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 5).await;
    for sql in ["DELETE FROM audit WHERE seq = 5", "DELETE FROM audit"] {
        let err = if sqlite(url) {
            let conn = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).unwrap();
            conn.execute(sql, []).unwrap_err().to_string()
        } else {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sql)
                .execute(&pool)
                .await
                .unwrap_err()
                .to_string()
        };
        assert!(
            err.contains("only by wxrealname audit purge"),
            "{sql}: {err}"
        );
    }
    if !sqlite(url) {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let err = sqlx::query("TRUNCATE audit")
            .execute(&pool)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("audit purge"), "{err}");
    }
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 5);
    let report = s.purge_audit(i64::MAX, 1).await.unwrap();
    assert_eq!(report.rows_deleted, 5, "purge deletes, through its permit");
    assert_eq!(verify(s.as_ref()).await.unwrap().rows, 0);
    // The permit lived only inside the purge's transaction.
    s.append(entry(50), Default::default()).await.unwrap();
    let still = if sqlite(url) {
        let conn = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).unwrap();
        conn.execute("DELETE FROM audit", []).is_err()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query("DELETE FROM audit")
            .execute(&pool)
            .await
            .is_err()
    };
    assert!(still, "after a purge, deletes are refused again");
}

pub async fn cut_rows_with_a_rewritten_head_fail(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    untrigger(url).await;
    tamper(
        url,
        &[
            "DELETE FROM audit WHERE seq >= 8",
            "UPDATE chain_head SET seq = 7, hash = (SELECT hash FROM audit WHERE seq = 7)",
        ],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::ForgedHead { seq: 7 }
    );
    let err = s.append(entry(99), Default::default()).await.unwrap_err();
    assert!(
        err.to_string().contains("not signed"),
        "the gateway never extends (and so re-signs) a head it did not sign: {err}"
    );
}

pub async fn cut_rows_with_the_head_deleted_fail(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    untrigger(url).await;
    tamper(
        url,
        &["DELETE FROM audit WHERE seq >= 8", "DELETE FROM chain_head"],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::MissingHead
    );
    assert!(s.append(entry(99), Default::default()).await.is_err());
}

pub async fn everything_deleted_fails(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    s.purge_audit(1_700_000_000_000 + 3_000, 1).await.unwrap();
    untrigger(url).await;
    tamper(
        url,
        &[
            "DELETE FROM audit",
            "DELETE FROM chain_head",
            "DELETE FROM audit_checkpoint",
        ],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::MissingHead,
        "not \"0 rows verified\""
    );
    // Opening the store again does not paper over it with a fresh head.
    let again = store::open(url, keys()).await.unwrap();
    assert_eq!(
        verify(again.as_ref()).await.unwrap_err(),
        ChainError::MissingHead
    );
}

pub async fn rows_deleted_behind_a_forged_checkpoint_fail(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    untrigger(url).await;
    tamper(
        url,
        &[
            "DELETE FROM audit WHERE seq <= 3",
            "INSERT INTO audit_checkpoint (id, seq, hash, purged_at) VALUES (1, 3, (SELECT prev_hash FROM audit WHERE seq = 4), 0)",
        ],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::UnsignedCheckpoint { seq: 3 }
    );
    // A signature made up, or one taken from the head (another kind of link), does not help.
    let head_mac = head(&s).await.mac.unwrap();
    for mac in [vec![0u8; 32], head_mac] {
        tamper(
            url,
            &[&format!(
                "UPDATE audit_checkpoint SET mac = {}",
                bytes(url, &mac)
            )],
        )
        .await;
        assert_eq!(
            verify(s.as_ref()).await.unwrap_err(),
            ChainError::ForgedCheckpoint { seq: 3 }
        );
    }
}

pub async fn a_row_beyond_the_head_fails(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    let last = s.audit_page(9, None, 1).await.unwrap().remove(0);
    let mut forged = last.entry.clone();
    forged.id = "v-forged".into();
    // A correctly chained row: the plain SHA-256 chain holds no secret.
    let hash = link_hash(&last.hash, 11, &forged);
    tamper(
        url,
        &[&format!(
            "INSERT INTO audit (seq, id, at, key_id, appid, openid, masked_name, masked_cred_id, blind_cred,
             blind_pair, key_version, purpose, outcome, error_code, errcode, verify_openid, verify_real_name, minor,
             latency_ms, prev_hash, hash)
             SELECT 11, 'v-forged', at, key_id, appid, openid, masked_name, masked_cred_id, blind_cred, blind_pair,
             key_version, purpose, outcome, error_code, errcode, verify_openid, verify_real_name, minor, latency_ms,
             hash, {} FROM audit WHERE seq = 10",
            bytes(url, &hash)
        )],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::BeyondHead {
            seq: 11,
            head_seq: 10
        },
        "not silently skipped"
    );
}

pub async fn a_recomputed_chain_fails(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 10).await;
    untrigger(url).await;
    // Edit row 5, then recompute every hash after it, as the plain SHA-256 chain allows.
    let rows = s.audit_page(0, None, 100).await.unwrap();
    let mut prev = rows[3].hash.clone();
    let mut sql = Vec::new();
    for r in &rows[4..] {
        let mut e = r.entry.clone();
        if r.seq == 5 {
            e.outcome = Some("id_mismatch".into());
            sql.push("UPDATE audit SET outcome = 'id_mismatch' WHERE seq = 5".to_owned());
        }
        let hash = link_hash(&prev, r.seq, &e);
        sql.push(format!(
            "UPDATE audit SET prev_hash = {}, hash = {} WHERE seq = {}",
            bytes(url, &prev),
            bytes(url, &hash),
            r.seq
        ));
        prev = hash;
    }
    let sql: Vec<&str> = sql.iter().map(String::as_str).collect();
    tamper(url, &sql).await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::HeadMismatch { seq: 10 },
        "the rows agree with each other, not with the signed head"
    );
    // Moving the head along does not help: its signature covers the hash.
    tamper(
        url,
        &[&format!(
            "UPDATE chain_head SET hash = {}",
            bytes(url, &prev)
        )],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::ForgedHead { seq: 10 }
    );
}

/// What the database alone cannot show: rows cut together with a signed head copied from earlier (or a whole
/// older copy of the database put back). The anchor shows it.
pub async fn rows_cut_behind_a_replayed_head_fail_against_the_anchor(s: Arc<dyn Store>, url: &str) {
    append_chains_and_verify_inner(&s, 5).await;
    let old = head(&s).await;
    for i in 5..10 {
        s.append(entry(i), Default::default()).await.unwrap();
    }
    let anchor = vec![anchored(&s).await];
    assert_eq!(
        verify_store(s.as_ref(), &keys(), &anchor)
            .await
            .unwrap()
            .unwrap()
            .anchored_seq,
        Some(10)
    );
    untrigger(url).await;
    tamper(
        url,
        &[
            "DELETE FROM audit WHERE seq > 5",
            &format!(
                "UPDATE chain_head SET seq = {}, hash = {}, at = {}, mac = {}",
                old.seq,
                bytes(url, &old.hash),
                old.at_ms,
                bytes(url, old.mac.as_deref().unwrap())
            ),
        ],
    )
    .await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap().rows,
        5,
        "without the anchor, a replayed signed head cannot be told from the real one"
    );
    assert_eq!(
        verify_store(s.as_ref(), &keys(), &anchor)
            .await
            .unwrap()
            .unwrap_err(),
        ChainError::BehindAnchor {
            anchor_seq: 10,
            head_seq: 5
        }
    );
    // The gateway goes on from the replayed head: the database reaches row 10 again, with other rows.
    for i in 20..25 {
        s.append(entry(i), Default::default()).await.unwrap();
    }
    assert_eq!(
        verify_store(s.as_ref(), &keys(), &anchor)
            .await
            .unwrap()
            .unwrap_err(),
        ChainError::AnchorMismatch { seq: 10 }
    );
}

pub async fn a_forged_anchor_entry_fails(s: Arc<dyn Store>, _url: &str) {
    append_chains_and_verify_inner(&s, 3).await;
    let mut entry = anchored(&s).await;
    let good = vec![entry.clone()];
    assert!(
        verify_store(s.as_ref(), &keys(), &good)
            .await
            .unwrap()
            .is_ok()
    );
    entry.link = AuditKeys::new([9; 32]).signed(LinkKind::Head, entry.link);
    let bad = vec![good[0].clone(), entry];
    assert_eq!(
        verify_store(s.as_ref(), &keys(), &bad)
            .await
            .unwrap()
            .unwrap_err(),
        ChainError::BadAnchor { line: 2 }
    );
}

/// An older release's store: its head is signed on the first open with the key (and said so in the log); a
/// head that lost its signature later is not.
pub async fn an_unsigned_head_is_signed_once_on_upgrade(s: Arc<dyn Store>, url: &str) {
    // One by one, so that times rise with positions and the purge below takes exactly rows 1 and 2.
    for i in 0..4 {
        s.append(entry(i), Default::default()).await.unwrap();
    }
    s.purge_audit(1_700_000_000_000 + 1_500, 1).await.unwrap();
    tamper(url, &["UPDATE chain_head SET mac = NULL"]).await;
    assert_eq!(
        verify(s.as_ref()).await.unwrap_err(),
        ChainError::UnsignedHead { seq: 4 }
    );
    let reopened = store::open(url, keys()).await.unwrap();
    assert_eq!(
        verify(reopened.as_ref()).await.unwrap_err(),
        ChainError::UnsignedHead { seq: 4 },
        "only the upgrade signs what it finds"
    );
    // As the migration leaves it: unsigned ends, and the marker.
    tamper(
        url,
        &[
            "UPDATE audit_checkpoint SET mac = NULL",
            "INSERT INTO audit_seal_pending (id) VALUES (1)",
        ],
    )
    .await;
    let upgraded = store::open(url, keys()).await.unwrap();
    let report = verify(upgraded.as_ref()).await.unwrap();
    assert_eq!((report.rows, report.from_checkpoint), (2, true));
    upgraded.append(entry(9), Default::default()).await.unwrap();
    assert_eq!(verify(upgraded.as_ref()).await.unwrap().rows, 3);

    // A master-key rotation: the old key still verifies; opening with the new one re-signs both ends.
    let rotated = AuditKeys::new([8; 32]).with_previous([7; 32]);
    let s2 = store::open(url, rotated.clone()).await.unwrap();
    let state = s2.chain_state().await.unwrap();
    assert_eq!(
        rotated.signer(LinkKind::Head, &state.head.unwrap()),
        Some(true)
    );
    assert_eq!(
        rotated.signer(LinkKind::Checkpoint, &state.checkpoint.unwrap()),
        Some(true)
    );
    assert!(
        verify_store(s2.as_ref(), &rotated, &[])
            .await
            .unwrap()
            .is_ok()
    );
}

/// A store as the release before signed heads left it (schema 1: no signatures, no delete trigger), with rows:
/// the first open runs migration 2 on it and signs its head, and it verifies.
pub async fn an_older_release_store_is_upgraded_and_signed(s: Arc<dyn Store>, url: &str) {
    for i in 0..3 {
        s.append(entry(i), Default::default()).await.unwrap();
    }
    drop(s);
    let downgrade: &[&str] = if sqlite(url) {
        &[
            "DROP TRIGGER audit_delete_only_by_purge",
            "DROP TABLE audit_purge_permit",
            "DROP TABLE audit_seal_pending",
            "ALTER TABLE chain_head DROP COLUMN at",
            "ALTER TABLE chain_head DROP COLUMN mac",
            "ALTER TABLE audit_checkpoint DROP COLUMN mac",
            // and what later migrations added
            "DROP INDEX audit_idcheck_pair",
            "ALTER TABLE api_keys DROP COLUMN scopes",
            "ALTER TABLE audit DROP COLUMN kind",
            "ALTER TABLE audit DROP COLUMN provider",
            "ALTER TABLE audit DROP COLUMN billed",
            "ALTER TABLE audit DROP COLUMN consent_ref",
            "PRAGMA user_version = 1",
        ]
    } else {
        &[
            "DROP TRIGGER audit_delete_only_by_purge ON audit",
            "DROP TRIGGER audit_no_truncate ON audit",
            "DROP FUNCTION audit_delete_only_by_purge()",
            "DROP FUNCTION audit_no_truncate()",
            "DROP TABLE audit_purge_permit",
            "DROP TABLE audit_seal_pending",
            "ALTER TABLE chain_head DROP COLUMN at",
            "ALTER TABLE chain_head DROP COLUMN mac",
            "ALTER TABLE audit_checkpoint DROP COLUMN mac",
            "DROP INDEX audit_idcheck_pair",
            "ALTER TABLE api_keys DROP COLUMN scopes",
            "ALTER TABLE audit DROP COLUMN kind",
            "ALTER TABLE audit DROP COLUMN provider",
            "ALTER TABLE audit DROP COLUMN billed",
            "ALTER TABLE audit DROP COLUMN consent_ref",
            "DELETE FROM _sqlx_migrations WHERE version >= 2",
        ]
    };
    tamper(url, downgrade).await;
    let upgraded = store::open(url, keys()).await.unwrap();
    let report = verify(upgraded.as_ref()).await.unwrap();
    assert_eq!((report.rows, report.last_seq), (3, Some(3)));
    upgraded.append(entry(3), Default::default()).await.unwrap();
    assert_eq!(verify(upgraded.as_ref()).await.unwrap().rows, 4);
}
