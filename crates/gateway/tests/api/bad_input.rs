//! Bad input over real HTTP: random and mutated bodies on both POST endpoints (proptest); in `limits.rs`,
//! oversized bodies (honest, lying and absent Content-Length, chunked) and slow clients (headers or body never
//! finished).
//!
//! Every answer is the documented one: a 4xx in the error envelope, never a 5xx, and WeChat is never called.
//! The expected answer of each generated body is computed with the same parsers the gateway uses
//! (`gateway::body::parse`, `identity`), in the pipeline's order, so a mutation that happens to stay valid is
//! classified, not counted as a failure: on `/v1/identities/match` it must answer 200 "no match", on
//! `/v1/verifications` it is not sent (it would spend a WeChat call) and is counted instead.

mod limits;

use crate::helpers::*;
use gateway::routes::VerifyRequest;
use identity::{CredId, OpenId, RealName, contains_cred_id};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;

const VERIFY: &str = "/v1/verifications";
const MATCH: &str = "/v1/identities/match";

/// What the gateway must answer to a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Error(u16, &'static str),
    /// A valid match request: 200, no identity to match (no verification ever succeeds in these tests).
    NoMatch,
    /// A valid verification: it would reach WeChat, so it is not sent.
    WouldCallWeChat,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct MatchBody {
    appid: Option<String>,
    openid: String,
    real_name: String,
    cred_id: String,
}

/// The pipeline's checks before anything is spent, in its order (`routes/verify/request.rs::validate`,
/// `routes/identities.rs::matches`), for a caller whose key is bound to the demo app.
fn predict(path: &str, body: &[u8], max_body: usize) -> Expect {
    use Expect::Error;
    if body.len() > max_body {
        return Error(413, "payload_too_large");
    }
    let today = identity::today_in_china();
    let name_and_id = |appid: Option<&str>, name: &str, cred: &str| {
        if appid.is_some_and(|a| a != APPID) {
            Some(Error(403, "forbidden_app"))
        } else if RealName::parse(name).is_err() {
            Some(Error(422, "invalid_real_name"))
        } else if CredId::parse_on(cred, today).is_err() {
            Some(Error(422, "invalid_cred_id"))
        } else {
            None
        }
    };
    // An openid: no ID number in it, then the charset and length.
    let bad_openid = |openid: &str| {
        if contains_cred_id(openid) {
            Some(Error(422, "personal_data_in_field"))
        } else if OpenId::parse(openid).is_err() {
            Some(Error(422, "invalid_openid"))
        } else {
            None
        }
    };
    if path == MATCH {
        let Ok(m) = gateway::body::parse::<MatchBody>(body) else {
            return Error(400, "invalid_request");
        };
        if m.appid.as_deref().is_some_and(|a| a != APPID) {
            return Error(403, "forbidden_app");
        }
        if let Some(e) = bad_openid(&m.openid) {
            return e;
        }
        return name_and_id(None, &m.real_name, &m.cred_id).unwrap_or(Expect::NoMatch);
    }
    let Ok(req) = gateway::body::parse::<VerifyRequest>(body) else {
        return Error(400, "invalid_request");
    };
    if req.appid.as_deref().is_some_and(|a| a != APPID) {
        return Error(403, "forbidden_app");
    }
    if let Some(e) = bad_openid(&req.openid) {
        return e;
    }
    if let Some(e) = name_and_id(
        None,
        req.real_name.expose_secret(),
        req.cred_id.expose_secret(),
    ) {
        return e;
    }
    let cred_type_ok = match &req.cred_type {
        None => true,
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        Some(Value::String(s)) => s == "1",
        Some(_) => false,
    };
    if !cred_type_ok {
        return Error(422, "unsupported_cred_type");
    }
    let code = req.code.trim();
    if code.is_empty() || code.len() > 256 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Error(400, "invalid_request");
    }
    if contains_cred_id(code) {
        return Error(422, "personal_data_in_field");
    }
    let purpose = req.purpose.as_deref().map(str::trim).unwrap_or("");
    if purpose.chars().count() > 200 || purpose.chars().any(char::is_control) {
        return Error(400, "invalid_request");
    }
    if contains_cred_id(purpose) {
        return Error(422, "personal_data_in_field");
    }
    Expect::WouldCallWeChat
}

fn template(path: &str) -> Map<String, Value> {
    let u = &USERS[0];
    let mut body =
        json!({"openid": u.openid, "real_name": u.submit_name, "cred_id": u.submit_cred_id});
    if path == VERIFY {
        body["code"] = json!("proptest-code");
    }
    body.as_object().unwrap().clone()
}

#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Retype(usize, Value),
    Garble(usize, String),
    Splice(usize, usize, String),
    Oversize(usize, usize),
    Unknown(String, Value),
    /// An optional field (cred_type, purpose, appid, guardian_consent, code) set to any value.
    Set(usize, Value),
}

const OPTIONAL: [&str; 5] = ["cred_type", "purpose", "appid", "guardian_consent", "code"];

fn nth_key(body: &Map<String, Value>, i: usize) -> Option<String> {
    body.keys().nth(i % body.len().max(1)).cloned()
}

impl Mutation {
    fn apply(&self, body: &mut Map<String, Value>) {
        match self {
            Mutation::Drop(i) => {
                if let Some(k) = nth_key(body, *i) {
                    body.remove(&k);
                }
            }
            Mutation::Retype(i, v) => {
                if let Some(k) = nth_key(body, *i) {
                    body[&k] = v.clone();
                }
            }
            Mutation::Garble(i, junk) => {
                if let Some(k) = nth_key(body, *i) {
                    body[&k] = json!(junk);
                }
            }
            Mutation::Oversize(i, n) => {
                if let Some(k) = nth_key(body, *i) {
                    let old = body[&k].as_str().unwrap_or("x").to_owned();
                    // At most ~40 KB, so bodies stay under the 1 MiB the gateway drains after a 413 (beyond
                    // it, it cuts the connection while the client is still sending: tested in `limits.rs`).
                    let n = (*n).min(40_000 / old.len().max(1) + 1);
                    body[&k] = json!(old.repeat(n));
                }
            }
            Mutation::Splice(i, at, junk) => {
                if let Some(k) = nth_key(body, *i)
                    && let Some(old) = body[&k].as_str()
                {
                    let mut chars: Vec<char> = old.chars().collect();
                    let at = at % (chars.len() + 1);
                    chars.splice(at..at, junk.chars());
                    body[&k] = json!(chars.into_iter().collect::<String>());
                }
            }
            Mutation::Unknown(k, v) => {
                body.insert(k.clone(), v.clone());
            }
            Mutation::Set(i, v) => {
                body.insert(OPTIONAL[i % OPTIONAL.len()].to_owned(), v.clone());
            }
        }
    }
}

/// Raw texts serde_json must refuse or that probe its edges.
#[derive(Debug, Clone)]
enum Raw {
    /// A field's value replaced by a number literal: huge, tiny, long.
    Number(usize, String),
    /// `depth` nested arrays or objects, as the whole body or as a field's value; closed or not.
    Deep(usize, bool, bool, bool),
    /// The valid body cut short.
    Truncated(usize),
    /// The valid body followed by anything.
    Trailing(String),
    /// A byte-order mark first.
    Bom,
    /// A field twice.
    Duplicate(usize),
    /// Invalid UTF-8 inside a string.
    BadUtf8(usize, u8),
}

#[derive(Debug, Clone)]
enum Case {
    Bytes(Vec<u8>),
    Json(Value),
    Mutated(Vec<Mutation>),
    Raw(Raw),
}

impl Case {
    fn render(&self, path: &str) -> Vec<u8> {
        let valid = template(path);
        let text = serde_json::to_string(&valid).unwrap();
        let field = |i: &usize| valid.keys().nth(i % valid.len()).unwrap().clone();
        match self {
            Case::Bytes(b) => b.clone(),
            Case::Json(v) => serde_json::to_vec(v).unwrap(),
            Case::Mutated(ms) => {
                let mut body = valid.clone();
                ms.iter().for_each(|m| m.apply(&mut body));
                serde_json::to_vec(&body).unwrap()
            }
            Case::Raw(Raw::Number(i, n)) => {
                let k = field(i);
                let old = serde_json::to_string(&valid[&k]).unwrap();
                text.replacen(&format!("\"{k}\":{old}"), &format!("\"{k}\":{n}"), 1)
                    .into_bytes()
            }
            Case::Raw(Raw::Deep(depth, objects, closed, as_field)) => {
                let (open, close) = if *objects {
                    ("{\"a\":", "}")
                } else {
                    ("[", "]")
                };
                let mut nested = open.repeat(*depth) + "1";
                if *closed {
                    nested += &close.repeat(*depth);
                }
                if *as_field {
                    text.replacen("{", &format!("{{\"deep\":{nested},"), 1)
                        .into_bytes()
                } else {
                    nested.into_bytes()
                }
            }
            Case::Raw(Raw::Truncated(at)) => text.as_bytes()[..at % text.len()].to_vec(),
            Case::Raw(Raw::Trailing(junk)) => (text + junk).into_bytes(),
            Case::Raw(Raw::Bom) => format!("\u{FEFF}{text}").into_bytes(),
            Case::Raw(Raw::Duplicate(i)) => {
                let k = field(i);
                text.replacen('{', &format!("{{\"{k}\":\"x\","), 1)
                    .into_bytes()
            }
            Case::Raw(Raw::BadUtf8(i, byte)) => {
                let k = field(i);
                let mut bytes = text
                    .replacen(&format!("\"{k}\":\""), &format!("\"{k}\":\"\u{1}"), 1)
                    .into_bytes();
                if let Some(p) = bytes.iter().position(|b| *b == 1) {
                    bytes[p] = 0x80 | (byte & 0x7F);
                }
                bytes
            }
        }
    }
}

fn junk() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        ".{0,40}",
        prop::collection::vec(any::<char>(), 0..40).prop_map(String::from_iter),
        Just(String::new()),
        Just("\u{3000}\u{200B}\u{FEFF}".to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        junk().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(junk(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let idx = 0..16usize;
    prop_oneof![
        idx.clone().prop_map(Mutation::Drop),
        (idx.clone(), json_value()).prop_map(|(i, v)| Mutation::Retype(i, v)),
        (idx.clone(), junk()).prop_map(|(i, s)| Mutation::Garble(i, s)),
        (idx.clone(), 0..40usize, junk()).prop_map(|(i, at, s)| Mutation::Splice(i, at, s)),
        (idx.clone(), 2..3_000usize).prop_map(|(i, n)| Mutation::Oversize(i, n)),
        ("[a-z_]{1,12}|\\PC{1,12}", json_value()).prop_map(|(k, v)| Mutation::Unknown(k, v)),
        (idx, json_value()).prop_map(|(i, v)| Mutation::Set(i, v)),
    ]
}

fn raw() -> impl Strategy<Value = Raw> {
    let number = prop_oneof![
        Just("1e999999".to_owned()),
        Just("-1e400".to_owned()),
        Just("1e-400".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("-0".to_owned()),
        (1..5_000usize).prop_map(|n| "9".repeat(n)),
        (1..200usize).prop_map(|n| format!("0.{}1", "0".repeat(n))),
    ];
    prop_oneof![
        (0..16usize, number).prop_map(|(i, n)| Raw::Number(i, n)),
        (1..3_000usize, any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(d, o, c, f)| Raw::Deep(d, o, c, f)),
        (0..200usize).prop_map(Raw::Truncated),
        junk().prop_map(Raw::Trailing),
        Just(Raw::Bom),
        (0..16usize).prop_map(Raw::Duplicate),
        (0..16usize, any::<u8>()).prop_map(|(i, b)| Raw::BadUtf8(i, b)),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..2_048).prop_map(Case::Bytes),
        2 => json_value().prop_map(Case::Json),
        5 => prop::collection::vec(mutation(), 1..4).prop_map(Case::Mutated),
        2 => raw().prop_map(Case::Raw),
    ]
}

#[test]
fn random_and_mutated_bodies_get_their_documented_4xx_and_never_reach_wechat() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(TestApp::spawn());
    let max_body = app.cfg.limits.max_body_bytes;
    let seen: Mutex<BTreeMap<String, u32>> = Mutex::default();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(
        &(prop_oneof![Just(VERIFY), Just(MATCH)], case()),
        |(path, case)| {
            let body = case.render(path);
            let expect = predict(path, &body, max_body);
            let label = match expect {
                Expect::Error(s, code) => format!("{s} {code}"),
                other => format!("{other:?}"),
            };
            *seen.lock().unwrap().entry(label).or_default() += 1;
            if expect == Expect::WouldCallWeChat {
                return Ok(());
            }
            let (status, answer) = rt.block_on(async {
                let resp = app
                    .http
                    .post(app.url(path))
                    .bearer_auth(&app.key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.text().await.unwrap())
            });
            crate::canary::inspect("a response", answer.as_bytes());
            let answer: Value = serde_json::from_str(&answer)
                .map_err(|_| TestCaseError::fail(format!("{status}: not JSON: {answer}")))?;
            match expect {
                Expect::Error(want, code) => {
                    prop_assert_eq!((status, error_code(&answer)), (want, code), "{}", answer);
                    prop_assert!(
                        answer["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty())
                    );
                }
                _ => prop_assert_eq!(
                    (status, answer),
                    (200, json!({"matches": false, "verified_at": null}))
                ),
            }
            prop_assert_eq!(app.checks(), 0, "WeChat was called");
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner().unwrap();
    eprintln!("bad-input cases by expected answer: {seen:?}");
    let total: u32 = seen.values().sum();
    let skipped = seen.get("WouldCallWeChat").copied().unwrap_or(0);
    assert!(
        skipped * 10 < total,
        "too many mutations stayed valid: {seen:?}"
    );
    for kind in [
        "400 invalid_request",
        "422 invalid_real_name",
        "422 invalid_cred_id",
        "413 payload_too_large",
    ] {
        assert!(seen.contains_key(kind), "no case produced {kind}: {seen:?}");
    }
    assert_eq!(app.checks(), 0);
    assert_eq!(app.token_fetches(), 0, "nothing came near WeChat");
}
