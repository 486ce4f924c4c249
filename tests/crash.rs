//! Crash safety: the real binary, killed with SIGKILL at random moments under load, restarted on the same store.
//!
//! Each round starts `wxrealname serve` (which opens the store: a failure to open fails the test), runs
//! concurrent clients that each send verifications with their own consent code against the sandbox, and kills
//! the process 50-500 ms later. After the rounds:
//! - every verification the client got a 200 for is in the audit trail, by id, with the outcome it was told;
//! - the audit chain verifies, and (SQLite) `PRAGMA integrity_check` says ok;
//! - WeChat never answered 80113: no code was sent twice across the restarts.
//!
//! The seed of the kill delays is printed; `WXRN_CRASH_SEED=<n>` replays it. See docs/reliability.md.

mod common;

use common::Gateway;
use rand::{Rng, SeedableRng};
use sandbox::demo::{APPID, SECRET, USERS};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;
const CLIENTS: usize = 16;
const KILL_AFTER_MS: std::ops::RangeInclusive<u64> = 50..=500;

/// What the clients saw, over all rounds.
#[derive(Default)]
struct Seen {
    /// (verification id, outcome) of every 200.
    acked: Mutex<Vec<(String, String)>>,
    /// Requests without an answer (the process died under them).
    lost: AtomicU64,
    /// Answers other than 200, with their bodies.
    other: Mutex<Vec<(u16, String)>>,
}

fn seed() -> u64 {
    match std::env::var("WXRN_CRASH_SEED") {
        Ok(s) => s.parse().expect("WXRN_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

/// The audit keys of the configuration's master key (`cd` x 32).
fn keys() -> store::chain::AuditKeys {
    gateway::pii::Pii::from_master(&[0xcd; 32], 1).audit_keys()
}

fn write_config(dir: &Path, upstream: &str, database_url: Option<&str>) -> PathBuf {
    let path = dir.join("gateway.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(
        f,
        r#"listen = "127.0.0.1:0"
data_dir = "{data}"
upstream_base_url = "{upstream}"
upstream_timeout_ms = 5000"#,
        data = dir.join("data").display(),
    )
    .unwrap();
    if let Some(url) = database_url {
        writeln!(f, "database_url = \"{url}\"").unwrap();
    }
    write!(
        f,
        r#"[limits]
per_openid_per_day = 0
per_key_per_second = 0
[blind_index]
key = "{key}"
[[apps]]
appid = "{APPID}"
secret = "{SECRET}"
"#,
        key = "cd".repeat(32),
    )
    .unwrap();
    path
}

fn create_key(config: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wxrealname"))
        .args(["keys", "create", "--config", config.to_str().unwrap()])
        .args(["--app", APPID, "--name", "crash", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: Value = serde_json::from_slice(&out.stdout).unwrap();
    key["key"].as_str().unwrap().to_owned()
}

/// One client: verifications back to back, each with a fresh code, until told to stop or the gateway dies.
async fn client(
    n: usize,
    url: String,
    key: String,
    sb: sandbox::SandboxState,
    stop: Arc<AtomicBool>,
    seen: Arc<Seen>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut i = n;
    while !stop.load(Ordering::Relaxed) {
        let u = &USERS[i % USERS.len()];
        i += CLIENTS;
        let code = sb.consent(APPID, u.openid).unwrap();
        let body = json!({"openid": u.openid, "real_name": u.submit_name, "cred_id": u.submit_cred_id, "code": code});
        let resp = http
            .post(format!("{url}/v1/verifications"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await;
        let Ok(resp) = resp else {
            seen.lost.fetch_add(1, Ordering::Relaxed);
            break;
        };
        let status = resp.status().as_u16();
        let Ok(text) = resp.text().await else {
            seen.lost.fetch_add(1, Ordering::Relaxed);
            break;
        };
        if status == 200 {
            let v: Value = serde_json::from_str(&text).unwrap();
            let id = v["id"].as_str().unwrap().to_owned();
            let outcome = v["outcome"].as_str().unwrap().to_owned();
            seen.acked.lock().unwrap().push((id, outcome));
        } else {
            seen.other.lock().unwrap().push((status, text));
        }
    }
}

async fn crash_rounds(label: &str, database_url: Option<String>) {
    let seed = seed();
    eprintln!("{label}: seed {seed} (WXRN_CRASH_SEED={seed} replays the kill delays)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sb = sandbox::Sandbox::spawn(
        listener,
        sandbox::SandboxConfig {
            seed_demo: true,
            quotas: sandbox::Quotas::unlimited(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &sb.base_url(), database_url.as_deref());
    let key = create_key(&config);
    let seen = Arc::new(Seen::default());
    let started = Instant::now();

    for round in 0..ROUNDS {
        let cfg = config.clone();
        let gw = tokio::task::spawn_blocking(move || Gateway::start(&cfg))
            .await
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|n| {
                tokio::spawn(client(
                    n + round * CLIENTS,
                    gw.url.clone(),
                    key.clone(),
                    sb.state().clone(),
                    stop.clone(),
                    seen.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(KILL_AFTER_MS))).await;
        gw.kill();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.await.unwrap();
        }
    }
    let elapsed = started.elapsed();

    let url = database_url.unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            dir.path().join("data/wxrealname.db").display()
        )
    });
    let store = store::open(&url, keys())
        .await
        .expect("the store opens cleanly");
    let acked = seen.acked.lock().unwrap().clone();
    let mut missing = Vec::new();
    for (id, outcome) in &acked {
        match store.verification(id).await.unwrap() {
            Some(r) => assert_eq!(r.entry.outcome.as_deref(), Some(outcome.as_str()), "{id}"),
            None => missing.push(id.clone()),
        }
    }
    assert!(
        missing.is_empty(),
        "{label}: {} of {} acknowledged verifications are not in the audit trail: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    let report = store::chain::verify_store(store.as_ref(), &keys(), &[])
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{label}: the audit chain does not verify: {e:?}"));
    if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{label}: SQLite integrity_check");
    }
    let other = seen.other.lock().unwrap().clone();
    assert!(
        other.is_empty(),
        "{label}: answers other than 200: {:?}",
        &other[..other.len().min(5)]
    );
    let stats = sb.stats();
    assert_eq!(stats.errcode(80113), 0, "{label}: a code was sent twice");
    assert!(
        acked.len() >= ROUNDS,
        "{label}: too little load to prove anything ({} acknowledged)",
        acked.len()
    );
    let rows = report.rows as usize;
    eprintln!(
        "{label}: {ROUNDS} SIGKILLs in {elapsed:.1?}; {} verifications acknowledged, all in the audit; {rows} audit rows \
         (committed but unanswered: {}); {} requests cut off by a kill; {} WeChat checks; chain verifies",
        acked.len(),
        rows - acked.len(),
        seen.lost.load(Ordering::Relaxed),
        stats.calls.checkrealnameinfo,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_verification_across_sigkills() {
    crash_rounds("sqlite", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_verification_across_sigkills() {
    test_support::needs!(Postgres);
    let (url, _schema) = test_support::fresh_pg_schema(&test_support::pg_test_url()).await;
    crash_rounds("postgres", Some(url)).await;
}
