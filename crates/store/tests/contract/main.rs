//! The store contract: the same assertions for every backend. Each test gets a fresh database (SQLite) or a
//! fresh schema (PostgreSQL at `$WXRN_TEST_POSTGRES_URL`; with `CI=true` a test fails when that server cannot be
//! reached, outside CI the PostgreSQL tests are skipped with one line on stderr: `test_support::needs!`).
//!
//! Layout: `cases.rs` holds the backend-independent bodies, `pg.rs` what only a shared server can show (several
//! instances, outages through `test_support::TcpProxy`).

mod cases;
mod open_modes;
mod pg;
mod tamper;

use std::sync::Arc;
use store::Store;

/// A fresh SQLite store in its own temporary directory (kept alive by the returned guard).
async fn sqlite() -> (Arc<dyn Store>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (store::open(&url, cases::keys()).await.unwrap(), url, dir)
}

/// A fresh PostgreSQL schema, dropped when the guard goes.
async fn postgres() -> (Arc<dyn Store>, String, test_support::SchemaGuard) {
    let (url, guard) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    (store::open(&url, cases::keys()).await.unwrap(), url, guard)
}

macro_rules! backend_tests {
    ($backend:ident: $($case:ident),* ; with_url: $($ucase:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $case() {
                    if stringify!($backend) == "postgres" {
                        test_support::needs!(Postgres);
                    }
                    let (store, _url, _guard) = super::$backend().await;
                    super::cases::$case(store).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $ucase() {
                    if stringify!($backend) == "postgres" {
                        test_support::needs!(Postgres);
                    }
                    let (store, url, _guard) = super::$backend().await;
                    super::cases::$ucase(store, &url).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($backend:ident),*) => {
        $(
            backend_tests!($backend:
                api_keys_round_trip_and_revoke,
                code_reserved_once_even_when_racing,
                a_released_code_can_be_reserved_again,
                concurrent_replay_lookups_each_get_their_own_answer,
                idempotency_states,
                append_chains_and_verifies,
                identity_binds_latest_match,
                purge_keeps_chain_verifiable,
                export_pages_since,
                prune_forgets_old_codes_and_finished_answers,
                a_bad_write_does_not_fail_its_neighbours,
                an_identity_match_row_keeps_its_kind_in_a_verifiable_chain,
                idcheck_verdict_finds_the_newest_billed_verdict_for_the_pair;
                with_url: edited_row_is_named, deleted_row_is_named, idcheck_rows_share_the_chain,
                delete_is_refused_except_by_purge,
                cut_rows_with_a_rewritten_head_fail,
                cut_rows_with_the_head_deleted_fail,
                everything_deleted_fails,
                rows_deleted_behind_a_forged_checkpoint_fail,
                a_row_beyond_the_head_fails,
                a_recomputed_chain_fails,
                rows_cut_behind_a_replayed_head_fail_against_the_anchor,
                a_forged_anchor_entry_fails,
                an_unsigned_head_is_signed_once_on_upgrade,
                an_older_release_store_is_upgraded_and_signed,
            );
        )*
    };
}

all_backends!(sqlite, postgres);

#[tokio::test]
async fn sqlite_reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let s = store::open(&url, cases::keys()).await.unwrap();
    for i in 0..3 {
        s.append(cases::entry(i), Default::default()).await.unwrap();
    }
    drop(s);
    let s = store::open(&url, cases::keys()).await.unwrap();
    let report = cases::verify(s.as_ref()).await.unwrap();
    assert_eq!(report.rows, 3);
    let r = s.append(cases::entry(9), Default::default()).await.unwrap();
    assert_eq!(r.seq, 4);
}

#[tokio::test]
async fn sqlite_rejects_update_of_audit_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = store::open(&format!("sqlite://{}", path.display()), cases::keys())
        .await
        .unwrap();
    s.append(cases::entry(1), Default::default()).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let err = conn
        .execute("UPDATE audit SET outcome = 'match'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn unknown_scheme_is_a_config_error() {
    let err = store::open("mysql://x", cases::keys()).await.unwrap_err();
    assert!(matches!(err, store::Error::Config(_)), "{err}");
}
