//! WeChat's check reply: `CheckResult::from_raw`, `CheckOutcome::from_raw` and `ErrCode`'s serde.
//!
//! The client's reply reader (`Client::exchange` and its field helpers: JSON object, `errcode`, the two string
//! fields) is private to the `wechat` crate, so this target reads the bytes the way it documents (a JSON
//! object; `errcode` absent or 0; `verify_openid` a string, `verify_real_name` a string or null) and hands the
//! fields to the public functions. Inputs that start with 0xFF skip JSON and feed the two raw strings directly
//! (split at the first 0x00), so the interpretation rules get fuzzed without the JSON detour.
//!
//! Beyond "no panic": the raw values are kept split, trimmed and non-empty; the outcome is what
//! `CheckOutcome::from_raw` says of them; rebuilding from the kept values gives the same result; `Match` is only
//! ever reported when every `verify_openid` value is `V_OP_NM_MA` and `verify_real_name` is `V_NM_ID_MA`;
//! any errcode survives a round trip through `ErrCode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use wechat::{CheckOutcome, CheckResult, ErrCode};

fuzz_target!(|data: &[u8]| {
    if let Some(raw) = data.strip_prefix(&[0xFF]) {
        let (a, b) = match raw.iter().position(|&x| x == 0) {
            Some(i) => (&raw[..i], Some(&raw[i + 1..])),
            None => (raw, None),
        };
        let (Ok(a), Ok(b)) = (
            std::str::from_utf8(a),
            b.map(std::str::from_utf8).transpose(),
        ) else {
            return;
        };
        check(a, b);
        return;
    }
    let Ok(Value::Object(reply)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    match reply.get("errcode") {
        None => {}
        Some(v @ Value::Number(n)) => {
            if let Some(code) = n.as_i64() {
                let parsed: ErrCode = serde_json::from_value(v.clone()).unwrap();
                assert_eq!(parsed.code(), code);
                assert_eq!(ErrCode::from_code(code), parsed);
                assert_eq!(serde_json::to_value(parsed).unwrap(), *v);
                assert!(!parsed.description().is_empty());
                if code != 0 {
                    return;
                }
            } else {
                // Not an i64 (a fraction, or beyond i64): the client calls the reply malformed.
                assert!(serde_json::from_value::<ErrCode>(v.clone()).is_err());
                return;
            }
        }
        Some(_) => return,
    }
    let Some(Value::String(verify_openid)) = reply.get("verify_openid") else {
        return;
    };
    let verify_real_name = match reply.get("verify_real_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return,
    };
    check(verify_openid, verify_real_name);
});

fn check(verify_openid: &str, verify_real_name: Option<&str>) {
    let r = CheckResult::from_raw(verify_openid, verify_real_name);
    assert_eq!(r.token_retries, 0);
    for v in &r.verify_openid {
        assert!(!v.is_empty() && v.trim() == v && !v.contains(';'));
    }
    if let Some(v) = &r.verify_real_name {
        assert!(!v.is_empty() && v.trim() == v);
    }
    assert_eq!(
        r.outcome,
        CheckOutcome::from_raw(&r.verify_openid, r.verify_real_name.as_deref())
    );
    // What is kept is enough to decide again.
    let again = CheckResult::from_raw(&r.verify_openid.join(";"), r.verify_real_name.as_deref());
    assert_eq!(again, r);
    match r.outcome {
        CheckOutcome::Match => {
            assert!(r.verify_openid.iter().all(|v| v == "V_OP_NM_MA"));
            assert_eq!(r.verify_real_name.as_deref(), Some("V_NM_ID_MA"));
        }
        CheckOutcome::IdMismatch => {
            assert!(r.verify_openid.iter().all(|v| v == "V_OP_NM_MA"));
            assert_eq!(r.verify_real_name.as_deref(), Some("V_NM_ID_UM"));
        }
        CheckOutcome::NotVerified => assert!(r.verify_openid.iter().any(|v| v == "V_OP_NA")),
        CheckOutcome::NameMismatch => assert!(r.verify_openid.iter().any(|v| v == "V_OP_NM_UM")),
        CheckOutcome::Unknown => {}
    }
    let json = serde_json::to_string(&r.outcome).unwrap();
    assert_eq!(json, format!("\"{}\"", r.outcome.as_str()));
    assert_eq!(
        serde_json::from_str::<CheckOutcome>(&json).unwrap(),
        r.outcome
    );
}
