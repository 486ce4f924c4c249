//! The data behind the state's mutex: apps and their users, tokens, unconsumed codes, queued faults, quota
//! counters and stats. Plain structs with no locking of their own; [`crate::SandboxState`] owns the lock.
use crate::clock::after;
use crate::{Endpoint, Fault, Quotas, Result, SandboxError, Stats};
use chrono::{DateTime, NaiveDate, Utc};
use rand::RngCore;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct Data {
    pub(crate) apps: HashMap<String, App>,
    pub(crate) tokens: HashMap<String, TokenRec>,
    /// Real-name consent codes not yet consumed.
    pub(crate) codes: HashMap<String, Grant>,
    /// `wx.login` codes not yet consumed.
    pub(crate) js_codes: HashMap<String, Grant>,
    pub(crate) faults: HashMap<Endpoint, VecDeque<Fault>>,
    quota_used: HashMap<(String, Endpoint), (NaiveDate, u64)>,
    pub(crate) stats: Stats,
    last_purge: Option<DateTime<Utc>>,
    /// The paid providers' side: credentials and the authoritative record.
    pub(crate) providers: ProviderData,
}

/// What the simulated Tencent and Aliyun hold. Secrets and (fictional) personal data: no `Debug`.
#[derive(Default)]
pub(crate) struct ProviderData {
    /// SecretId -> SecretKey.
    pub(crate) tencent_keys: HashMap<String, String>,
    /// AccessKey id -> AccessKey secret.
    pub(crate) aliyun_keys: HashMap<String, String>,
    /// The authoritative record: normalised ID number -> normalised name.
    pub(crate) people: HashMap<String, String>,
    /// ACS3 signature nonces seen recently, with when.
    pub(crate) acs_nonces: HashMap<String, DateTime<Utc>>,
}

/// What the authoritative record says of a submitted pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PersonVerdict {
    InvalidCredId,
    InvalidName,
    NoRecord,
    Match,
    Mismatch,
}

impl ProviderData {
    /// Judged on normalised values, as the real services compare (a lowercase check character `x` is `X`).
    /// The ID number is checked first, as Tencent's `-2` comes before `-3` in its table.
    pub(crate) fn verdict(&self, name: &str, cred_id: &str, now: DateTime<Utc>) -> PersonVerdict {
        let today = crate::clock::shanghai_day(now);
        let Ok(cred_id) = identity::CredId::parse_on(cred_id, today) else {
            return PersonVerdict::InvalidCredId;
        };
        let Ok(name) = identity::RealName::parse(name) else {
            return PersonVerdict::InvalidName;
        };
        match self.people.get(cred_id.expose()) {
            None => PersonVerdict::NoRecord,
            Some(held) if held == name.expose() => PersonVerdict::Match,
            Some(_) => PersonVerdict::Mismatch,
        }
    }
}

pub(crate) struct App {
    pub(crate) secret: String,
    pub(crate) realname_permission: bool,
    pub(crate) users: HashMap<String, User>,
    pub(crate) classic_current: Option<String>,
    pub(crate) stable_current: Option<String>,
    pub(crate) force_refresh: ForceRefresh,
}

#[derive(Default)]
pub(crate) struct ForceRefresh {
    pub(crate) day: Option<NaiveDate>,
    pub(crate) count: u32,
    pub(crate) last: Option<DateTime<Utc>>,
}

/// A user of one app; `record` is `None` until the user completes WeChat Pay real-name verification.
pub(crate) struct User {
    pub(crate) record: Option<Record>,
}

pub(crate) struct Record {
    pub(crate) real_name: String,
    pub(crate) cred_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Classic,
    Stable,
}

pub(crate) struct TokenRec {
    pub(crate) appid: String,
    pub(crate) kind: TokenKind,
    pub(crate) expires_at: DateTime<Utc>,
    /// From this instant the token answers 40001: set when it is replaced (classic: plus the grace period) or
    /// revoked.
    pub(crate) invalid_from: Option<DateTime<Utc>>,
}

impl TokenRec {
    pub(crate) fn is_valid(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at && self.invalid_from.is_none_or(|t| now < t)
    }
}

/// A single-use code bound to one app and one user.
pub(crate) struct Grant {
    pub(crate) appid: String,
    pub(crate) openid: String,
    pub(crate) expires_at: DateTime<Utc>,
}

/// How long used-up token records are kept so that a late caller still gets 42001 rather than 40001.
const EXPIRED_TOKEN_MEMORY: Duration = Duration::from_secs(24 * 3600);
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// A random opaque string of `bytes` random bytes, hex-encoded.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

impl Data {
    pub(crate) fn check_users<S: AsRef<str>>(&self, appid: &str, openids: &[S]) -> Result<()> {
        let app = self
            .apps
            .get(appid)
            .ok_or_else(|| SandboxError::UnknownApp(appid.to_owned()))?;
        match openids.iter().find(|o| !app.users.contains_key(o.as_ref())) {
            Some(o) => Err(SandboxError::UnknownUser {
                appid: appid.to_owned(),
                openid: o.as_ref().to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Count one call against the app's daily quota of `endpoint`; `false` once the quota is spent.
    pub(crate) fn take_quota(
        &mut self,
        appid: &str,
        endpoint: Endpoint,
        quotas: &Quotas,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(limit) = quotas.of(endpoint) else {
            return true;
        };
        let today = crate::clock::shanghai_day(now);
        let used = self
            .quota_used
            .entry((appid.to_owned(), endpoint))
            .or_insert((today, 0));
        if used.0 != today {
            *used = (today, 0);
        }
        if used.1 >= limit {
            return false;
        }
        used.1 += 1;
        true
    }

    /// Forget expired codes and long-dead tokens, at most once a minute, so a long run stays small.
    pub(crate) fn purge(&mut self, now: DateTime<Utc>) {
        if self.last_purge.is_some_and(|t| now < after(t, PURGE_EVERY)) {
            return;
        }
        self.last_purge = Some(now);
        self.codes.retain(|_, g| now < g.expires_at);
        self.js_codes.retain(|_, g| now < g.expires_at);
        self.tokens
            .retain(|_, r| now < after(r.expires_at, EXPIRED_TOKEN_MEMORY));
        let nonce_memory = chrono::Duration::seconds(providers::aliyun::MAX_SKEW_SECS);
        self.providers
            .acs_nonces
            .retain(|_, seen| now - *seen <= nonce_memory);
    }
}
