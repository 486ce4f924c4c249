//! What both clients share: the HTTP configuration, the built client (the reqwest client itself, its TLS
//! policy and the [`Clock`] come from the `upstream` crate, shared with the WeChat client), and transport failures
//! in this crate's [`Error`].
use crate::{Error, ProviderKind, Result};
use reqwest::Url;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use upstream::Failure;

pub use upstream::{Clock, SystemClock};

/// How to reach a provider (or the sandbox). Holds no secret, so `Debug` is safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Scheme and host (and port); the path must be `/` (both APIs are `POST /`, and `/` is what is signed).
    pub base_url: String,
    /// Whole-call timeout: connect, send and read the full response.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra trusted CA certificates (PEM) for a private upstream or an egress proxy. The built-in roots stay
    /// trusted and verification stays on: there is deliberately no way to turn it off.
    pub ca_file: Option<PathBuf>,
}

impl HttpConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            ca_file: None,
        }
    }
}

/// A built HTTP client for one provider: the URL to post to and the `Host` value that is signed.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    pub(crate) client: reqwest::Client,
    pub(crate) url: Url,
    /// Exactly the `Host` header sent (and signed): host, plus `:port` when it is not the scheme's default.
    pub(crate) host: String,
}

impl Http {
    pub(crate) fn new(cfg: &HttpConfig) -> Result<Self> {
        let url = Url::parse(&cfg.base_url).map_err(|e| Error::Config(format!("base_url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config("base_url must be an http(s) URL".into()));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(
                "base_url must be scheme://host[:port] with no path, query or fragment".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config("base_url must not hold credentials".into()));
        }
        let Some(host) = url.host_str() else {
            return Err(Error::Config("base_url needs a host".into()));
        };
        let host = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let client = upstream::client(cfg.timeout, cfg.connect_timeout, cfg.ca_file.as_deref())
            .map_err(Error::Config)?;
        Ok(Self { client, url, host })
    }
}

impl Http {
    /// Send one request and read the answer's status and `Date`; the body is read by [`Sent::read`].
    /// `sent_at` is the instant the request was signed with, for the clock skew.
    pub(crate) async fn send(
        &self,
        provider: ProviderKind,
        request: reqwest::RequestBuilder,
        sent_at: SystemTime,
    ) -> Result<Sent> {
        let response = request
            .send()
            .await
            .map_err(|e| from_reqwest(provider, e))?;
        Ok(Sent {
            provider,
            status: response.status().as_u16(),
            skew_secs: skew_from_date_header(response.headers(), sent_at),
            response,
        })
    }
}

/// An answer whose head has arrived.
#[derive(Debug)]
pub(crate) struct Sent {
    provider: ProviderKind,
    pub(crate) status: u16,
    /// Provider time minus ours, from its `Date` header.
    pub(crate) skew_secs: Option<i64>,
    response: reqwest::Response,
}

impl Sent {
    /// Read the whole body and hand it to `parse`.
    pub(crate) async fn read<T>(self, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
        let provider = self.provider;
        let body = self
            .response
            .bytes()
            .await
            .map_err(|e| from_reqwest(provider, e))?;
        parse(&body)
    }
}

/// The longest transport detail kept, in characters.
const DETAIL_MAX_CHARS: usize = 200;

/// Turns a reqwest error into ours: the URL is dropped and only the error chain's messages are kept (they
/// never hold the body, which is where the name and ID number travel).
pub(crate) fn from_reqwest(provider: ProviderKind, err: reqwest::Error) -> Error {
    let detail = |chain: String| upstream::truncate_chars(&chain, DETAIL_MAX_CHARS);
    match Failure::from(err) {
        Failure::NotSent(chain) => Error::NotSent {
            provider,
            detail: detail(chain),
        },
        Failure::Timeout => Error::Timeout { provider },
        Failure::Transport(chain) => Error::Transport {
            provider,
            detail: detail(chain),
        },
    }
}

/// Provider time minus ours, in seconds, from the answer's `Date` header (for the clock-skew log line).
pub(crate) fn skew_from_date_header(
    headers: &reqwest::header::HeaderMap,
    ours: SystemTime,
) -> Option<i64> {
    let date = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    let theirs = chrono::DateTime::parse_from_rfc2822(date).ok()?.timestamp();
    let ours = i64::try_from(ours.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs()).ok()?;
    Some(theirs - ours)
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_host_is_what_reqwest_sends() {
        let http = Http::new(&HttpConfig::new("https://faceid.tencentcloudapi.com")).unwrap();
        assert_eq!(http.host, "faceid.tencentcloudapi.com");
        let http = Http::new(&HttpConfig::new("https://faceid.tencentcloudapi.com:443/")).unwrap();
        assert_eq!(http.host, "faceid.tencentcloudapi.com");
        let http = Http::new(&HttpConfig::new("http://127.0.0.1:9100")).unwrap();
        assert_eq!(http.host, "127.0.0.1:9100");
    }

    #[test]
    fn unusable_base_urls_are_refused() {
        for bad in [
            "not a url",
            "ftp://host/",
            "https://host/prefix",
            "https://host/?a=b",
            "https://user:pw@host/",
        ] {
            let err = Http::new(&HttpConfig::new(bad)).unwrap_err();
            assert_eq!(err.kind(), "config", "{bad}");
        }
        let mut cfg = HttpConfig::new("https://host");
        cfg.ca_file = Some("/nonexistent/ca.pem".into());
        assert_eq!(Http::new(&cfg).unwrap_err().kind(), "config");
    }

    #[test]
    fn skew_is_read_from_the_date_header() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::DATE,
            "Mon, 25 Feb 2019 16:51:05 GMT".parse().unwrap(),
        );
        let ours = SystemTime::UNIX_EPOCH + Duration::from_secs(1551113065);
        assert_eq!(skew_from_date_header(&headers, ours), Some(400));
        assert_eq!(
            skew_from_date_header(&reqwest::header::HeaderMap::new(), ours),
            None
        );
    }
}
