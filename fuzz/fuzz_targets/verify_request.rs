//! A `POST /v1/verifications` body: `gateway::body::parse::<VerifyRequest>` and then the field checks the
//! pipeline applies before anything reaches WeChat (openid, name, ID number, cred_type, code, purpose), with the
//! same library calls. API-key and appid resolution need a running gateway: the HTTP property test
//! (`crates/gateway/tests/api/bad_input.rs`) covers them.
//!
//! Beyond "no panic": a parse failure is always `invalid_request` with one of the documented sentences, naming
//! at most one of our own field names (or a lower-case identifier the caller sent as a key) and never quoting a
//! value; a field rejection's error body (what the caller receives) never quotes the name or the ID number; a
//! valid body's masked forms hide the birth date.
#![no_main]

use chrono::NaiveDate;
use gateway::error::ApiError;
use gateway::routes::VerifyRequest;
use secrecy::ExposeSecret;
use identity::{CredId, OpenId, RealName};
use libfuzzer_sys::fuzz_target;

const FIELDS: [&str; 8] = [
    "appid",
    "openid",
    "real_name",
    "cred_id",
    "cred_type",
    "code",
    "purpose",
    "guardian_consent",
];

fuzz_target!(|data: &[u8]| {
    match gateway::body::parse::<VerifyRequest>(data) {
        Ok(req) => fields(&req),
        Err(ApiError::InvalidRequest(message)) => {
            parse_message(&message.en, data);
            no_digit_runs_quoted(&message.zh, data);
        }
        Err(other) => panic!(
            "a body parse failure must be invalid_request, not {}",
            other.code()
        ),
    }
});

fn parse_message(message: &str, body: &[u8]) {
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix('`'))
            .map(str::to_owned)
    };
    if let Some(field) = named("missing field `") {
        assert!(FIELDS.contains(&field.as_str()), "missing field {field:?}");
    } else if message.starts_with("unknown field (its name is not repeated") {
        // A key that could be personal data is not repeated.
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        // "unknown field `realName`: did you mean `real_name`?" or "unknown field `x`; the fields are ...".
        let field = rest.split('`').next().unwrap_or_default();
        assert!(
            !field.is_empty()
                && field.len() <= 40
                && field
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
                && field.bytes().filter(u8::is_ascii_digit).count() <= 3,
            "an unknown key is echoed: {message:?}"
        );
    } else {
        assert!(
            [
                i18n::api::request::NOT_JSON.en,
                i18n::api::request::FORM_ENCODED.en,
                i18n::api::request::BODY_UNREADABLE.en,
                i18n::api::request::WRONG_TYPE.en,
            ]
            .contains(&message),
            "undocumented message {message:?}"
        );
    }
    no_digit_runs_quoted(message, body);
}

/// Mirrors `routes/verify/request.rs::validate` after authentication, in its order, up to the ID number (the checks
/// after it, cred_type, code and purpose, are comparisons on plain values).
fn fields(req: &VerifyRequest) {
    let (real_name, cred_id) = (req.real_name.expose_secret(), req.cred_id.expose_secret());
    let today = NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
    let rejection = if OpenId::parse(&req.openid).is_err() {
        Some(ApiError::InvalidOpenid)
    } else if let Err(e) = RealName::parse(real_name) {
        Some(ApiError::invalid_real_name(&e))
    } else if let Err(e) = CredId::parse_on(cred_id, today) {
        Some(ApiError::invalid_cred_id(&e))
    } else {
        None
    };
    if let Some(err) = rejection {
        let body = serde_json::to_string(&err.body()).unwrap();
        assert_eq!(err.status().as_u16(), 422);
        no_digit_runs_quoted(&body, cred_id.as_bytes());
        let name = real_name.trim();
        if name.chars().count() >= 2 && name.chars().all(|c| !c.is_ascii()) {
            assert!(!body.contains(name), "an error body quotes the name");
        }
        return;
    }
    // Valid name and ID number: what the gateway stores and shows is masked.
    let name = RealName::parse(real_name).unwrap();
    let cred = CredId::parse_on(cred_id, today).unwrap();
    let birth = &cred.expose()[6..14];
    assert!(!cred.masked().contains(birth));
    assert!(!format!("{cred:?} {name:?} {cred} {name}").contains(birth));
    if name.expose().chars().count() >= 2 {
        assert!(!name.masked().contains(name.expose()));
    }
}

/// No run of 5 or more digits from the input appears in `text` (the fixed sentences hold none).
fn no_digit_runs_quoted(text: &str, input: &[u8]) {
    for run in input
        .split(|b| !b.is_ascii_digit())
        .filter(|r| r.len() >= 5)
    {
        let run = std::str::from_utf8(run).unwrap();
        assert!(
            !text.contains(run),
            "{text:?} quotes a digit run of the input"
        );
    }
}
