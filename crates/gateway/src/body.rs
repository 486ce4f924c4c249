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
    serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidRequest(describe(&e)))
}

fn describe(e: &serde_json::Error) -> Msg {
    use serde_json::error::Category;
    match e.classify() {
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
            // An unknown key is the caller's text, which may be anything (an ID number used as a key): it is
            // repeated only when it looks like a misspelt field name, lower-case letters and '_' (found by the
            // request-body fuzz target checks it).
            if let Some(rest) = msg.strip_prefix("unknown field `") {
                return match rest.split_once('`') {
                    Some((field, _)) if is_plain_key(field) => {
                        request::UNKNOWN_FIELD_NAMED.msg(&[("field", &field)])
                    }
                    _ => request::UNKNOWN_FIELD.into(),
                };
            }
            request::WRONG_TYPE.into()
        }
    }
}

fn is_plain_key(key: &str) -> bool {
    (1..=40).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        cred_id: String,
    }

    #[test]
    fn messages_never_echo_values() {
        for (body, want) in [
            (&br#"{"cred_id": 110105194912310021}"#[..], "wrong type"),
            (br#"{"cred_id": ["11010519491231002X"]}"#, "wrong type"),
            (br#"{}"#, "missing field `cred_id`"),
            (
                br#"{"cred_id": "x", "real_name_typo": "x"}"#,
                "unknown field `real_name_typo`",
            ),
            (br#"{"cred_id": "11010519491231002X""#, "not valid JSON"),
            (
                br#"{"cred_id": "x", "11010519491231002X": 1}"#,
                "unknown field",
            ),
            (r#"{"cred_id": "x", "张三": 1}"#.as_bytes(), "unknown field"),
        ] {
            let err = parse::<T>(body).unwrap_err();
            let ApiError::InvalidRequest(msg) = err else {
                panic!("{err:?}")
            };
            assert!(msg.en.contains(want), "{msg:?}");
            for m in [&msg.en, &msg.zh] {
                assert!(!m.contains("110105") && !m.contains("张三"), "{m}");
            }
        }
    }
}
