//! Both clients against the sandbox over real HTTP on loopback: every result code, every error class, clock
//! skew, and what each costs (the sandbox counts calls and billed calls by the spec's rules).
use identity::{CredId, RealName};
use providers::{
    AliyunCloudauth, AliyunCredentials, Clock, Error, HttpConfig, Outcome, Provider,
    TencentCredentials, TencentFaceId,
};
use sandbox::{Endpoint, Fault, Sandbox, SandboxConfig, SandboxHandle};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const TC_ID: &str = "AKIDclienttest00000000000000000000";
const TC_KEY: &str = "client-tencent-secret-key-0000000";
const ALI_ID: &str = "LTAIclienttest0000000";
const ALI_SECRET: &str = "client-aliyun-secret-0000000000";

const ZHANG: (&str, &str) = ("张三", "110101199003070038");
const LI: (&str, &str) = ("李四", "110101198512120051");
const NOBODY: (&str, &str) = ("王五", "110101200001010010");

/// The system clock moved by a fixed number of seconds.
#[derive(Debug)]
struct Skewed(i64);

impl Clock for Skewed {
    fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        if self.0 >= 0 {
            now + Duration::from_secs(self.0.unsigned_abs())
        } else {
            now - Duration::from_secs(self.0.unsigned_abs())
        }
    }
}

struct Env {
    sandbox: SandboxHandle,
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
        for (name, id) in [ZHANG, LI] {
            s.add_person(name, id).unwrap();
        }
        Self { sandbox }
    }

    fn http(&self) -> HttpConfig {
        let mut cfg = HttpConfig::new(self.sandbox.base_url());
        cfg.timeout = Duration::from_secs(5);
        cfg
    }

    fn tencent_with(&self, id: &str, key: &str) -> Provider {
        let creds = TencentCredentials {
            secret_id: id.to_owned().into(),
            secret_key: key.to_owned().into(),
        };
        Provider::Tencent(TencentFaceId::new(&self.http(), creds).unwrap())
    }

    fn tencent(&self) -> Provider {
        self.tencent_with(TC_ID, TC_KEY)
    }

    fn aliyun_with(&self, id: &str, secret: &str) -> Provider {
        let creds = AliyunCredentials {
            access_key_id: id.to_owned().into(),
            access_key_secret: secret.to_owned().into(),
        };
        Provider::Aliyun(AliyunCloudauth::new(&self.http(), creds).unwrap())
    }

    fn aliyun(&self) -> Provider {
        self.aliyun_with(ALI_ID, ALI_SECRET)
    }

    fn fault(&self, fault: Fault) {
        self.sandbox.state().add_fault(fault).unwrap();
    }
}

fn pair((name, id): (&str, &str)) -> (RealName, CredId) {
    (RealName::parse(name).unwrap(), CredId::parse(id).unwrap())
}

async fn ask(p: &Provider, who: (&str, &str)) -> providers::Result<providers::Answer> {
    let (name, id) = pair(who);
    p.check(&name, &id).await
}

#[tokio::test]
async fn verdicts_from_both_providers_with_billing() {
    let env = Env::spawn().await;
    for p in [env.tencent(), env.aliyun()] {
        for (who, outcome, billed) in [
            (ZHANG, Outcome::Match, true),
            ((LI.0, ZHANG.1), Outcome::Mismatch, true),
            (NOBODY, Outcome::NoRecord, false),
        ] {
            let a = ask(&p, who).await.unwrap();
            assert_eq!((a.outcome, a.billed), (outcome, billed), "{:?}", p.kind());
            assert_eq!(a.provider, p.kind());
            assert!(a.request_id.is_some());
        }
    }
    let stats = env.sandbox.stats();
    assert_eq!(stats.calls.tencent_idcard, 3);
    assert_eq!(stats.calls.aliyun_id2meta, 3);
    assert_eq!(stats.billed.tencent_idcard, 2);
    assert_eq!(stats.billed.aliyun_id2meta, 2);
}

#[tokio::test]
async fn every_tencent_result_code() {
    let env = Env::spawn().await;
    let p = env.tencent();
    for (result, want) in [
        ("0", Ok(Outcome::Match)),
        ("-1", Ok(Outcome::Mismatch)),
        ("-2", Err("invalid_input")),
        ("-3", Err("invalid_input")),
        ("-4", Err("unavailable")),
        ("-5", Ok(Outcome::NoRecord)),
        ("-6", Err("unavailable")),
        ("-7", Err("unavailable")),
    ] {
        env.fault(Fault::result(Endpoint::TencentIdcard, result));
        match (ask(&p, ZHANG).await, want) {
            (Ok(a), Ok(outcome)) => {
                assert_eq!(a.outcome, outcome, "{result}");
                assert_eq!(a.code, result);
                assert_eq!(a.billed, result == "0" || result == "-1");
            }
            (Err(e), Err(kind)) => {
                assert_eq!(e.kind(), kind, "{result}");
                assert_eq!(e.code(), Some(result));
                assert!(!e.may_have_been_billed());
                assert_eq!(e.fails_over(), kind != "invalid_input", "{result}");
            }
            (got, want) => panic!("{result}: got {got:?}, want {want:?}"),
        }
    }
    assert_eq!(env.sandbox.stats().billed.tencent_idcard, 2);
}

#[tokio::test]
async fn tencent_error_codes_and_signature_refusals() {
    let env = Env::spawn().await;
    for (code, kind) in [
        ("InternalError", "unavailable"),
        ("RequestLimitExceeded", "unavailable"),
        ("UnauthorizedOperation.Arrears", "refused"),
        ("UnauthorizedOperation.Nonactivated", "refused"),
    ] {
        env.fault(Fault::result(Endpoint::TencentIdcard, code));
        let e = ask(&env.tencent(), ZHANG).await.unwrap_err();
        assert_eq!((e.kind(), e.code()), (kind, Some(code)));
    }
    let e = ask(&env.tencent_with(TC_ID, "the-wrong-key"), ZHANG)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AuthFailure.SignatureFailure"));
    assert_eq!(e.kind(), "refused");
    let e = ask(&env.tencent_with("AKIDnobody", TC_KEY), ZHANG)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AuthFailure.SecretIdNotFound"));
    assert!(e.fails_over() && !e.may_have_been_billed() && !e.provider_unwell());
    assert_eq!(env.sandbox.stats().billed.tencent_idcard, 0);
}

#[tokio::test]
async fn every_aliyun_code() {
    let env = Env::spawn().await;
    let p = env.aliyun();
    for (code, kind) in [
        ("400", "invalid_input"),
        ("401", "invalid_input"),
        ("402", "unavailable"),
        ("403", "refused"),
        ("410", "refused"),
        ("411", "refused"),
        ("412", "refused"),
        ("500", "unavailable"),
        ("Throttling.User", "unavailable"),
    ] {
        env.fault(Fault::result(Endpoint::AliyunId2meta, code));
        let e = ask(&p, ZHANG).await.unwrap_err();
        assert_eq!((e.kind(), e.code()), (kind, Some(code)));
        assert!(!e.may_have_been_billed());
    }
    let e = ask(&env.aliyun_with(ALI_ID, "wrong-secret"), ZHANG)
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        ("refused", Some("SignatureDoesNotMatch"))
    );
    let e = ask(&env.aliyun_with("LTAInobody", ALI_SECRET), ZHANG)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidAccessKeyId.NotFound"));
    assert_eq!(env.sandbox.stats().billed.aliyun_id2meta, 0);
    // Still fine afterwards: the client's nonces are fresh on every call.
    assert_eq!(ask(&p, ZHANG).await.unwrap().outcome, Outcome::Match);
}

#[tokio::test]
async fn clock_skew_is_reported_with_the_measured_offset() {
    let env = Env::spawn().await;
    let tencent = match env.tencent() {
        Provider::Tencent(c) => Provider::Tencent(c.with_clock(Arc::new(Skewed(-400)))),
        _ => unreachable!(),
    };
    let e = ask(&tencent, ZHANG).await.unwrap_err();
    let Error::ClockSkew {
        code, skew_secs, ..
    } = &e
    else {
        panic!("expected a clock skew, got {e:?}");
    };
    assert_eq!(code, "AuthFailure.SignatureExpire");
    let skew = skew_secs.expect("the sandbox sends Date");
    assert!((398..=402).contains(&skew), "{skew}");
    assert!(e.fails_over() && !e.may_have_been_billed());
    // Within Tencent's 5 minutes it passes; Aliyun tolerates 15 minutes.
    let tencent = match env.tencent() {
        Provider::Tencent(c) => Provider::Tencent(c.with_clock(Arc::new(Skewed(-250)))),
        _ => unreachable!(),
    };
    assert!(ask(&tencent, ZHANG).await.is_ok());
    let aliyun = |secs| match env.aliyun() {
        Provider::Aliyun(c) => Provider::Aliyun(c.with_clock(Arc::new(Skewed(secs)))),
        _ => unreachable!(),
    };
    assert!(ask(&aliyun(-400), ZHANG).await.is_ok());
    let e = ask(&aliyun(1000), ZHANG).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.code()),
        ("clock_skew", Some("InvalidTimeStamp.Expired"))
    );
    // The sandbox clock moving on has the same effect as ours falling behind.
    env.sandbox.advance(Duration::from_secs(600));
    let e = ask(&env.tencent(), ZHANG).await.unwrap_err();
    assert_eq!(e.kind(), "clock_skew");
}

#[tokio::test]
async fn transport_failures_say_whether_the_call_may_have_been_billed() {
    let env = Env::spawn().await;
    for p in [env.tencent(), env.aliyun()] {
        let endpoint = match p {
            Provider::Tencent(_) => Endpoint::TencentIdcard,
            Provider::Aliyun(_) => Endpoint::AliyunId2meta,
        };
        env.fault(Fault::http_status(endpoint, 502));
        let e = ask(&p, ZHANG).await.unwrap_err();
        assert!(matches!(e, Error::HttpStatus { status: 502, .. }), "{e:?}");
        assert!(e.may_have_been_billed() && e.fails_over() && e.provider_unwell());
        env.fault(Fault::malformed(endpoint));
        let e = ask(&p, ZHANG).await.unwrap_err();
        assert_eq!(e.kind(), "malformed");
        assert!(e.may_have_been_billed() && e.fails_over());
        // Dropped after processing: the provider billed it, and the client cannot know the verdict.
        let billed_before = env.sandbox.stats().billed;
        env.fault(Fault::drop_connection(endpoint));
        let e = ask(&p, ZHANG).await.unwrap_err();
        assert_eq!(e.kind(), "transport", "{e:?}");
        assert!(e.may_have_been_billed());
        assert_ne!(env.sandbox.stats().billed, billed_before);
    }
    // A timeout: the sandbox answers after the client gave up.
    let mut cfg = env.http();
    cfg.timeout = Duration::from_millis(300);
    let creds = TencentCredentials {
        secret_id: TC_ID.to_owned().into(),
        secret_key: TC_KEY.to_owned().into(),
    };
    let slow = Provider::Tencent(TencentFaceId::new(&cfg, creds).unwrap());
    env.fault(Fault::delay(
        Endpoint::TencentIdcard,
        Duration::from_millis(1500),
    ));
    let e = ask(&slow, ZHANG).await.unwrap_err();
    assert_eq!(e.kind(), "timeout");
    assert!(e.may_have_been_billed());
    // Nobody listening: provably not sent, free to go to the next provider.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let creds = AliyunCredentials {
        access_key_id: ALI_ID.to_owned().into(),
        access_key_secret: ALI_SECRET.to_owned().into(),
    };
    let gone = Provider::Aliyun(
        AliyunCloudauth::new(&HttpConfig::new(format!("http://{addr}")), creds).unwrap(),
    );
    let e = ask(&gone, ZHANG).await.unwrap_err();
    assert_eq!(e.kind(), "not_sent");
    assert!(!e.may_have_been_billed() && e.fails_over());
}

#[tokio::test]
async fn errors_and_debug_never_show_the_pair_or_the_secrets() {
    let env = Env::spawn().await;
    let p = env.tencent();
    let mut seen = vec![format!("{p:?}"), format!("{:?}", env.aliyun())];
    for fault in [
        Fault::result(Endpoint::TencentIdcard, "-2"),
        Fault::malformed(Endpoint::TencentIdcard),
        Fault::http_status(Endpoint::TencentIdcard, 503),
        Fault::body(
            Endpoint::TencentIdcard,
            serde_json::json!({"Response": {"Error": {"Code": "110101199003070038", "Message": "张三"}}}),
        ),
    ] {
        env.fault(fault);
        let e = ask(&p, ZHANG).await.unwrap_err();
        seen.push(format!("{e} {e:?}"));
    }
    let (name, id) = pair(ZHANG);
    seen.push(format!("{name:?} {id:?}"));
    for text in &seen {
        for secret in [ZHANG.0, ZHANG.1, TC_KEY, TC_ID, ALI_SECRET, ALI_ID] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
