//! Two gateway instances, each with its own token manager, WeChat client, clock and Redis connection, sharing
//! one token store in Redis, in front of the sandbox: between them they fetch each token exactly once.
use crate::helpers::{random_prefix, redis_state, remove_prefix};
use identity::{AppId, CredId, OpenId, RealName};
use sandbox::{Sandbox, SandboxConfig, SandboxHandle, Stats, demo};
use std::sync::Arc;
use std::time::Duration;
use wechat::{
    AccessToken, AppSecret, CheckOutcome, CheckRequest, Client, ClientConfig, ManualClock,
    RealnameApi, TokenKind, TokenManager, TokenProvider,
};

struct Instance {
    clock: Arc<ManualClock>,
    manager: Arc<TokenManager>,
    api: RealnameApi,
}

impl Instance {
    async fn start(sandbox: &SandboxHandle, prefix: &str, kind: TokenKind) -> Self {
        let clock = Arc::new(ManualClock::default());
        let state = redis_state(prefix, clock.clone()).await;
        let client = Client::new(ClientConfig {
            base_url: sandbox.base_url(),
            ..Default::default()
        })
        .unwrap();
        let manager = TokenManager::new(
            client.clone(),
            AppId::parse(demo::APPID).unwrap(),
            AppSecret::new(demo::SECRET.into()),
            kind,
            state.tokens,
            clock.clone(),
        )
        .with_lock_poll(Duration::from_millis(10));
        let manager = Arc::new(manager);
        let api = RealnameApi::new(client, manager.clone());
        Self {
            clock,
            manager,
            api,
        }
    }
}

async fn sandbox() -> SandboxHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cfg = SandboxConfig {
        seed_demo: true,
        ..Default::default()
    };
    Sandbox::spawn(listener, cfg).await.unwrap()
}

/// Upstream fetches of `kind`'s token endpoint.
fn fetches(stats: &Stats, kind: TokenKind) -> u64 {
    match kind {
        TokenKind::Stable => stats.calls.stable_token,
        TokenKind::Classic => stats.calls.token,
    }
}

/// `n` concurrent `token()` calls spread over the instances; every one must succeed with the same token.
async fn burst(instances: &[Instance], n: usize) -> AccessToken {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let manager = instances[i % instances.len()].manager.clone();
            tokio::spawn(async move { manager.token().await })
        })
        .collect();
    let mut tokens = Vec::with_capacity(n);
    for task in tasks {
        tokens.push(task.await.unwrap().unwrap());
    }
    let first = tokens[0].clone();
    assert!(
        tokens.iter().all(|t| *t == first),
        "instances disagree on the token"
    );
    first
}

/// A check of the demo user whose name and ID number match, with a fresh consent code.
async fn check_demo_match(sandbox: &SandboxHandle, api: &RealnameApi) -> wechat::CheckResult {
    let user = demo::USERS.iter().find(|u| u.outcome == "match").unwrap();
    let code = sandbox.state().consent(demo::APPID, user.openid).unwrap();
    let (openid, name, cred) = (
        OpenId::parse(user.openid).unwrap(),
        RealName::parse(user.submit_name).unwrap(),
        CredId::parse(user.submit_cred_id).unwrap(),
    );
    let req = CheckRequest {
        openid: &openid,
        real_name: &name,
        cred_id: &cred,
        code: &code,
    };
    api.check(&req).await.unwrap()
}

async fn two_instances_share_one_token(kind: TokenKind) {
    let sandbox = sandbox().await;
    let prefix = random_prefix();
    let instances = [
        Instance::start(&sandbox, &prefix, kind).await,
        Instance::start(&sandbox, &prefix, kind).await,
    ];

    let first = burst(&instances, 500).await;
    assert_eq!(fetches(&sandbox.stats(), kind), 1);

    // Past expiry, on WeChat's clock and on both instances'.
    let past_expiry = Duration::from_secs(7201);
    sandbox.advance(past_expiry);
    for instance in &instances {
        instance.clock.advance(past_expiry);
    }
    let second = burst(&instances, 500).await;
    assert_ne!(second, first);
    assert_eq!(fetches(&sandbox.stats(), kind), 2);

    // Someone else rotates the app's tokens: both instances meet 40001, and between them fetch once.
    sandbox.state().revoke_tokens(demo::APPID).unwrap();
    let (a, b) = tokio::join!(
        check_demo_match(&sandbox, &instances[0].api),
        check_demo_match(&sandbox, &instances[1].api),
    );
    for result in [a, b] {
        assert_eq!(
            (result.outcome, result.token_retries),
            (CheckOutcome::Match, 1)
        );
    }
    let stats = sandbox.stats();
    assert_eq!(stats.errcode(40001), 2);
    assert_eq!(fetches(&stats, kind), 3);

    let third = burst(&instances, 100).await;
    assert!(third != first && third != second);
    assert_eq!(fetches(&sandbox.stats(), kind), 3);
    let counted: u64 = instances.iter().map(|i| i.manager.status().fetches).sum();
    assert_eq!(counted, 3);
    remove_prefix(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fetch_each_stable_token_once() {
    test_support::needs!(Redis);
    two_instances_share_one_token(TokenKind::Stable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fetch_each_classic_token_once() {
    test_support::needs!(Redis);
    two_instances_share_one_token(TokenKind::Classic).await;
}
