//! Schema migrations for the SQLite file, counted in `PRAGMA user_version`.
//!
//! Migration `n` (1-based) is `MIGRATIONS[n - 1]`; each runs in its own `BEGIN IMMEDIATE` transaction together
//! with the version bump, so a crash leaves the file at one version or the next, and two processes opening a new
//! file at once apply each migration once. Files made by releases that kept the version in sqlx's
//! `_sqlx_migrations` table are read as being at that version.

use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_signed_heads.sql"),
    include_str!("../../migrations/sqlite/0003_key_scopes.sql"),
    include_str!("../../migrations/sqlite/0004_idcheck_audit.sql"),
    include_str!("../../migrations/sqlite/0005_idcheck_cache.sql"),
];

pub(super) fn run(conn: &mut Connection) -> Result<()> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (version, recorded) = current(&tx)?;
        if version > MIGRATIONS.len() {
            return Err(Error::Corrupt(format!(
                "the database is at schema version {version}, newer than this build knows ({})",
                MIGRATIONS.len()
            )));
        }
        let Some(sql) = MIGRATIONS.get(version) else {
            if !recorded {
                tx.pragma_update(None, "user_version", version)?;
                tx.commit()?;
            }
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

/// The schema version (0: no wxrealname tables).
pub(super) fn version(conn: &Connection) -> Result<usize> {
    Ok(current(conn)?.0)
}

/// For a read-only open, which cannot migrate: the file must hold this build's schema.
pub(super) fn check_current(conn: &Connection) -> Result<()> {
    match version(conn)? {
        v if v == MIGRATIONS.len() => Ok(()),
        v if v > MIGRATIONS.len() => Err(Error::Corrupt(format!(
            "the database is at schema version {v}, newer than this build knows ({})",
            MIGRATIONS.len()
        ))),
        v => Err(Error::Corrupt(format!(
            "the database is at schema version {v}, older than this build's ({}); a command that writes \
             (`wxrealname serve`) upgrades it",
            MIGRATIONS.len()
        ))),
    }
}

/// The schema version, and whether `user_version` already says so (false for a file sqlx migrated).
fn current(conn: &Connection) -> Result<(usize, bool)> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != 0 {
        let v = usize::try_from(version).map_err(|_| Error::Corrupt("schema version".into()))?;
        return Ok((v, true));
    }
    let sqlx_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if sqlx_table.is_none() {
        return Ok((0, true));
    }
    let applied: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        [],
        |r| r.get(0),
    )?;
    let v = usize::try_from(applied).map_err(|_| Error::Corrupt("schema version".into()))?;
    Ok((v, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Connection::open(dir.path().join("m.db")).unwrap();
        run(&mut c).unwrap();
        run(&mut c).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let tables: i64 = c
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'audit'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1);
    }

    #[test]
    fn a_file_migrated_by_sqlx_is_not_migrated_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Connection::open(dir.path().join("m.db")).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.execute_batch(
            "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL);
             INSERT INTO _sqlx_migrations VALUES (1, TRUE);",
        )
        .unwrap();
        // Running 0001 again would fail on CREATE TABLE; the later ones are applied.
        run(&mut c).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(
            v,
            MIGRATIONS.len() as i64,
            "0001 counted as done, the rest applied"
        );
    }

    #[test]
    fn keys_of_a_version_1_file_get_no_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Connection::open(dir.path().join("m.db")).unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        c.execute(
            "INSERT INTO api_keys (id, name, key_hash, apps, created_at) VALUES ('k', 'n', x'00', '[\"wx1\"]', 1)",
            [],
        )
        .unwrap();
        run(&mut c).unwrap();
        let scopes: String = c
            .query_row("SELECT scopes FROM api_keys WHERE id = 'k'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(scopes, "[]");
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Connection::open(dir.path().join("m.db")).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        let err = run(&mut c).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
