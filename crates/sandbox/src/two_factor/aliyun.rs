//! Aliyun Cloudauth `Id2MetaVerify`, simulated.
//!
//! Gateway-level checks answer an HTTP 4xx with `{"RequestId", "HostId", "Code", "Message"}` and no
//! `ResultObject`, in this order: the action (`InvalidAction.NotFound`) and version (`InvalidVersion`); the
//! `Authorization` header's shape (`IncompleteSignature`); the AccessKey id (404
//! `InvalidAccessKeyId.NotFound`); `x-acs-date` within 15 minutes of the sandbox clock
//! (`InvalidTimeStamp.Expired`); `x-acs-content-sha256` against the body and the signature over the signed
//! headers, which must include `host`, `x-acs-action`, `x-acs-date`, `x-acs-signature-nonce` and
//! `x-acs-content-sha256` (`SignatureDoesNotMatch`); a nonce seen in the last 15 minutes
//! (`SignatureNonceUsed`). Then HTTP 200 with a business `Code`: `400` a parameter missing, `401` a parameter
//! invalid (a malformed name or ID number, a `ParamType` other than `normal`), else `200` with
//! `ResultObject.BizCode` 1 (match), 2 (mismatch) or 3 (no record). Billed: BizCode 1 and 2.
use super::{Reply, answer, header_str, request_id, signed_values};
use crate::data::{Data, PersonVerdict};
use crate::server::ConnKill;
use crate::{Endpoint, SandboxState};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use providers::BizCode;
use providers::aliyun::{ACTION, MAX_SKEW_SECS, VERSION};
use providers::sign::{acs3, sha256_hex, signatures_equal};
use secrecy::SecretString;
use serde_json::json;
use std::collections::HashMap;

pub(super) async fn handle(
    state: &SandboxState,
    kill: Option<ConnKill>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let process = Box::new(move |data: &mut Data, now: DateTime<Utc>| {
        match check(data, now, &uri, &headers, &body) {
            Ok(Ok(biz)) => biz_reply(biz),
            Ok(Err(code)) => code_reply(code),
            Err((status, code)) => gateway_reply(status, code),
        }
    });
    answer(state, Endpoint::AliyunId2meta, kill, forced, process).await
}

/// A fault's `result`: a business `Code` ("402") when numeric, else a gateway error `Code` (HTTP 400).
fn forced(result: &str) -> Reply {
    if result.bytes().all(|b| b.is_ascii_digit()) {
        code_reply(result)
    } else {
        gateway_reply(StatusCode::BAD_REQUEST, result)
    }
}

fn biz_reply(biz: BizCode) -> Reply {
    Reply {
        status: StatusCode::OK,
        body: json!({
            "RequestId": request_id(),
            "Code": "200",
            "Message": "success",
            "ResultObject": {"BizCode": biz.code()},
        }),
        billed: biz.billed(),
        label: format!("BizCode{}", biz.code()),
    }
}

fn code_reply(code: &str) -> Reply {
    let message = match code {
        "400" => "参数不能为空",
        "401" => "参数非法",
        "402" => "权威源服务异常",
        "403" => "异常重复调用",
        "410" => "未开通服务",
        "411" => "RAM无权限",
        "412" => "欠费中",
        "500" => "系统错误",
        _ => "The sandbox was asked to answer this code.",
    };
    Reply {
        status: StatusCode::OK,
        body: json!({"RequestId": request_id(), "Code": code, "Message": message}),
        billed: false,
        label: code.to_owned(),
    }
}

fn gateway_reply(status: StatusCode, code: &str) -> Reply {
    let message = match code {
        "SignatureDoesNotMatch" => "Specified signature does not match our calculation.",
        "InvalidAccessKeyId.NotFound" => "Specified access key is not found.",
        "InvalidTimeStamp.Expired" => "Specified time stamp or date value is expired.",
        "SignatureNonceUsed" => "Specified signature nonce was used already.",
        "IncompleteSignature" => "The request signature does not conform to Aliyun standards.",
        "InvalidAction.NotFound" => "Specified api is not found, please check your url and method.",
        "InvalidVersion" => "Specified parameter Version is not valid.",
        _ => "The sandbox was asked to answer this error.",
    };
    Reply {
        status,
        body: json!({
            "RequestId": request_id(),
            "HostId": "cloudauth.aliyuncs.com",
            "Code": code,
            "Message": message,
        }),
        billed: false,
        label: code.to_owned(),
    }
}

/// How long a signature nonce is remembered: the timestamp window, so a replay within it is caught.
const NONCE_MEMORY_SECS: i64 = MAX_SKEW_SECS;

type Checked = Result<Result<BizCode, &'static str>, (StatusCode, &'static str)>;

fn check(
    data: &mut Data,
    now: DateTime<Utc>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Checked {
    let refuse = |code| Err((StatusCode::BAD_REQUEST, code));
    if header_str(headers, "x-acs-action") != Some(ACTION) {
        return Err((StatusCode::NOT_FOUND, "InvalidAction.NotFound"));
    }
    if header_str(headers, "x-acs-version") != Some(VERSION) {
        return refuse("InvalidVersion");
    }
    let Some(auth) = header_str(headers, "authorization").and_then(acs3::parse_authorization)
    else {
        return refuse("IncompleteSignature");
    };
    let Some(secret) = data.providers.aliyun_keys.get(&auth.access_key_id).cloned() else {
        return Err((StatusCode::NOT_FOUND, "InvalidAccessKeyId.NotFound"));
    };
    let date = header_str(headers, "x-acs-date")
        .and_then(|d| NaiveDateTime::parse_from_str(d, "%Y-%m-%dT%H:%M:%SZ").ok())
        .map(|d| d.and_utc());
    let Some(date) = date else {
        return refuse("InvalidTimeStamp.Format");
    };
    if (now - date).num_seconds().abs() > MAX_SKEW_SECS {
        return refuse("InvalidTimeStamp.Expired");
    }
    let required = [
        "host",
        "x-acs-action",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
    ];
    let signs_required = required
        .iter()
        .all(|h| auth.signed_headers.iter().any(|s| s == h));
    let content_ok = header_str(headers, "x-acs-content-sha256") == Some(&sha256_hex(body));
    let Some(values) =
        signed_values(headers, &auth.signed_headers).filter(|_| signs_required && content_ok)
    else {
        return refuse("SignatureDoesNotMatch");
    };
    let query: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let query_refs: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected = acs3::sign(
        &SecretString::from(secret),
        &acs3::Acs3Request {
            method: "POST",
            path: uri.path(),
            query: &query_refs,
            headers: &values,
            payload: body,
        },
    );
    if !signatures_equal(&expected.signature, &auth.signature) {
        return refuse("SignatureDoesNotMatch");
    }
    let nonce = header_str(headers, "x-acs-signature-nonce").unwrap_or_default();
    let nonces = &mut data.providers.acs_nonces;
    nonces.retain(|_, seen| (now - *seen).num_seconds() <= NONCE_MEMORY_SECS);
    if nonces.insert(nonce.to_owned(), now).is_some() {
        return refuse("SignatureNonceUsed");
    }
    // Parameters may come in the query or the form body (the doc says "POST和GET").
    let mut params: HashMap<String, String> = query.into_iter().collect();
    params.extend(form_urlencoded::parse(body).into_owned());
    let (Some(param_type), Some(id), Some(name)) = (
        params.get("ParamType"),
        params.get("IdentifyNum"),
        params.get("UserName"),
    ) else {
        return Ok(Err("400"));
    };
    if param_type != "normal" {
        return Ok(Err("401"));
    }
    Ok(match data.providers.verdict(name, id, now) {
        PersonVerdict::InvalidCredId | PersonVerdict::InvalidName => Err("401"),
        PersonVerdict::NoRecord => Ok(BizCode::NoRecord),
        PersonVerdict::Match => Ok(BizCode::Consistent),
        PersonVerdict::Mismatch => Ok(BizCode::Inconsistent),
    })
}
