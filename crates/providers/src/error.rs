//! The crate's one error type.
//!
//! Which variant comes from where: the provider's own answers become `InvalidInput`, `Unavailable`, `Refused`
//! and `ClockSkew` (classified from its codes in `tencent.rs` and `aliyun.rs`); the HTTP layer (`http.rs`)
//! produces `NotSent`, `Timeout`, `Transport`, `HttpStatus` and `Malformed`; construction produces `Config`.
//!
//! Two questions a caller must be able to answer, and the methods that answer them:
//! - [`Error::may_have_been_billed`]: could this call have cost money? True exactly where the provider may
//!   have processed the request without us learning its answer (a timeout, a connection cut after sending,
//!   an unreadable answer, an HTTP error page). Such a call is never sent again to the same provider.
//! - [`Error::fails_over`]: may the check go to the next provider? Everything but `InvalidInput` (the next
//!   provider would refuse the same input) and `Config`.
//!
//! No variant carries request data, a URL, a secret or provider free text: the provider's `Code` is kept only
//! if it looks like a code (see [`sanitize_code`]); its `Message`/`Description` are dropped.
use crate::ProviderKind;
use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which input a provider refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidField {
    CredId,
    RealName,
    /// The provider did not say which (Aliyun's 400/401).
    Unspecified,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The provider refused the input as malformed (Tencent `-2`/`-3`, Aliyun `400`/`401`). Not billed.
    #[error("{provider} refused the input as invalid ({code})")]
    InvalidInput {
        provider: ProviderKind,
        code: String,
        field: InvalidField,
    },
    /// The provider answered that it cannot check now (Tencent `-4`/`-6`/`-7`, `InternalError`,
    /// `RequestLimitExceeded`, `FailedOperation`; Aliyun `402`/`500`, throttling). Not billed.
    #[error("{provider} cannot check now ({code})")]
    Unavailable {
        provider: ProviderKind,
        code: String,
    },
    /// The provider refused our credentials, account or request (`AuthFailure.*`, `UnauthorizedOperation.*`,
    /// Aliyun `403`/`410`/`411`/`412`, `SignatureDoesNotMatch`, ...): an operator must act. Not billed.
    #[error("{provider} refused the call ({code})")]
    Refused {
        provider: ProviderKind,
        code: String,
    },
    /// Our clock is further from the provider's than it tolerates (Tencent: 5 minutes,
    /// `AuthFailure.SignatureExpire`). `skew_secs` is provider time minus ours, from its `Date` header. Not billed.
    #[error("{provider} refused the call: clock skew ({code})")]
    ClockSkew {
        provider: ProviderKind,
        code: String,
        skew_secs: Option<i64>,
    },
    /// Provably never reached the provider: DNS, connect or TLS handshake failure. Not billed.
    #[error("request to {provider} not sent: {detail}")]
    NotSent {
        provider: ProviderKind,
        detail: String,
    },
    /// The timeout elapsed after the connection was made: the provider may have processed (and billed) it.
    #[error("request to {provider} timed out")]
    Timeout { provider: ProviderKind },
    /// The connection failed after the request may have been written.
    #[error("transport error towards {provider}: {detail}")]
    Transport {
        provider: ProviderKind,
        detail: String,
    },
    /// An HTTP status that is neither the provider's answer nor its JSON error (a proxy's page, a 5xx).
    #[error("unexpected HTTP status {status} from {provider}")]
    HttpStatus { provider: ProviderKind, status: u16 },
    /// An answer that is not the JSON the API promises, or a result code we do not know.
    #[error("malformed answer from {provider}: {detail}")]
    Malformed {
        provider: ProviderKind,
        detail: String,
    },
    /// The client configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether the provider may have processed, and billed, this call. Never send such a call again.
    pub fn may_have_been_billed(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::Transport { .. }
                | Self::HttpStatus { .. }
                | Self::Malformed { .. }
        )
    }

    /// Whether the check may go to the next provider.
    pub fn fails_over(&self) -> bool {
        !matches!(self, Self::InvalidInput { .. } | Self::Config(_))
    }

    /// Whether this says the provider itself is unwell (for a circuit breaker): its "try later" codes, and
    /// every failure to get a readable answer. Refusals of our credentials or input do not count.
    pub fn provider_unwell(&self) -> bool {
        match self {
            Self::Unavailable { .. }
            | Self::NotSent { .. }
            | Self::Timeout { .. }
            | Self::Transport { .. }
            | Self::Malformed { .. } => true,
            Self::HttpStatus { status, .. } => *status >= 500,
            Self::InvalidInput { .. }
            | Self::Refused { .. }
            | Self::ClockSkew { .. }
            | Self::Config(_) => false,
        }
    }

    /// The provider's code (`-4`, `AuthFailure.SignatureFailure`, `402`), where it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::InvalidInput { code, .. }
            | Self::Unavailable { code, .. }
            | Self::Refused { code, .. }
            | Self::ClockSkew { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn provider(&self) -> Option<ProviderKind> {
        match self {
            Self::InvalidInput { provider, .. }
            | Self::Unavailable { provider, .. }
            | Self::Refused { provider, .. }
            | Self::ClockSkew { provider, .. }
            | Self::NotSent { provider, .. }
            | Self::Timeout { provider }
            | Self::Transport { provider, .. }
            | Self::HttpStatus { provider, .. }
            | Self::Malformed { provider, .. } => Some(*provider),
            Self::Config(_) => None,
        }
    }

    /// A stable machine name for the variant (metrics, logs, audit rows).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_input",
            Self::Unavailable { .. } => "unavailable",
            Self::Refused { .. } => "refused",
            Self::ClockSkew { .. } => "clock_skew",
            Self::NotSent { .. } => "not_sent",
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::HttpStatus { .. } => "http_status",
            Self::Malformed { .. } => "malformed",
            Self::Config(_) => "config",
        }
    }
}

impl Error {
    /// A provider's code that refuses the call: one to try again later, elsewhere (`Unavailable`: the provider
    /// is busy or down), or one an operator must look at (`Refused`: our account, credentials or request).
    pub(crate) fn declined(provider: ProviderKind, code: String, try_later: bool) -> Self {
        if try_later {
            Self::Unavailable { provider, code }
        } else {
            Self::Refused { provider, code }
        }
    }

    /// An answer we cannot read; `detail` is fixed text of ours, never the provider's.
    pub(crate) fn malformed(provider: ProviderKind, detail: &str) -> Self {
        Self::Malformed {
            provider,
            detail: detail.to_owned(),
        }
    }
}

/// A code field as text: both providers' codes come as strings, and are read as numbers too (Aliyun sends
/// either; a lenient client reads Tencent's either way).
pub(crate) fn code_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A provider's code as we keep it: up to 64 characters of `A-Z a-z 0-9 . _ -` with no run of more than six
/// digits (nothing shaped like an ID number), else `unrecognised`. Codes are identifiers; anything else in
/// that field is not something to store or log.
pub fn sanitize_code(code: &str) -> String {
    let longest_digit_run = code
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    let plain = !code.is_empty()
        && code.len() <= 64
        && longest_digit_run <= 6
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if plain {
        code.to_owned()
    } else {
        "unrecognised".to_owned()
    }
}

impl fmt::Display for InvalidField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CredId => "cred_id",
            Self::RealName => "real_name",
            Self::Unspecified => "unspecified",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Error> {
        let p = ProviderKind::TencentFaceid;
        let code = String::from("x");
        vec![
            Error::InvalidInput {
                provider: p,
                code: code.clone(),
                field: InvalidField::CredId,
            },
            Error::Unavailable {
                provider: p,
                code: code.clone(),
            },
            Error::Refused {
                provider: p,
                code: code.clone(),
            },
            Error::ClockSkew {
                provider: p,
                code,
                skew_secs: None,
            },
            Error::NotSent {
                provider: p,
                detail: String::new(),
            },
            Error::Timeout { provider: p },
            Error::Transport {
                provider: p,
                detail: String::new(),
            },
            Error::HttpStatus {
                provider: p,
                status: 502,
            },
            Error::Malformed {
                provider: p,
                detail: String::new(),
            },
            Error::Config(String::new()),
        ]
    }

    #[test]
    fn billing_failover_and_kinds_are_consistent() {
        let errors = all();
        let billed: Vec<_> = errors
            .iter()
            .filter(|e| e.may_have_been_billed())
            .map(Error::kind)
            .collect();
        assert_eq!(billed, ["timeout", "transport", "http_status", "malformed"]);
        let stay: Vec<_> = errors
            .iter()
            .filter(|e| !e.fails_over())
            .map(Error::kind)
            .collect();
        assert_eq!(stay, ["invalid_input", "config"]);
        let unwell: Vec<_> = errors
            .iter()
            .filter(|e| e.provider_unwell())
            .map(Error::kind)
            .collect();
        assert_eq!(
            unwell,
            [
                "unavailable",
                "not_sent",
                "timeout",
                "transport",
                "http_status",
                "malformed"
            ]
        );
        assert_eq!(errors[0].code(), Some("x"));
        assert_eq!(errors[4].code(), None);
    }

    #[test]
    fn only_code_shaped_codes_are_kept() {
        assert_eq!(
            sanitize_code("AuthFailure.SignatureFailure"),
            "AuthFailure.SignatureFailure"
        );
        assert_eq!(sanitize_code("-4"), "-4");
        assert_eq!(sanitize_code("张三 110101199003070038"), "unrecognised");
        assert_eq!(sanitize_code(""), "unrecognised");
        assert_eq!(sanitize_code("110101199003070038"), "unrecognised");
        assert_eq!(sanitize_code(&"a".repeat(65)), "unrecognised");
    }
}
