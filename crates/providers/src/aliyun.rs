//! Aliyun Cloudauth `Id2MetaVerify` (2019-03-07, spec §2): `POST /` with a form body
//! (`IdentifyNum`, `ParamType=normal`, `UserName`), signed with ACS3-HMAC-SHA256. A business answer is HTTP
//! 200 with `Code` (and, for `Code` 200, `ResultObject.BizCode`); a gateway-level refusal (signature, key) is a
//! 4xx/5xx with a JSON `Code`. `Code` and `BizCode` are read as strings or numbers (spec §2.5).
use crate::error::{InvalidField, code_text, sanitize_code};
use crate::http::{Clock, Http, HttpConfig, SystemClock};
use crate::sign::{acs3, sha256_hex};
use crate::{Answer, Error, Outcome, ProviderKind, Result};
use identity::{CredId, RealName};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::Arc;
use std::time::SystemTime;

pub const DEFAULT_BASE_URL: &str = "https://cloudauth.aliyuncs.com";
pub const ACTION: &str = "Id2MetaVerify";
pub const VERSION: &str = "2019-03-07";
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// How far `x-acs-date` may be from Aliyun's clock (15 minutes, spec §2.3).
pub const MAX_SKEW_SECS: i64 = 900;

const PROVIDER: ProviderKind = ProviderKind::AliyunCloudauth;

/// An AccessKey pair. Both are held as secrets: `Debug` shows neither.
#[derive(Debug, Clone)]
pub struct AliyunCredentials {
    pub access_key_id: SecretString,
    pub access_key_secret: SecretString,
}

/// `ResultObject.BizCode`, with the billing rule (spec §2.5, from the international doc: 1 and 2 billed, 3 not;
/// docs/assumptions.md says why we apply it to the domestic API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BizCode {
    /// 1: 校验一致
    Consistent,
    /// 2: 校验不一致
    Inconsistent,
    /// 3: 查无记录
    NoRecord,
}

impl BizCode {
    pub const ALL: [Self; 3] = [Self::Consistent, Self::Inconsistent, Self::NoRecord];

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.code() == code)
    }
    pub fn code(self) -> &'static str {
        match self {
            Self::Consistent => "1",
            Self::Inconsistent => "2",
            Self::NoRecord => "3",
        }
    }
    pub fn billed(self) -> bool {
        !matches!(self, Self::NoRecord)
    }
    pub fn outcome(self) -> Outcome {
        match self {
            Self::Consistent => Outcome::Match,
            Self::Inconsistent => Outcome::Mismatch,
            Self::NoRecord => Outcome::NoRecord,
        }
    }
}

/// What a business `Code` other than 200 means (spec §2.5's 返回码 table). Never billed.
pub fn classify_code(code: &str) -> Error {
    let code = sanitize_code(code);
    match code.as_str() {
        // 参数不能为空 / 参数非法: the input, which the next provider would refuse as well.
        "400" | "401" => Error::InvalidInput {
            provider: PROVIDER,
            code,
            field: InvalidField::Unspecified,
        },
        // 权威源服务异常 / 系统错误.
        "402" | "500" => Error::Unavailable {
            provider: PROVIDER,
            code,
        },
        // 异常重复调用 / 未开通服务 / RAM无权限 / 欠费中, and codes we do not know: an operator must look.
        _ => Error::Refused {
            provider: PROVIDER,
            code,
        },
    }
}

/// What a gateway-level error `Code` (an HTTP 4xx/5xx with JSON) means. Never billed.
pub fn classify_gateway_code(status: u16, code: &str, skew_secs: Option<i64>) -> Error {
    let code = sanitize_code(code);
    if code.starts_with("InvalidTimeStamp") {
        return Error::ClockSkew {
            provider: PROVIDER,
            code,
            skew_secs,
        };
    }
    let try_later = status >= 500
        || ["Throttling", "ServiceUnavailable", "InternalError"]
            .iter()
            .any(|p| code.starts_with(p));
    Error::declined(PROVIDER, code, try_later)
}

/// The Cloudauth client. Cheap to clone. One HTTP call per check: no retries, no redirects.
#[derive(Debug, Clone)]
pub struct AliyunCloudauth {
    http: Http,
    creds: AliyunCredentials,
    clock: Arc<dyn Clock>,
}

/// `x-acs-date`'s format: UTC, `yyyy-MM-ddTHH:mm:ssZ`.
pub fn acs_date(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl AliyunCloudauth {
    pub fn new(cfg: &HttpConfig, creds: AliyunCredentials) -> Result<Self> {
        if creds.access_key_id.expose_secret().is_empty()
            || creds.access_key_secret.expose_secret().is_empty()
        {
            return Err(Error::Config(
                "the Aliyun AccessKey id and secret must be set".into(),
            ));
        }
        Ok(Self {
            http: Http::new(cfg)?,
            creds,
            clock: Arc::new(SystemClock),
        })
    }

    /// Read `x-acs-date` from `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Asks whether `name` and `id` belong together.
    #[tracing::instrument(name = "aliyun_id2meta", skip_all)]
    pub async fn id2meta_verify(&self, name: &RealName, id: &CredId) -> Result<Answer> {
        // The body is exactly the canonical form of the parameters, so what is hashed is what is sent.
        let body = acs3::canonical_query(&[
            ("IdentifyNum", id.expose()),
            ("ParamType", "normal"),
            ("UserName", name.expose()),
        ]);
        let sent_at = self.clock.now();
        let date = acs_date(sent_at);
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = hex::encode(nonce);
        let content_sha256 = sha256_hex(body.as_bytes());
        let headers = [
            ("host", self.http.host.as_str()),
            ("content-type", CONTENT_TYPE),
            ("x-acs-action", ACTION),
            ("x-acs-version", VERSION),
            ("x-acs-date", date.as_str()),
            ("x-acs-signature-nonce", nonce.as_str()),
            ("x-acs-content-sha256", content_sha256.as_str()),
        ];
        let signature = acs3::sign(
            &self.creds.access_key_secret,
            &acs3::Acs3Request {
                method: "POST",
                path: "/",
                query: &[],
                headers: &headers,
                payload: body.as_bytes(),
            },
        );
        let mut request = self
            .http
            .client
            .post(self.http.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::AUTHORIZATION,
                signature.authorization(self.creds.access_key_id.expose_secret()),
            );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let sent = self
            .http
            .send(PROVIDER, request.body(body), sent_at)
            .await?;
        let (status, skew) = (sent.status, sent.skew_secs);
        sent.read(|body| parse_response(status, body, skew)).await
    }
}

fn malformed(detail: &str) -> Error {
    Error::malformed(PROVIDER, detail)
}

pub(crate) fn parse_response(status: u16, bytes: &[u8], skew_secs: Option<i64>) -> Result<Answer> {
    let value: Option<Value> = serde_json::from_slice(bytes).ok();
    if !(200..300).contains(&status) {
        // Aliyun's gateway answers its own refusals with a JSON Code; anything else is someone else's page.
        return match value
            .as_ref()
            .and_then(|v| v.get("Code"))
            .and_then(code_text)
        {
            Some(code) => Err(classify_gateway_code(status, &code, skew_secs)),
            None => Err(Error::HttpStatus {
                provider: PROVIDER,
                status,
            }),
        };
    }
    let value = value.ok_or_else(|| malformed("the body is not JSON"))?;
    let code = value
        .get("Code")
        .and_then(code_text)
        .ok_or_else(|| malformed("no Code"))?;
    if code != "200" {
        return Err(classify_code(&code));
    }
    let request_id = value
        .get("RequestId")
        .and_then(Value::as_str)
        .map(sanitize_code);
    let biz = value
        .pointer("/ResultObject/BizCode")
        .and_then(code_text)
        .ok_or_else(|| malformed("Code 200 without ResultObject.BizCode"))?;
    let biz = BizCode::parse(&biz).ok_or_else(|| malformed("an unknown BizCode"))?;
    Ok(Answer {
        provider: PROVIDER,
        outcome: biz.outcome(),
        billed: biz.billed(),
        code: biz.code().to_owned(),
        request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biz_codes_as_strings_or_numbers() {
        for (biz, outcome, billed) in [
            ("\"1\"", Outcome::Match, true),
            ("1", Outcome::Match, true),
            ("\"2\"", Outcome::Mismatch, true),
            ("2", Outcome::Mismatch, true),
            ("\"3\"", Outcome::NoRecord, false),
            ("3", Outcome::NoRecord, false),
        ] {
            for code in ["\"200\"", "200"] {
                let body = format!(
                    r#"{{"RequestId":"D616-33","Code":{code},"Message":"success","ResultObject":{{"BizCode":{biz}}}}}"#
                );
                let a = parse_response(200, body.as_bytes(), None).unwrap();
                assert_eq!((a.outcome, a.billed), (outcome, billed), "{biz}");
                assert_eq!(a.request_id.as_deref(), Some("D616-33"));
            }
        }
    }

    #[test]
    fn business_codes_are_classified() {
        for (code, kind) in [
            ("400", "invalid_input"),
            ("401", "invalid_input"),
            ("402", "unavailable"),
            ("403", "refused"),
            ("410", "refused"),
            ("411", "refused"),
            ("412", "refused"),
            ("500", "unavailable"),
            ("999", "refused"),
        ] {
            for json in [format!("\"{code}\""), code.to_owned()] {
                let body = format!(r#"{{"RequestId":"r","Code":{json},"Message":"张三"}}"#);
                let e = parse_response(200, body.as_bytes(), None).unwrap_err();
                assert_eq!(e.kind(), kind, "{code}");
                assert!(!e.may_have_been_billed());
                assert_eq!(e.fails_over(), kind != "invalid_input");
                assert!(!e.to_string().contains("张三"));
            }
        }
    }

    #[test]
    fn gateway_refusals_are_classified() {
        for (status, code, kind) in [
            (400, "SignatureDoesNotMatch", "refused"),
            (404, "InvalidAccessKeyId.NotFound", "refused"),
            (400, "InvalidTimeStamp.Expired", "clock_skew"),
            (400, "Throttling.User", "unavailable"),
            (503, "ServiceUnavailable", "unavailable"),
            (500, "Whatever", "unavailable"),
        ] {
            let body = format!(r#"{{"RequestId":"r","Code":"{code}","Message":"m"}}"#);
            let e = parse_response(status, body.as_bytes(), Some(1000)).unwrap_err();
            assert_eq!(e.kind(), kind, "{code}");
            assert!(!e.may_have_been_billed());
        }
        let e = parse_response(502, b"<html>bad gateway</html>", None).unwrap_err();
        assert!(matches!(e, Error::HttpStatus { status: 502, .. }));
        assert!(e.may_have_been_billed());
    }

    #[test]
    fn unreadable_answers_are_malformed() {
        for body in [
            &b"{"[..],
            br#"{"Code":"200"}"#,
            br#"{"Code":"200","ResultObject":{"BizCode":"4"}}"#,
            br#"{"ResultObject":{"BizCode":"1"}}"#,
            br#"{"Code":true}"#,
        ] {
            let e = parse_response(200, body, None).unwrap_err();
            assert_eq!(e.kind(), "malformed");
            assert!(e.may_have_been_billed());
        }
    }

    #[test]
    fn the_date_is_utc_in_the_documented_format() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1698315752);
        assert_eq!(acs_date(t), "2023-10-26T10:22:32Z");
    }
}
