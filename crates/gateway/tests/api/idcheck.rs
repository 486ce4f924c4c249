//! The paid providers behind the name + ID-number check (`gateway::idcheck::Checker`), against the sandbox over
//! real HTTP: what fails over and what does not, a breaker per provider, and the daily budget shared by two
//! instances through Redis. The sandbox counts every provider call, so each case asserts what it cost.
use gateway::idcheck::{CheckError, Checker, Failed};
use identity::{CredId, RealName};
use limits::{Limiter, MemoryLimiter};
use providers::{
    AliyunCloudauth, AliyunCredentials, HttpConfig, InvalidField, Outcome, Provider,
    TencentCredentials, TencentFaceId,
};
use sandbox::{Endpoint, Fault, Sandbox, SandboxConfig, SandboxHandle};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use wechat::{BreakerConfig, BreakerState, ManualClock};

const TC_ID: &str = "AKIDgatewaytest0000000000000000000";
const TC_KEY: &str = "gateway-tencent-secret-key-000000";
const ALI_ID: &str = "LTAIgatewaytest000000";
const ALI_SECRET: &str = "gateway-aliyun-secret-00000000";

/// Fictional people in the sandbox's authoritative record.
const REGISTERED: (&str, &str) = ("赵六", "110101198001010053");
const UNREGISTERED: (&str, &str) = ("钱八", "110101199505050029");

/// 23:59:00 in Asia/Shanghai (15:59:00 UTC), a minute before the budget's day turns.
fn before_midnight() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_054_340)
}

struct Env {
    sandbox: SandboxHandle,
    clock: Arc<ManualClock>,
}

impl Env {
    async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cfg = SandboxConfig {
            seed_demo: false,
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::spawn(listener, cfg).await.unwrap();
        let s = sandbox.state();
        s.add_tencent_credentials(TC_ID, TC_KEY).unwrap();
        s.add_aliyun_credentials(ALI_ID, ALI_SECRET).unwrap();
        s.add_person(REGISTERED.0, REGISTERED.1).unwrap();
        Self {
            sandbox,
            clock: Arc::new(ManualClock::new(before_midnight())),
        }
    }

    fn tencent(&self) -> (String, Provider) {
        let creds = TencentCredentials {
            secret_id: TC_ID.to_owned().into(),
            secret_key: TC_KEY.to_owned().into(),
        };
        let http = HttpConfig::new(self.sandbox.base_url());
        let client = TencentFaceId::new(&http, creds).unwrap();
        ("tencent".into(), Provider::Tencent(client))
    }

    fn aliyun(&self) -> (String, Provider) {
        let creds = AliyunCredentials {
            access_key_id: ALI_ID.to_owned().into(),
            access_key_secret: ALI_SECRET.to_owned().into(),
        };
        let http = HttpConfig::new(self.sandbox.base_url());
        let client = AliyunCloudauth::new(&http, creds).unwrap();
        ("aliyun".into(), Provider::Aliyun(client))
    }

    fn checker(
        &self,
        providers: Vec<(String, Provider)>,
        budget: u32,
        limiter: Arc<dyn Limiter>,
    ) -> Checker {
        let breaker = BreakerConfig {
            failures: 2,
            cool_down: Duration::from_secs(10),
        };
        Checker::new(providers, breaker, budget, limiter, self.clock.clone())
    }

    /// Tencent first, then Aliyun; no budget.
    fn both(&self) -> Checker {
        self.checker(
            vec![self.tencent(), self.aliyun()],
            0,
            Arc::new(MemoryLimiter::default()),
        )
    }

    fn fault(&self, fault: Fault) {
        self.sandbox.state().add_fault(fault).unwrap();
    }

    /// Calls so far: (Tencent, Aliyun).
    fn calls(&self) -> (u64, u64) {
        let c = self.sandbox.stats().calls;
        (c.tencent_idcard, c.aliyun_id2meta)
    }
}

async fn check(c: &Checker, (name, id): (&str, &str)) -> Result<gateway::idcheck::Checked, Failed> {
    c.check(&RealName::parse(name).unwrap(), &CredId::parse(id).unwrap())
        .await
}

#[tokio::test]
async fn the_first_provider_answers_and_the_others_are_not_asked() {
    let env = Env::spawn().await;
    let c = env.both();
    assert_eq!(c.provider_names(), ["tencent", "aliyun"]);
    let got = check(&c, REGISTERED).await.unwrap();
    assert_eq!(
        (got.provider.as_str(), got.answer.outcome),
        ("tencent", Outcome::Match)
    );
    assert!(got.answer.billed);
    assert_eq!(got.attempts.len(), 1);
    // A mismatch and "no record" are verdicts too: never asked again elsewhere.
    let got = check(&c, ("孙七", REGISTERED.1)).await.unwrap();
    assert_eq!(got.answer.outcome, Outcome::Mismatch);
    let got = check(&c, UNREGISTERED).await.unwrap();
    assert_eq!(
        (got.answer.outcome, got.answer.billed),
        (Outcome::NoRecord, false)
    );
    assert_eq!(env.calls(), (3, 0));
}

#[tokio::test]
async fn every_retryable_failure_goes_to_the_next_provider_once() {
    let env = Env::spawn().await;
    // No breaker in the way: one fresh checker per case.
    let cases = [
        (Fault::result(Endpoint::TencentIdcard, "-4"), "unavailable"),
        (Fault::result(Endpoint::TencentIdcard, "-6"), "unavailable"),
        (Fault::result(Endpoint::TencentIdcard, "-7"), "unavailable"),
        (
            Fault::result(Endpoint::TencentIdcard, "InternalError"),
            "unavailable",
        ),
        (
            Fault::result(Endpoint::TencentIdcard, "RequestLimitExceeded"),
            "unavailable",
        ),
        (
            Fault::result(Endpoint::TencentIdcard, "AuthFailure.SignatureFailure"),
            "refused",
        ),
        (
            Fault::http_status(Endpoint::TencentIdcard, 502),
            "http_status",
        ),
        (Fault::malformed(Endpoint::TencentIdcard), "malformed"),
        (Fault::drop_connection(Endpoint::TencentIdcard), "transport"),
    ];
    for (i, (fault, kind)) in cases.into_iter().enumerate() {
        env.fault(fault);
        let got = check(&env.both(), REGISTERED).await.unwrap();
        assert_eq!(got.provider, "aliyun", "{kind}");
        assert_eq!(got.attempts[0].result, kind);
        assert_eq!(got.attempts[1].result, "match");
        let n = i as u64 + 1;
        assert_eq!(env.calls(), (n, n), "each provider asked once: {kind}");
    }
    // Aliyun first: its 402 and 500 go to Tencent.
    for code in ["402", "500"] {
        env.fault(Fault::result(Endpoint::AliyunId2meta, code));
        let c = env.checker(
            vec![env.aliyun(), env.tencent()],
            0,
            Arc::new(MemoryLimiter::default()),
        );
        let got = check(&c, REGISTERED).await.unwrap();
        assert_eq!(got.provider, "tencent");
        assert_eq!(got.attempts[0].code.as_deref(), Some(code));
    }
}

#[tokio::test]
async fn invalid_input_never_fails_over_and_all_failing_is_unavailable() {
    let env = Env::spawn().await;
    env.fault(Fault::result(Endpoint::TencentIdcard, "-2"));
    let failed = check(&env.both(), REGISTERED).await.unwrap_err();
    assert_eq!(
        failed.error,
        CheckError::InvalidInput {
            provider: "tencent".into(),
            field: InvalidField::CredId,
        }
    );
    assert_eq!(env.calls(), (1, 0));
    env.fault(Fault::http_status(Endpoint::TencentIdcard, 503));
    env.fault(Fault::result(Endpoint::AliyunId2meta, "402"));
    let failed = check(&env.both(), REGISTERED).await.unwrap_err();
    assert_eq!(failed.error, CheckError::Unavailable);
    let results: Vec<_> = failed.attempts.iter().map(|a| a.result.as_str()).collect();
    assert_eq!(results, ["http_status", "unavailable"]);
    assert!(failed.attempts[0].may_have_been_billed);
    assert!(!failed.attempts[1].may_have_been_billed);
    assert_eq!(env.calls(), (2, 1));
}

#[tokio::test]
async fn each_provider_has_its_own_breaker() {
    let env = Env::spawn().await;
    let c = env.both();
    env.fault(Fault::http_status(Endpoint::TencentIdcard, 502).times(2));
    for _ in 0..2 {
        assert_eq!(check(&c, REGISTERED).await.unwrap().provider, "aliyun");
    }
    assert_eq!(c.breaker_state("tencent"), Some(BreakerState::Open));
    assert_eq!(c.breaker_state("aliyun"), Some(BreakerState::Closed));
    // While open, Tencent is not called at all.
    let got = check(&c, REGISTERED).await.unwrap();
    assert_eq!(got.provider, "aliyun");
    assert_eq!(got.attempts[0].result, "circuit_open");
    assert_eq!(env.calls(), (2, 3));
    // After the cool-down one probe goes through; it succeeds and closes the circuit.
    env.clock.advance(Duration::from_secs(10));
    assert_eq!(check(&c, REGISTERED).await.unwrap().provider, "tencent");
    assert_eq!(c.breaker_state("tencent"), Some(BreakerState::Closed));
    assert_eq!(env.calls(), (3, 3));
    // A refusal of our credentials says nothing about the provider's health: it never opens the breaker.
    env.fault(Fault::result(Endpoint::TencentIdcard, "AuthFailure.SecretIdNotFound").times(3));
    for _ in 0..3 {
        assert_eq!(check(&c, REGISTERED).await.unwrap().provider, "aliyun");
    }
    assert_eq!(c.breaker_state("tencent"), Some(BreakerState::Closed));
}

#[tokio::test]
async fn the_budget_counts_every_call_before_it_is_made() {
    let env = Env::spawn().await;
    let c = env.checker(
        vec![env.tencent(), env.aliyun()],
        2,
        Arc::new(MemoryLimiter::default()),
    );
    // Tencent fails (not billed, but it might have been: it counts), Aliyun answers: two calls, budget spent.
    env.fault(Fault::http_status(Endpoint::TencentIdcard, 502));
    assert_eq!(check(&c, REGISTERED).await.unwrap().provider, "aliyun");
    let failed = check(&c, REGISTERED).await.unwrap_err();
    assert_eq!(
        failed.error,
        CheckError::BudgetExhausted {
            retry_after_secs: 60
        },
        "refused until midnight in Shanghai"
    );
    assert!(failed.attempts.is_empty());
    assert_eq!(env.calls(), (1, 1));
    env.clock.advance(Duration::from_secs(61));
    assert!(
        check(&c, REGISTERED).await.is_ok(),
        "a new day, a new budget"
    );
}

#[tokio::test]
async fn the_budget_is_shared_by_two_instances_through_redis() {
    test_support::needs!(Redis);
    let env = Env::spawn().await;
    let prefix = format!("wxrn-test-{}:", uuid::Uuid::new_v4().simple());
    let url = test_support::redis_test_url();
    let mut instances = Vec::new();
    for _ in 0..2 {
        // Each instance has its own connection to the same Redis, as two processes would.
        let redis = redis_state::connect(&url, &prefix).await.unwrap();
        instances.push(env.checker(vec![env.tencent()], 3, redis.limiter.clone()));
    }
    for i in 0..3 {
        assert!(check(&instances[i % 2], REGISTERED).await.is_ok());
    }
    for c in &instances {
        let failed = check(c, REGISTERED).await.unwrap_err();
        assert_eq!(
            failed.error,
            CheckError::BudgetExhausted {
                retry_after_secs: 60
            }
        );
    }
    assert_eq!(env.calls(), (3, 0), "no call past the budget");
}
