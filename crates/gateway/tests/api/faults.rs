//! The fault matrix and the circuit breaker, through the gateway over real HTTP.
//!
//! The matrix is documented in `docs/reliability.md` (between the `fault-matrix` markers), and each test here
//! runs one of its rows and asserts exactly the documented cells: what the caller gets, what is audited, how
//! many WeChat calls were made, how many codes WeChat spent, what the same code gets when sent again, and
//! whether the attempt counted against the user's `limits.per_openid_per_day`.
//! Every row also checks that no code was ever spent twice: WeChat (the sandbox) never answered 80113 except
//! where the row injects it, and it consumed at most the one code the row sent.

use crate::helpers::*;
use sandbox::{Sandbox, SandboxConfig, SandboxHandle, SandboxState, Stats};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How a row breaks things.
#[derive(Debug, Clone)]
enum Scenario {
    /// One fault queued on the check endpoint.
    Check(Fault),
    /// The sandbox is shut down: its port refuses connections, so the request is provably not sent.
    Refused,
    /// The sandbox is shut down and a new one (which knows none of our tokens) started on the same port.
    Restarted,
    /// The token endpoint fails while the cached token is within its refresh window but still valid.
    TokenDownCached,
    /// The token endpoint fails and there is no token at all.
    TokenDownNoToken,
}

fn scenario(row: &str) -> Scenario {
    let fault = |f: Fault| Scenario::Check(f);
    match row {
        "check call timeout" => fault(Fault::delay(CHECK, Duration::from_millis(1_500))),
        "connection refused (not sent)" => Scenario::Refused,
        "connection dropped after sending" => fault(Fault::drop_connection(CHECK)),
        "HTTP 500" => fault(Fault::http_status(CHECK, 500)),
        "HTTP 502" => fault(Fault::http_status(CHECK, 502)),
        "malformed JSON" => fault(Fault::malformed(CHECK)),
        "errcode 40001 twice" => fault(Fault::errcode(CHECK, 40001).times(2)),
        "token endpoint down, cached token valid" => Scenario::TokenDownCached,
        "token endpoint down, no token" => Scenario::TokenDownNoToken,
        "sandbox killed and restarted" => Scenario::Restarted,
        other => {
            let code = other
                .strip_prefix("errcode ")
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("no scenario for row {other:?}"));
            fault(Fault::errcode(CHECK, code))
        }
    }
}

/// The documented matrix: row name -> its cells after the first.
fn documented() -> BTreeMap<String, Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/reliability.md");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find("<!-- fault-matrix:start -->")
        .expect("start marker");
    let end = text.find("<!-- fault-matrix:end -->").expect("end marker");
    let mut rows = BTreeMap::new();
    for line in text[start..end].lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().trim_matches('`').to_owned())
            .collect();
        if cells[0] == "fault" || cells[0].starts_with("---") {
            continue;
        }
        rows.insert(cells[0].clone(), cells[1..].to_vec());
    }
    rows
}

/// The cells the test compares, in the table's order.
const COLUMNS: [&str; 7] = [
    "caller gets",
    "audited",
    "check calls",
    "token calls",
    "codes spent at WeChat",
    "same code again",
    "counted against the user's limit",
];

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    checks: u64,
    tokens: u64,
    consumed: u64,
    invalid_code: u64,
}

impl Counts {
    fn of(s: &Stats) -> Self {
        Self {
            checks: s.calls.checkrealnameinfo,
            tokens: s.calls.token + s.calls.stable_token,
            consumed: s.codes_consumed,
            invalid_code: s.errcode(80113),
        }
    }
    fn since(self, before: Self) -> Self {
        Self {
            checks: self.checks - before.checks,
            tokens: self.tokens - before.tokens,
            consumed: self.consumed - before.consumed,
            invalid_code: self.invalid_code - before.invalid_code,
        }
    }
}

fn answer(status: u16, body: &Value) -> String {
    match body["outcome"].as_str() {
        Some(outcome) if status == 200 => format!("{status} {outcome}"),
        _ => format!("{status} {}", error_code(body)),
    }
}

async fn audit_rows(app: &TestApp) -> Vec<store::AuditRecord> {
    app.state.store.audit_page(0, None, 1_000).await.unwrap()
}

fn audited(new: &[store::AuditRecord]) -> String {
    let dash = |s: Option<String>| s.unwrap_or_else(|| "-".into());
    match new {
        [] => "nothing".into(),
        [r] => format!(
            "{} / {} / {}",
            dash(r.entry.error_code.clone()),
            dash(r.entry.errcode.map(|c| c.to_string())),
            dash(r.entry.outcome.clone())
        ),
        more => panic!("one request wrote {} audit rows", more.len()),
    }
}

/// The user's count against `limits.per_openid_per_day` today.
async fn user_count(app: &TestApp, body: &Value) -> u32 {
    let bucket = format!("openid:{APPID}:{}", body["openid"].as_str().unwrap());
    app.state
        .limiter
        .used(
            &bucket,
            limits::Window::Day,
            wechat::Clock::now(&*app.clock),
        )
        .await
        .unwrap()
}

/// `wxrn_upstream_requests_total` for the check endpoint with this result, from the gateway's /metrics text.
fn upstream_requests(app: &TestApp, result: &str) -> f64 {
    metric(
        app,
        "wxrn_upstream_requests_total{",
        &[
            r#"endpoint="checkrealnameinfo""#,
            &format!(r#"result="{result}""#),
        ],
    )
}

fn metric(app: &TestApp, prefix: &str, labels: &[&str]) -> f64 {
    app.state
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with(prefix) && labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Shut the sandbox down (its port then refuses connections) and leave a placeholder in the app. Returns the
/// old sandbox's address and state, which outlives its server, for counting.
async fn kill_sandbox(app: &mut TestApp) -> (std::net::SocketAddr, SandboxState) {
    let placeholder = Sandbox::spawn(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SandboxConfig::default(),
    )
    .await
    .unwrap();
    let old = std::mem::replace(&mut app.sandbox, placeholder);
    let (addr, state) = (old.addr(), old.state().clone());
    old.shutdown().await;
    (addr, state)
}

/// A new sandbox with the demo data on the old one's port.
async fn restart_sandbox(app: &mut TestApp, addr: std::net::SocketAddr) -> SandboxHandle {
    let listener = TcpListener::bind(addr).await.unwrap();
    let cfg = SandboxConfig {
        seed_demo: true,
        ..SandboxConfig::default()
    };
    let fresh = Sandbox::spawn(listener, cfg).await.unwrap();
    std::mem::replace(&mut app.sandbox, fresh)
}

async fn run(row: &str) {
    let doc = documented();
    let expected = doc
        .get(row)
        .unwrap_or_else(|| panic!("row {row:?} is not in docs/reliability.md"));
    let scenario = scenario(row);
    let mut app = TestApp::builder()
        .config(|c| c.upstream_timeout_ms = 300)
        .spawn()
        .await;

    // A warm gateway: one verification done, the token cached. Except where "no token" is the point.
    if !matches!(scenario, Scenario::TokenDownNoToken) {
        let (s, b, _) = app.verify(&app.body_for(0)).await;
        assert_eq!(s, 200, "warm-up: {b}");
    }
    let rows_before = audit_rows(&app).await.len();
    // The sandbox whose counters tell what reached WeChat (it outlives its server when killed).
    let mut wechat = app.sandbox.state().clone();
    let mut killed = None;
    if let Scenario::Restarted = scenario {
        let (addr, _) = kill_sandbox(&mut app).await;
        restart_sandbox(&mut app, addr).await.shutdown().await;
        wechat = app.sandbox.state().clone();
    }
    // Consent is given to the WeChat that will see the check (a restarted one knows no older code).
    let body = app.body_for(0);
    let before = Counts::of(&wechat.stats());
    let not_sent_before = upstream_requests(&app, "not_sent");

    match &scenario {
        Scenario::Check(f) => app.fault(f.clone()),
        Scenario::Refused => {
            killed = Some(kill_sandbox(&mut app).await);
        }
        Scenario::Restarted => {}
        Scenario::TokenDownCached => {
            // Just inside the refresh window (the token lives 7200 s; the gateway refreshes 240 s ahead), while
            // the token is still valid at WeChat.
            app.clock.advance(Duration::from_secs(7_200 - 200));
            app.fault(Fault::http_status(Endpoint::StableToken, 502).times(100));
        }
        Scenario::TokenDownNoToken => {
            app.fault(Fault::http_status(Endpoint::StableToken, 502).times(100))
        }
    }
    let user_count_before = user_count(&app, &body).await;
    let reply = app.verify(&body).await;
    let calls = Counts::of(&wechat.stats()).since(before);
    let counted = user_count(&app, &body).await > user_count_before;
    if let Scenario::Refused = scenario {
        assert!(
            upstream_requests(&app, "not_sent") > not_sent_before,
            "the client classified the failure as not sent"
        );
        let message = reply.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("code was not used"), "{}", reply.1);
        // The same WeChat, with the same codes, is back on its port for "same code again".
        let (addr, state) = killed.take().expect("the killed sandbox");
        let listener = TcpListener::bind(addr).await.unwrap();
        app.sandbox = Sandbox::resume(listener, state).await.unwrap();
    }
    if let Scenario::TokenDownNoToken = scenario {
        // WeChat's token endpoint is back for "same code again".
        app.sandbox.state().clear_faults();
    }
    check_row(
        &app,
        row,
        expected,
        (reply.0, &reply.1),
        rows_before,
        (calls, counted),
        &body,
    )
    .await;
    if let Scenario::TokenDownCached = scenario {
        // A failed refresh is not retried at once: the next check uses the cached token too, with no fetch.
        let tokens = app.token_fetches();
        let (s, b, _) = app.verify(&app.body_for(3)).await;
        assert_eq!(
            (s, b["outcome"].as_str()),
            (200, Some("id_mismatch")),
            "{b}"
        );
        assert_eq!(
            app.token_fetches(),
            tokens,
            "backing off after a failed refresh"
        );
    }
}

/// Compares what happened with the documented cells, then sends the same code again.
async fn check_row(
    app: &TestApp,
    row: &str,
    expected: &[String],
    (status, reply): (u16, &Value),
    rows_before: usize,
    (calls, counted): (Counts, bool),
    body: &Value,
) {
    let rows = audit_rows(app).await;
    let new = &rows[rows_before..];
    if status == 200 {
        assert_eq!(
            new[0].entry.id, reply["id"],
            "the answer is the audited row"
        );
    }
    // Sending the same code again: never a second WeChat call unless the first provably did not spend it.
    let checks = app.checks();
    let (s2, b2, _) = app.verify(body).await;
    let again = answer(s2, &b2);
    if s2 == 409 {
        assert_eq!(app.checks(), checks, "{row}: a reused code reached WeChat");
    }
    let observed = [
        answer(status, reply),
        audited(new),
        calls.checks.to_string(),
        calls.tokens.to_string(),
        calls.consumed.to_string(),
        again,
        if counted { "yes" } else { "no" }.to_owned(),
    ];
    for (i, column) in COLUMNS.iter().enumerate() {
        assert_eq!(
            observed[i], expected[i],
            "row {row:?}, column {column:?}: observed {observed:?}"
        );
    }
    // No code was ever spent twice: WeChat answers 80113 to a reused code.
    let injected = u64::from(row == "errcode 80113");
    assert_eq!(calls.invalid_code, injected, "{row}: WeChat answered 80113");
    assert_eq!(
        app.stats().errcode(80113),
        injected,
        "{row}: over the whole test"
    );
    assert!(calls.consumed <= 1, "{row}: one request, one code");
}

macro_rules! matrix {
    ($($test:ident => $row:literal,)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                run($row).await;
            }
        )*
        const ROWS: &[&str] = &[$($row),*];
    };
}

matrix! {
    check_call_timeout => "check call timeout",
    connection_refused_before_sending => "connection refused (not sent)",
    connection_dropped_after_sending => "connection dropped after sending",
    http_500 => "HTTP 500",
    http_502 => "HTTP 502",
    malformed_json => "malformed JSON",
    errcode_system_busy => "errcode -1",
    errcode_40001_recovered => "errcode 40001",
    errcode_40014_recovered => "errcode 40014",
    errcode_42001_recovered => "errcode 42001",
    errcode_40001_twice => "errcode 40001 twice",
    errcode_45009 => "errcode 45009",
    errcode_48001 => "errcode 48001",
    errcode_80113 => "errcode 80113",
    errcode_unknown => "errcode 61234",
    token_endpoint_down_with_a_cached_token => "token endpoint down, cached token valid",
    token_endpoint_down_without_a_token => "token endpoint down, no token",
    sandbox_killed_and_restarted => "sandbox killed and restarted",
}

#[test]
fn the_documented_matrix_is_the_tested_matrix() {
    let doc: Vec<String> = documented().into_keys().collect();
    let mut tested: Vec<String> = ROWS.iter().map(|r| r.to_string()).collect();
    tested.sort();
    assert_eq!(doc, tested);
    for cells in documented().values() {
        assert!(cells.len() >= COLUMNS.len(), "{cells:?}");
    }
}

#[tokio::test]
async fn the_breaker_opens_refuses_before_the_code_and_recovers_by_itself() {
    let app = TestApp::builder()
        .config(|c| {
            c.upstream_breaker.failures = 3;
            c.upstream_breaker.cool_down_secs = 10;
            c.limits.per_openid_per_day = 0;
        })
        .spawn()
        .await;
    let (s, _, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 200);

    // Business answers say WeChat is up: they never open it.
    app.fault(Fault::errcode(CHECK, 48001).times(3));
    for _ in 0..3 {
        let (s, b, _) = app.verify(&app.body_for(0)).await;
        assert_eq!((s, error_code(&b)), (502, "upstream_permission_denied"));
    }
    // Three failures in a row open it.
    app.fault(Fault::http_status(CHECK, 500).times(3));
    for _ in 0..3 {
        let (s, b, _) = app.verify(&app.body_for(0)).await;
        assert_eq!((s, error_code(&b)), (503, "upstream_unavailable"));
    }
    let checks = app.checks();
    let rows = audit_rows(&app).await.len();
    let paused = app.body_for(0);
    let (s, b, h) = app
        .verify_with(&paused, Some(&app.key), Some("idem-paused"))
        .await;
    assert_eq!((s, error_code(&b)), (503, "upstream_unavailable"), "{b}");
    assert_eq!(h["retry-after"], "10");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("not used"),
        "{b}"
    );
    assert_eq!(app.checks(), checks, "nothing sent while open");
    assert_eq!(
        audit_rows(&app).await.len(),
        rows,
        "nothing recorded, nothing spent"
    );
    assert_eq!(app.sandbox.state().pending_faults().len(), 0);

    app.clock.advance(Duration::from_secs(4));
    let (s, _, h) = app.verify(&paused).await;
    assert_eq!((s, &h["retry-after"]), (503, &"6".parse().unwrap()));
    assert_eq!(app.checks(), checks);

    // Cool-down over: the same code (and the same Idempotency-Key) goes through as the probe, and closes it.
    app.clock.advance(Duration::from_secs(6));
    let (s, b, h) = app
        .verify_with(&paused, Some(&app.key), Some("idem-paused"))
        .await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("match")), "{b}");
    assert!(h.get("idempotent-replayed").is_none());
    assert_eq!(app.checks(), checks + 1);
    let (s, _, _) = app.verify(&app.body_for(3)).await;
    assert_eq!(s, 200, "closed again");

    // A failed probe opens it again for a whole cool-down.
    app.fault(Fault::http_status(CHECK, 502).times(4));
    for _ in 0..3 {
        assert_eq!(app.verify(&app.body_for(0)).await.0, 503);
    }
    app.clock.advance(Duration::from_secs(10));
    let checks = app.checks();
    let (s, _, _) = app.verify(&app.body_for(0)).await;
    assert_eq!(s, 503);
    assert_eq!(app.checks(), checks + 1, "the probe was sent, and failed");
    let later = app.body_for(0);
    let (s, _, h) = app.verify(&later).await;
    assert_eq!((s, &h["retry-after"]), (503, &"10".parse().unwrap()));
    assert_eq!(app.checks(), checks + 1);
    app.clock.advance(Duration::from_secs(10));
    let (s, b, _) = app.verify(&later).await;
    assert_eq!(s, 200, "{b}");

    assert!(metric(&app, "wxrn_upstream_breaker_rejected_total", &[]) >= 3.0);
    assert!(
        metric(
            &app,
            "wxrn_upstream_breaker_transitions_total{",
            &[r#"to="open""#]
        ) >= 2.0
    );
    // No code was spent twice along the way.
    assert_eq!(app.stats().errcode(80113), 0);
}

#[tokio::test]
async fn half_open_lets_exactly_one_probe_through() {
    let app = Arc::new(
        TestApp::builder()
            .config(|c| {
                c.upstream_breaker.failures = 1;
                c.limits.per_openid_per_day = 0;
            })
            .spawn()
            .await,
    );
    app.fault(Fault::http_status(CHECK, 500));
    assert_eq!(app.verify(&app.body_for(0)).await.0, 503);
    app.clock
        .advance(Duration::from_secs(app.cfg.upstream_breaker.cool_down_secs));
    // The probe is slow; the others arrive while it is in flight.
    app.fault(Fault::delay(CHECK, Duration::from_millis(500)));
    let checks = app.checks();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let app = app.clone();
            let body = app.body_for(i % USERS.len());
            tokio::spawn(async move {
                let (s, b, h) = app.verify(&body).await;
                (
                    s,
                    error_code(&b).to_owned(),
                    h.get("retry-after").cloned(),
                    body,
                )
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let ok = results.iter().filter(|r| r.0 == 200).count();
    assert_eq!(ok, 1, "{results:?}");
    assert_eq!(app.checks(), checks + 1);
    for (s, code, retry, body) in results.into_iter().filter(|r| r.0 != 200) {
        assert_eq!((s, code.as_str()), (503, "upstream_unavailable"));
        assert_eq!(retry.unwrap(), "1");
        // Refused while the probe was out, the code is still good now that the circuit is closed.
        let (s, b, _) = app.verify(&body).await;
        assert_eq!(s, 200, "{b}");
    }
}

/// Issue 12 §6: a code sent with another user's openid gets 80113 from WeChat, which leaves the code to its owner
/// (the sandbox's behaviour, docs/assumptions.md). The gateway releases the reservation and audits the attempt,
/// so the owner's verification with that code is not refused as a replay.
#[tokio::test]
async fn a_code_sent_with_another_users_openid_still_works_for_its_owner() {
    let app = TestApp::spawn().await;
    let (owner, other) = (&USERS[0], &USERS[2]);
    let code = app.consent(owner.openid);
    let mut wrong = json!({"openid": other.openid, "real_name": owner.submit_name,
        "cred_id": owner.submit_cred_id, "code": code});
    let rows_before = audit_rows(&app).await.len();
    let (s, b, _) = app.verify(&wrong).await;
    assert_eq!(
        (s, error_code(&b), &b["error"]["errcode"]),
        (422, "invalid_code", &json!(80113)),
        "{b}"
    );
    let rows = audit_rows(&app).await;
    assert_eq!(
        audited(&rows[rows_before..]),
        "invalid_code / 80113 / -",
        "the refused attempt is audited"
    );
    assert_eq!(rows[rows_before].entry.openid, other.openid);
    assert_eq!(app.stats().codes_consumed, 0, "WeChat left the code alone");

    // The owner, with the same code: WeChat is called and answers.
    wrong["openid"] = json!(owner.openid);
    let (s, b, _) = app.verify(&wrong).await;
    assert_eq!((s, b["outcome"].as_str()), (200, Some("match")), "{b}");
    assert_eq!((app.checks(), app.stats().codes_consumed), (2, 1));
    // Spent now: the replay guard holds again.
    let (s, b, _) = app.verify(&wrong).await;
    assert_eq!((s, error_code(&b)), (409, "code_already_used"), "{b}");
    assert_eq!(app.checks(), 2);
}
