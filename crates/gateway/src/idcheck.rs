//! The paid providers behind the name + ID-number check (issue 14): the providers in `idcheck.providers`'
//! order, each with its own circuit breaker, and the daily budget shared by every instance.
//!
//! [`Checker::check`] asks the first provider whose breaker admits a call. A verdict (match, mismatch, no
//! record) is the answer; invalid input (Tencent -2/-3, Aliyun 400/401) ends the check too, since the next
//! provider would refuse it as well. Anything else (a transport failure, a 5xx, an unreadable answer, Tencent
//! -4/-6/-7, `InternalError`, `RequestLimitExceeded`, Aliyun 402/500, and refusals of our credentials or clock,
//! which are never billed) goes to the next provider. No provider is ever asked twice in one check: a call that
//! may have been billed is never sent again.
//!
//! The budget counts every call before it is made (any call may be billed), in the `limits::Limiter`'s
//! Asia/Shanghai day window: with Redis, one counter for all instances. Once it is spent, the check is refused
//! with the seconds left until midnight in Shanghai.
use crate::config::{Config, ConfigError, ProviderConfig};
use identity::{CredId, RealName};
use limits::{Decision, Limiter, Window};
use providers::{
    AliyunCloudauth, AliyunCredentials, Answer, HttpConfig, InvalidField, Provider, ProviderKind,
    TencentCredentials, TencentFaceId,
};
use std::sync::Arc;
use std::time::Duration;
use wechat::{Breaker, BreakerConfig, BreakerState, Clock, Verdict};

/// The limiter bucket of the daily budget.
const BUDGET_BUCKET: &str = "idcheck:budget";

/// One configured provider and its breaker.
#[derive(Debug)]
struct Slot {
    name: String,
    provider: Provider,
    breaker: Arc<Breaker>,
}

/// What one provider did during a check, for the audit row and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The provider's configured name.
    pub provider: String,
    /// `match`, `mismatch`, `no_record`, or the error kind (`unavailable`, `timeout`, `circuit_open`, ...).
    pub result: String,
    /// The provider's code (`"0"`, `"-4"`, `"AuthFailure.SignatureFailure"`), when it gave one.
    pub code: Option<String>,
    /// Billed for sure (a verdict the rules bill).
    pub billed: bool,
    /// Billed or maybe billed: what the budget had to assume.
    pub may_have_been_billed: bool,
}

/// A verdict, with the provider that gave it and what was tried before.
#[derive(Debug, Clone)]
pub struct Checked {
    pub provider: String,
    pub answer: Answer,
    pub attempts: Vec<Attempt>,
}

/// Why a check ended without a verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// `idcheck.daily_budget` provider calls were made today (Asia/Shanghai).
    #[error("the daily budget of provider calls is spent")]
    BudgetExhausted { retry_after_secs: u64 },
    /// A provider refused the name or the ID number as malformed (our own validation let it through).
    #[error("{provider} refused the input as invalid ({field})")]
    InvalidInput {
        provider: String,
        field: InvalidField,
    },
    /// Every provider failed or was paused by its breaker.
    #[error("no provider could answer")]
    Unavailable,
    /// The budget counter could not be reached.
    #[error("the budget counter is unavailable")]
    Dependency,
}

/// A check that ended without a verdict, with what was tried.
#[derive(Debug, Clone)]
pub struct Failed {
    pub error: CheckError,
    pub attempts: Vec<Attempt>,
}

/// The providers behind the check. Cheap to share in an `Arc`.
#[derive(Debug)]
pub struct Checker {
    slots: Vec<Slot>,
    daily_budget: u32,
    limiter: Arc<dyn Limiter>,
    clock: Arc<dyn Clock>,
}

impl Checker {
    /// `providers` in the order they are asked; `daily_budget` 0 for none.
    pub fn new(
        providers: Vec<(String, Provider)>,
        breaker: BreakerConfig,
        daily_budget: u32,
        limiter: Arc<dyn Limiter>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let slots = providers
            .into_iter()
            .map(|(name, provider)| Slot {
                breaker: Arc::new(Breaker::new(
                    format!("provider:{name}"),
                    breaker,
                    clock.clone(),
                )),
                name,
                provider,
            })
            .collect();
        Self {
            slots,
            daily_budget,
            limiter,
            clock,
        }
    }

    /// The checker `cfg` describes (secrets read from the environment), or `None` when `idcheck.providers` is
    /// empty.
    pub fn from_config(
        cfg: &Config,
        limiter: Arc<dyn Limiter>,
        clock: Arc<dyn Clock>,
    ) -> Result<Option<Self>, ConfigError> {
        if cfg.idcheck.providers.is_empty() {
            return Ok(None);
        }
        let mut providers = Vec::new();
        for name in &cfg.idcheck.providers {
            let p = cfg
                .providers
                .iter()
                .find(|p| &p.name == name)
                .ok_or_else(|| {
                    ConfigError::Invalid(format!("idcheck.providers: no provider named {name}"))
                })?;
            providers.push((name.clone(), build(cfg, p)?));
        }
        let breaker = BreakerConfig {
            failures: cfg.upstream_breaker.failures,
            cool_down: Duration::from_secs(cfg.upstream_breaker.cool_down_secs),
        };
        Ok(Some(Self::new(
            providers,
            breaker,
            cfg.idcheck.daily_budget,
            limiter,
            clock,
        )))
    }

    /// The configured provider names, in the order they are asked.
    pub fn provider_names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.name.as_str()).collect()
    }

    /// A provider's breaker state, by name.
    pub fn breaker_state(&self, name: &str) -> Option<BreakerState> {
        self.slots
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.breaker.state())
    }

    /// Ask the providers in order until one gives a verdict (see the module docs for what fails over).
    pub async fn check(&self, name: &RealName, id: &CredId) -> Result<Checked, Failed> {
        let mut attempts = Vec::new();
        for slot in &self.slots {
            let permit = match slot.breaker.admit() {
                Ok(permit) => permit,
                Err(_) => {
                    attempts.push(Attempt {
                        provider: slot.name.clone(),
                        result: "circuit_open".into(),
                        code: None,
                        billed: false,
                        may_have_been_billed: false,
                    });
                    continue;
                }
            };
            if let Err(error) = self.spend_budget().await {
                // The permit is dropped unused: the breaker's probe slot, if this was it, is given back.
                return Err(Failed { error, attempts });
            }
            let result = slot.provider.check(name, id).await;
            permit.record_verdict(verdict(&result));
            match result {
                Ok(answer) => {
                    attempts.push(Attempt {
                        provider: slot.name.clone(),
                        result: answer.outcome.as_str().into(),
                        code: Some(answer.code.clone()),
                        billed: answer.billed,
                        may_have_been_billed: answer.billed,
                    });
                    return Ok(Checked {
                        provider: slot.name.clone(),
                        answer,
                        attempts,
                    });
                }
                Err(e) => {
                    tracing::warn!(
                        provider = %slot.name,
                        kind = e.kind(),
                        code = ?e.code(),
                        may_have_been_billed = e.may_have_been_billed(),
                        fails_over = e.fails_over(),
                        "idcheck provider failed"
                    );
                    attempts.push(Attempt {
                        provider: slot.name.clone(),
                        result: e.kind().into(),
                        code: e.code().map(str::to_owned),
                        billed: false,
                        may_have_been_billed: e.may_have_been_billed(),
                    });
                    if let providers::Error::InvalidInput { field, .. } = e {
                        return Err(Failed {
                            error: CheckError::InvalidInput {
                                provider: slot.name.clone(),
                                field,
                            },
                            attempts,
                        });
                    }
                }
            }
        }
        Err(Failed {
            error: CheckError::Unavailable,
            attempts,
        })
    }

    /// Provider calls left in today's budget (Asia/Shanghai), or `None` with no budget or when the counter
    /// cannot be read.
    pub async fn budget_left(&self) -> Option<u32> {
        if self.daily_budget == 0 {
            return None;
        }
        let used = self
            .limiter
            .used(BUDGET_BUCKET, Window::Day, self.clock.now())
            .await
            .ok()?;
        Some(self.daily_budget.saturating_sub(used))
    }

    /// Count one provider call against the daily budget, before it is made.
    async fn spend_budget(&self) -> Result<(), CheckError> {
        if self.daily_budget == 0 {
            return Ok(());
        }
        match self
            .limiter
            .hit(
                BUDGET_BUCKET,
                self.daily_budget,
                Window::Day,
                self.clock.now(),
            )
            .await
        {
            Ok(Decision::Allowed) => Ok(()),
            Ok(Decision::Denied { retry_after_secs }) => {
                tracing::warn!(
                    daily_budget = self.daily_budget,
                    retry_after_secs,
                    "idcheck budget spent for today"
                );
                Err(CheckError::BudgetExhausted { retry_after_secs })
            }
            Err(e) => {
                tracing::error!(error = %e, "idcheck budget counter");
                Err(CheckError::Dependency)
            }
        }
    }
}

/// How a provider call counts for its breaker: an answer (a verdict, invalid input) proves it up; its "try
/// later" codes and every failure to get a readable answer count against it; refusals of our credentials or
/// clock say nothing about its health.
fn verdict(result: &providers::Result<Answer>) -> Verdict {
    match result {
        Ok(_) => Verdict::Success,
        Err(e) if e.provider_unwell() => Verdict::Failure,
        Err(providers::Error::InvalidInput { .. }) => Verdict::Success,
        Err(_) => Verdict::Neutral,
    }
}

/// One provider client from its config entry.
fn build(cfg: &Config, p: &ProviderConfig) -> Result<Provider, ConfigError> {
    let base_url = p.base_url.clone().unwrap_or_else(|| {
        match p.kind {
            ProviderKind::TencentFaceid => providers::tencent::DEFAULT_BASE_URL,
            ProviderKind::AliyunCloudauth => providers::aliyun::DEFAULT_BASE_URL,
        }
        .to_owned()
    });
    let mut http = HttpConfig::new(base_url);
    http.timeout = Duration::from_millis(cfg.upstream_timeout_ms);
    http.connect_timeout = Duration::from_millis(cfg.upstream_connect_timeout_ms);
    http.ca_file = cfg.upstream_ca_file.clone();
    let invalid = |e: providers::Error| ConfigError::Invalid(format!("providers: {}: {e}", p.name));
    let creds = p.credentials()?;
    Ok(match p.kind {
        ProviderKind::TencentFaceid => {
            let creds = TencentCredentials {
                secret_id: creds.id,
                secret_key: creds.secret,
            };
            Provider::Tencent(TencentFaceId::new(&http, creds).map_err(invalid)?)
        }
        ProviderKind::AliyunCloudauth => {
            let creds = AliyunCredentials {
                access_key_id: creds.id,
                access_key_secret: creds.secret,
            };
            Provider::Aliyun(AliyunCloudauth::new(&http, creds).map_err(invalid)?)
        }
    })
}
