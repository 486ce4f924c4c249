//! The `wxrealname` binary, run as a user would run it.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wxrealname"));
    c.env_remove("RUST_LOG");
    // English, whatever the machine's locale: these tests read the English messages (tests/cli_lang.rs the rest).
    for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
        c.env_remove(var);
    }
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[path = "cli/audit.rs"]
mod audit;
#[path = "cli/config.rs"]
mod config;
#[path = "cli/operator.rs"]
mod operator;
#[path = "cli/store.rs"]
mod store_missing;

const VALID: &str = "11010519491231002X";

#[test]
fn idcard_check_exit_codes_and_json_lines() {
    let ok = run(&["idcard", "check", "--json", VALID, "110105194912310021"]);
    assert_eq!(ok.status.code(), Some(1), "one of them is invalid");
    let lines: Vec<Value> = stdout(&ok)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["valid"], true);
    assert_eq!(lines[0]["normalized"], VALID);
    assert_eq!(lines[0]["birth_date"], "1949-12-31");
    assert_eq!(lines[0]["sex"], "female");
    assert_eq!(lines[0]["minor"], false);
    assert!(lines[0]["error"].is_null());
    assert_eq!(lines[1]["valid"], false);
    assert_eq!(lines[1]["error"]["code"], "checksum");
    assert!(lines[1]["normalized"].is_null() && lines[1]["sex"].is_null());

    let all_valid = run(&["idcard", "check", "11010519491231002x"]);
    assert_eq!(all_valid.status.code(), Some(0));
    assert!(
        stdout(&all_valid).contains(VALID),
        "lowercase x is normalised"
    );

    assert_eq!(
        run(&["idcard", "check"]).status.code(),
        Some(2),
        "no input is a usage error"
    );
    assert_eq!(run(&["idcard", "check", "--bogus"]).status.code(), Some(2));
    assert_eq!(
        run(&["idcard", "check", "--file", "/nonexistent/ids.txt"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn idcard_check_reads_a_file_and_hints_the_18_digit_form() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ids.txt");
    std::fs::write(
        &file,
        format!("{VALID}\n\n110105491231002\n１１０１０５１９４９１２３１００２Ｘ\n"),
    )
    .unwrap();
    let o = run(&[
        "idcard",
        "check",
        "--json",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "blank lines are skipped");
    assert_eq!(lines[1]["error"]["code"], "legacy_15");
    assert_eq!(lines[1]["error"]["hint"].as_str().map(str::len), Some(18));
    assert_eq!(lines[2]["normalized"], VALID, "full-width input");
}

/// A config with its master key in `{dir}/master.key` (made by `keys init-master` when missing), outside the
/// data directory `{dir}/data`.
fn write_config(dir: &Path) -> std::path::PathBuf {
    let key = dir.join("master.key");
    if !key.exists() {
        let o = run(&["keys", "init-master", "--out", key.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
    }
    write_config_text(
        dir,
        &format!("[blind_index]\nkey_file = \"{}\"\n", key.display()),
    )
}

/// The audit keys of the master key `write_config` made in `dir`.
fn keys_of(dir: &Path) -> store::chain::AuditKeys {
    let hex_key = std::fs::read_to_string(dir.join("master.key")).unwrap();
    let master: [u8; 32] = hex::decode(hex_key.trim()).unwrap().try_into().unwrap();
    gateway::pii::Pii::from_master(&master, 1).audit_keys()
}

fn write_config_text(dir: &Path, extra: &str) -> std::path::PathBuf {
    let cfg = dir.join("wxrealname.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"listen = "127.0.0.1:0"
data_dir = "{}"
upstream_base_url = "http://127.0.0.1:9"
{extra}
[[apps]]
appid = "wxd0000000000de301"
secret_env = "WXRN_SECRET_TEST"
"#,
            dir.join("data").display()
        ),
    )
    .unwrap();
    cfg
}

/// Start `serve` and wait for its "listening" line; returns the child, its address and what it logged so far.
fn start_serve(cfg: &Path) -> (std::process::Child, String, String) {
    let mut child = bin()
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("WXRN_SECRET_TEST", "s3cr3t-value")
        .env("WXRN_LIMITS__PER_OPENID_PER_DAY", "7")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    // Read stderr on a thread, so a gateway that never says where it listens fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    // It keeps reading after we stop listening, so the gateway never writes to a closed pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(30)) {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.split("addr=").nth(1) {
            let addr = rest.split_whitespace().next().unwrap().to_owned();
            return (child, addr, seen);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no listening line in: {seen}");
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn keys_create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let o = run(&[
        "keys",
        "create",
        "--config",
        cfg,
        "--app",
        "wxd0000000000de301",
        "--name",
        "outpatient",
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let created: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let id = created["id"].as_str().unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("wxrn_") && key.contains(id));

    let o = run(&["keys", "list", "--config", cfg, "--json"]);
    let list: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["apps"][0], "wxd0000000000de301");
    assert!(
        !stdout(&o).contains(&key[18..]),
        "list never shows the secret"
    );
    let db = std::fs::read(dir.path().join("data/wxrealname.db")).unwrap();
    assert!(
        !db.windows(key.len()).any(|w| w == key.as_bytes()),
        "the key is stored only as a hash"
    );

    assert_eq!(
        run(&["keys", "revoke", "--config", cfg, id]).status.code(),
        Some(0)
    );
    assert_eq!(
        run(&["keys", "revoke", "--config", cfg, id]).status.code(),
        Some(1),
        "already revoked"
    );
    let o = run(&["keys", "list", "--config", cfg]);
    assert!(stdout(&o).contains("revoked"));
    let o = run(&[
        "keys",
        "create",
        "--config",
        cfg,
        "--app",
        "wxnotconfigured",
        "--name",
        "x",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

fn entry(i: i64) -> store::NewAuditEntry {
    store::NewAuditEntry {
        id: format!("v{i}"),
        at_ms: 1_000_000 + i,
        key_id: "k".into(),
        appid: "wxd0000000000de301".into(),
        openid: format!("o{i}"),
        masked_name: "张*".into(),
        masked_cred_id: "110***********002X".into(),
        blind_cred: vec![0; 32],
        blind_pair: vec![1; 32],
        key_version: 1,
        purpose: Some("a, \"quoted\" purpose".into()),
        outcome: Some("match".into()),
        error_code: None,
        errcode: Some(0),
        verify_openid: vec!["V_OP_NM_MA".into()],
        verify_real_name: Some("V_NM_ID_MA".into()),
        minor: false,
        latency_ms: 3,
        kind: store::KIND_VERIFICATION.into(),
        provider: None,
        billed: None,
        consent_ref: None,
    }
}

#[tokio::test]
async fn audit_verify_export_purge_and_tamper_detection() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = write_config(dir.path());
    let cfg = cfg_path.to_str().unwrap();
    let db = dir.path().join("data/wxrealname.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    {
        let s = store::open(&format!("sqlite://{}", db.display()), keys_of(dir.path()))
            .await
            .unwrap();
        for i in 1..=5 {
            s.append(entry(i), Default::default()).await.unwrap();
        }
    }
    let o = run(&["audit", "verify", "--config", cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("5 rows"));

    let o = run(&["audit", "export", "--config", cfg, "--format", "jsonl"]);
    let rows: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["masked_name"], "张*");
    let o = run(&[
        "audit",
        "export",
        "--config",
        cfg,
        "--format",
        "csv",
        "--since",
        "1970-01-01T00:16:40.003Z",
    ]);
    let csv = stdout(&o);
    assert!(
        o.stdout.starts_with(b"\xEF\xBB\xBFseq,id,at,"),
        "CSV starts with a UTF-8 BOM, then the header: {csv}"
    );
    assert_eq!(
        o.stdout.windows(3).filter(|w| w == b"\xEF\xBB\xBF").count(),
        1,
        "one BOM"
    );
    assert!(csv.contains(",张*,"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 3, "header plus rows 3..=5: {csv}");
    let plain = run(&[
        "audit", "export", "--config", cfg, "--format", "csv", "--no-bom",
    ]);
    assert!(
        plain.stdout.starts_with(b"seq,id,at,"),
        "--no-bom: {}",
        stdout(&plain)
    );
    assert_eq!(stdout(&plain).lines().count(), 1 + 5, "{}", stdout(&plain));
    let jsonl = run(&["audit", "export", "--config", cfg, "--format", "jsonl"]);
    assert!(jsonl.stdout.starts_with(b"{"), "no BOM in JSON lines");
    assert!(csv.contains("\"a, \"\"quoted\"\" purpose\""));
    assert_eq!(
        run(&["audit", "export", "--config", cfg, "--format", "xml"])
            .status
            .code(),
        Some(2)
    );

    // Edit a row behind the gateway's back: verify names it.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_append_only; UPDATE audit SET outcome = 'id_mismatch' WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let o = run(&["audit", "verify", "--config", cfg]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("row 3"), "{}", stdout(&o));

    // Purging the old rows (all of them are from 1970) removes the bad one too, and what stays verifies.
    let o = run(&["audit", "purge", "--config", cfg, "--older-than", "180d"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("purged 5 audit rows"), "{}", stdout(&o));
    assert_eq!(
        run(&["audit", "verify", "--config", cfg]).status.code(),
        Some(0)
    );
    assert_eq!(
        run(&["audit", "purge", "--config", cfg, "--older-than", "soon"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn serve_starts_from_a_config_file_and_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let (mut child, addr, seen) = start_serve(&cfg);
    let body = reqwest::blocking_get(&format!("http://{addr}/healthz"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(body.contains("ok"), "{body}");
    assert!(!seen.contains("s3cr3t-value"));
    assert!(
        !dir.path().join("data/master.key").exists(),
        "no key is created in the data directory"
    );
}

#[cfg(unix)]
#[test]
fn serve_keeps_the_data_directory_and_database_files_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path());
    let data = dir.path().join("data");
    // A fresh start: 0700 and 0600, whatever the umask.
    let (mut child, _, _) = start_serve(&cfg);
    for f in ["wxrealname.db", "wxrealname.db-wal", "wxrealname.db-shm"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&data), 0o700);
    let _ = child.kill();
    let _ = child.wait();

    // Files an older release left readable by others are narrowed at start, with a warning.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["wxrealname.db", "wxrealname.db-wal", "wxrealname.db-shm"] {
        let p = data.join(f);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let (mut child, _, seen) = start_serve(&cfg);
    for f in ["wxrealname.db", "wxrealname.db-wal", "wxrealname.db-shm"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&data), 0o700);
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("narrowed the permissions"), "{seen}");
}

#[test]
fn serve_without_a_master_key_refuses_and_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config_text(dir.path(), "");
    let o = bin()
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("WXRN_SECRET_TEST", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("wxrealname keys init-master --out"), "{err}");
    assert!(
        !dir.path().join("data/master.key").exists(),
        "nothing is created in the data directory"
    );

    // An install an older release set up, with its key in the data directory: the error gives the one-line move.
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/master.key"), "ab".repeat(32)).unwrap();
    let o = bin()
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("WXRN_SECRET_TEST", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("mv ") && err.contains("key_file"), "{err}");
    assert!(!err.contains(&"ab".repeat(32)), "the key is never printed");

    // Pointing key_file into the data directory is refused too.
    let inside = dir.path().join("data/master.key");
    let cfg = write_config_text(
        dir.path(),
        &format!("[blind_index]\nkey_file = \"{}\"\n", inside.display()),
    );
    let o = bin()
        .args(["serve", "--config", cfg.to_str().unwrap()])
        .env("WXRN_SECRET_TEST", "x")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("inside data_dir"), "{err}");

    // An empty admin token would let an empty bearer in.
    let cfg = write_config_text(dir.path(), "admin_token = \"\"\n");
    let o = run(&["serve", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("admin_token") && err.contains("must not be empty"),
        "{err}"
    );
}

#[test]
fn init_master_writes_an_owner_only_key_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys/master.key");
    let o = run(&["keys", "init-master", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let key = std::fs::read_to_string(&out).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert!(hex::decode(key.trim()).is_ok());
    assert!(!stdout(&o).contains(key.trim()), "the key is not printed");
    #[cfg(unix)]
    assert_eq!(mode(&out), 0o600);

    let o = run(&["keys", "init-master", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refusing to overwrite"),
        "{o:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        key,
        "the key is unchanged"
    );
}

#[test]
fn serve_refuses_a_bad_config_with_exit_1_and_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:0\"\nlimts = 3\n").unwrap();
    let o = run(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("limts"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["serve", "--config", "/nonexistent.toml"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn demo_prints_a_key_and_curl_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "demo",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--sandbox-addr",
        "127.0.0.1:0",
        "--exit-when-ready",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert!(out.contains("export KEY=wxrn_"));
    for outcome in ["match", "id_mismatch", "name_mismatch", "not_verified"] {
        assert!(out.contains(&format!("expect \"{outcome}\"")), "{outcome}");
    }
    assert!(out.matches("/v1/verifications").count() >= 4);
    // The second tab and the paid providers: a curl per demo case, and never the providers' credentials.
    assert!(
        out.contains("/idcheck") && out.contains("无需微信的身份核验"),
        "{out}"
    );
    for c in sandbox::demo::PROVIDER_CASES {
        assert!(
            out.contains(&format!("expect \"{}\"", c.outcome)),
            "{}",
            c.outcome
        );
    }
    assert!(out.matches("/v1/idchecks").count() >= 3);
    for secret in [
        sandbox::demo::TENCENT_SECRET_KEY,
        sandbox::demo::TENCENT_SECRET_ID,
        sandbox::demo::ALIYUN_ACCESS_KEY_SECRET,
        sandbox::demo::ALIYUN_ACCESS_KEY_ID,
    ] {
        assert!(!out.contains(secret), "a provider credential in the banner");
    }
    assert!(out.contains("demo only"), "the demo key is labelled: {out}");
    // Operators and integrators read Chinese: the banner says what matters in both languages.
    for zh in [
        "以下姓名和身份证号均为虚构",
        "仅供演示，切勿用于生产",
        "每次核验都需要一个新的授权 code",
    ] {
        assert!(out.contains(zh), "{zh} missing from the banner: {out}");
    }

    // The README's next step: a configuration that names the demo's data directory and no key (as
    // `WXRN_DATA_DIR=./data/demo` does) borrows the demo's key for the CLI.
    let only_dir = dir.path().join("only-dir.toml");
    std::fs::write(
        &only_dir,
        format!("data_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let o = run(&["audit", "verify", "--config", only_dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).contains("audit chain ok"), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("demo only"));
    // serve does not: a demo's layout (the key beside the data) is not for production.
    let cfg = dir.path().join("serve.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let o = run(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
}

mod reqwest {
    /// A blocking GET without pulling in reqwest's blocking feature.
    pub fn blocking_get(url: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { ::reqwest::get(url).await.unwrap().text().await.unwrap() })
    }
}

/// `wxrealname check` against the sandbox: the SDK end to end, the secret only from the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_runs_one_direct_call_and_reads_the_secret_from_the_environment() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sb = sandbox::Sandbox::spawn(
        listener,
        sandbox::SandboxConfig {
            seed_demo: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let u = &sandbox::demo::USERS[0];
    let base = sb.base_url();
    let code = sb.state().consent(sandbox::demo::APPID, u.openid).unwrap();
    let args = |code: &str| {
        vec![
            "check".to_owned(),
            "--base-url".into(),
            base.clone(),
            "--appid".into(),
            sandbox::demo::APPID.into(),
            "--openid".into(),
            u.openid.into(),
            "--name".into(),
            u.submit_name.into(),
            "--cred-id".into(),
            u.submit_cred_id.into(),
            "--code".into(),
            code.into(),
        ]
    };
    let run_check = |args: Vec<String>, secret: Option<&str>| {
        let mut c = bin();
        c.args(&args).env_remove("WXRN_APP_SECRET");
        if let Some(s) = secret {
            c.env("WXRN_APP_SECRET", s);
        }
        c.output().unwrap()
    };
    let o = tokio::task::spawn_blocking({
        let a = args(&code);
        move || run_check(a, None)
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(2), "no secret: usage error");
    assert_eq!(sb.stats().calls.checkrealnameinfo, 0);

    let o = tokio::task::spawn_blocking({
        let a = args(&code);
        move || run_check(a, Some(sandbox::demo::SECRET))
    })
    .await
    .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(out["outcome"], "match");
    assert!(
        !stdout(&o).contains(u.submit_cred_id),
        "only masked values are printed"
    );

    // The same code again: WeChat answers 80113; exit 1, and the secret appears nowhere.
    let o = tokio::task::spawn_blocking({
        let a = args(&code);
        move || run_check(a, Some(sandbox::demo::SECRET))
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(out["error"]["errcode"], 80113);
    let all = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    assert!(!all.contains(sandbox::demo::SECRET));
    assert_eq!(sb.stats().calls.checkrealnameinfo, 2);

    // In Chinese: the same kind and errcode, the sentence says what happened in Chinese.
    let o = tokio::task::spawn_blocking({
        let mut a = args(&code);
        a.insert(0, "--lang=zh-CN".into());
        move || run_check(a, Some(sandbox::demo::SECRET))
    })
    .await
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let zh: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(zh["error"]["kind"], out["error"]["kind"]);
    assert_eq!(zh["error"]["errcode"], 80113);
    let message = zh["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("微信返回了错误："), "{message}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("注意："),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
