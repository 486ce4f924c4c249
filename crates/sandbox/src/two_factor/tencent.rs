//! Tencent Cloud FaceID `IdCardVerification`, simulated. Always HTTP 200 with `{"Response": ...}`.
//!
//! Checks in this order, the first failure answers `Response.Error`: the action (`InvalidAction`) and version
//! (`NoSuchVersion`); the `Authorization` header's shape (`AuthFailure.InvalidAuthorization`); the SecretId
//! (`AuthFailure.SecretIdNotFound`); `X-TC-Timestamp` within 300 s of the sandbox clock
//! (`AuthFailure.SignatureExpire`); the signature, recomputed over the headers the client says it signed,
//! which must include `content-type` and `host` (`AuthFailure.SignatureFailure`); the body (`MissingParameter`,
//! `InvalidParameter`). Then the verdict: an invalid ID number `-2`, an invalid name `-3`, an ID number nobody
//! registered `-5`, registered under this name `0`, under another name `-1`. Billed: `0` and `-1` only.
use super::{Reply, answer, header_str, request_id, signed_values};
use crate::data::{Data, PersonVerdict};
use crate::server::ConnKill;
use crate::{Endpoint, SandboxState};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use providers::sign::{signatures_equal, tc3};
use providers::tencent::{ACTION, MAX_SKEW_SECS, SERVICE, TencentResult, VERSION};
use secrecy::SecretString;
use serde_json::{Value, json};

pub(super) async fn handle(
    state: &SandboxState,
    kill: Option<ConnKill>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let process = Box::new(move |data: &mut Data, now: DateTime<Utc>| {
        match check(data, now, &headers, &body) {
            Ok(result) => result_reply(result),
            Err(code) => error_reply(code),
        }
    });
    answer(state, Endpoint::TencentIdcard, kill, forced, process).await
}

/// A fault's `result`: a `Result` code ("-4") or an error `Code` ("InternalError").
fn forced(result: &str) -> Reply {
    match TencentResult::parse(result) {
        Some(r) => result_reply(r),
        None => error_reply(result),
    }
}

fn result_reply(result: TencentResult) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: json!({"Response": {
            "Result": result.code(),
            "Description": result.description(),
            "RequestId": request_id(),
        }}),
        billed: result.billed(),
        label: result.code().to_owned(),
    }
}

fn error_reply(code: &str) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: json!({"Response": {
            "Error": {"Code": code, "Message": message(code)},
            "RequestId": request_id(),
        }}),
        billed: false,
        label: code.to_owned(),
    }
}

/// Tencent's wording for the errors the sandbox raises itself (the common error-code page).
fn message(code: &str) -> &'static str {
    match code {
        "AuthFailure.SignatureFailure" => {
            "The provided credentials could not be validated. Please check your signature is correct."
        }
        "AuthFailure.SecretIdNotFound" => {
            "The SecretId is not found, please ensure that your SecretId is correct."
        }
        "AuthFailure.SignatureExpire" => {
            "Signature expired. Timestamp and server time cannot differ by more than 5 minutes."
        }
        "AuthFailure.InvalidAuthorization" => "Authorization is invalid.",
        "InvalidAction" => "The action requested is invalid.",
        "NoSuchVersion" => "The requested version does not exist.",
        "MissingParameter" => "A required parameter is missing.",
        "InvalidParameter" => "A parameter is invalid.",
        _ => "The sandbox was asked to answer this error.",
    }
}

fn check(
    data: &Data,
    now: DateTime<Utc>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TencentResult, &'static str> {
    if header_str(headers, "x-tc-action") != Some(ACTION) {
        return Err("InvalidAction");
    }
    if header_str(headers, "x-tc-version") != Some(VERSION) {
        return Err("NoSuchVersion");
    }
    let auth = header_str(headers, "authorization")
        .and_then(tc3::parse_authorization)
        .ok_or("AuthFailure.InvalidAuthorization")?;
    let secret_key = data
        .providers
        .tencent_keys
        .get(&auth.secret_id)
        .ok_or("AuthFailure.SecretIdNotFound")?;
    let timestamp: i64 = header_str(headers, "x-tc-timestamp")
        .and_then(|t| t.parse().ok())
        .ok_or("AuthFailure.InvalidAuthorization")?;
    if (now.timestamp() - timestamp).abs() > MAX_SKEW_SECS {
        tracing::debug!(
            skew_secs = now.timestamp() - timestamp,
            "tencent: timestamp too far off"
        );
        return Err("AuthFailure.SignatureExpire");
    }
    let signs_the_basics = ["content-type", "host"]
        .iter()
        .all(|h| auth.signed_headers.iter().any(|s| s == h));
    let values = signed_values(headers, &auth.signed_headers)
        .filter(|_| signs_the_basics && auth.service == SERVICE)
        .ok_or("AuthFailure.SignatureFailure")?;
    let expected = tc3::sign(
        &SecretString::from(secret_key.clone()),
        &tc3::Tc3Request {
            method: "POST",
            service: SERVICE,
            timestamp,
            headers: &values,
            payload: body,
        },
    )
    .ok_or("AuthFailure.SignatureFailure")?;
    if expected.date != auth.date || !signatures_equal(&expected.signature, &auth.signature) {
        return Err("AuthFailure.SignatureFailure");
    }
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return Err("InvalidParameter");
    };
    let field = |name: &str| match req.get(name) {
        None | Some(Value::Null) => Err("MissingParameter"),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err("InvalidParameter"),
    };
    let (id_card, name) = (field("IdCard")?, field("Name")?);
    Ok(match data.providers.verdict(name, id_card, now) {
        PersonVerdict::InvalidCredId => TencentResult::InvalidIdCard,
        PersonVerdict::InvalidName => TencentResult::InvalidName,
        PersonVerdict::NoRecord => TencentResult::NoRecord,
        PersonVerdict::Match => TencentResult::Match,
        PersonVerdict::Mismatch => TencentResult::Mismatch,
    })
}
