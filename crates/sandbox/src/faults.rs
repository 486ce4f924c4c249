//! Injected faults: what the next calls of an endpoint do instead of (or on top of) answering normally.
//!
//! Semantics, one queue per endpoint, each fault applied to its next `times` calls:
//! - `errcode`: answer `{"errcode", "errmsg"}` without processing (no token issued, no code consumed);
//! - `http_status`: that status with a short HTML body (as WeChat's front proxies send), not processed;
//! - `malformed`: HTTP 200 with a truncated, non-JSON body, not processed;
//! - `body`: HTTP 200 with exactly this JSON, not processed (for odd `verify_openid` values and the like);
//! - `drop`: the call IS processed (a code is consumed, a token issued), then the connection is closed
//!   without any response, so the client sees a transport error and cannot know the outcome;
//! - `delay_ms`: wait this long (real time) before answering; alone, the call is processed first, so a
//!   client that times out has still spent its code. Combines with each of the above.
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The endpoints the sandbox serves: WeChat's four and the two paid providers' (both at `POST /`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `GET /cgi-bin/token`
    Token,
    /// `POST /cgi-bin/stable_token`
    StableToken,
    /// `GET /sns/jscode2session`
    Jscode2session,
    /// `POST /intp/realname/checkrealnameinfo`
    Checkrealnameinfo,
    /// `POST /` with `X-TC-Action: IdCardVerification` (Tencent Cloud FaceID)
    TencentIdcard,
    /// `POST /` with `x-acs-action: Id2MetaVerify` (Aliyun Cloudauth)
    AliyunId2meta,
}

impl Endpoint {
    pub const ALL: [Endpoint; 6] = [
        Endpoint::Token,
        Endpoint::StableToken,
        Endpoint::Jscode2session,
        Endpoint::Checkrealnameinfo,
        Endpoint::TencentIdcard,
        Endpoint::AliyunId2meta,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::StableToken => "stable_token",
            Endpoint::Jscode2session => "jscode2session",
            Endpoint::Checkrealnameinfo => "checkrealnameinfo",
            Endpoint::TencentIdcard => "tencent_idcard",
            Endpoint::AliyunId2meta => "aliyun_id2meta",
        }
    }

    /// Whether this is one of the paid providers' endpoints (which take `result`, not `errcode`).
    pub fn is_provider(self) -> bool {
        matches!(self, Endpoint::TencentIdcard | Endpoint::AliyunId2meta)
    }
}

/// One fault, as posted to `POST /sandbox/faults`. At most one of `errcode`, `result`, `http_status`,
/// `malformed`, `body` and `drop` may be set; `delay_ms` combines with any of them. `errcode` is for WeChat's
/// endpoints, `result` for the providers'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub endpoint: Endpoint,
    /// How many of the next calls this applies to (at least 1).
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    /// The `errmsg` sent with `errcode`; WeChat's usual text for that code if absent. On a paid provider's
    /// endpoint: the text in place of its own `Description` / `Message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errmsg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub malformed: bool,
    #[serde(default)]
    pub drop: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// A provider answer to force, without processing: a Tencent `Result` ("-4") or error `Code`
    /// ("InternalError"), an Aliyun business `Code` ("402") or gateway error `Code` ("Throttling.User").
    /// Billed as the spec's rules bill that answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

fn one() -> u32 {
    1
}

/// Longest delay accepted: ten minutes is past any sane client timeout.
const MAX_DELAY_MS: u64 = 600_000;

impl Fault {
    /// A fault with nothing set yet: answers normally, once.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            times: 1,
            errcode: None,
            errmsg: None,
            http_status: None,
            delay_ms: None,
            malformed: false,
            drop: false,
            body: None,
            result: None,
        }
    }
    /// Answer `errcode` without processing.
    pub fn errcode(endpoint: Endpoint, errcode: i64) -> Self {
        Self {
            errcode: Some(errcode),
            ..Self::new(endpoint)
        }
    }
    /// Answer this HTTP status with an HTML body, without processing.
    pub fn http_status(endpoint: Endpoint, status: u16) -> Self {
        Self {
            http_status: Some(status),
            ..Self::new(endpoint)
        }
    }
    /// Answer a body that is not JSON, without processing.
    pub fn malformed(endpoint: Endpoint) -> Self {
        Self {
            malformed: true,
            ..Self::new(endpoint)
        }
    }
    /// Answer exactly this JSON, without processing.
    pub fn body(endpoint: Endpoint, body: serde_json::Value) -> Self {
        Self {
            body: Some(body),
            ..Self::new(endpoint)
        }
    }
    /// Force a provider answer (a Tencent `Result` or error `Code`, an Aliyun `Code`), without processing.
    pub fn result(endpoint: Endpoint, result: &str) -> Self {
        Self {
            result: Some(result.to_owned()),
            ..Self::new(endpoint)
        }
    }
    /// Process, then close the connection without a response.
    pub fn drop_connection(endpoint: Endpoint) -> Self {
        Self {
            drop: true,
            ..Self::new(endpoint)
        }
    }
    /// Process, then answer after `d`.
    pub fn delay(endpoint: Endpoint, d: Duration) -> Self {
        Self::new(endpoint).with_delay(d)
    }
    pub fn with_delay(mut self, d: Duration) -> Self {
        self.delay_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.times == 0 {
            return Err("times must be at least 1".into());
        }
        let answers = [
            self.errcode.is_some(),
            self.http_status.is_some(),
            self.malformed,
            self.body.is_some(),
            self.drop,
            self.result.is_some(),
        ];
        if answers.iter().filter(|set| **set).count() > 1 {
            return Err(
                "set at most one of errcode, result, http_status, malformed, body and drop".into(),
            );
        }
        if self.endpoint.is_provider() && self.errcode.is_some() {
            return Err("errcode is for WeChat's endpoints; use result for a provider".into());
        }
        if !self.endpoint.is_provider() && self.result.is_some() {
            return Err("result is for the providers' endpoints; use errcode for WeChat".into());
        }
        if let Some(r) = &self.result
            && providers::sanitize_code(r) != *r
        {
            return Err("result must be a provider code (A-Z, a-z, 0-9, '.', '_', '-')".into());
        }
        if self.errmsg.is_some() && self.errcode.is_none() && self.result.is_none() {
            return Err("errmsg goes with errcode (WeChat) or result (a paid provider)".into());
        }
        if let Some(s) = self.http_status
            && !(200..=599).contains(&s)
        {
            return Err("http_status must be between 200 and 599".into());
        }
        if self.delay_ms.is_some_and(|d| d > MAX_DELAY_MS) {
            return Err(format!("delay_ms must be at most {MAX_DELAY_MS}"));
        }
        Ok(())
    }

    pub(crate) fn delay_duration(&self) -> Option<Duration> {
        self.delay_ms.map(Duration::from_millis)
    }

    /// Whether the call is answered from the fault alone, without being processed.
    pub(crate) fn short_circuits(&self) -> bool {
        self.errcode.is_some()
            || self.http_status.is_some()
            || self.malformed
            || self.body.is_some()
    }
}
