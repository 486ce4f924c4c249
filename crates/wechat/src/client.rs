//! The HTTP client: one place that sends a request, classifies the failure, checks `errcode`, and records
//! metrics. The endpoint methods live next to their types (`token_api.rs`, `session.rs`, `check.rs`).
use crate::error::{self, ERRMSG_MAX_CHARS, Error, Result};
use crate::{ClientConfig, ErrCode};
use reqwest::Url;
use serde_json::{Map, Value};
use std::time::Instant;

type Object = Map<String, Value>;

/// A WeChat API client. Cheap to clone (the connection pool is shared). Makes exactly one HTTP request per
/// method call: no retries, no redirects (a redirected POST would resend a single-use code).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    StableToken,
    JsCode2Session,
    CheckRealNameInfo,
}

impl Endpoint {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::StableToken => "stable_token",
            Self::JsCode2Session => "jscode2session",
            Self::CheckRealNameInfo => "checkrealnameinfo",
        }
    }
    fn path(self) -> &'static str {
        match self {
            Self::Token => "cgi-bin/token",
            Self::StableToken => "cgi-bin/stable_token",
            Self::JsCode2Session => "sns/jscode2session",
            Self::CheckRealNameInfo => "intp/realname/checkrealnameinfo",
        }
    }
}

impl Client {
    pub fn new(cfg: ClientConfig) -> Result<Self> {
        let mut base =
            Url::parse(&cfg.base_url).map_err(|e| Error::Config(format!("base_url: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Config("base_url must be an http(s) URL".into()));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(Error::Config(
                "base_url must not have a query or fragment".into(),
            ));
        }
        // `Url::join` replaces the last path segment unless the base ends with '/'.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = upstream::client(cfg.timeout, cfg.connect_timeout, cfg.ca_file.as_deref())
            .map_err(Error::Config)?;
        Ok(Self { http, base })
    }

    /// The base URL requests go to (with a trailing slash). Holds no secret.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub(crate) fn get(&self, endpoint: Endpoint) -> reqwest::RequestBuilder {
        self.http.get(self.url(endpoint))
    }

    pub(crate) fn post(&self, endpoint: Endpoint) -> reqwest::RequestBuilder {
        self.http.post(self.url(endpoint))
    }

    fn url(&self, endpoint: Endpoint) -> Url {
        self.base
            .join(endpoint.path())
            .expect("a fixed relative path joins onto an http(s) base")
    }

    /// Sends one request and returns the reply's JSON object once `errcode` is known to be absent or 0.
    /// `secrets` are the sensitive strings in this request: they are scrubbed from any text kept in an error.
    pub(crate) async fn call(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<Object> {
        let started = Instant::now();
        let result = self.exchange(endpoint, request, secrets).await;
        let elapsed = started.elapsed();
        let label = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.metric_result(),
        };
        metrics::counter!("wxrn_upstream_requests_total", "endpoint" => endpoint.as_str(), "result" => label.clone())
            .increment(1);
        metrics::histogram!("wxrn_upstream_request_duration_seconds", "endpoint" => endpoint.as_str())
            .record(elapsed.as_secs_f64());
        tracing::debug!(endpoint = endpoint.as_str(), result = %label, elapsed_ms = elapsed.as_millis() as u64, "wechat call");
        result
    }

    async fn exchange(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        secrets: &[&str],
    ) -> Result<Object> {
        let response = request
            .send()
            .await
            .map_err(|e| error::from_reqwest(e, secrets))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::HttpStatus(status.as_u16()));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| error::from_reqwest(e, secrets))?;
        let what = endpoint.as_str();
        let value: Value = serde_json::from_slice(&body).map_err(|e| {
            Error::Malformed(format!(
                "{what}: body is not JSON ({:?} error)",
                e.classify()
            ))
        })?;
        let Value::Object(object) = value else {
            return Err(Error::Malformed(format!(
                "{what}: body is not a JSON object"
            )));
        };
        match object.get("errcode") {
            None => {}
            Some(Value::Number(n)) => match n.as_i64() {
                Some(0) => {}
                Some(code) => {
                    let errmsg = object
                        .get("errmsg")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let errmsg =
                        error::truncate_chars(&error::scrub(errmsg, secrets), ERRMSG_MAX_CHARS);
                    return Err(Error::WeChat {
                        code: ErrCode::from_code(code),
                        errmsg,
                    });
                }
                None => {
                    return Err(Error::Malformed(format!(
                        "{what}: errcode is not an integer"
                    )));
                }
            },
            Some(_) => {
                return Err(Error::Malformed(format!(
                    "{what}: errcode is not an integer"
                )));
            }
        }
        Ok(object)
    }
}

/// A required string field of a reply.
pub(crate) fn str_field<'a>(
    object: &'a Object,
    endpoint: Endpoint,
    field: &str,
) -> Result<&'a str> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::Malformed(format!(
            "{}: {field} is not a string",
            endpoint.as_str()
        ))),
        None => Err(Error::Malformed(format!(
            "{}: {field} is missing",
            endpoint.as_str()
        ))),
    }
}

/// An optional string field; `null` counts as absent.
pub(crate) fn opt_str_field<'a>(
    object: &'a Object,
    endpoint: Endpoint,
    field: &str,
) -> Result<Option<&'a str>> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => str_field(object, endpoint, field).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_a_trailing_slash_and_keeps_its_prefix() {
        let client = Client::new(ClientConfig {
            base_url: "http://127.0.0.1:9/prefix".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            client.url(Endpoint::Token).as_str(),
            "http://127.0.0.1:9/prefix/cgi-bin/token"
        );
        let client = Client::new(ClientConfig::default()).unwrap();
        assert_eq!(
            client.url(Endpoint::CheckRealNameInfo).as_str(),
            "https://api.weixin.qq.com/intp/realname/checkrealnameinfo"
        );
    }

    #[test]
    fn bad_config_is_rejected() {
        for base_url in ["not a url", "ftp://host/", "http://host/?a=b", "mailto:x@y"] {
            let err = Client::new(ClientConfig {
                base_url: base_url.into(),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.kind(), "config", "{base_url}");
        }
        let err = Client::new(ClientConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.kind(), "config");
    }
}
