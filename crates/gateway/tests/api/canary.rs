//! PII canaries for the whole test binary: no test may make the gateway log, store, answer or panic with a raw
//! name, a raw ID number or a secret.
//!
//! How, whatever order the tests run in:
//! - every line logged (all levels, `helpers::logs()`), every response body the helpers read and every panic
//!   message goes through [`inspect`], which records a finding when it holds a forbidden value: each demo user's
//!   names and ID numbers, every name and ID-number literal in this test binary's sources, the canaries below,
//!   the app secrets, the admin token and the blind-index key; and anything shaped like an ID number (a token of
//!   15 digits, or 17 digits and a digit or X), a full API key or an access token (96+ hex digits);
//! - [`Guard`], a field of every `TestApp`, scans the app's data directory (SQLite database, WAL) when the app is
//!   dropped and then fails the test if anything was found so far, by any test: the last test to finish checks
//!   everything logged before it;
//! - [`every_endpoint_and_error_path_with_canaries`] drives each endpoint and error path with canary values and
//!   checks its answers, `/metrics` and the database files, birth-date digits included;
//! - [`an_id_number_planted_in_any_field_or_header_reaches_no_file_log_metric_or_wechat`] plants generated ID
//!   numbers, plain and disguised, in every free-text field and header of every endpoint.
//!
//! Findings name what was found and where, with the values replaced by their labels.

use crate::helpers::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Fictional, valid, and unlike anything else in the tests.
const CANARY_NAME: &str = "麤鱻爨";
/// 530102 (Kunming), born 1977-08-15; the check character is computed.
const CANARY_ID_17: &str = "53010219770815123";
/// The same person's pre-1999 15-digit number: its 18-digit "hint" is the canary ID.
const CANARY_LEGACY_15: &str = "530102770815123";
/// A child (born 2018-02-14), for the guardian-consent path.
const CANARY_MINOR_NAME: &str = "龖龗";
const CANARY_MINOR_ID_17: &str = "53010220180214046";

fn with_check(first17: &str) -> String {
    let digits: &[u8; 17] = first17.as_bytes().try_into().unwrap();
    format!("{first17}{}", identity::check_char(digits) as char)
}

struct Forbidden {
    label: String,
    value: String,
}

/// The values that must never appear, with the label a finding shows instead.
fn forbidden() -> &'static [Forbidden] {
    static LIST: OnceLock<Vec<Forbidden>> = OnceLock::new();
    LIST.get_or_init(|| {
        let mut list = Vec::new();
        let mut add = |label: &str, value: String| {
            if !value.is_empty() && !list.iter().any(|f: &Forbidden| f.value == value) {
                list.push(Forbidden {
                    label: label.to_owned(),
                    value,
                });
            }
        };
        for u in USERS {
            for name in [u.stored_name, Some(u.submit_name)].into_iter().flatten() {
                add(&format!("name of {}", u.openid), name.to_owned());
            }
            for id in [u.stored_cred_id, Some(u.submit_cred_id)]
                .into_iter()
                .flatten()
            {
                add(&format!("ID number of {}", u.openid), id.to_owned());
                add(
                    &format!("ID number of {}", u.openid),
                    id.to_ascii_uppercase(),
                );
            }
        }
        for (kind, value) in test_literals() {
            add(&format!("a test's {kind}"), value);
        }
        add("canary name", CANARY_NAME.to_owned());
        add("canary ID number", with_check(CANARY_ID_17));
        add("canary legacy ID number", CANARY_LEGACY_15.to_owned());
        add("canary minor's name", CANARY_MINOR_NAME.to_owned());
        add("canary minor's ID number", with_check(CANARY_MINOR_ID_17));
        add("app secret", sandbox::demo::SECRET.to_owned());
        add("app secret", sandbox::demo::NO_PERMISSION_SECRET.to_owned());
        add("admin token", "test-admin-token".to_owned());
        add("Tencent SecretKey", TC_SECRET_KEY.to_owned());
        add("Aliyun AccessKey secret", ALI_KEY_SECRET.to_owned());
        add("blind-index key", "11".repeat(32));
        list
    })
}

/// Names (string literals of Han characters and the middle dot) and ID numbers (literals of 15 or 18
/// characters, digits and a final X) in every source file of this test binary, so new tests are covered too.
fn test_literals() -> Vec<(&'static str, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        for literal in source.split('"').skip(1).step_by(2) {
            let chars: Vec<char> = literal.chars().collect();
            let han = |c: &char| matches!(*c as u32, 0x3400..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF);
            if chars.len() >= 2 && chars.iter().all(|c| han(c) || *c == '·') {
                found.push(("name", literal.to_owned()));
            } else if id_shaped(literal.as_bytes()) {
                found.push(("ID number", literal.to_owned()));
            }
        }
    }
    found
}

/// 15 digits, or 17 digits and a digit or X: the shape of a resident ID number, valid or not.
fn id_shaped(token: &[u8]) -> bool {
    match token.len() {
        15 => token.iter().all(u8::is_ascii_digit),
        18 => {
            token[..17].iter().all(u8::is_ascii_digit)
                && (token[17].is_ascii_digit() || token[17] == b'X' || token[17] == b'x')
        }
        _ => false,
    }
}

/// What looks like personal data or a secret whatever its value: ID-number tokens, full API keys, access tokens.
fn shapes(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut found = Vec::new();
    let mut start = 0;
    for token in bytes.split(|b| !(b.is_ascii_alphanumeric() || *b == b'_')) {
        let at = start;
        start += token.len() + 1;
        // The digits after a decimal point (`0.000123456789012345` in a metrics sum) are not an ID number.
        let fraction = at >= 2 && bytes[at - 1] == b'.' && bytes[at - 2].is_ascii_digit();
        if id_shaped(token) && !fraction {
            found.push(("something shaped like an ID number", token.to_vec()));
        } else if std::str::from_utf8(token).is_ok_and(|t| gateway::keys::split(t).is_some()) {
            found.push(("a full API key", token.to_vec()));
        } else if token.len() >= 96 && token.iter().all(u8::is_ascii_hexdigit) {
            found.push(("something shaped like an access token", token.to_vec()));
        }
    }
    found
}

fn findings() -> &'static Mutex<Vec<String>> {
    static FINDINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());
    &FINDINGS
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Record a finding if `bytes` holds a forbidden value or shape. `source` says where the bytes came from.
pub fn inspect(source: &str, bytes: &[u8]) {
    if let Some(finding) = examine(source, bytes) {
        findings().lock().unwrap().push(finding);
    }
}

/// The finding `bytes` make, if any.
fn examine(source: &str, bytes: &[u8]) -> Option<String> {
    let mut labels = Vec::new();
    let mut hits: Vec<(String, Vec<u8>)> = Vec::new();
    for f in forbidden() {
        if find(bytes, f.value.as_bytes()) {
            labels.push(f.label.clone());
            hits.push((f.label.clone(), f.value.clone().into_bytes()));
        }
    }
    for (label, value) in shapes(bytes) {
        labels.push(label.to_owned());
        hits.push((label.to_owned(), value));
    }
    if labels.is_empty() {
        return None;
    }
    // The finding shows the context with every hit replaced by its label, never the value itself.
    let mut redacted = String::from_utf8_lossy(bytes).into_owned();
    for (label, value) in &hits {
        redacted = redacted.replace(&*String::from_utf8_lossy(value), &format!("<{label}>"));
    }
    let redacted: String = redacted.chars().take(600).collect();
    let thread = std::thread::current();
    Some(format!(
        "{source} (thread {}): {} in: {}",
        thread.name().unwrap_or("?"),
        labels.join(", "),
        redacted.trim_end()
    ))
}

/// Every panic message is inspected too (a panic in a handler answers 500, but its message reaches stderr).
pub fn watch_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        inspect("a panic message", message.as_bytes());
        previous(info);
    }));
}

/// Scan every file of a data directory (database, WAL, shared memory).
fn scan_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_file()
            && let Ok(bytes) = std::fs::read(&path)
        {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            inspect(&format!("data file {name}"), &bytes);
        }
    }
}

/// Fails the test if anything was found so far, by any test of the binary.
pub fn assert_clean() {
    let found = findings().lock().unwrap().clone();
    assert!(
        found.is_empty(),
        "PII canaries: {} finding(s):\n{}",
        found.len(),
        found.join("\n")
    );
}

/// Held by every `TestApp`: on drop, scans its data directory, then asserts no findings (unless the test is
/// already failing).
#[derive(Debug)]
pub struct Guard {
    data_dir: PathBuf,
}

impl Guard {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        scan_dir(&self.data_dir);
        assert_clean();
    }
}

/// A canary's whole journey through the gateway: every endpoint and error path, with faults.
#[tokio::test]
async fn every_endpoint_and_error_path_with_canaries() {
    let id = with_check(CANARY_ID_17);
    let minor_id = with_check(CANARY_MINOR_ID_17);
    let app = TestApp::builder()
        .idchecks()
        .config(|c| {
            c.policy.require_guardian_consent = true;
            c.upstream_timeout_ms = 500;
            c.limits.per_openid_per_day = 0;
            c.upstream_breaker.failures = 0;
            c.idcheck.daily_budget = 12;
        })
        .spawn()
        .await;
    let openid = "oCANARY-everywhere";
    let minor_openid = "oCANARY-minor";
    let state = app.sandbox.state();
    state
        .add_user(APPID, openid, Some(CANARY_NAME), Some(&id))
        .unwrap();
    state
        .add_user(
            APPID,
            minor_openid,
            Some(CANARY_MINOR_NAME),
            Some(&minor_id),
        )
        .unwrap();
    let body = |code: String| json!({"openid": openid, "real_name": CANARY_NAME, "cred_id": id, "code": code, "purpose": "canary"});
    let mut answers: Vec<String> = Vec::new();

    // Success, replay by Idempotency-Key, the key reused for another request, the code reused.
    let first = body(app.consent(openid));
    let (s, r, _) = app
        .verify_with(&first, Some(&app.key), Some("canary-1"))
        .await;
    assert_eq!((s, r["outcome"].as_str()), (200, Some("match")), "{r}");
    answers.push(r.to_string());
    let (s, r, _) = app
        .verify_with(&first, Some(&app.key), Some("canary-1"))
        .await;
    assert_eq!(s, 200);
    answers.push(r.to_string());
    let verification_id = r["id"].as_str().unwrap().to_owned();
    let (s, r, _) = app
        .verify_with(&body(app.consent(openid)), Some(&app.key), Some("canary-1"))
        .await;
    assert_eq!((s, error_code(&r)), (422, "idempotency_key_reused"));
    answers.push(r.to_string());
    let (s, r, _) = app.verify(&first).await;
    assert_eq!((s, error_code(&r)), (409, "code_already_used"));
    answers.push(r.to_string());

    // A child without and with a guardian's consent.
    let child = json!({"openid": minor_openid, "real_name": CANARY_MINOR_NAME, "cred_id": minor_id,
        "code": app.consent(minor_openid)});
    let (s, r, _) = app.verify(&child).await;
    assert_eq!((s, error_code(&r)), (422, "guardian_consent_required"));
    answers.push(r.to_string());
    let mut consented = child.clone();
    consented["guardian_consent"] = json!(true);
    let (s, r, _) = app.verify(&consented).await;
    assert_eq!((s, r["minor"].as_bool()), (200, Some(true)), "{r}");
    answers.push(r.to_string());

    // WeChat failing in every way, one of them echoing the values back in its errmsg.
    let echo = Fault {
        errmsg: Some(format!(
            "invalid body: real_name={CANARY_NAME} cred_id={id}"
        )),
        ..Fault::errcode(CHECK, 47001)
    };
    for fault in [
        Fault::errcode(CHECK, -1),
        Fault::errcode(CHECK, 40001),
        Fault::errcode(CHECK, 45009),
        Fault::errcode(CHECK, 48001),
        Fault::errcode(CHECK, 80113),
        echo,
        Fault::http_status(CHECK, 502),
        Fault::malformed(CHECK),
        Fault::drop_connection(CHECK),
        Fault::delay(CHECK, Duration::from_millis(1_500)),
    ] {
        app.fault(fault);
        let (s, r, _) = app.verify(&body(app.consent(openid))).await;
        assert!((400..600).contains(&s) || s == 200, "{r}");
        answers.push(r.to_string());
    }
    app.sandbox.state().clear_faults();

    // Every way the values can be wrong.
    let variants: Vec<(&str, Value)> = vec![
        ("real_name", json!(format!("{CANARY_NAME}1"))),
        ("real_name", json!(format!("·{CANARY_NAME}"))),
        ("real_name", json!(CANARY_NAME.repeat(20))),
        ("cred_id", json!(format!("{}0", &id[..17]))),
        ("cred_id", json!(CANARY_LEGACY_15)),
        ("cred_id", json!(&id[..17])),
        (
            "cred_id",
            json!(id.parse::<u64>().unwrap_or(530102197708151234)),
        ),
        ("cred_id", json!([id.clone()])),
        ("openid", json!(format!("{openid} {id}"))),
        ("cred_type", json!(id.clone())),
        ("code", json!(format!("{CANARY_NAME}{id}"))),
        ("purpose", json!(format!("{id}\u{7}"))),
        ("appid", json!(id.clone())),
        (id.as_str(), json!(CANARY_NAME)),
        (CANARY_NAME, json!(id.clone())),
    ];
    for (field, value) in variants {
        let mut b = body(app.consent(openid));
        b[field] = value;
        let (s, r, _) = app.verify(&b).await;
        assert!((400..500).contains(&s), "{field}: {s} {r}");
        answers.push(r.to_string());
    }
    let raw = format!(r#"{{"openid": "{openid}", "real_name": "{CANARY_NAME}", "cred_id": {id}"#);
    for key in [Some(app.key.as_str()), None, Some("wxrn_nonsense")] {
        let mut req = app
            .http
            .post(app.url("/v1/verifications"))
            .body(raw.clone());
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        answers.push(req.send().await.unwrap().text().await.unwrap());
    }

    // The paid providers (idchecks): every outcome, the cache, each provider failing in every way (Tencent's
    // answer echoing the values back), a provider refusing the input, bad input, the budget.
    state.add_person(CANARY_NAME, &id).unwrap();
    let idcheck = |name: &str, cred: &str| json!({"real_name": name, "cred_id": cred, "purpose": "canary", "consent_ref": "canary-consent"});
    let mut idcheck_ids = Vec::new();
    for (name, cred) in [
        (CANARY_NAME, id.as_str()),
        (CANARY_NAME, id.as_str()),
        (CANARY_MINOR_NAME, id.as_str()),
        (CANARY_MINOR_NAME, minor_id.as_str()),
    ] {
        let (s, r, _) = app.idcheck_with(&app.key, &idcheck(name, cred)).await;
        assert_eq!(s, 200, "{r}");
        idcheck_ids.push(r["id"].as_str().unwrap().to_owned());
        answers.push(r.to_string());
    }
    let tencent_echo = Fault {
        errmsg: Some(format!("bad input: {CANARY_NAME} {id}")),
        ..Fault::result(Endpoint::TencentIdcard, "-2")
    };
    for (tencent, aliyun) in [
        (tencent_echo, None),
        (
            Fault::result(Endpoint::TencentIdcard, "-4"),
            Some(Fault::result(Endpoint::AliyunId2meta, "500")),
        ),
        (
            Fault::malformed(Endpoint::TencentIdcard),
            Some(Fault::drop_connection(Endpoint::AliyunId2meta)),
        ),
        (
            Fault::http_status(Endpoint::TencentIdcard, 502),
            Some(Fault::delay(
                Endpoint::AliyunId2meta,
                Duration::from_millis(1_500),
            )),
        ),
        (
            Fault::result(Endpoint::TencentIdcard, "AuthFailure.SignatureFailure"),
            Some(Fault::result(Endpoint::AliyunId2meta, "401")),
        ),
    ] {
        app.fault(tencent);
        if let Some(f) = aliyun {
            app.fault(f);
        }
        let (s, r, _) = app
            .idcheck_with(&app.key, &idcheck(CANARY_NAME, &minor_id))
            .await;
        assert!((400..600).contains(&s), "{r}");
        idcheck_ids.push(r["id"].as_str().unwrap_or_default().to_owned());
        answers.push(r.to_string());
    }
    app.sandbox.state().clear_faults();
    for bad in [
        json!({"real_name": CANARY_NAME, "cred_id": id}),
        json!({"real_name": format!("{CANARY_NAME}1"), "cred_id": id, "consent_ref": "c"}),
        json!({"real_name": CANARY_NAME, "cred_id": format!("{}0", &id[..17]), "consent_ref": "c"}),
        json!({"real_name": CANARY_NAME, "cred_id": id, "consent_ref": format!("c {id}")}),
        json!({"real_name": CANARY_NAME, "cred_id": id, "consent_ref": "c", id.as_str(): CANARY_NAME}),
    ] {
        let (s, r, _) = app.idcheck_with(&app.key, &bad).await;
        assert!((400..500).contains(&s), "{r}");
        answers.push(r.to_string());
    }
    loop {
        let (s, r, _) = app
            .idcheck_with(&app.key, &idcheck(CANARY_MINOR_NAME, &minor_id))
            .await;
        answers.push(r.to_string());
        if s == 429 {
            break;
        }
        assert_eq!(s, 200, "{r}");
    }
    for id in idcheck_ids.iter().filter(|i| !i.is_empty()) {
        let (s, r) = app.get(&format!("/v1/idchecks/{id}")).await;
        assert_eq!(s, 200, "{r}");
        answers.push(r.to_string());
    }

    // The other endpoints.
    let paths = [
        format!("/v1/verifications/{verification_id}"),
        format!("/v1/identities/{APPID}/{openid}"),
        format!("/v1/identities/{APPID}/{minor_openid}"),
        "/v1/verifications/nonexistent".to_owned(),
    ];
    for path in &paths {
        let (_, r) = app.get(path).await;
        answers.push(r.to_string());
    }
    for (name, cred) in [
        (CANARY_NAME, id.as_str()),
        (CANARY_MINOR_NAME, id.as_str()),
        (CANARY_NAME, CANARY_LEGACY_15),
        ("", id.as_str()),
    ] {
        let (_, r) = app
            .post(
                "/v1/identities/match",
                &json!({"openid": openid, "real_name": name, "cred_id": cred}),
            )
            .await;
        answers.push(r.to_string());
    }
    let (_, r) = app
        .post(
            "/v1/identities/match",
            &json!({"openid": openid, "real_name": CANARY_NAME, "cred_id": id}),
        )
        .await;
    assert_eq!(r["matches"], true, "{r}");
    for path in [
        "/admin/api/verifications?limit=500",
        "/admin/api/overview?window=day",
        "/admin/api/tokens",
    ] {
        let resp = app
            .http
            .get(app.url(path))
            .bearer_auth("test-admin-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        answers.push(resp.text().await.unwrap());
    }
    for path in ["/metrics", "/healthz", "/readyz", "/openapi.json"] {
        let text: String = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        answers.push(text);
    }

    // Answers and files: no value, and not even the birth dates.
    let birth_dates = [&id[6..14], &minor_id[6..14]];
    for a in &answers {
        inspect("an answer", a.as_bytes());
        for b in birth_dates {
            assert!(!a.contains(b), "an answer shows a birth date: {a}");
        }
    }
    assert!(
        answers.iter().any(|a| a.contains("麤**")),
        "the masked name is shown"
    );
    let mut files = 0;
    for entry in std::fs::read_dir(&app.data_dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        files += 1;
        for b in birth_dates {
            assert!(
                !find(&bytes, b.as_bytes()),
                "a data file holds a birth date"
            );
        }
    }
    assert!(files >= 2, "the database was found");
    assert!(
        find(&logs().lock().unwrap(), openid.as_bytes()),
        "the log capture works (openids are logged)"
    );
    scan_dir(&app.data_dir);
    assert_clean();
}

/// The detectors themselves: each kind of value is found, and the finding does not repeat it.
#[test]
fn detectors_find_each_kind_and_never_repeat_the_value() {
    let id = with_check(CANARY_ID_17);
    let cases = [
        format!("name={CANARY_NAME}"),
        format!("id={id}"),
        format!("x {CANARY_LEGACY_15} y"),
        format!("secret {}", sandbox::demo::SECRET),
        format!("key wxrn_{}_{} end", "a".repeat(12), "b".repeat(48)),
        format!("access_token={}", "0f".repeat(64)),
        "user 110101199003070039 (invalid, still a test value)".to_owned(),
    ];
    for case in &cases {
        let finding = examine("detector self-test", case.as_bytes())
            .unwrap_or_else(|| panic!("case {} not found", case.len()));
        assert!(!finding.contains(CANARY_NAME) && !finding.contains(&id));
        assert!(!finding.contains(sandbox::demo::SECRET) && !finding.contains(&"0f".repeat(64)));
    }
    for harmless in [
        "masked 530***********1234, 麤**, wxrn_0123456789ab, elapsed 1767225600000 ms",
        "wxrn_verification_duration_seconds_sum 0.000123456789012345",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ] {
        assert_eq!(examine("detector self-test", harmless.as_bytes()), None);
    }
}

/// Where a planted ID number goes in a request.
#[derive(Debug, Clone, Copy)]
enum Plant {
    VerifyOpenid,
    VerifyCode,
    VerifyPurpose,
    VerifyAppid,
    VerifyUnknownField,
    IdempotencyKey,
    /// A header the gateway neither reads nor refuses: the verification runs (and reaches WeChat) as usual.
    OtherHeader(&'static str),
    Authorization,
    MatchOpenid,
    MatchAppid,
    VerificationPath,
    IdentityPath,
    EraseIdentityPath,
    QueryString,
    AdminQuery,
}

const PLANTS: [Plant; 17] = [
    Plant::VerifyOpenid,
    Plant::VerifyCode,
    Plant::VerifyPurpose,
    Plant::VerifyAppid,
    Plant::VerifyUnknownField,
    Plant::IdempotencyKey,
    Plant::OtherHeader("user-agent"),
    Plant::OtherHeader("x-request-id"),
    Plant::OtherHeader("x-forwarded-for"),
    Plant::Authorization,
    Plant::MatchOpenid,
    Plant::MatchAppid,
    Plant::VerificationPath,
    Plant::IdentityPath,
    Plant::EraseIdentityPath,
    Plant::QueryString,
    Plant::AdminQuery,
];

/// A valid ID number (born 1950-2019) written the way someone might slip it into a field.
fn planted_id() -> impl proptest::strategy::Strategy<Value = (String, String)> {
    use proptest::prelude::*;
    let province = prop::sample::select(vec!["11", "31", "44", "51", "53", "65"]);
    (province, 0..10_000u32, 0..26_000i64, 0..1_000u32, 0..6usize).prop_map(
        |(province, county, day, seq, disguise)| {
            let born = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap()
                + chrono::Days::new(day as u64);
            let first17 = format!("{province}{county:04}{}{seq:03}", born.format("%Y%m%d"));
            let id = with_check(&first17);
            let shown = match disguise {
                0 => id.clone(),
                1 => format!("{} {} {}", &id[..6], &id[6..14], &id[14..]),
                2 => format!("{}-{}-{}-{}", &id[..6], &id[6..10], &id[10..14], &id[14..]),
                3 => id
                    .chars()
                    .map(|c| match c {
                        '0'..='9' => char::from_u32(0xFF10 + (c as u32 - '0' as u32)).unwrap(),
                        _ => 'Ｘ',
                    })
                    .collect(),
                4 => format!("ref:{}", id.to_ascii_lowercase()),
                _ => id.chars().map(String::from).collect::<Vec<_>>().join(" "),
            };
            (id, shown)
        },
    )
}

/// Issue 12 §4: a valid ID number planted in a free-text field or a header of any endpoint, plainly or disguised
/// (spaces, hyphens, full-width digits, embedded in text), never reaches the database files, a log line (at trace
/// level), `/metrics` or WeChat. The fields the gateway would keep, log or send (`openid`, `purpose`, the
/// `Idempotency-Key`) refuse it with 422 `personal_data_in_field`, with no WeChat call.
#[test]
fn an_id_number_planted_in_any_field_or_header_reaches_no_file_log_metric_or_wechat() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(
        TestApp::builder()
            .config(|c| {
                c.limits.per_openid_per_day = 0;
                c.limits.per_key_per_second = 0;
            })
            .spawn(),
    );
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let seen: Mutex<Vec<u16>> = Mutex::default();
    let result = runner.run(
        &(planted_id(), proptest::sample::select(PLANTS.to_vec())),
        |((id, shown), plant)| {
            // Header values are visible ASCII: a full-width disguise goes in as the plain number.
            let ascii = if shown.is_ascii() {
                shown.clone()
            } else {
                id.clone()
            };
            let logged_before = logs().lock().unwrap().len();
            let checks_before = app.checks();
            let user = &USERS[0];
            let mut body = json!({"openid": user.openid, "real_name": user.submit_name,
                "cred_id": user.submit_cred_id, "code": app.consent(user.openid)});
            let (status, answer) = rt.block_on(async {
                let http = &app.http;
                let verify = http
                    .post(app.url("/v1/verifications"))
                    .bearer_auth(&app.key);
                let matching = http
                    .post(app.url("/v1/identities/match"))
                    .bearer_auth(&app.key);
                let match_body = json!({"openid": user.openid, "real_name": user.submit_name,
                    "cred_id": user.submit_cred_id});
                let req = match plant {
                    Plant::VerifyOpenid => verify.json(&{
                        body["openid"] = json!(shown);
                        body
                    }),
                    Plant::VerifyCode => verify.json(&{
                        body["code"] = json!(shown);
                        body
                    }),
                    Plant::VerifyPurpose => verify.json(&{
                        body["purpose"] = json!(shown);
                        body
                    }),
                    Plant::VerifyAppid => verify.json(&{
                        body["appid"] = json!(shown);
                        body
                    }),
                    Plant::VerifyUnknownField => verify.json(&{
                        body[shown.as_str()] = json!(1);
                        body
                    }),
                    Plant::IdempotencyKey => verify.json(&body).header("idempotency-key", &ascii),
                    Plant::OtherHeader(name) => verify.json(&body).header(name, &ascii),
                    Plant::Authorization => http
                        .post(app.url("/v1/verifications"))
                        .header("authorization", format!("Bearer wxrn_{ascii}"))
                        .json(&body),
                    Plant::MatchOpenid => matching.json(&{
                        let mut b = match_body;
                        b["openid"] = json!(shown);
                        b
                    }),
                    Plant::MatchAppid => matching.json(&{
                        let mut b = match_body;
                        b["appid"] = json!(shown);
                        b
                    }),
                    Plant::VerificationPath => http
                        .get(app.url(&format!("/v1/verifications/{ascii}")))
                        .bearer_auth(&app.key),
                    Plant::IdentityPath => http
                        .get(app.url(&format!("/v1/identities/{APPID}/{ascii}")))
                        .bearer_auth(&app.key),
                    Plant::EraseIdentityPath => http
                        .delete(app.url(&format!("/v1/identities/{APPID}/{ascii}")))
                        .bearer_auth(&app.key),
                    Plant::QueryString => http
                        .get(app.url(&format!("/v1/verifications/x?ref={ascii}")))
                        .bearer_auth(&app.key),
                    Plant::AdminQuery => http
                        .get(app.url(&format!("/admin/api/verifications?limit={ascii}")))
                        .bearer_auth("test-admin-token"),
                };
                let resp = req.send().await.unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            });
            seen.lock().unwrap().push(status);
            let answer_json: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
            match plant {
                Plant::VerifyOpenid
                | Plant::VerifyPurpose
                | Plant::IdempotencyKey
                | Plant::MatchOpenid => prop_assert_eq!(
                    (status, error_code(&answer_json)),
                    (422, "personal_data_in_field"),
                    "{:?}: {}",
                    plant,
                    answer
                ),
                Plant::OtherHeader(_) => prop_assert_eq!(status, 200, "{:?}: {}", plant, answer),
                // The limit is parsed as a number and clamped: any answer but a 5xx will do.
                Plant::AdminQuery => {
                    prop_assert!(status < 500, "{:?}: {} {}", plant, status, answer)
                }
                _ => prop_assert!(
                    (400..500).contains(&status),
                    "{:?}: {} {}",
                    plant,
                    status,
                    answer
                ),
            }
            let wechat_calls = app.checks() - checks_before;
            let expected_calls = u64::from(matches!(plant, Plant::OtherHeader(_)));
            prop_assert_eq!(wechat_calls, expected_calls, "{:?}: WeChat calls", plant);
            let metrics = rt.block_on(async {
                app.http
                    .get(app.url("/metrics"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            });
            let log = logs().lock().unwrap()[logged_before..].to_vec();
            let mut places = vec![
                ("the answer".to_owned(), answer.into_bytes()),
                ("/metrics".to_owned(), metrics.into_bytes()),
                ("the log".to_owned(), log),
            ];
            for entry in std::fs::read_dir(&app.data_dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_file() {
                    places.push((path.display().to_string(), std::fs::read(&path).unwrap()));
                }
            }
            for (place, bytes) in &places {
                for value in [&id, &shown, &ascii] {
                    if find(bytes, value.as_bytes()) {
                        return Err(TestCaseError::fail(format!(
                            "{plant:?}: the planted ID number ({} form) reached {place}",
                            if value == &id { "plain" } else { "disguised" }
                        )));
                    }
                }
            }
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        app.checks() > 0,
        "some planted requests went through to WeChat"
    );
    scan_dir(&app.data_dir);
    assert_clean();
}
