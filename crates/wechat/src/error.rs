//! The crate's one error type.
//!
//! Which variant belongs where: the HTTP layer ([`crate::Client`]) produces `WeChat`, `NotSent`, `Timeout`,
//! `Transport`, `HttpStatus` and `Malformed`; the token layer adds `Store`; construction adds `Config`;
//! [`crate::Breaker`] adds `CircuitOpen`. The split between `NotSent` and the rest is what callers of the
//! single-use check call rely on: only `NotSent` and `CircuitOpen` (the breaker refused before sending
//! anything) prove that WeChat never saw the request (see [`Error::may_have_reached_wechat`]).
//!
//! No variant ever carries request data, a URL, a secret or a token: messages are built from fixed text, the
//! transport's error chain without its URL, and WeChat's `errmsg` (truncated, with known secrets scrubbed).
use crate::ErrCode;
use std::time::Duration;
use upstream::Failure;

/// The longest `errmsg` kept from WeChat, in characters.
pub(crate) const ERRMSG_MAX_CHARS: usize = 200;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat error {code}: {errmsg}")]
    WeChat { code: ErrCode, errmsg: String },
    /// Provably never reached WeChat: DNS, connect or TLS handshake failure.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// The overall timeout elapsed after the connection was made; WeChat may have processed the request.
    #[error("request timed out")]
    Timeout,
    /// The connection failed after the request may have been written (reset, cut mid-response, ...).
    #[error("transport error: {0}")]
    Transport(String),
    /// A non-2xx HTTP status (WeChat itself answers 200 even for errors).
    #[error("unexpected HTTP status {0}")]
    HttpStatus(u16),
    /// A 2xx answer that is not the JSON the endpoint promises.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The token store failed, or a refresh could not complete.
    #[error("token store: {0}")]
    Store(String),
    /// The client configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Not sent: the circuit breaker is open because WeChat has been failing. Try again after `retry_after`.
    #[error("not sent: WeChat has been failing, calls are paused")]
    CircuitOpen { retry_after: Duration },
}

impl Error {
    /// WeChat's errcode, for `WeChat` errors.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::WeChat { code, .. } => Some(code.code()),
            _ => None,
        }
    }

    /// Whether WeChat rejected the access token (40001, 40014, 42001): the call was refused before any
    /// single-use code was consumed, so a fresh token and one resend are safe.
    pub fn is_token_error(&self) -> bool {
        matches!(self, Self::WeChat { code, .. } if code.is_token_error())
    }

    /// False only where the request provably never reached WeChat. A single-use `code` sent in a request
    /// for which this is true must be treated as spent.
    pub fn may_have_reached_wechat(&self) -> bool {
        match self {
            Self::WeChat { .. }
            | Self::Timeout
            | Self::Transport(_)
            | Self::HttpStatus(_)
            | Self::Malformed(_) => true,
            Self::NotSent(_) | Self::Store(_) | Self::Config(_) | Self::CircuitOpen { .. } => false,
        }
    }

    /// A stable machine name for the variant.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::WeChat { .. } => "wechat",
            Self::NotSent(_) => "not_sent",
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport",
            Self::HttpStatus(_) => "http_status",
            Self::Malformed(_) => "malformed",
            Self::Store(_) => "store",
            Self::Config(_) => "config",
            Self::CircuitOpen { .. } => "circuit_open",
        }
    }

    /// The `result` label of the upstream metrics: the errcode for WeChat errors, else the kind.
    pub(crate) fn metric_result(&self) -> String {
        match self {
            Self::WeChat { code, .. } => code.code().to_string(),
            other => other.kind().to_owned(),
        }
    }
}

/// Replaces every occurrence of any of `secrets` in `text` by `[redacted]`. Defence in depth for text that
/// comes from outside (WeChat's errmsg, the transport's error chain): neither should echo a secret, but a
/// leak would be permanent, so we do not rely on it.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, "[redacted]");
        }
    }
    out
}

pub(crate) use upstream::truncate_chars;

/// Turns a reqwest error into ours: the URL (which holds the token or the secret) is stripped first, and
/// only the error chain's messages are kept, scrubbed of this request's `secrets`.
pub(crate) fn from_reqwest(err: reqwest::Error, secrets: &[&str]) -> Error {
    let message = |chain: String| truncate_chars(&scrub(&chain, secrets), ERRMSG_MAX_CHARS);
    match Failure::from(err) {
        Failure::NotSent(chain) => Error::NotSent(message(chain)),
        Failure::Timeout => Error::Timeout,
        Failure::Transport(chain) => Error::Transport(message(chain)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_every_occurrence() {
        assert_eq!(
            scrub("a TOKEN b TOKEN", &["TOKEN"]),
            "a [redacted] b [redacted]"
        );
        // Very short strings are not scrubbed: they would mangle ordinary text and are not real secrets.
        assert_eq!(scrub("a b", &["a"]), "a b");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("张三李四", 2), "张三…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }

    #[test]
    fn reach_and_kind_are_consistent() {
        let all = [
            Error::WeChat {
                code: ErrCode::SystemBusy,
                errmsg: String::new(),
            },
            Error::NotSent(String::new()),
            Error::Timeout,
            Error::Transport(String::new()),
            Error::HttpStatus(500),
            Error::Malformed(String::new()),
            Error::Store(String::new()),
            Error::Config(String::new()),
            Error::CircuitOpen {
                retry_after: Duration::from_secs(1),
            },
        ];
        let reached: Vec<_> = all
            .iter()
            .filter(|e| e.may_have_reached_wechat())
            .map(Error::kind)
            .collect();
        assert_eq!(
            reached,
            ["wechat", "timeout", "transport", "http_status", "malformed"]
        );
        assert_eq!(all[0].errcode(), Some(-1));
        assert_eq!(all[0].metric_result(), "-1");
        assert_eq!(all[2].metric_result(), "timeout");
        assert!(all.iter().all(|e| !e.is_token_error()));
        let token = Error::WeChat {
            code: ErrCode::AccessTokenExpired,
            errmsg: String::new(),
        };
        assert!(token.is_token_error());
    }
}
