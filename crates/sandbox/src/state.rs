//! [`SandboxState`]: the sandbox's world (see `data`) behind one mutex, and the admin actions on it.
//!
//! One `std::sync::Mutex` keeps every rule (a code is consumed once, a refresh replaces exactly one token)
//! trivially atomic; no handler holds it across an `.await`. The clock lives outside it so reading the time
//! never waits on the lock.
use crate::clock::{Clock, after, secs_left};
use crate::data::{App, Data, ForceRefresh, Grant, Record, TokenKind, User, random_hex};
use crate::{Endpoint, Fault, Result, SandboxConfig, SandboxError, Stats};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Shared handle on one sandbox (cheap to clone). Its methods are the admin API, in process.
#[derive(Clone)]
pub struct SandboxState {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: SandboxConfig,
    clock: Clock,
    data: Mutex<Data>,
}

impl fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The data holds secrets and (fictional) personal data: never print it.
        f.debug_struct("SandboxState")
            .field("cfg", &self.inner.cfg)
            .finish_non_exhaustive()
    }
}

/// Token state of one app, for `GET /sandbox/apps/{appid}/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TokenStatus {
    /// Classic tokens that would be accepted now (the latest one plus any still in their grace period).
    pub classic_valid: u64,
    /// Seconds left on the current stable token, if there is a valid one.
    pub stable_expires_in: Option<u64>,
}

/// An app as listed by `GET /sandbox/apps` (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AppSummary {
    pub appid: String,
    pub realname_permission: bool,
    pub users: u64,
}

fn check_credential(id_field: &str, id: &str, secret_field: &str, secret: &str) -> Result<()> {
    if !plain_id(id, 128) {
        return Err(SandboxError::InvalidRequest(format!(
            "{id_field} must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'"
        )));
    }
    if secret.is_empty() || secret.len() > 256 {
        return Err(SandboxError::InvalidRequest(format!(
            "{secret_field} must be 1 to 256 characters"
        )));
    }
    Ok(())
}

fn plain_id(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl SandboxState {
    /// A fresh sandbox; seeded with [`crate::demo`] if `cfg.seed_demo`.
    pub fn new(cfg: SandboxConfig) -> Self {
        let state = Self {
            inner: Arc::new(Inner {
                cfg,
                clock: Clock::default(),
                data: Mutex::default(),
            }),
        };
        state.seed();
        state
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.inner.cfg
    }

    /// The sandbox clock: system time plus every [`advance`](Self::advance) since start or reset.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Move the sandbox clock forward (tokens, codes and quota days are judged on it).
    pub fn advance(&self, d: Duration) {
        self.inner.clock.advance(d);
    }

    /// How far the clock has been advanced.
    pub fn clock_offset(&self) -> Duration {
        self.inner.clock.offset()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Data> {
        // A panic while holding the lock leaves counters at worst half-updated; the sandbox keeps serving.
        self.inner
            .data
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on the data under the lock, with the current time.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Data, DateTime<Utc>, &SandboxConfig) -> T,
    ) -> T {
        let now = self.now();
        let mut data = self.lock();
        data.purge(now);
        f(&mut data, now, &self.inner.cfg)
    }

    /// Create an app, or replace its secret and permission (its users, tokens and codes are kept).
    pub fn add_app(&self, appid: &str, secret: &str, realname_permission: bool) -> Result<()> {
        if !plain_id(appid, 64) {
            return Err(SandboxError::InvalidRequest(
                "appid must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'".into(),
            ));
        }
        if secret.is_empty() || secret.len() > 128 {
            return Err(SandboxError::InvalidRequest(
                "secret must be 1 to 128 characters".into(),
            ));
        }
        let mut data = self.lock();
        match data.apps.get_mut(appid) {
            Some(app) => {
                app.secret = secret.to_owned();
                app.realname_permission = realname_permission;
            }
            None => {
                let app = App {
                    secret: secret.to_owned(),
                    realname_permission,
                    users: HashMap::new(),
                    classic_current: None,
                    stable_current: None,
                    force_refresh: ForceRefresh::default(),
                };
                data.apps.insert(appid.to_owned(), app);
            }
        }
        tracing::debug!(appid, realname_permission, "sandbox app set");
        Ok(())
    }

    /// Create or replace a user. `None` for both name and ID: the user never completed WeChat Pay real-name
    /// verification (the check answers `V_OP_NA`).
    pub fn add_user(
        &self,
        appid: &str,
        openid: &str,
        real_name: Option<&str>,
        cred_id: Option<&str>,
    ) -> Result<()> {
        if !plain_id(openid, 128) {
            return Err(SandboxError::InvalidRequest(
                "openid must be 1 to 128 characters of A-Z, a-z, 0-9, '_' or '-'".into(),
            ));
        }
        let record = match (real_name, cred_id) {
            (None, None) => None,
            (Some(n), Some(c)) if !n.is_empty() && !c.is_empty() => Some(Record {
                real_name: n.to_owned(),
                cred_id: c.to_owned(),
            }),
            _ => {
                return Err(SandboxError::InvalidRequest(
                    "real_name and cred_id are either both non-empty strings or both null".into(),
                ));
            }
        };
        let mut data = self.lock();
        let app = data
            .apps
            .get_mut(appid)
            .ok_or_else(|| SandboxError::UnknownApp(appid.to_owned()))?;
        tracing::debug!(
            appid,
            openid,
            verified = record.is_some(),
            "sandbox user set"
        );
        app.users.insert(openid.to_owned(), User { record });
        Ok(())
    }

    /// The user agreed on WeChat's consent page: a fresh single-use code bound to this app and user.
    pub fn consent(&self, appid: &str, openid: &str) -> Result<String> {
        Ok(self
            .consent_bulk(appid, &[openid])?
            .pop()
            .expect("one code per openid"))
    }

    /// One consent code per openid, in the same order; nothing is issued if any openid is unknown.
    pub fn consent_bulk<S: AsRef<str>>(&self, appid: &str, openids: &[S]) -> Result<Vec<String>> {
        self.with(|data, now, cfg| {
            data.check_users(appid, openids)?;
            let expires_at = after(now, cfg.code_ttl);
            let codes = openids
                .iter()
                .map(|openid| {
                    let code = random_hex(16);
                    let grant = Grant {
                        appid: appid.to_owned(),
                        openid: openid.as_ref().to_owned(),
                        expires_at,
                    };
                    data.codes.insert(code.clone(), grant);
                    code
                })
                .collect::<Vec<_>>();
            data.stats.codes_issued += codes.len() as u64;
            tracing::debug!(appid, count = codes.len(), "consent codes issued");
            Ok(codes)
        })
    }

    /// What `wx.login` returns in the mini program: a single-use `js_code` for `jscode2session`.
    pub fn login(&self, appid: &str, openid: &str) -> Result<String> {
        self.with(|data, now, cfg| {
            data.check_users(appid, &[openid])?;
            let code = random_hex(16);
            let grant = Grant {
                appid: appid.to_owned(),
                openid: openid.to_owned(),
                expires_at: after(now, cfg.js_code_ttl),
            };
            data.js_codes.insert(code.clone(), grant);
            data.stats.js_codes_issued += 1;
            tracing::debug!(appid, openid, "js_code issued");
            Ok(code)
        })
    }

    /// Another party rotated the app's tokens: every token of the app, classic and stable, answers 40001 from
    /// now on. Returns how many valid tokens were revoked.
    pub fn revoke_tokens(&self, appid: &str) -> Result<u64> {
        self.with(|data, now, _| {
            let app = data
                .apps
                .get_mut(appid)
                .ok_or_else(|| SandboxError::UnknownApp(appid.to_owned()))?;
            app.classic_current = None;
            app.stable_current = None;
            let mut revoked = 0;
            for rec in data
                .tokens
                .values_mut()
                .filter(|r| r.appid == appid && r.is_valid(now))
            {
                rec.invalid_from = Some(now);
                revoked += 1;
            }
            tracing::debug!(appid, revoked, "tokens revoked");
            Ok(revoked)
        })
    }

    /// Register (or replace) a Tencent Cloud SecretId / SecretKey pair that `POST /` accepts.
    pub fn add_tencent_credentials(&self, secret_id: &str, secret_key: &str) -> Result<()> {
        check_credential("secret_id", secret_id, "secret_key", secret_key)?;
        self.lock()
            .providers
            .tencent_keys
            .insert(secret_id.to_owned(), secret_key.to_owned());
        tracing::debug!("sandbox tencent credentials set");
        Ok(())
    }

    /// Register (or replace) an Aliyun AccessKey pair that `POST /` accepts.
    pub fn add_aliyun_credentials(
        &self,
        access_key_id: &str,
        access_key_secret: &str,
    ) -> Result<()> {
        check_credential(
            "access_key_id",
            access_key_id,
            "access_key_secret",
            access_key_secret,
        )?;
        self.lock()
            .providers
            .aliyun_keys
            .insert(access_key_id.to_owned(), access_key_secret.to_owned());
        tracing::debug!("sandbox aliyun credentials set");
        Ok(())
    }

    /// Put a person in the providers' authoritative record (replacing whoever held that ID number). Both
    /// values must be valid, and are stored normalised; returns their masked forms.
    pub fn add_person(&self, name: &str, cred_id: &str) -> Result<(String, String)> {
        let today = crate::clock::shanghai_day(self.now());
        let cred_id = identity::CredId::parse_on(cred_id, today).map_err(|e| {
            SandboxError::InvalidRequest(format!("cred_id is not a valid ID number ({})", e.code()))
        })?;
        let name = identity::RealName::parse(name).map_err(|e| {
            SandboxError::InvalidRequest(format!("name is not a valid name ({})", e.code()))
        })?;
        let masked = (name.masked(), cred_id.masked());
        self.lock()
            .providers
            .people
            .insert(cred_id.expose().to_owned(), name.expose().to_owned());
        tracing::debug!(cred_id = %masked.1, "sandbox person set");
        Ok(masked)
    }

    /// Queue a fault for the next `fault.times` calls of its endpoint, after those already queued.
    pub fn add_fault(&self, fault: Fault) -> Result<()> {
        fault.validate().map_err(SandboxError::InvalidRequest)?;
        tracing::debug!(
            endpoint = fault.endpoint.as_str(),
            times = fault.times,
            "fault queued"
        );
        self.lock()
            .faults
            .entry(fault.endpoint)
            .or_default()
            .push_back(fault);
        Ok(())
    }

    /// Drop every queued fault; returns how many calls they would still have applied to.
    pub fn clear_faults(&self) -> u64 {
        let mut data = self.lock();
        let n = data
            .faults
            .values()
            .flatten()
            .map(|f| u64::from(f.times))
            .sum();
        data.faults.clear();
        n
    }

    /// The faults still queued, endpoint by endpoint, `times` counting down as calls use them.
    pub fn pending_faults(&self) -> Vec<Fault> {
        let data = self.lock();
        Endpoint::ALL
            .iter()
            .filter_map(|e| data.faults.get(e))
            .flatten()
            .cloned()
            .collect()
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Back to the start state: no apps, users, tokens, codes or faults (the demo data again if configured),
    /// counters at zero, and the clock back to system time.
    pub fn reset(&self) {
        *self.lock() = Data::default();
        self.inner.clock.reset();
        self.seed();
        tracing::debug!("sandbox reset");
    }

    pub fn token_status(&self, appid: &str) -> Result<TokenStatus> {
        self.with(|data, now, _| {
            let app = data
                .apps
                .get(appid)
                .ok_or_else(|| SandboxError::UnknownApp(appid.to_owned()))?;
            let classic_valid = data
                .tokens
                .values()
                .filter(|r| r.appid == appid && r.kind == TokenKind::Classic && r.is_valid(now))
                .count() as u64;
            let stable_expires_in = app
                .stable_current
                .as_ref()
                .and_then(|t| data.tokens.get(t))
                .filter(|r| r.is_valid(now))
                .map(|r| secs_left(now, r.expires_at));
            Ok(TokenStatus {
                classic_valid,
                stable_expires_in,
            })
        })
    }

    pub fn apps(&self) -> Vec<AppSummary> {
        let data = self.lock();
        let mut apps = data
            .apps
            .iter()
            .map(|(appid, app)| AppSummary {
                appid: appid.clone(),
                realname_permission: app.realname_permission,
                users: app.users.len() as u64,
            })
            .collect::<Vec<_>>();
        apps.sort_by(|a, b| a.appid.cmp(&b.appid));
        apps
    }

    fn seed(&self) {
        if self.inner.cfg.seed_demo {
            crate::demo::seed(self).expect("the demo data is valid");
        }
    }
}
