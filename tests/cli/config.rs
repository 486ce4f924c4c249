//! Issue 13 §1: configuration does what the README says, through the binary.

use super::{bin, stderr, stdout, write_config, write_config_text};
use std::path::Path;
use std::process::Output;

/// `wxrealname ARGS` with the variables given and none of the caller's `WXRN_*` configuration.
fn run_env(args: &[&str], vars: &[(&str, &str)], cwd: Option<&Path>) -> Output {
    let mut c = bin();
    for (k, _) in std::env::vars() {
        if k.to_ascii_uppercase().starts_with("WXRN_") && !k.starts_with("WXRN_TEST_") {
            c.env_remove(k);
        }
    }
    for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
        c.env_remove(var);
    }
    c.args(args).envs(vars.iter().copied());
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    c.output().unwrap()
}

/// The effective configuration `config show` prints, parsed.
fn shown(o: &Output) -> toml::Table {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    toml::from_str(&stdout(o)).unwrap()
}

/// README: "Every key can also be set as `WXRN_<KEY>` (`WXRN_LIMITS__PER_OPENID_PER_DAY=10`)"; docs/deploy.md:
/// `WXRN_DATABASE_URL`, `WXRN_REDIS_URL`. Upper case, nested with `__`, every kind of value.
#[test]
fn upper_case_variables_set_keys_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let o = run_env(
        &["config", "show", "--config", cfg],
        &[
            ("WXRN_LIMITS__PER_OPENID_PER_DAY", "10"),
            ("WXRN_LISTEN", "0.0.0.0:8443"),
            (
                "WXRN_REDIS_URL",
                "redis://:redis-pw-s3cret@cache.internal:6379",
            ),
            ("WXRN_REDIS_PREFIX", "2026"),
            ("WXRN_POLICY__REQUIRE_GUARDIAN_CONSENT", "true"),
            ("WXRN_BLIND_INDEX__KEY_ENV", "WXRN_BLIND_INDEX_KEY"),
        ],
        None,
    );
    let t = shown(&o);
    assert_eq!(t["limits"]["per_openid_per_day"].as_integer(), Some(10));
    assert_eq!(
        t["limits"]["per_key_per_second"].as_integer(),
        Some(50),
        "the other keys of the table keep their values"
    );
    assert_eq!(t["listen"].as_str(), Some("0.0.0.0:8443"));
    assert_eq!(
        t["redis_prefix"].as_str(),
        Some("2026"),
        "a number stays text"
    );
    assert_eq!(
        t["policy"]["require_guardian_consent"].as_bool(),
        Some(true)
    );
    assert_eq!(
        t["blind_index"]["key_env"].as_str(),
        Some("WXRN_BLIND_INDEX_KEY")
    );
    assert_eq!(
        t["redis_url"].as_str(),
        Some("redis://:***@cache.internal:6379"),
        "set, and its password redacted"
    );
    assert!(!stdout(&o).contains("redis-pw-s3cret"));
}

/// The README's own command: `WXRN_DATA_DIR=./data/demo wxrealname audit verify`, no config file, relative to
/// the working directory.
#[tokio::test]
async fn wxrn_data_dir_points_the_commands_at_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/demo/wxrealname.db");
    // A demo's data directory: its demo key beside the data, which the CLI borrows (issue 12 §3).
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(
        dir.path().join("data/demo/demo-master.key"),
        "ab".repeat(32),
    )
    .unwrap();
    {
        let keys = gateway::pii::Pii::from_master(&[0xab; 32], 1).audit_keys();
        let s = store::open(&format!("sqlite://{}", db.display()), keys)
            .await
            .unwrap();
        for i in 1..=3 {
            s.append(super::entry(i), Default::default()).await.unwrap();
        }
    }
    let o = tokio::task::spawn_blocking({
        let cwd = dir.path().to_owned();
        move || {
            run_env(
                &["audit", "verify"],
                &[("WXRN_DATA_DIR", "./data/demo")],
                Some(&cwd),
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "audit chain ok: 3 rows verified");
}

/// docs/deploy.md: `WXRN_DATABASE_URL` instead of `database_url` in the file. The key is written to and listed
/// from PostgreSQL, and nothing lands in the file's SQLite.
#[tokio::test]
async fn wxrn_database_url_selects_postgres() {
    test_support::needs!(Postgres);
    let (url, _guard) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let o = tokio::task::spawn_blocking({
        let (cfg, url) = (cfg.clone(), url.clone());
        move || {
            let cfg = cfg.to_str().unwrap();
            let vars = [("WXRN_DATABASE_URL", url.as_str())];
            let created = run_env(
                &[
                    "keys",
                    "create",
                    "--config",
                    cfg,
                    "--app",
                    "wxd0000000000de301",
                    "--name",
                    "pg",
                    "--json",
                ],
                &vars,
                None,
            );
            assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
            run_env(&["keys", "list", "--config", cfg, "--json"], &vars, None)
        }
    })
    .await
    .unwrap();
    let list: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(list[0]["name"], "pg");
    assert!(!dir.path().join("data/wxrealname.db").exists());
    let s = store::open(&url, super::keys_of(dir.path())).await.unwrap();
    assert_eq!(s.api_keys().await.unwrap().len(), 1);
}

/// Relative paths in a file are relative to the file's directory, wherever the command runs.
#[test]
fn relative_paths_in_the_file_resolve_against_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(etc.join("master.key"), "ab".repeat(32)).unwrap();
    std::fs::write(
        etc.join("wxrealname.toml"),
        "data_dir = \"./data\"\n[blind_index]\nkey_file = \"master.key\"\n\
         [[apps]]\nappid = \"wxd0000000000de301\"\nsecret_env = \"WXRN_SECRET_TEST\"\n",
    )
    .unwrap();
    let o = run_env(
        &[
            "keys",
            "create",
            "--config",
            "../etc/wxrealname.toml",
            "--app",
            "wxd0000000000de301",
            "--name",
            "rel",
        ],
        &[],
        Some(&elsewhere),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(etc.join("data/wxrealname.db").exists());
    assert!(!elsewhere.join("data").exists());

    let o = run_env(
        &["config", "check", "--config", "../etc/wxrealname.toml"],
        &[("WXRN_SECRET_TEST", "x")],
        Some(&elsewhere),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "the key file is found: {}",
        stderr(&o)
    );
    let o = run_env(
        &["config", "show", "--config", "../etc/wxrealname.toml"],
        &[],
        Some(&elsewhere),
    );
    let t = shown(&o);
    let etc = etc.canonicalize().unwrap();
    assert_eq!(
        Path::new(t["data_dir"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        etc.join("data")
    );
    assert_eq!(
        Path::new(t["blind_index"]["key_file"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        etc.join("master.key")
    );
}

/// One line, naming the file (or variable) and the key, with the nearest valid key; no figment profile names.
#[test]
fn a_config_error_is_one_line_that_names_the_file_the_key_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("wxrealname.toml");
    std::fs::write(&cfg, "listne = \"127.0.0.1:0\"\n").unwrap();
    let cfg_abs = std::path::absolute(&cfg).unwrap();
    for cmd in [
        &["serve"][..],
        &["keys", "list"],
        &["audit", "verify"],
        &["config", "check"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--config", cfg.to_str().unwrap()]);
        let o = run_env(&args, &[], None);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}");
        assert_eq!(
            stderr(&o),
            format!(
                "error: unknown key `listne` in {}; did you mean `listen`?\n",
                cfg_abs.display()
            ),
            "{cmd:?}"
        );
    }

    let o = run_env(
        &["config", "show"],
        &[("WXRN_LIMITS__PER_OPENID_PER_DYA", "3")],
        Some(dir.path()),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: unknown key `limits.per_openid_per_dya` in environment variable \
         WXRN_LIMITS__PER_OPENID_PER_DYA; did you mean `WXRN_LIMITS__PER_OPENID_PER_DAY`?\n"
    );

    // In Chinese under a Chinese locale, with the same key, file and suggestion.
    let o = run_env(
        &["config", "check", "--config", cfg.to_str().unwrap()],
        &[("LC_ALL", "zh_CN.UTF-8")],
        None,
    );
    assert_eq!(
        stderr(&o),
        format!(
            "错误：{} 中有未知的配置项 `listne`；是不是想写 `listen`？\n",
            cfg_abs.display()
        )
    );

    std::fs::write(&cfg, "[limits]\nmax_in_flight = 0\n").unwrap();
    let o = run_env(&["serve", "--config", cfg.to_str().unwrap()], &[], None);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`limits.max_in_flight`") && err.contains(&cfg_abs.display().to_string()),
        "{err}"
    );
    assert!(!err.contains("default"), "no figment profile names: {err}");
}

/// `config check` validates without starting anything (no data directory, no key file created) and fails
/// when a secret the file names is not set.
#[test]
fn config_check_validates_the_file_and_its_secrets_without_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let o = run_env(&["config", "check", "--config", cfg], &[], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("WXRN_SECRET_TEST is not set"),
        "{}",
        stderr(&o)
    );
    let o = run_env(
        &["config", "check", "--config", cfg],
        &[("WXRN_SECRET_TEST", "s3cret-app")],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(": ok"), "{}", stdout(&o));
    assert!(!dir.path().join("data").exists(), "nothing was created");

    // A key file that is not a key.
    std::fs::write(
        dir.path().join("extra.toml"),
        "[blind_index]\nkey_file = \"no-such.key\"\n",
    )
    .unwrap();
    let o = run_env(
        &[
            "config",
            "check",
            "--config",
            dir.path().join("extra.toml").to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no-such.key"), "{}", stderr(&o));
    assert_eq!(
        run_env(
            &["config", "check", "--config", "/nonexistent.toml"],
            &[],
            None
        )
        .status
        .code(),
        Some(1)
    );
}

/// An `audit.anchor_file` inside `data_dir`, spelled through `..` or a link, is a problem `config check`
/// reports, as `serve` refuses to start with it (it said "ok" while `serve` refused).
#[cfg(unix)]
#[test]
fn config_check_refuses_an_anchor_inside_data_dir_as_serve_does() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    let o = run_env(
        &["keys", "init-master", "--out", key.to_str().unwrap()],
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("data"), dir.path().join("logs/link")).unwrap();
    let secret = [("WXRN_SECRET_TEST", "s3cret-app")];
    for (anchor, inside) in [
        ("logs/../data/x.anchor", true),
        ("logs/link/x.anchor", true),
        ("logs/x.anchor", false),
    ] {
        let cfg = write_config_text(
            dir.path(),
            &format!(
                "[blind_index]\nkey_file = \"{}\"\n[audit]\nanchor_file = \"{anchor}\"\n",
                key.display()
            ),
        );
        let cfg = cfg.to_str().unwrap();
        let check = run_env(&["config", "check", "--config", cfg], &secret, None);
        if inside {
            let serve = run_env(&["serve", "--config", cfg], &secret, None);
            assert_eq!(check.status.code(), Some(1), "{anchor}: {}", stdout(&check));
            assert!(
                stderr(&check).contains("`audit.anchor_file`")
                    && stderr(&check).contains("is inside data_dir"),
                "{anchor}: {}",
                stderr(&check)
            );
            assert_eq!(serve.status.code(), Some(1), "{anchor}");
            assert!(stderr(&serve).contains("is inside data_dir"), "{anchor}");
        } else {
            assert_eq!(check.status.code(), Some(0), "{anchor}: {}", stderr(&check));
        }
    }
}

/// `config show` prints what the gateway would use, and no secret.
#[test]
fn config_show_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("wxrealname.toml");
    std::fs::write(
        &cfg,
        "database_url = \"postgres://wx:db-s3cret@db.internal/wx\"\n\
         [[apps]]\nappid = \"wxd0000000000de301\"\nsecret = \"app-s3cret\"\n",
    )
    .unwrap();
    let o = run_env(
        &["config", "show"],
        &[
            ("WXRN_CONFIG", cfg.to_str().unwrap()),
            ("WXRN_ADMIN_TOKEN", "admin-s3cret"),
            ("WXRN_BLIND_INDEX__KEY", &"ab".repeat(32)),
        ],
        None,
    );
    let out = stdout(&o);
    let t = shown(&o);
    for secret in ["db-s3cret", "app-s3cret", "admin-s3cret", "abababab"] {
        assert!(!out.contains(secret), "{secret} shown: {out}");
    }
    assert_eq!(t["admin_token"].as_str(), Some("<redacted>"));
    assert_eq!(t["blind_index"]["key"].as_str(), Some("<redacted>"));
    assert_eq!(t["apps"][0]["secret"].as_str(), Some("<redacted>"));
    assert_eq!(
        t["database_url"].as_str(),
        Some("postgres://wx:***@db.internal/wx")
    );
}

/// Two gateway processes appended to one PostgreSQL schema, a chain each: `audit anchor` writes both heads in one
/// entry, `audit verify` walks both chains and says so, and a row of the second chain edited is named by its
/// chain and position.
#[tokio::test]
async fn audit_commands_walk_every_chain_of_a_postgres_store() {
    test_support::needs!(Postgres);
    let (url, _guard) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let a = store::open(&url, super::keys_of(dir.path())).await.unwrap();
    let b = store::open(&url, super::keys_of(dir.path())).await.unwrap();
    for i in 1..=3 {
        a.append(super::entry(i), Default::default()).await.unwrap();
        b.append(super::entry(10 + i), Default::default())
            .await
            .unwrap();
    }
    let anchor = dir.path().join("by-hand.anchor");
    let (verified, anchored) = tokio::task::spawn_blocking({
        let (cfg, url, anchor) = (cfg.clone(), url.clone(), anchor.clone());
        move || {
            let cfg = cfg.to_str().unwrap();
            let vars = [("WXRN_DATABASE_URL", url.as_str())];
            let anchored = run_env(
                &[
                    "audit",
                    "anchor",
                    "--config",
                    cfg,
                    "--out",
                    anchor.to_str().unwrap(),
                ],
                &vars,
                None,
            );
            let verified = run_env(&["audit", "verify", "--config", cfg], &vars, None);
            (verified, anchored)
        }
    })
    .await
    .unwrap();
    assert_eq!(anchored.status.code(), Some(0), "{}", stderr(&anchored));
    assert!(
        stdout(&anchored).contains("at row 3, 3 of chain 2"),
        "{}",
        stdout(&anchored)
    );
    assert_eq!(std::fs::read_to_string(&anchor).unwrap().lines().count(), 2);
    assert_eq!(verified.status.code(), Some(0), "{}", stderr(&verified));
    assert!(
        stdout(&verified).starts_with("audit chain ok: 6 rows verified in 2 chains"),
        "{}",
        stdout(&verified)
    );

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let mut admin = pool.begin().await.unwrap();
    for sql in [
        "ALTER TABLE audit DISABLE TRIGGER USER",
        "UPDATE audit SET masked_name = '李*' WHERE seq = (1::bigint << 40) + 2",
        "ALTER TABLE audit ENABLE TRIGGER USER",
    ] {
        sqlx::query(sql).execute(&mut *admin).await.unwrap();
    }
    admin.commit().await.unwrap();
    let (broken, zh) = tokio::task::spawn_blocking(move || {
        let vars = [("WXRN_DATABASE_URL", url.as_str())];
        let cfg = cfg.to_str().unwrap();
        (
            run_env(&["audit", "verify", "--config", cfg], &vars, None),
            run_env(
                &["--lang=zh-CN", "audit", "verify", "--config", cfg],
                &vars,
                None,
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(broken.status.code(), Some(1), "{}", stderr(&broken));
    assert!(
        stdout(&broken).contains("BROKEN at row 2 of chain 2"),
        "{}",
        stdout(&broken)
    );
    assert_eq!(zh.status.code(), Some(1), "{}", stderr(&zh));
    assert!(
        stdout(&zh).contains("审计链在第 2 条链的第 2 行断裂"),
        "{}",
        stdout(&zh)
    );
}
