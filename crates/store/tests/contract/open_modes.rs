//! `store::open_with`: only `OpenMode::Create` makes a store; `ReadOnly` reads and never writes.

use std::sync::Arc;
use store::{ApiKeyRecord, Error, OpenMode, Store};

fn key(id: &str) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        name: "n".into(),
        key_hash: vec![7; 32],
        apps: vec!["wxd0000000000de301".into()],
        scopes: Vec::new(),
        created_at_ms: 1,
        revoked_at_ms: None,
    }
}

async fn open(url: &str, mode: OpenMode) -> store::Result<Arc<dyn Store>> {
    store::open_with(url, mode, crate::cases::keys()).await
}

/// The same sequence for both backends: refused while missing, created, then read-only reads and cannot write.
async fn modes(url: &str) {
    for mode in [OpenMode::ReadOnly, OpenMode::Existing] {
        assert!(
            matches!(open(url, mode).await, Err(Error::NotFound(_))),
            "{mode:?} on a missing store"
        );
    }
    assert!(
        matches!(open(url, OpenMode::ReadOnly).await, Err(Error::NotFound(_))),
        "the refused opens created nothing"
    );
    let created = open(url, OpenMode::Create).await.unwrap();
    created.insert_api_key(&key("k1")).await.unwrap();
    drop(created);

    let ro = open(url, OpenMode::ReadOnly).await.unwrap();
    assert_eq!(ro.api_keys().await.unwrap().len(), 1, "reads work");
    assert!(ro.insert_api_key(&key("k2")).await.is_err(), "writes fail");
    assert!(
        ro.revoke_api_key("k1", 2).await.is_err(),
        "and so do updates"
    );

    let existing = open(url, OpenMode::Existing).await.unwrap();
    assert!(
        existing.revoke_api_key("k1", 2).await.unwrap(),
        "Existing writes"
    );
    assert_eq!(ro.api_keys().await.unwrap()[0].revoked_at_ms, Some(2));
}

#[tokio::test]
async fn sqlite_only_create_makes_a_store_and_read_only_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub/t.db");
    modes(&format!("sqlite://{}", db.display())).await;

    // A file that is not a wxrealname database is not a store either.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let url = format!("sqlite://{}", empty.display());
    assert!(matches!(
        open(&url, OpenMode::ReadOnly).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        open(&url, OpenMode::Existing).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "and left as it was"
    );
}

#[tokio::test]
async fn sqlite_refusals_say_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nowhere/t.db");
    let err = open(&format!("sqlite://{}", db.display()), OpenMode::ReadOnly)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, format!("no wxrealname store at {}", db.display()));
    assert!(!dir.path().join("nowhere").exists());
}

#[tokio::test]
async fn postgres_only_create_makes_the_tables_and_read_only_never_writes() {
    test_support::needs!(Postgres);
    let (url, guard) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    modes(&url).await;
    let base = test_support::pg_test_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let err = open(
        &format!("{base}{sep}options=-c%20search_path%3Dwxrn_no_such_schema"),
        OpenMode::ReadOnly,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    drop(guard);
}

/// Dropping a SQLite store closes every connection it opened (the writer thread's too) before `drop` returns,
/// so the last one folds the WAL into the database and removes the `-wal` and `-shm` files: a command that
/// exits right after its store is dropped (`audit verify`, `keys create`) leaves none behind. Several rounds,
/// since a connection closed late (on a thread still winding down) loses the race only sometimes.
#[tokio::test]
async fn sqlite_drop_closes_every_connection_and_leaves_no_wal_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let url = format!("sqlite://{}", db.display());
    let side = |suffix: &str| dir.path().join(format!("t.db{suffix}"));
    for round in 0..20 {
        let created = open(&url, OpenMode::Create).await.unwrap();
        created
            .insert_api_key(&key(&format!("k{round}")))
            .await
            .unwrap();
        drop(created);
        for suffix in ["-wal", "-shm"] {
            assert!(
                !side(suffix).exists(),
                "round {round}: {suffix} after a writer"
            );
        }
        let ro = open(&url, OpenMode::ReadOnly).await.unwrap();
        assert_eq!(ro.api_keys().await.unwrap().len(), round + 1);
        drop(ro);
        for suffix in ["-wal", "-shm"] {
            assert!(
                !side(suffix).exists(),
                "round {round}: {suffix} after a reader"
            );
        }
    }
}
