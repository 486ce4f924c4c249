//! Name + ID-number ("two-factor") checks through the providers an organisation without WeChat's real-name
//! permission can still buy: Tencent Cloud FaceID `IdCardVerification` and Aliyun Cloudauth `Id2MetaVerify`
//! (the spec: `second-providers.md`; what it leaves open: docs/assumptions.md).
//!
//! Both calls cost money per answer, so this crate makes exactly one HTTP call per check (no retries, no
//! redirects) and every error says whether the call may have been billed ([`Error::may_have_been_billed`]) and
//! whether another provider may be asked ([`Error::fails_over`]). The name and ID number travel only as
//! [`identity::RealName`] and [`identity::CredId`] (whose `Debug` masks) and only in the request body; errors
//! keep the provider's code, never its free text; credentials are `secrecy` types.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use providers::{HttpConfig, Provider, TencentCredentials, TencentFaceId};
//! let creds = TencentCredentials {
//!     secret_id: std::env::var("WXRN_TENCENT_SECRET_ID")?.into(),
//!     secret_key: std::env::var("WXRN_TENCENT_SECRET_KEY")?.into(),
//! };
//! let tencent = Provider::Tencent(TencentFaceId::new(&HttpConfig::new(providers::tencent::DEFAULT_BASE_URL), creds)?);
//! let answer = tencent
//!     .check(&identity::RealName::parse("张三")?, &identity::CredId::parse("110101199003070038")?)
//!     .await?;
//! println!("{} (billed: {})", answer.outcome.as_str(), answer.billed);
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `sign/`: [`sign::tc3`] and [`sign::acs3`], the signers, shared with the sandbox (which checks them).
//! - `tencent.rs`: [`TencentFaceId`], [`TencentResult`] (codes, billing), the error-code classification.
//! - `aliyun.rs`: [`AliyunCloudauth`], [`BizCode`], the `Code` classification.
//! - `http.rs`: [`HttpConfig`], the built client (from `upstream::client`, as WeChat's is), one send with its
//!   clock skew, transport failures as [`Error`]s; [`Clock`] is `upstream`'s; `error.rs`: [`Error`], and the
//!   pieces both answer readers use (`Error::declined`, `Error::malformed`, `code_text`).
pub mod aliyun;
mod error;
mod http;
pub mod sign;
pub mod tencent;

pub use aliyun::{AliyunCloudauth, AliyunCredentials, BizCode};
pub use error::{Error, InvalidField, Result, sanitize_code};
pub use http::{Clock, HttpConfig, SystemClock};
pub use tencent::{TencentCredentials, TencentFaceId, TencentResult};

use identity::{CredId, RealName};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Instant;

/// Which API a provider speaks (the config's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Tencent Cloud FaceID `IdCardVerification`.
    TencentFaceid,
    /// Aliyun Cloudauth `Id2MetaVerify`.
    AliyunCloudauth,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TencentFaceid => "tencent_faceid",
            Self::AliyunCloudauth => "aliyun_cloudauth",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider's verdict on a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Match,
    Mismatch,
    /// The ID number is not in the authoritative records (Tencent "-5", Aliyun BizCode 3).
    NoRecord,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::Mismatch => "mismatch",
            Self::NoRecord => "no_record",
        }
    }
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub provider: ProviderKind,
    pub outcome: Outcome,
    /// Whether this answer is billed (the spec's rules: Tencent "0"/"-1", Aliyun BizCode 1/2).
    pub billed: bool,
    /// The provider's result code (`"0"`, `"-5"`, BizCode `"1"`).
    pub code: String,
    /// The provider's request id, for a support ticket.
    pub request_id: Option<String>,
}

/// One configured provider, whatever its API.
#[derive(Debug, Clone)]
pub enum Provider {
    Tencent(TencentFaceId),
    Aliyun(AliyunCloudauth),
}

impl Provider {
    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Tencent(_) => ProviderKind::TencentFaceid,
            Self::Aliyun(_) => ProviderKind::AliyunCloudauth,
        }
    }

    /// One check: exactly one HTTP call. Counts `wxrn_provider_requests_total{provider, result}` and
    /// `wxrn_provider_billed_total{provider}`, and logs a clock skew as such.
    pub async fn check(&self, name: &RealName, id: &CredId) -> Result<Answer> {
        let started = Instant::now();
        let result = match self {
            Self::Tencent(c) => c.id_card_verification(name, id).await,
            Self::Aliyun(c) => c.id2meta_verify(name, id).await,
        };
        let provider = self.kind().as_str();
        let label = match &result {
            Ok(a) => a.outcome.as_str(),
            Err(e) => e.kind(),
        };
        metrics::counter!("wxrn_provider_requests_total", "provider" => provider, "result" => label)
            .increment(1);
        metrics::histogram!("wxrn_provider_request_duration_seconds", "provider" => provider)
            .record(started.elapsed().as_secs_f64());
        match &result {
            Ok(a) => {
                if a.billed {
                    metrics::counter!("wxrn_provider_billed_total", "provider" => provider)
                        .increment(1);
                }
                tracing::debug!(provider, result = label, billed = a.billed, code = %a.code, "provider answered");
            }
            Err(Error::ClockSkew {
                code, skew_secs, ..
            }) => {
                tracing::error!(
                    provider,
                    code = %code,
                    skew_secs = ?skew_secs,
                    "clock skew: the provider refused this host's request timestamp; check the clock (NTP)"
                );
            }
            Err(e) => {
                tracing::warn!(provider, result = label, code = ?e.code(), may_have_been_billed = e.may_have_been_billed(), error = %e, "provider call failed");
            }
        }
        result
    }
}
