//! Client configuration.
use std::path::PathBuf;
use std::time::Duration;

/// WeChat's production API host, the default base URL.
pub const WECHAT_API: &str = "https://api.weixin.qq.com";

/// How to reach WeChat (or the sandbox). Holds no secret, so `Debug` is safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Scheme, host and optional path prefix; endpoints are appended (`{base_url}/cgi-bin/token`).
    pub base_url: String,
    /// Whole-call timeout: connect, send and read the full response.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra trusted CA certificates (PEM, one or more) for a private upstream. The built-in web roots stay
    /// trusted and verification stays on: there is deliberately no way to turn it off.
    pub ca_file: Option<PathBuf>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: WECHAT_API.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            ca_file: None,
        }
    }
}
