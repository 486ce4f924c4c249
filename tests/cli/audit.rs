//! Issue 12 §2, through the binary on SQLite: what someone holding only the database file can do to the audit
//! trail, and `wxrealname audit verify` failing each time (exit 1, saying what). The same shapes on both backends
//! are in `crates/store/tests/contract/tamper.rs`.

use super::{bin, entry, keys_of, run, stdout, write_config};
use std::path::{Path, PathBuf};

/// A store of 10 rows made with the config's key, anchored once (to the default anchor beside the config);
/// returns (config, database, anchor).
async fn setup(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let cfg = write_config(dir);
    let db = dir.join("data/wxrealname.db");
    {
        let s = store::open(&format!("sqlite://{}", db.display()), keys_of(dir))
            .await
            .unwrap();
        for i in 1..=10 {
            s.append(entry(i), Default::default()).await.unwrap();
        }
    }
    let anchor = dir.join("wxrealname.anchor");
    (cfg, db, anchor)
}

fn verify(cfg: &Path) -> (Option<i32>, String) {
    let o = run(&["audit", "verify", "--config", cfg.to_str().unwrap()]);
    (o.status.code(), stdout(&o))
}

fn tamper(db: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS audit_append_only; DROP TRIGGER IF EXISTS audit_delete_only_by_purge;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
}

fn anchor_by_hand(cfg: &Path, out: &Path) {
    let o = run(&[
        "audit",
        "anchor",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stdout(&o).contains("anchored the chain head at row 10"),
        "{o:?}"
    );
}

#[tokio::test]
async fn each_database_only_tamper_fails_audit_verify() {
    let shapes: &[(&str, &str, &str)] = &[
        (
            "cut the last rows and rewrite chain_head",
            "DELETE FROM audit WHERE seq > 7; UPDATE chain_head SET seq = 7, hash = (SELECT hash FROM audit WHERE seq = 7);",
            "not signed by this key",
        ),
        (
            "cut the last rows and delete chain_head",
            "DELETE FROM audit WHERE seq > 7; DELETE FROM chain_head;",
            "chain head is missing",
        ),
        (
            "delete every row, the head and the checkpoint",
            "DELETE FROM audit; DELETE FROM chain_head; DELETE FROM audit_checkpoint;",
            "chain head is missing",
        ),
        (
            "delete the first rows behind a forged checkpoint",
            "DELETE FROM audit WHERE seq <= 3; INSERT INTO audit_checkpoint (id, seq, hash, purged_at, mac) \
             VALUES (1, 3, (SELECT prev_hash FROM audit WHERE seq = 4), 0, X'00');",
            "purge checkpoint (row 3) is not signed by this key",
        ),
        (
            "append a row beyond the head",
            "INSERT INTO audit SELECT 11, 'v-forged', at, key_id, appid, openid, masked_name, masked_cred_id, \
             blind_cred, blind_pair, key_version, purpose, outcome, error_code, errcode, verify_openid, \
             verify_real_name, minor, latency_ms, hash, hash, kind, provider, billed, consent_ref FROM audit \
             WHERE seq = 10;",
            "row 11 lies beyond the signed chain head",
        ),
    ];
    for (what, sql, says) in shapes {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, db, _) = setup(dir.path()).await;
        assert_eq!(verify(&cfg).0, Some(0), "{what}: untouched, it verifies");
        tamper(&db, sql);
        let (code, out) = verify(&cfg);
        assert_eq!(code, Some(1), "{what}: {out}");
        assert!(
            out.contains("BROKEN") && out.contains(says),
            "{what}: {out}"
        );
    }
}

/// Dropping the trigger, editing a row and recomputing the plain SHA-256 chain after it (head included).
#[tokio::test]
async fn a_recomputed_chain_fails_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, db, _) = setup(dir.path()).await;
    let s = store::open(&format!("sqlite://{}", db.display()), keys_of(dir.path()))
        .await
        .unwrap();
    let rows = s.audit_page(0, None, 100).await.unwrap();
    drop(s);
    let mut prev = rows[3].hash.clone();
    let mut sql = String::from("UPDATE audit SET outcome = 'id_mismatch' WHERE seq = 5;");
    for r in &rows[4..] {
        let mut e = r.entry.clone();
        if r.seq == 5 {
            e.outcome = Some("id_mismatch".into());
        }
        let hash = store::chain::link_hash(&prev, r.seq, &e);
        sql.push_str(&format!(
            "UPDATE audit SET prev_hash = X'{}', hash = X'{}' WHERE seq = {};",
            hex::encode(&prev),
            hex::encode(&hash),
            r.seq
        ));
        prev = hash;
    }
    sql.push_str(&format!(
        "UPDATE chain_head SET hash = X'{}';",
        hex::encode(&prev)
    ));
    tamper(&db, &sql);
    let (code, out) = verify(&cfg);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("chain head (row 10) is not signed by this key"),
        "{out}"
    );
}

/// Cutting rows and putting back a signed head copied from earlier (or an older copy of the whole file): only
/// the anchor shows it. `audit anchor --out` takes an entry by hand; `audit verify` reads the default anchor
/// beside the config.
#[tokio::test]
async fn the_anchor_catches_rows_cut_behind_a_replayed_head() {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, db, anchor) = setup(dir.path()).await;
    // A backup at row 10: the store that wrote it is closed, so the database file holds everything (no WAL).
    let wal = dir.path().join("data/wxrealname.db-wal");
    assert!(!wal.exists(), "a closed store leaves no WAL");
    let old_copy = dir.path().join("old.db");
    std::fs::copy(&db, &old_copy).unwrap();
    {
        let s = store::open(&format!("sqlite://{}", db.display()), keys_of(dir.path()))
            .await
            .unwrap();
        for i in 11..=20 {
            s.append(entry(i), Default::default()).await.unwrap();
        }
    }
    let o = run(&[
        "audit",
        "anchor",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        anchor.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let (code, out) = verify(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("agreeing with the anchor (1 entries, newest at row 20)"),
        "{out}"
    );

    // The older copy, put back whole: consistent and signed, so only the anchor can tell.
    let _ = std::fs::remove_file(dir.path().join("data/wxrealname.db-shm"));
    std::fs::copy(&old_copy, &db).unwrap();
    let o = run(&[
        "audit",
        "verify",
        "--config",
        cfg.to_str().unwrap(),
        "--anchor",
        dir.path().join("none.anchor").to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "without the anchor it passes: {o:?}"
    );
    let (code, out) = verify(&cfg);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("the anchor recorded row 20, but the database ends at row 10"),
        "{out}"
    );

    // A forged anchor entry is refused, and an anchor inside data_dir is refused.
    std::fs::write(
        &anchor,
        "{\"v\":1,\"chain\":\"main\",\"seq\":1,\"hash\":\"00\",\"at\":0,\"mac\":\"00\"}\n",
    )
    .unwrap();
    let (code, out) = verify(&cfg);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("anchor entry 1: not signed by this key"),
        "{out}"
    );
    let inside = dir.path().join("data/x.anchor");
    let o = run(&[
        "audit",
        "anchor",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        inside.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    anchor_by_hand(&cfg, &dir.path().join("elsewhere.anchor"));
}

/// `serve` anchors the head by itself: at start and, on SIGTERM, once more as it stops.
#[cfg(unix)]
#[test]
fn serve_writes_the_anchor_and_refuses_one_inside_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let (mut child, addr, _) = super::start_serve(&cfg);
    // Answering means it is serving, with its signal handlers in place.
    assert!(super::reqwest::blocking_get(&format!("http://{addr}/healthz")).contains("ok"));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let anchor = std::fs::read_to_string(dir.path().join("wxrealname.anchor")).unwrap();
    assert!(anchor.lines().count() >= 1, "{anchor}");
    assert!(anchor.contains("\"seq\":0"), "{anchor}");
    let (code, out) = verify(&cfg);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("agreeing with the anchor"), "{out}");

    let inside = super::write_config_text(
        dir.path(),
        &format!(
            "[blind_index]\nkey_file = \"{}\"\n[audit]\nanchor_file = \"data/a.anchor\"\n",
            dir.path().join("master.key").display()
        ),
    );
    let o = bin()
        .args(["serve", "--config", inside.to_str().unwrap()])
        .env("WXRN_SECRET_TEST", "x")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is inside data_dir"),
        "{o:?}"
    );
}
