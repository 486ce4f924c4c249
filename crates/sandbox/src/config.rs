//! What a sandbox run can be told: lifetimes, quotas and limits. Defaults are WeChat's.
use std::time::Duration;

/// Settings of one sandbox. `Default` gives WeChat's documented (or, where undocumented, assumed) values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Lifetime of an access token, classic or stable (WeChat: 7200 s).
    pub token_ttl: Duration,
    /// How long a classic token stays valid after a newer one was fetched (WeChat: 5 min).
    pub token_grace: Duration,
    /// A stable token this close to its expiry is replaced by the next normal-mode call (WeChat: 5 min).
    pub stable_refresh_window: Duration,
    /// Lifetime of a real-name consent `code` (undocumented; assumed 5 min).
    pub code_ttl: Duration,
    /// Lifetime of a `wx.login` `js_code` (WeChat: 5 min).
    pub js_code_ttl: Duration,
    /// Daily call quotas per app and endpoint (45009 when reached).
    pub quotas: Quotas,
    /// `force_refresh: true` calls allowed per app and day (WeChat: 20).
    pub force_refresh_per_day: u32,
    /// Minimum time between two `force_refresh: true` calls of one app (WeChat: 30 s).
    pub force_refresh_interval: Duration,
    /// Seed the demo apps and users of [`crate::demo`] at start and on every reset.
    pub seed_demo: bool,
    /// Real time every WeChat endpoint waits before answering, on top of any fault's `delay_ms`: WeChat's
    /// own latency, for load tests (zero: answer at once). The call is processed first, as with a fault delay.
    pub upstream_delay: Duration,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(7200),
            token_grace: Duration::from_secs(300),
            stable_refresh_window: Duration::from_secs(300),
            code_ttl: Duration::from_secs(300),
            js_code_ttl: Duration::from_secs(300),
            quotas: Quotas::default(),
            force_refresh_per_day: 20,
            force_refresh_interval: Duration::from_secs(30),
            seed_demo: false,
            upstream_delay: Duration::ZERO,
        }
    }
}

/// Daily quota of each endpoint, counted per app; `None` is unlimited. The day turns at midnight Asia/Shanghai
/// on the sandbox clock, as WeChat's does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub token: Option<u64>,
    pub stable_token: Option<u64>,
    pub jscode2session: Option<u64>,
    pub checkrealnameinfo: Option<u64>,
}

impl Quotas {
    /// No quota anywhere: for load tests.
    pub fn unlimited() -> Self {
        Self {
            token: None,
            stable_token: None,
            jscode2session: None,
            checkrealnameinfo: None,
        }
    }

    pub(crate) fn of(&self, endpoint: crate::Endpoint) -> Option<u64> {
        use crate::Endpoint as E;
        match endpoint {
            E::Token => self.token,
            E::StableToken => self.stable_token,
            E::Jscode2session => self.jscode2session,
            E::Checkrealnameinfo => self.checkrealnameinfo,
            // The providers' own limits (Tencent "-7") are forced with a fault's `result`.
            E::TencentIdcard | E::AliyunId2meta => None,
        }
    }
}

impl Default for Quotas {
    /// WeChat's published figures: 2,000 classic token fetches and 500,000 stable token fetches a day. WeChat
    /// publishes none for the other two, so they are unlimited.
    fn default() -> Self {
        Self {
            token: Some(2000),
            stable_token: Some(500_000),
            jscode2session: None,
            checkrealnameinfo: None,
        }
    }
}
