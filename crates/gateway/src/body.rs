//! JSON bodies, parsed without ever echoing a submitted value.
//!
//! serde_json's messages quote the offending value ("invalid type: integer `110105...`"), which may be an ID
//! number, so only the kind of failure and, for missing or unknown fields, the field's name are reported.

use crate::error::ApiError;
use i18n::Msg;
use i18n::api::request;
use serde::de::DeserializeOwned;

/// Map a failure to read the body (too large, cut off) to the envelope.
pub fn bytes(
    read: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, ApiError> {
    read.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::invalid_request(request::BODY_UNREADABLE)
        }
    })
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidRequest(describe(&e, bytes)))
}

fn describe(e: &serde_json::Error, body: &[u8]) -> Msg {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof if looks_form_encoded(body) => {
            request::FORM_ENCODED.into()
        }
        Category::Syntax | Category::Eof => request::NOT_JSON.into(),
        Category::Io => request::BODY_UNREADABLE.into(),
        Category::Data => {
            let msg = e.to_string();
            // "missing field `openid` at line 1 column 20": the field name is ours, safe to repeat.
            if let Some(field) = msg
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
            {
                return request::MISSING_FIELD.msg(&[("field", &field)]);
            }
            // "unknown field `realName`, expected one of `openid`, ... at line 1 column 12". The expected names
            // are ours; the unknown key is the caller's text, which may be anything (an ID number or a name used
            // as a key): it is repeated only when it cannot be one (see `is_plain_key`; the request-body fuzz
            // target checks it).
            if let Some((field, expected)) = split_unknown_field(&msg) {
                let expected: Vec<&str> = expected
                    .split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|name| is_plain_key(name))
                    .collect();
                let fields = expected
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                if !is_plain_key(field) {
                    return request::UNKNOWN_FIELD_HIDDEN.msg(&[("fields", &fields)]);
                }
                return match nearest(field, &expected) {
                    Some(s) => {
                        request::UNKNOWN_FIELD_SUGGEST.msg(&[("field", &field), ("suggestion", &s)])
                    }
                    None => {
                        request::UNKNOWN_FIELD_LIST.msg(&[("field", &field), ("fields", &fields)])
                    }
                };
            }
            request::WRONG_TYPE.into()
        }
    }
}

/// serde_json's "unknown field `KEY`, expected one of `a`, `b` at line 1 column 12" as (KEY, "one of `a`, `b`").
/// KEY is the caller's text and may itself hold backticks, "`, expected " or " at line ": only the parts after it
/// are ours, so the message is split from the end.
fn split_unknown_field(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let rest = rest.rsplit_once(" at line ").map_or(rest, |(r, _)| r);
    rest.rsplit_once("`, expected ").or_else(|| {
        rest.rsplit_once("`, there are no fields")
            .map(|(f, _)| (f, ""))
    })
}

/// A key that cannot be personal data: ASCII letters, digits (at most three: an ID number has 17, a phone number
/// 11), `_`, `-` and `.`, at most 40 bytes. Names (Chinese characters) and numbers are never repeated.
fn is_plain_key(key: &str) -> bool {
    (1..=40).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && key.bytes().filter(u8::is_ascii_digit).count() <= 3
}

/// `key=value` pairs joined by `&`, as HTML forms and `curl -d a=b` send.
fn looks_form_encoded(body: &[u8]) -> bool {
    let body = body.trim_ascii();
    !body.is_empty()
        && !matches!(body[0], b'{' | b'[' | b'"')
        && body
            .split(|b| *b == b'&')
            .all(|pair| pair.iter().position(|b| *b == b'=').is_some_and(|i| i > 0))
}

/// The field a mistyped one most likely meant: `realName` -> `real_name`.
fn nearest<'a>(typed: &str, fields: &[&'a str]) -> Option<&'a str> {
    let folded = typed.to_ascii_lowercase().replace(['_', '-', '.'], "");
    fields
        .iter()
        .map(|f| (strsim::jaro_winkler(&folded, &f.replace('_', "")), *f))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        cred_id: String,
        real_name: Option<String>,
    }

    #[test]
    fn messages_never_echo_values() {
        for (body, want) in [
            (
                &br#"{"cred_id": 110105194912310021}"#[..],
                "a field has the wrong type",
            ),
            (
                br#"{"cred_id": ["11010519491231002X"]}"#,
                "a field has the wrong type",
            ),
            (br#"{}"#, "missing field `cred_id`"),
            (
                br#"{"cred_id": "x", "real_name_typo": "x"}"#,
                "unknown field `real_name_typo`: did you mean `real_name`?",
            ),
            (
                br#"{"cred_id": "x", "zzz": "x"}"#,
                "unknown field `zzz`; the fields are `cred_id`, `real_name`",
            ),
            (
                br#"{"cred_id": "x", "realName": "x"}"#,
                "unknown field `realName`: did you mean `real_name`?",
            ),
            (
                br#"{"cred_id": "x", "credId": "x"}"#,
                "unknown field `credId`: did you mean `cred_id`?",
            ),
            (br#"{"cred_id": "11010519491231002X""#, request::NOT_JSON.en),
            (
                b"openid=o1&cred_id=11010519491231002X",
                request::FORM_ENCODED.en,
            ),
            (
                // Found by the fuzz target: a key that imitates the message's own parts must not leak its digits.
                br#"{"cred_id": "x", "q`, expected `119970038` at line 1 column 2": 1}"#,
                "unknown field (its name is not repeated: it may hold personal data); the fields are `cred_id`",
            ),
            (
                br#"{"cred_id": "x", "11010519491231002X": 1}"#,
                "unknown field (its name is not repeated: it may hold personal data); the fields are `cred_id`",
            ),
            (
                r#"{"cred_id": "x", "张三": 1}"#.as_bytes(),
                "unknown field (its name is not repeated",
            ),
            (
                br#"{"cred_id": "x", "phone13800138000": 1}"#,
                "unknown field (its name is not repeated",
            ),
        ] {
            let err = parse::<T>(body).unwrap_err();
            let ApiError::InvalidRequest(msg) = err else {
                panic!("{err:?}")
            };
            assert!(
                msg.en.starts_with(want),
                "{} -> {msg:?}",
                String::from_utf8_lossy(body)
            );
            for m in [&msg.en, &msg.zh] {
                assert!(
                    !m.contains("110105") && !m.contains("张三") && !m.contains("138001"),
                    "{m}"
                );
            }
        }
    }
}
