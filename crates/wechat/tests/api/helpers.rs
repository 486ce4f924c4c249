//! `TestApp::spawn()`: a sandbox on 127.0.0.1:0 with one app that holds the real-name permission, and the
//! client pointed at it.
use identity::{AppId, CredId, OpenId, RealName};
use sandbox::{Endpoint, Fault, Sandbox, SandboxConfig, SandboxHandle, Stats};
use std::sync::Arc;
use std::time::Duration;
use wechat::{
    AppSecret, CheckRequest, Client, ClientConfig, Clock, ManualClock, MemoryTokenStore,
    RealnameApi, TokenKind, TokenManager, TokenStore,
};

pub const APPID: &str = "wx00000000000000a1";
pub const SECRET: &str = "sandbox-secret-a1";
/// An app without the real-name permission.
pub const APPID_NO_PERMISSION: &str = "wx00000000000000b2";

pub const NAME: &str = "张三";
pub const OTHER_NAME: &str = "李四";
pub const CRED: &str = "11010519491231002X";
pub const OTHER_CRED: &str = "44030419900307123X";

/// The verified user; `o_unverified` never completed WeChat Pay real-name verification.
pub const VERIFIED: &str = "o_verified";
pub const UNVERIFIED: &str = "o_unverified";

pub struct TestApp {
    pub sandbox: SandboxHandle,
    pub appid: AppId,
    pub secret: AppSecret,
    pub client: Client,
    /// The managers' clock: moves only when a test says so.
    pub clock: Arc<ManualClock>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(SandboxConfig::default()).await
    }

    pub async fn spawn_with(cfg: SandboxConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = Sandbox::spawn(listener, cfg).await.unwrap();
        let state = sandbox.state();
        state.add_app(APPID, SECRET, true).unwrap();
        state.add_app(APPID_NO_PERMISSION, SECRET, false).unwrap();
        state
            .add_user(APPID, VERIFIED, Some(NAME), Some(CRED))
            .unwrap();
        state.add_user(APPID, UNVERIFIED, None, None).unwrap();
        state
            .add_user(APPID_NO_PERMISSION, VERIFIED, Some(NAME), Some(CRED))
            .unwrap();
        let client = Client::new(ClientConfig {
            base_url: sandbox.base_url(),
            ..Default::default()
        })
        .unwrap();
        Self {
            sandbox,
            appid: AppId::parse(APPID).unwrap(),
            secret: AppSecret::new(SECRET.into()),
            client,
            clock: Arc::new(ManualClock::default()),
        }
    }

    /// A client with a short overall timeout.
    pub fn client_with_timeout(&self, timeout: Duration) -> Client {
        Client::new(ClientConfig {
            base_url: self.sandbox.base_url(),
            timeout,
            ..Default::default()
        })
        .unwrap()
    }

    pub fn manager(&self, kind: TokenKind) -> TokenManager {
        self.manager_with(kind, Arc::new(MemoryTokenStore::new()))
    }

    pub fn manager_with(&self, kind: TokenKind, store: Arc<dyn TokenStore>) -> TokenManager {
        let clock: Arc<dyn Clock> = self.clock.clone();
        TokenManager::new(
            self.client.clone(),
            self.appid.clone(),
            self.secret.clone(),
            kind,
            store,
            clock,
        )
    }

    pub fn api(&self) -> RealnameApi {
        RealnameApi::new(
            self.client.clone(),
            Arc::new(self.manager(TokenKind::Stable)),
        )
    }

    pub fn consent(&self, openid: &str) -> String {
        self.sandbox.state().consent(APPID, openid).unwrap()
    }

    pub fn fault(&self, fault: Fault) {
        self.sandbox.state().add_fault(fault).unwrap();
    }

    pub fn stats(&self) -> Stats {
        self.sandbox.stats()
    }

    /// Waits (bounded) until the sandbox has received `n` calls of `endpoint`: for ordering a test's steps
    /// against a request in flight, never for expiry.
    pub async fn wait_for_calls(&self, endpoint: Endpoint, n: u64) {
        for _ in 0..400 {
            if self.stats().calls.get(endpoint) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the sandbox never received {n} {} calls", endpoint.as_str());
    }
}

/// A check's inputs, owned, so that tests can borrow a [`CheckRequest`] from them.
pub struct Check {
    pub openid: OpenId,
    pub name: RealName,
    pub cred: CredId,
    pub code: String,
}

impl Check {
    pub fn new(openid: &str, name: &str, cred: &str, code: String) -> Self {
        Self {
            openid: OpenId::parse(openid).unwrap(),
            name: RealName::parse(name).unwrap(),
            cred: CredId::parse(cred).unwrap(),
            code,
        }
    }

    /// The verified user, with their own name and ID and a fresh code.
    pub fn matching(app: &TestApp) -> Self {
        Self::new(VERIFIED, NAME, CRED, app.consent(VERIFIED))
    }

    pub fn req(&self) -> CheckRequest<'_> {
        CheckRequest {
            openid: &self.openid,
            real_name: &self.name,
            cred_id: &self.cred,
            code: &self.code,
        }
    }
}
