//! Configuration: defaults, then a TOML file, then `WXRN_*` environment variables.
//!
//! Nested keys use a double underscore: `WXRN_LIMITS__PER_OPENID_PER_DAY=10` sets `limits.per_openid_per_day`.
//! Every key is documented in `wxrealname.example.toml` at the repository root. Secrets are read from the
//! environment or a file (`secret_env`, `key_env`, `key_file`, ...) and held in `secrecy` types.
//!
//! # Layout
//! - this file: the keys (the structs), their defaults, the rules across keys, [`ConfigError`].
//! - `load.rs`: the layers, the `WXRN_*` variables, relative paths resolved against the file's directory, and
//!   errors that name the key, its file or variable and the nearest valid key.
//! - `show.rs`: `wxrealname config show` (secrets redacted) and `config check`'s [`Problem`]s.

mod load;
mod show;

pub use load::{ENV_PREFIX, env_var_for};
pub use show::Problem;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use wechat::TokenKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the gateway listens on.
    pub listen: String,
    /// Where the SQLite database and generated keys live.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` (default `sqlite://{data_dir}/wxrealname.db`) or `postgres://...` for several instances.
    /// May hold a password: never logged.
    #[serde(skip_serializing)]
    pub database_url: Option<SecretString>,
    /// `redis://` or `rediss://`: share access tokens and rate-limit counters between instances. May hold a
    /// password: never logged.
    #[serde(skip_serializing)]
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub redis_prefix: String,
    /// WeChat's API host, or the sandbox's.
    pub upstream_base_url: String,
    pub upstream_timeout_ms: u64,
    pub upstream_connect_timeout_ms: u64,
    /// Extra CA certificate (PEM) to trust for the upstream, e.g. a corporate egress proxy.
    pub upstream_ca_file: Option<PathBuf>,
    /// Stop calling WeChat for an app while it is failing (see `docs/reliability.md`).
    pub upstream_breaker: UpstreamBreaker,
    /// `stable` (shared-safe `cgi-bin/stable_token`, the default) or `classic` (`cgi-bin/token`).
    pub token_kind: TokenKind,
    /// Fetch a new access token this long before the cached one expires (at most half its lifetime). Keep it
    /// below WeChat's 5-minute stable-token window, so the refresh gets a new token, not the old one again.
    pub token_refresh_ahead_secs: u64,
    /// Bearer token for admin endpoints. Prefer `admin_token_env`.
    #[serde(skip_serializing)]
    pub admin_token: Option<SecretString>,
    pub admin_token_env: Option<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// `en` or `zh-CN`: the language of an error's `message` when the request's `Accept-Language` names none
    /// we speak. `user_message` is then Chinese whatever this says.
    pub language: i18n::Lang,
    pub limits: Limits,
    pub policy: Policy,
    pub blind_index: BlindIndex,
    pub audit: Audit,
    pub retention: Retention,
    pub apps: Vec<App>,
    /// Paid name + ID-number check providers (Tencent Cloud FaceID, Aliyun Cloudauth), for organisations
    /// without WeChat's real-name permission. Asked in the order `idcheck.providers` gives.
    pub providers: Vec<ProviderConfig>,
    pub idcheck: Idcheck,
}

/// One paid provider. Its secrets are read from the environment variables named here, never from the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// What `idcheck.providers` and the answers call it: 1 to 32 characters of `a-z 0-9 _ -`.
    pub name: String,
    /// `tencent_faceid` or `aliyun_cloudauth`.
    pub kind: providers::ProviderKind,
    /// Unset: the provider's public endpoint (`https://faceid.tencentcloudapi.com`,
    /// `https://cloudauth.aliyuncs.com`).
    pub base_url: Option<String>,
    /// Tencent: the variables holding the SecretId and SecretKey.
    pub secret_id_env: Option<String>,
    pub secret_key_env: Option<String>,
    /// Aliyun: the variables holding the AccessKey id and secret.
    pub access_key_id_env: Option<String>,
    pub access_key_secret_env: Option<String>,
    /// The secrets themselves, set by code only (`wxrealname demo`, tests): never read from a file nor shown.
    /// When set, the `*_env` keys are not needed.
    #[serde(skip)]
    pub secrets: Option<ProviderSecrets>,
}

/// A provider's two credentials: Tencent's SecretId and SecretKey, or Aliyun's AccessKey id and secret.
#[derive(Debug, Clone)]
pub struct ProviderSecrets {
    pub id: SecretString,
    pub secret: SecretString,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Idcheck {
    /// Provider names in the order they are asked: the first for every check, the others only when those before
    /// them failed without a verdict. Empty: `POST /v1/idchecks` is off.
    pub providers: Vec<String>,
    /// Provider calls a day (Asia/Shanghai), over all instances (shared through Redis when `redis_url` is set),
    /// counted before each call, since any call may be billed. 0 = no budget.
    pub daily_budget: u32,
    /// A pair answered match or mismatch within this many days is answered from the store, not asked again.
    pub cache_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Verifications that reach WeChat per user (appid + openid) per day (Asia/Shanghai). 0 = no limit. Attempts that
    /// never reach WeChat (no access token, breaker open, connection failed before sending) do not count.
    pub per_openid_per_day: u32,
    /// Verification attempts per API key per second, whether or not they reach WeChat (every attempt that gets
    /// past validation, the replay guard and the circuit breaker). 0 = no limit.
    pub per_key_per_second: u32,
    /// `POST /v1/identities/match` calls per user (appid + openid) per day (Asia/Shanghai), each recorded in the
    /// audit trail: with a key and a user's name, unlimited calls would recover the ID number by trying every
    /// candidate. 0 = no limit. The per-key limit applies to match calls too.
    pub match_per_openid_per_day: u32,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// A client must finish sending a request's headers within this many milliseconds of connecting (or of the
    /// previous answer, on a kept-alive connection), or the connection is closed: a client that connects and
    /// never finishes its headers cannot hold a connection. Also how long an idle kept-alive connection lives.
    pub header_timeout_ms: u64,
    /// Whole-request limit, body upload included: past it the gateway answers 408 and closes the connection.
    /// Unset: `upstream_timeout_ms` + 5000. Must exceed `upstream_timeout_ms`, or a verification could be cut
    /// off while WeChat is answering.
    pub request_timeout_ms: Option<u64>,
    /// Requests being handled at once, over all connections: a connection holds a permit from the moment a
    /// complete request head has arrived until its answer is flushed. A request beyond this waits, its bytes in
    /// the kernel's socket buffer, until one finishes: this bounds the work in progress, the memory it uses and
    /// the connections to WeChat, whatever the number of clients. Idle kept-alive connections, and clients still
    /// sending their headers, do not count. Only requests that present a valid API key (or, on the admin API, the
    /// admin token) take one, checked from the head before the body is read; the others (unkeyed routes, refused
    /// requests) are answered under a separate budget of an eighth of this, at least 4, without waiting for a
    /// body that has not arrived (`serve` module docs).
    pub max_in_flight: usize,
    /// The share of `max_in_flight` one client address may hold at once. 0 = no cap (the default): behind a load
    /// balancer or reverse proxy every request comes from its address, so set it only when clients connect
    /// directly.
    pub max_in_flight_per_ip: usize,
    /// `lean` (the default): idle connections hold only their socket, hyper's buffers exist only while a request
    /// is handled. `plain`: hyper's own connection handling, public API only, more memory per idle connection: the
    /// fallback should a hyper upgrade break `lean` (`serve` module docs list the differences).
    pub connection_loop: ConnectionLoop,
    /// How long an API key's row, once read from the store, is reused to authenticate requests, in milliseconds:
    /// the most a revocation made elsewhere (`keys revoke`, another instance) takes to reach this instance. At most
    /// 1000 (a revoked key is refused within a second on every instance); 0 = no cache, every request reads the
    /// row. The secret is still compared on every request (`auth` module docs).
    pub api_key_cache_ms: u64,
}

/// The longest `limits.api_key_cache_ms` accepted: the revocation delay SECURITY.md promises.
pub const MAX_API_KEY_CACHE_MS: u64 = 1000;

/// `limits.connection_loop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionLoop {
    #[default]
    Lean,
    Plain,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Demand `"guardian_consent": true` when the ID number says the user is under 14 (PIPL Art. 31).
    pub require_guardian_consent: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlindIndex {
    /// The master key, hex (64 digits). Prefer `key_env` or `key_file` (outside `data_dir`; make one with
    /// `wxrealname keys init-master --out PATH`). One of the three is required: the gateway refuses to start
    /// without a key, and never keeps one in `data_dir`.
    #[serde(skip_serializing)]
    pub key: Option<SecretString>,
    pub key_env: Option<String>,
    pub key_file: Option<PathBuf>,
    /// Recorded on every row, so the key can be rotated.
    pub key_version: i32,
    /// Keys of earlier versions, kept so rows indexed under them can still be matched (see SECURITY.md).
    pub previous: Vec<PreviousKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviousKey {
    pub version: i32,
    #[serde(skip_serializing)]
    pub key: Option<SecretString>,
    pub key_env: Option<String>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    /// Where signed audit-chain heads are appended, apart from the database (see SECURITY.md). Default:
    /// `wxrealname.anchor` in the config file's directory (the working directory without a file); never inside
    /// `data_dir`. Unset in a `Config` built in code: no anchor.
    pub anchor_file: Option<PathBuf>,
    /// Anchor the head once the chain has grown by this many rows since the last entry...
    pub anchor_every_rows: u64,
    /// ... or this many seconds have passed and it has grown at all. Also at start and at shutdown.
    pub anchor_every_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// How long a code stays in the replay guard, in days (WeChat's codes live minutes; we keep them longer).
    pub used_codes_days: u32,
    /// How long an Idempotency-Key answer can be replayed, in hours.
    pub idempotency_hours: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamBreaker {
    /// Consecutive failed check calls (timeout, connection failure, HTTP 5xx, malformed answer, errcode -1)
    /// that open an app's circuit. 0 = no breaker.
    pub failures: u32,
    /// Seconds the circuit stays open (verifications answer 503 at once, codes untouched) before one probe call
    /// is let through.
    pub cool_down_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub appid: String,
    /// The app secret, inline. Prefer `secret_env`.
    #[serde(skip_serializing)]
    pub secret: Option<SecretString>,
    /// Name of the environment variable holding the app secret.
    pub secret_env: Option<String>,
    /// Overrides the global `token_kind` for this app.
    pub token_kind: Option<TokenKind>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_prefix: "wxrn:".into(),
            upstream_base_url: wechat::WECHAT_API.into(),
            upstream_timeout_ms: 10_000,
            upstream_connect_timeout_ms: 3_000,
            upstream_ca_file: None,
            upstream_breaker: UpstreamBreaker {
                failures: 5,
                cool_down_secs: 10,
            },
            token_kind: TokenKind::Stable,
            token_refresh_ahead_secs: 240,
            admin_token: None,
            admin_token_env: None,
            log_format: "text".into(),
            language: i18n::Lang::En,
            limits: Limits {
                per_openid_per_day: 5,
                per_key_per_second: 50,
                match_per_openid_per_day: 20,
                max_body_bytes: 16 * 1024,
                header_timeout_ms: 30_000,
                request_timeout_ms: None,
                max_in_flight: 256,
                max_in_flight_per_ip: 0,
                connection_loop: ConnectionLoop::Lean,
                api_key_cache_ms: 1000,
            },
            policy: Policy {
                require_guardian_consent: false,
            },
            blind_index: BlindIndex {
                key: None,
                key_env: None,
                key_file: None,
                key_version: 1,
                previous: Vec::new(),
            },
            audit: Audit {
                anchor_file: None,
                anchor_every_rows: 1000,
                anchor_every_secs: 60,
            },
            retention: Retention {
                used_codes_days: 30,
                idempotency_hours: 24,
            },
            apps: Vec::new(),
            providers: Vec::new(),
            idcheck: Idcheck {
                providers: Vec::new(),
                daily_budget: 0,
                cache_days: 30,
            },
        }
    }
}

/// Where a configuration value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// The variable's name, as set.
    Env(String),
    Defaults,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Defaults => f.write_str("the defaults"),
        }
    }
}

/// A configuration error: one sentence that names the key and where its value came from. No variant has a
/// `source`, so `{:#}` prints it once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} not found", .0.display())]
    FileNotFound(PathBuf),
    #[error("unknown key `{key}` in {origin}{}", .suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownKey {
        key: String,
        origin: Origin,
        /// The nearest valid key (or variable name, for an unknown variable).
        suggestion: Option<String>,
    },
    #[error("invalid value for `{key}` in {origin}: {reason}")]
    BadValue {
        key: String,
        origin: Origin,
        reason: String,
    },
    /// The file cannot be parsed (TOML syntax), or no key can be named.
    #[error("{origin}: {reason}")]
    Syntax { origin: Origin, reason: String },
    /// A problem found once the configuration is in use (a secret's variable unset, a key file unreadable).
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Why `audit.anchor_file` cannot be used: it lies inside `data_dir` (also through `..` or a link), where a
    /// copy or a rollback of the database would carry it along. `serve` refuses to start then; `config check`
    /// reports it.
    pub fn anchor_file_problem(&self) -> Option<String> {
        let anchor = self.audit.anchor_file.as_ref()?;
        crate::pii::is_inside(anchor, &self.data_dir).then(|| {
            format!(
                "audit.anchor_file {} is inside data_dir: the anchor must be kept apart from the database it \
                 vouches for",
                anchor.display()
            )
        })
    }

    /// Defaults, then the file (if given), then `WXRN_*` variables; relative paths from the file resolved
    /// against its directory (see `config/load.rs`).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        load::load(file)
    }

    /// Every path-valued key with its dotted name, for resolving relative paths. A new path key belongs here
    /// (a test checks the template's `*_file` and `*_dir` keys against this list).
    pub fn paths_mut(&mut self) -> Vec<(&'static str, &mut PathBuf)> {
        let mut out: Vec<(&'static str, &mut PathBuf)> = vec![("data_dir", &mut self.data_dir)];
        if let Some(p) = &mut self.upstream_ca_file {
            out.push(("upstream_ca_file", p));
        }
        if let Some(p) = &mut self.blind_index.key_file {
            out.push(("blind_index.key_file", p));
        }
        if let Some(p) = &mut self.audit.anchor_file {
            out.push(("audit.anchor_file", p));
        }
        for prev in &mut self.blind_index.previous {
            if let Some(p) = &mut prev.key_file {
                out.push(("blind_index.previous", p));
            }
        }
        out
    }

    /// Rules across keys: on failure, the key to blame and why.
    fn check(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, m: String| Err((key.to_owned(), m));
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return bad(
                "log_format",
                format!("must be \"text\" or \"json\", not {:?}", self.log_format),
            );
        }
        if self
            .admin_token
            .as_ref()
            .is_some_and(|t| secrecy::ExposeSecret::expose_secret(t).trim().is_empty())
        {
            // An empty token would let an empty bearer in; leave the key out to turn the admin API off.
            return bad(
                "admin_token",
                "must not be empty: remove the key to turn the admin API off, or set a long random token (better: admin_token_env)".into(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for app in &self.apps {
            if identity::AppId::parse(&app.appid).is_err() {
                return bad("apps", format!("{:?} is not a valid appid", app.appid));
            }
            if !seen.insert(app.appid.as_str()) {
                return bad("apps", format!("{} is listed twice", app.appid));
            }
            if app.secret.is_none() && app.secret_env.is_none() {
                return bad(
                    "apps",
                    format!("{} needs `secret_env` (or `secret`)", app.appid),
                );
            }
        }
        self.check_providers()?;
        let versions: std::collections::HashSet<i32> = self
            .blind_index
            .previous
            .iter()
            .map(|p| p.version)
            .collect();
        if versions.len() != self.blind_index.previous.len()
            || versions.contains(&self.blind_index.key_version)
        {
            return bad(
                "blind_index.previous",
                "each version once, and not the current key_version".into(),
            );
        }
        if self.limits.max_body_bytes < 256 {
            return bad("limits.max_body_bytes", "must be at least 256".into());
        }
        if self.limits.header_timeout_ms < 100 {
            return bad("limits.header_timeout_ms", "must be at least 100".into());
        }
        if self.limits.max_in_flight == 0 {
            return bad("limits.max_in_flight", "must be at least 1".into());
        }
        if self.limits.api_key_cache_ms > MAX_API_KEY_CACHE_MS {
            return bad(
                "limits.api_key_cache_ms",
                format!(
                    "{} is too long: at most {MAX_API_KEY_CACHE_MS} (a revoked key must be refused within a second on every instance); 0 turns the cache off",
                    self.limits.api_key_cache_ms
                ),
            );
        }
        if let Some(t) = self.limits.request_timeout_ms
            && t <= self.upstream_timeout_ms
        {
            return bad(
                "limits.request_timeout_ms",
                format!(
                    "{t} must exceed upstream_timeout_ms ({})",
                    self.upstream_timeout_ms
                ),
            );
        }
        Ok(())
    }

    /// The whole-request limit: `limits.request_timeout_ms`, or long enough for WeChat's timeout plus our own
    /// work.
    fn check_providers(&self) -> Result<(), (String, String)> {
        let bad = |key: &str, m: String| Err((key.to_owned(), m));
        let mut names = std::collections::HashSet::new();
        for p in &self.providers {
            let plain = !p.name.is_empty()
                && p.name.len() <= 32
                && p.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !plain {
                return bad(
                    "providers",
                    format!(
                        "{:?} is not a valid name (1 to 32 of a-z, 0-9, '_', '-')",
                        p.name
                    ),
                );
            }
            if !names.insert(p.name.as_str()) {
                return bad("providers", format!("{} is listed twice", p.name));
            }
            let (needed, foreign) = match p.kind {
                providers::ProviderKind::TencentFaceid => (
                    [
                        ("secret_id_env", &p.secret_id_env),
                        ("secret_key_env", &p.secret_key_env),
                    ],
                    [&p.access_key_id_env, &p.access_key_secret_env],
                ),
                providers::ProviderKind::AliyunCloudauth => (
                    [
                        ("access_key_id_env", &p.access_key_id_env),
                        ("access_key_secret_env", &p.access_key_secret_env),
                    ],
                    [&p.secret_id_env, &p.secret_key_env],
                ),
            };
            if p.secrets.is_none()
                && let Some((key, _)) = needed.iter().find(|(_, v)| v.is_none())
            {
                return bad(
                    "providers",
                    format!("{} ({}) needs `{key}`", p.name, p.kind),
                );
            }
            if foreign.iter().any(|v| v.is_some()) {
                return bad(
                    "providers",
                    format!("{} ({}) has another kind's credential keys", p.name, p.kind),
                );
            }
        }
        let mut listed = std::collections::HashSet::new();
        for name in &self.idcheck.providers {
            if !names.contains(name.as_str()) {
                return bad(
                    "idcheck.providers",
                    format!("{name:?} is not the name of a [[providers]] entry"),
                );
            }
            if !listed.insert(name.as_str()) {
                return bad("idcheck.providers", format!("{name} is listed twice"));
            }
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.limits
                .request_timeout_ms
                .unwrap_or(self.upstream_timeout_ms + 5_000),
        )
    }

    pub fn database_url(&self) -> SecretString {
        use secrecy::ExposeSecret;
        match &self.database_url {
            Some(url) if !url.expose_secret().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("wxrealname.db").display()).into(),
        }
    }

    pub fn admin_token(&self) -> Result<Option<SecretString>, ConfigError> {
        match (&self.admin_token, &self.admin_token_env) {
            (Some(t), _) => Ok(Some(t.clone())),
            (None, Some(var)) => read_env(var).map(Some),
            (None, None) => Ok(None),
        }
    }
}

impl ProviderConfig {
    /// The two credentials: [`Self::secrets`] when code set them, else read from the environment variables
    /// the kind's keys name.
    pub fn credentials(&self) -> Result<ProviderSecrets, ConfigError> {
        if let Some(s) = &self.secrets {
            return Ok(s.clone());
        }
        let ((id_key, id_var), (secret_key, secret_var)) = match self.kind {
            providers::ProviderKind::TencentFaceid => (
                ("secret_id_env", &self.secret_id_env),
                ("secret_key_env", &self.secret_key_env),
            ),
            providers::ProviderKind::AliyunCloudauth => (
                ("access_key_id_env", &self.access_key_id_env),
                ("access_key_secret_env", &self.access_key_secret_env),
            ),
        };
        Ok(ProviderSecrets {
            id: self.env_secret(id_key, id_var.as_ref())?,
            secret: self.env_secret(secret_key, secret_var.as_ref())?,
        })
    }

    fn env_secret(&self, key: &str, var: Option<&String>) -> Result<SecretString, ConfigError> {
        match var {
            Some(var) => read_env(var),
            None => Err(ConfigError::Invalid(format!(
                "providers: {} has no `{key}`",
                self.name
            ))),
        }
    }
}

impl App {
    pub fn secret(&self) -> Result<SecretString, ConfigError> {
        match (&self.secret, &self.secret_env) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(var)) => read_env(var),
            (None, None) => Err(ConfigError::Invalid(format!(
                "apps: {} has no secret",
                self.appid
            ))),
        }
    }
}

pub(crate) fn read_env(var: &str) -> Result<SecretString, ConfigError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_owned())),
        _ => Err(ConfigError::Invalid(format!(
            "environment variable {var} is not set"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_providers(extra: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        let text = format!(
            "[[providers]]\nname = \"tc\"\nkind = \"tencent_faceid\"\nsecret_id_env = \"WXRN_TEST_TC_ID_UNSET\"\nsecret_key_env = \"WXRN_TEST_TC_KEY_UNSET\"\n{extra}"
        );
        std::fs::write(&file, text).unwrap();
        Config::load(Some(&file))
    }

    #[test]
    fn providers_and_idcheck_are_checked_across_keys() {
        let cfg = with_providers("[idcheck]\nproviders = [\"tc\"]\ndaily_budget = 7\n").unwrap();
        assert_eq!(
            cfg.providers[0].kind,
            providers::ProviderKind::TencentFaceid
        );
        assert_eq!((cfg.idcheck.daily_budget, cfg.idcheck.cache_days), (7, 30));
        for (extra, needle) in [
            (
                "[idcheck]\nproviders = [\"nope\"]\n",
                "not the name of a [[providers]] entry",
            ),
            ("[idcheck]\nproviders = [\"tc\", \"tc\"]\n", "listed twice"),
            (
                "[[providers]]\nname = \"tc\"\nkind = \"aliyun_cloudauth\"\naccess_key_id_env = \"A\"\naccess_key_secret_env = \"B\"\n",
                "listed twice",
            ),
            (
                "[[providers]]\nname = \"ali\"\nkind = \"aliyun_cloudauth\"\naccess_key_id_env = \"A\"\n",
                "needs `access_key_secret_env`",
            ),
            (
                "[[providers]]\nname = \"ali\"\nkind = \"aliyun_cloudauth\"\naccess_key_id_env = \"A\"\naccess_key_secret_env = \"B\"\nsecret_key_env = \"C\"\n",
                "another kind's credential keys",
            ),
            (
                "[[providers]]\nname = \"Bad Name\"\nkind = \"tencent_faceid\"\n",
                "not a valid name",
            ),
        ] {
            let err = with_providers(extra).unwrap_err().to_string();
            assert!(err.contains(needle), "{extra}: {err}");
        }
        let err = with_providers("[[providers]]\nname = \"x\"\nkind = \"other\"\n").unwrap_err();
        assert!(err.to_string().contains("providers"), "{err}");
    }

    #[test]
    fn a_provider_whose_secret_variable_is_unset_is_a_start_up_error() {
        let cfg = with_providers("[idcheck]\nproviders = [\"tc\"]\n").unwrap();
        let err = crate::idcheck::Checker::from_config(
            &cfg,
            std::sync::Arc::new(limits::MemoryLimiter::default()),
            std::sync::Arc::new(wechat::SystemClock),
        )
        .unwrap_err();
        assert!(err.to_string().contains("WXRN_TEST_TC_ID_UNSET"), "{err}");
        let none = crate::idcheck::Checker::from_config(
            &Config::default(),
            std::sync::Arc::new(limits::MemoryLimiter::default()),
            std::sync::Arc::new(wechat::SystemClock),
        )
        .unwrap();
        assert!(none.is_none());
    }

    fn template() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wxrealname.example.toml")
    }

    #[test]
    fn the_template_loads_and_documents_every_key() {
        let cfg = Config::load(Some(&template())).unwrap();
        assert_eq!(cfg.apps.len(), 1);
        let text = std::fs::read_to_string(template()).unwrap();
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        let mut keys = Vec::new();
        for (k, v) in defaults.as_table().unwrap() {
            keys.push(k.clone());
            if let Some(t) = v.as_table() {
                keys.extend(t.keys().cloned());
            }
        }
        keys.extend(
            [
                "database_url",
                "upstream_ca_file",
                "admin_token_env",
                "key_env",
                "key_file",
                "secret_env",
                "token_kind",
            ]
            .map(String::from),
        );
        for k in keys {
            assert!(
                text.contains(&format!("{k} ="))
                    || text.contains(&format!(".{k}]]"))
                    || text.contains(&format!("[{k}]")),
                "the template does not mention `{k}`"
            );
        }
    }

    #[test]
    fn the_api_key_cache_is_at_most_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        for ms in [0, 1, 1000] {
            std::fs::write(&p, format!("[limits]\napi_key_cache_ms = {ms}\n")).unwrap();
            assert_eq!(Config::load(Some(&p)).unwrap().limits.api_key_cache_ms, ms);
        }
        assert_eq!(Config::default().limits.api_key_cache_ms, 1000);
        std::fs::write(&p, "[limits]\napi_key_cache_ms = 5000\n").unwrap();
        let err = Config::load(Some(&p)).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "invalid value for `limits.api_key_cache_ms` in {}: 5000 is too long: at most 1000 (a revoked key must be refused within a second on every instance); 0 turns the cache off",
                p.display()
            )
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        for (text, needle) in [
            ("limts = 1\n", "limts"),
            ("log_format = \"xml\"\n", "log_format"),
            (
                "upstream_timeout_ms = 2000\n[limits]\nrequest_timeout_ms = 2000\n",
                "request_timeout_ms",
            ),
            ("[limits]\nheader_timeout_ms = 0\n", "header_timeout_ms"),
            ("[limits]\nmax_in_flight = 0\n", "max_in_flight"),
            ("[limits]\napi_key_cache_ms = 1001\n", "api_key_cache_ms"),
            ("admin_token = \"\"\n", "must not be empty"),
            ("admin_token = \"  \"\n", "must not be empty"),
            ("[[apps]]\nappid = \"wx 1\"\nsecret_env = \"X\"\n", "appid"),
            ("[[apps]]\nappid = \"wx1\"\n", "secret_env"),
            (
                "[[apps]]\nappid = \"wx1\"\nsecret_env = \"X\"\n[[apps]]\nappid = \"wx1\"\nsecret_env = \"X\"\n",
                "twice",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let err = Config::load(Some(&p)).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
