//! Tencent Cloud FaceID `IdCardVerification` (2018-03-01, spec §1): `POST /` with a JSON body, signed with
//! TC3-HMAC-SHA256 (service `faceid`). Answers, errors included, come as HTTP 200 with `{"Response": ...}`.
use crate::error::{InvalidField, code_text, sanitize_code};
use crate::http::{self, Clock, Http, HttpConfig, SystemClock};
use crate::sign::tc3;
use crate::{Answer, Error, Outcome, ProviderKind, Result};
use identity::{CredId, RealName};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

pub const DEFAULT_BASE_URL: &str = "https://faceid.tencentcloudapi.com";
pub const ACTION: &str = "IdCardVerification";
pub const VERSION: &str = "2018-03-01";
pub const SERVICE: &str = "faceid";
/// The `Content-Type` sent, byte for byte the value signed.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// How far `X-TC-Timestamp` may be from Tencent's clock (5 minutes).
pub const MAX_SKEW_SECS: i64 = 300;

const PROVIDER: ProviderKind = ProviderKind::TencentFaceid;

/// A SecretId / SecretKey pair. Both are held as secrets: `Debug` shows neither.
#[derive(Debug, Clone)]
pub struct TencentCredentials {
    pub secret_id: SecretString,
    pub secret_key: SecretString,
}

/// The request body. Holds the raw name and ID number only while it is serialised: no `Debug`.
#[derive(Serialize)]
struct IdCardVerificationRequest<'a> {
    #[serde(rename = "IdCard")]
    id_card: &'a str,
    #[serde(rename = "Name")]
    name: &'a str,
}

/// `IdCardVerificationResponse.Result`, with the spec's billing rule (§1.5: only "0" and "-1" are billed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TencentResult {
    /// "0": 姓名和身份证号一致
    Match,
    /// "-1": 姓名和身份证号不一致
    Mismatch,
    /// "-2": 非法身份证号
    InvalidIdCard,
    /// "-3": 非法姓名
    InvalidName,
    /// "-4": 证件库服务异常
    SourceError,
    /// "-5": 证件库中无此身份证记录
    NoRecord,
    /// "-6": 权威比对系统升级中
    Upgrading,
    /// "-7": 认证次数超过当日限制
    DailyLimit,
}

impl TencentResult {
    pub const ALL: [Self; 8] = [
        Self::Match,
        Self::Mismatch,
        Self::InvalidIdCard,
        Self::InvalidName,
        Self::SourceError,
        Self::NoRecord,
        Self::Upgrading,
        Self::DailyLimit,
    ];

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Match => "0",
            Self::Mismatch => "-1",
            Self::InvalidIdCard => "-2",
            Self::InvalidName => "-3",
            Self::SourceError => "-4",
            Self::NoRecord => "-5",
            Self::Upgrading => "-6",
            Self::DailyLimit => "-7",
        }
    }

    /// 收费结果码: "0" and "-1" only.
    pub fn billed(self) -> bool {
        matches!(self, Self::Match | Self::Mismatch)
    }

    /// Tencent's description (the sandbox answers it; the client never reads `Description`).
    pub fn description(self) -> &'static str {
        match self {
            Self::Match => "姓名和身份证号一致",
            Self::Mismatch => "姓名和身份证号不一致",
            Self::InvalidIdCard => "非法身份证号（长度、校验位等不正确）",
            Self::InvalidName => "非法姓名（长度、格式等不正确）",
            Self::SourceError => "证件库服务异常",
            Self::NoRecord => "证件库中无此身份证记录",
            Self::Upgrading => "权威比对系统升级中，请稍后再试",
            Self::DailyLimit => "认证次数超过当日限制",
        }
    }

    /// What the gateway makes of it: a verdict, or an error.
    pub fn into_result(self, request_id: Option<String>) -> Result<Answer> {
        let outcome = match self {
            Self::Match => Outcome::Match,
            Self::Mismatch => Outcome::Mismatch,
            Self::NoRecord => Outcome::NoRecord,
            Self::InvalidIdCard | Self::InvalidName => {
                return Err(Error::InvalidInput {
                    provider: PROVIDER,
                    code: self.code().to_owned(),
                    field: if self == Self::InvalidIdCard {
                        InvalidField::CredId
                    } else {
                        InvalidField::RealName
                    },
                });
            }
            Self::SourceError | Self::Upgrading | Self::DailyLimit => {
                return Err(Error::Unavailable {
                    provider: PROVIDER,
                    code: self.code().to_owned(),
                });
            }
        };
        Ok(Answer {
            provider: PROVIDER,
            outcome,
            billed: self.billed(),
            code: self.code().to_owned(),
            request_id,
        })
    }
}

/// What a `Response.Error.Code` means for us (spec §1.6). Errors are never billed.
pub fn classify_error(code: &str, skew_secs: Option<i64>) -> Error {
    let code = sanitize_code(code);
    if code == "AuthFailure.SignatureExpire" {
        return Error::ClockSkew {
            provider: PROVIDER,
            code,
            skew_secs,
        };
    }
    let try_later = [
        "InternalError",
        "RequestLimitExceeded",
        "LimitExceeded",
        "FailedOperation",
    ]
    .iter()
    .any(|p| code == *p || code.starts_with(&format!("{p}.")));
    // Refused: AuthFailure.*, UnauthorizedOperation.*, InvalidParameter*, InvalidAction, ...: our account,
    // credentials or request, which an operator must fix.
    Error::declined(PROVIDER, code, try_later)
}

/// The FaceID client. Cheap to clone. One HTTP call per check: no retries, no redirects.
#[derive(Debug, Clone)]
pub struct TencentFaceId {
    http: Http,
    creds: TencentCredentials,
    clock: Arc<dyn Clock>,
}

impl TencentFaceId {
    pub fn new(cfg: &HttpConfig, creds: TencentCredentials) -> Result<Self> {
        if creds.secret_id.expose_secret().is_empty() || creds.secret_key.expose_secret().is_empty()
        {
            return Err(Error::Config(
                "the Tencent SecretId and SecretKey must be set".into(),
            ));
        }
        Ok(Self {
            http: Http::new(cfg)?,
            creds,
            clock: Arc::new(SystemClock),
        })
    }

    /// Read request timestamps from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Asks whether `name` and `id` belong together.
    #[tracing::instrument(name = "tencent_idcard", skip_all)]
    pub async fn id_card_verification(&self, name: &RealName, id: &CredId) -> Result<Answer> {
        let body = serde_json::to_vec(&IdCardVerificationRequest {
            id_card: id.expose(),
            name: name.expose(),
        })
        .map_err(|_| Error::Config("the request could not be serialised".into()))?;
        let sent_at = self.clock.now();
        let timestamp = http::unix_secs(sent_at);
        let headers = [
            ("content-type", CONTENT_TYPE),
            ("host", self.http.host.as_str()),
        ];
        let signature = tc3::sign(
            &self.creds.secret_key,
            &tc3::Tc3Request {
                method: "POST",
                service: SERVICE,
                timestamp,
                headers: &headers,
                payload: &body,
            },
        )
        .ok_or_else(|| Error::Config("the clock is out of range".into()))?;
        let authorization = signature.authorization(self.creds.secret_id.expose_secret());
        let request = self
            .http
            .client
            .post(self.http.url.clone())
            .header(reqwest::header::HOST, &self.http.host)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header("X-TC-Action", ACTION)
            .header("X-TC-Version", VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header(reqwest::header::AUTHORIZATION, authorization)
            .body(body);
        let sent = self.http.send(PROVIDER, request, sent_at).await?;
        if sent.status != 200 {
            return Err(Error::HttpStatus {
                provider: PROVIDER,
                status: sent.status,
            });
        }
        let skew = sent.skew_secs;
        sent.read(|body| parse_response(body, skew)).await
    }
}

fn malformed(detail: &str) -> Error {
    Error::malformed(PROVIDER, detail)
}

/// Reads `{"Response": {"Result", "RequestId"}}` or `{"Response": {"Error": {"Code"}, "RequestId"}}`.
pub(crate) fn parse_response(bytes: &[u8], skew_secs: Option<i64>) -> Result<Answer> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| malformed("the body is not JSON"))?;
    let response = value
        .get("Response")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("no Response object"))?;
    let request_id = response
        .get("RequestId")
        .and_then(Value::as_str)
        .map(sanitize_code);
    if let Some(error) = response.get("Error") {
        let code = error
            .get("Code")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("Response.Error has no Code"))?;
        return Err(classify_error(code, skew_secs));
    }
    // A string per api.json; a number is read too, as a lenient client would.
    let result = response
        .get("Result")
        .ok_or_else(|| malformed("no Result and no Error"))?;
    let result =
        code_text(result).ok_or_else(|| malformed("Result is neither a string nor a number"))?;
    TencentResult::parse(&result)
        .ok_or_else(|| malformed("an unknown Result code"))?
        .into_result(request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_code_maps_as_the_spec_says() {
        let expect = [
            ("0", Ok((Outcome::Match, true))),
            ("-1", Ok((Outcome::Mismatch, true))),
            ("-2", Err("invalid_input")),
            ("-3", Err("invalid_input")),
            ("-4", Err("unavailable")),
            ("-5", Ok((Outcome::NoRecord, false))),
            ("-6", Err("unavailable")),
            ("-7", Err("unavailable")),
        ];
        for (code, want) in expect {
            let body = format!(
                r#"{{"Response":{{"Result":"{code}","Description":"x","RequestId":"r-1"}}}}"#
            );
            let got = parse_response(body.as_bytes(), None);
            match (got, want) {
                (Ok(a), Ok((outcome, billed))) => {
                    assert_eq!((a.outcome, a.billed), (outcome, billed), "{code}");
                    assert_eq!(a.code, code);
                    assert_eq!(a.request_id.as_deref(), Some("r-1"));
                }
                (Err(e), Err(kind)) => {
                    assert_eq!(e.kind(), kind, "{code}");
                    assert!(!e.may_have_been_billed(), "{code}");
                    assert_eq!(e.code(), Some(code));
                }
                (got, want) => panic!("{code}: got {got:?}, want {want:?}"),
            }
        }
        let e = parse_response(br#"{"Response":{"Result":"-2"}}"#, None).unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidInput {
                field: InvalidField::CredId,
                ..
            }
        ));
        let e = parse_response(br#"{"Response":{"Result":"-3"}}"#, None).unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidInput {
                field: InvalidField::RealName,
                ..
            }
        ));
        assert!(!e.fails_over());
    }

    #[test]
    fn error_codes_are_classified() {
        for (code, kind) in [
            ("AuthFailure.SignatureFailure", "refused"),
            ("AuthFailure.SecretIdNotFound", "refused"),
            ("AuthFailure.SignatureExpire", "clock_skew"),
            ("UnauthorizedOperation.Arrears", "refused"),
            ("UnauthorizedOperation.Nonactivated", "refused"),
            ("InternalError", "unavailable"),
            ("InternalError.Foo", "unavailable"),
            ("RequestLimitExceeded", "unavailable"),
            ("RequestLimitExceeded.UinLimitExceeded", "unavailable"),
            ("FailedOperation.UnKnown", "unavailable"),
            ("InvalidParameterValue", "refused"),
            ("InternalErrorX", "refused"),
        ] {
            let body = format!(
                r#"{{"Response":{{"Error":{{"Code":"{code}","Message":"张三 110101199003070038"}},"RequestId":"r"}}}}"#
            );
            let e = parse_response(body.as_bytes(), Some(400)).unwrap_err();
            assert_eq!(e.kind(), kind, "{code}");
            assert!(!e.may_have_been_billed());
            assert!(e.fails_over());
            // The provider's message is never kept.
            assert!(!e.to_string().contains("张三"), "{e}");
        }
        let e = parse_response(
            br#"{"Response":{"Error":{"Code":"AuthFailure.SignatureExpire"}}}"#,
            Some(-400),
        )
        .unwrap_err();
        assert!(matches!(
            e,
            Error::ClockSkew {
                skew_secs: Some(-400),
                ..
            }
        ));
    }

    #[test]
    fn unreadable_answers_are_malformed_and_may_have_been_billed() {
        for body in [
            &b"<html>"[..],
            br#"{"Result":"0"}"#,
            br#"{"Response":{}}"#,
            br#"{"Response":{"Result":"-8"}}"#,
            br#"{"Response":{"Result":true}}"#,
            br#"{"Response":{"Error":{}}}"#,
            br#"{"Response":{"Result":"0","#,
        ] {
            let e = parse_response(body, None).unwrap_err();
            assert_eq!(e.kind(), "malformed");
            assert!(e.may_have_been_billed());
            assert!(e.fails_over());
        }
        let a = parse_response(br#"{"Response":{"Result":0}}"#, None).unwrap();
        assert_eq!(a.outcome, Outcome::Match);
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let creds = TencentCredentials {
            secret_id: SecretString::from("AKIDsecretid000000".to_owned()),
            secret_key: SecretString::from("topsecretkey000000".to_owned()),
        };
        let client = TencentFaceId::new(&HttpConfig::new(DEFAULT_BASE_URL), creds).unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains("AKIDsecretid"), "{debug}");
        assert!(!debug.contains("topsecretkey"), "{debug}");
    }
}
