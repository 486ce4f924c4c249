//! What every request handler shares.

use crate::config::Config;
use crate::pii::Pii;
use limits::Limiter;
use metrics_exporter_prometheus::PrometheusHandle;
use std::collections::BTreeMap;
use std::sync::Arc;
use store::Store;
use wechat::{Clock, RealnameApi};

#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub cfg: Config,
    pub store: Arc<dyn Store>,
    /// API-key rows recently read from `store` (`limits.api_key_cache_ms`), for `auth::caller`.
    pub key_cache: crate::auth::KeyCache,
    /// One WeChat client with its own token provider per configured appid.
    pub apps: BTreeMap<String, RealnameApi>,
    /// The paid name + ID-number providers (`[idcheck]`), when configured.
    pub idcheck: Option<Arc<crate::idcheck::Checker>>,
    pub pii: Pii,
    pub limiter: Arc<dyn Limiter>,
    pub clock: Arc<dyn Clock>,
    pub metrics: PrometheusHandle,
    pub admin_token: Option<secrecy::SecretString>,
    /// The shared state's Redis, when configured (for readiness).
    pub redis: Option<redis_state::RedisState>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Inner {
    pub fn now_ms(&self) -> i64 {
        to_ms(self.clock.now())
    }

    /// Today in Asia/Shanghai by the injected clock, for ID-number dates and minors.
    pub fn today(&self) -> chrono::NaiveDate {
        identity::china_date(self.clock.now().into())
    }
}

pub fn to_ms(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// RFC 3339 in UTC with milliseconds, the one timestamp format of the API.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
