//! What the two upstream clients, `wechat` (WeChat) and `providers` (Tencent, Aliyun), share, so that the
//! rules for talking to a server outside the deployment are written once.
//!
//! # Layout
//! - [`client`]: the reqwest client: rustls with certificate verification always on (extra roots from a
//!   `ca_file`, never fewer checks), both timeouts, no redirects (a redirected POST would resend a single-use
//!   code or a billed check), no retries.
//! - [`Failure`]: a reqwest error sorted by what it means for a single-use request (not sent, timed out, failed
//!   on the way), with its message chain and never its URL.
//! - [`Clock`], [`SystemClock`]: time as a parameter, for token expiry and signed request timestamps.
//!
//! Each client keeps its own error type; these functions answer with plain values or message text that the
//! client wraps.

use std::fmt::Debug;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The `User-Agent` of every upstream call.
const USER_AGENT: &str = concat!("wxrealname/", env!("CARGO_PKG_VERSION"));

/// Build the client for one upstream. The error is a sentence for a configuration error (it names the
/// `ca_file` and never holds a URL).
pub fn client(
    timeout: Duration,
    connect_timeout: Duration,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("ca_file {}: no certificate found", path.display()));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("HTTP client: {}", e.without_url()))
}

/// A failed exchange, by what it means for a request that must not be sent twice. The text is the error's
/// message chain, without the URL (which may hold a token or a secret) and never the body (where a name and ID
/// number travel); callers still scrub and shorten it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The connection failed, so nothing was written: the request may be sent again. A connect timeout is one.
    NotSent(String),
    /// The whole-call timeout ran out: the request may have been processed.
    Timeout,
    /// Anything else on the way (a reset, a broken answer): the request may have been processed.
    Transport(String),
}

impl From<reqwest::Error> for Failure {
    fn from(err: reqwest::Error) -> Self {
        let err = err.without_url();
        let (timeout, connect) = (err.is_timeout(), err.is_connect());
        let mut chain = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        if connect {
            Failure::NotSent(chain)
        } else if timeout {
            Failure::Timeout
        } else {
            Failure::Transport(chain)
        }
    }
}

/// Truncates to at most `max` characters, marking the cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Time as a parameter: token expiry is judged and request timestamps (`X-TC-Timestamp`, `x-acs-date`) are
/// read against an injected clock, so tests move time by hand or put a client's clock off the server's.
pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> SystemTime;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let secs = Duration::from_secs(1);
        assert!(client(secs, secs, None).is_ok());
        let err = client(secs, secs, Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.starts_with("ca_file /nonexistent/ca.pem: "), "{err}");
        let empty = std::env::temp_dir().join(format!("upstream-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = client(secs, secs, Some(&empty)).unwrap_err();
        std::fs::remove_file(&empty).unwrap();
        assert!(err.ends_with("no certificate found"), "{err}");
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("实名认证", 2), "实名…");
        assert_eq!(truncate_chars("ok", 2), "ok");
    }

    #[tokio::test]
    async fn a_refused_connection_is_not_sent_and_names_no_url() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let secs = Duration::from_secs(2);
        let err = client(secs, secs, None)
            .unwrap()
            .get(format!(
                "http://127.0.0.1:{port}/path?access_token=SECRETTOKEN"
            ))
            .send()
            .await
            .unwrap_err();
        match Failure::from(err) {
            Failure::NotSent(text) => assert!(!text.contains("SECRETTOKEN"), "{text}"),
            other => panic!("{other:?}"),
        }
    }
}
