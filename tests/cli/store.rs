//! Issue 13 §2: commands that only read never create a store; only `serve`, `demo` and `keys create` do.

use super::{bin, stderr, stdout, write_config};
use std::process::Output;

fn run_with(args: &[&str], vars: &[(&str, &str)]) -> Output {
    bin()
        .args(args)
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

/// Every command but the three that may create a store, against `cfg` (whose store does not exist).
fn commands(cfg: &str) -> Vec<Vec<String>> {
    [
        &["audit", "verify"][..],
        &["audit", "export", "--format", "csv"],
        &["audit", "export", "--format", "jsonl"],
        &["keys", "list"],
        &["keys", "list", "--json"],
        &["keys", "revoke", "k_nosuchkey"],
        &["audit", "purge", "--older-than", "180d"],
    ]
    .iter()
    .map(|c| {
        let mut v: Vec<String> = c.iter().map(|s| s.to_string()).collect();
        v.extend(["--config".into(), cfg.into()]);
        v
    })
    .collect()
}

fn assert_refused(o: &Output, args: &[String], needle: &str) {
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(o));
    assert_eq!(stdout(o), "", "{args:?}: no header, no 'ok'");
    let err = stderr(o);
    assert!(
        err.starts_with("error: no wxrealname store"),
        "{args:?}: {err}"
    );
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
}

#[test]
fn read_only_commands_refuse_a_missing_sqlite_store_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let data = dir.path().join("data");
    let db = data.join("wxrealname.db");
    for args in commands(cfg.to_str().unwrap()) {
        let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run_with(&args_ref, &[]);
        assert_refused(&o, &args, &db.display().to_string());
        assert!(!data.exists(), "{args:?} created {}", data.display());
    }

    // An existing data directory without a database is no store either.
    std::fs::create_dir_all(&data).unwrap();
    let o = run_with(&["audit", "verify", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!db.exists());

    // `keys create` may create it; then the readers read it.
    let o = run_with(
        &[
            "keys",
            "create",
            "--config",
            cfg.to_str().unwrap(),
            "--app",
            "wxd0000000000de301",
            "--name",
            "first",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(db.exists());
    let o = run_with(&["audit", "verify", "--config", cfg.to_str().unwrap()], &[]);
    assert_eq!(stdout(&o).trim(), "audit chain ok: 0 rows verified");
    let o = run_with(&["keys", "list", "--config", cfg.to_str().unwrap()], &[]);
    assert!(stdout(&o).contains("first"), "{}", stdout(&o));
}

/// `keys create --scope idcheck`: a key for the paid name + ID-number check, with or without apps; a key needs
/// one or the other, and only known scopes are accepted.
#[test]
fn keys_carry_the_idcheck_scope_with_or_without_apps() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let create = |extra: &[&str]| {
        let mut args = vec!["keys", "create", "--config", cfg, "--json"];
        args.extend_from_slice(extra);
        run_with(&args, &[])
    };
    let o = create(&["--scope", "idcheck", "--name", "clinic"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = create(&[
        "--scope",
        "idcheck",
        "--app",
        "wxd0000000000de301",
        "--name",
        "both",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for bad in [
        &["--name", "nothing"][..],
        &["--scope", "admin", "--name", "x"],
    ] {
        let o = create(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
    let o = run_with(&["keys", "list", "--config", cfg, "--json"], &[]);
    let keys: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let by_name = |n: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("clinic")["scopes"], serde_json::json!(["idcheck"]));
    assert_eq!(by_name("clinic")["apps"], serde_json::json!([]));
    assert_eq!(by_name("both")["scopes"], serde_json::json!(["idcheck"]));
    assert_eq!(
        by_name("both")["apps"],
        serde_json::json!(["wxd0000000000de301"])
    );
    let o = run_with(&["keys", "list", "--config", cfg], &[]);
    assert!(stdout(&o).contains("idcheck"), "{}", stdout(&o));
}

/// A read-only open changes nothing: the database file is byte for byte the same after the readers ran.
#[test]
fn read_only_commands_leave_the_store_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let db = dir.path().join("data/wxrealname.db");
    // Made by a process that has exited: its connections are closed and the WAL is folded into the file.
    let o = run_with(
        &[
            "keys",
            "create",
            "--config",
            cfg,
            "--app",
            "wxd0000000000de301",
            "--name",
            "k",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let files = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (before, listed) = (std::fs::read(&db).unwrap(), files());
    // The store closed every connection before the process exited (the writer thread's too), so the last one
    // removed the WAL and shared-memory files; the readers below open and close their own the same way.
    assert_eq!(listed, ["wxrealname.db"], "keys create left files behind");
    for args in [
        &["audit", "verify", "--config", cfg][..],
        &["audit", "export", "--config", cfg],
        &["keys", "list", "--config", cfg],
    ] {
        let o = run_with(args, &[]);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    assert!(
        std::fs::read(&db).unwrap() == before,
        "the database file changed"
    );
    assert_eq!(files(), listed, "no file left behind");
}

#[tokio::test]
async fn read_only_commands_refuse_a_postgres_schema_without_tables() {
    test_support::needs!(Postgres);
    let (url, guard) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    let base = test_support::pg_test_url();
    let sep = if base.contains('?') { '&' } else { '?' };
    let no_schema = format!("{base}{sep}options=-c%20search_path%3Dwxrn_test_no_such_schema");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let schema = guard.schema().to_owned();
    let results = tokio::task::spawn_blocking({
        let (cfg, url) = (cfg.clone(), url.clone());
        move || {
            let mut out = Vec::new();
            for db_url in [url.as_str(), no_schema.as_str()] {
                for args in commands(cfg.to_str().unwrap()) {
                    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
                    let o = run_with(&args_ref, &[("WXRN_DATABASE_URL", db_url)]);
                    out.push((args, o));
                }
            }
            out
        }
    })
    .await
    .unwrap();
    for (i, (args, o)) in results.iter().enumerate() {
        let needle = if i < results.len() / 2 {
            schema.as_str()
        } else {
            "names no existing schema"
        };
        assert_refused(o, args, needle);
    }
    // Nothing was created in the empty schema: a read-only open still finds no tables.
    assert!(matches!(
        store::open_with(
            &url,
            store::OpenMode::ReadOnly,
            store::chain::AuditKeys::new([0; 32])
        )
        .await,
        Err(store::Error::NotFound(_))
    ));
}
