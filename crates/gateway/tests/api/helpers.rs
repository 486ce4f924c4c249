//! `TestApp::spawn()`: the sandbox and the gateway, both in-process on port 0, with a demo API key.

use gateway::config::App;
use gateway::{Application, Config, Deps};
pub use sandbox::{Endpoint, Fault};
use sandbox::{Sandbox, SandboxConfig, SandboxHandle, Stats};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use wechat::ManualClock;

pub use sandbox::demo::{APPID, NO_PERMISSION_APPID, NO_PERMISSION_OPENID, USERS};

/// Everything any test logged, at every level, so the canary test can scan it.
pub fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let writer = || LogWriter;
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace,hyper=info,h2=info,reqwest=debug")
            .with_writer(writer)
            .try_init();
        crate::canary::watch_panics();
        Mutex::new(Vec::new())
    })
}

struct LogWriter;
impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::canary::inspect("the log", buf);
        logs().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct TestApp {
    pub addr: String,
    pub sandbox: SandboxHandle,
    pub key: String,
    pub key_id: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub data_dir: PathBuf,
    pub cfg: Config,
    pub state: gateway::AppState,
    /// Before `_dir`: it scans the data directory when the app is dropped.
    _canary: crate::canary::Guard,
    _dir: Option<tempfile::TempDir>,
    server: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Debug, Clone)]
pub struct Builder {
    cfg: Config,
    sandbox_cfg: SandboxConfig,
    /// Shared state in this Redis (with a fresh key prefix, unless `redis_prefix`) instead of memory.
    redis_url: Option<String>,
    redis_prefix: Option<String>,
}

/// The paid providers' test credentials (fictional), registered in the sandbox and handed to the gateway's
/// `[[providers]]` by code (`ProviderConfig::secrets`).
pub const TC_SECRET_ID: &str = "AKIDapitest000000000000000000000000";
pub const TC_SECRET_KEY: &str = "api-test-tencent-secret-key-00000";
pub const ALI_KEY_ID: &str = "LTAIapitest0000000000";
pub const ALI_KEY_SECRET: &str = "api-test-aliyun-secret-0000000";

/// The providers' credentials as the gateway's config holds them.
fn provider_secrets(id: &str, secret: &str) -> Option<gateway::config::ProviderSecrets> {
    Some(gateway::config::ProviderSecrets {
        id: id.to_owned().into(),
        secret: secret.to_owned().into(),
    })
}

impl TestApp {
    pub fn builder() -> Builder {
        let cfg = Config {
            listen: "127.0.0.1:0".into(),
            upstream_timeout_ms: 2_000,
            admin_token: Some("test-admin-token".to_owned().into()),
            blind_index: gateway::config::BlindIndex {
                key: Some("11".repeat(32).into()),
                ..Config::default().blind_index
            },
            apps: vec![
                App {
                    appid: APPID.into(),
                    secret: Some(sandbox::demo::SECRET.to_owned().into()),
                    secret_env: None,
                    token_kind: None,
                },
                App {
                    appid: NO_PERMISSION_APPID.into(),
                    secret: Some(sandbox::demo::NO_PERMISSION_SECRET.to_owned().into()),
                    secret_env: None,
                    token_kind: None,
                },
            ],
            ..Config::default()
        };
        Builder {
            cfg,
            sandbox_cfg: SandboxConfig {
                seed_demo: true,
                ..SandboxConfig::default()
            },
            redis_url: None,
            redis_prefix: None,
        }
    }

    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn stats(&self) -> Stats {
        self.sandbox.stats()
    }

    pub fn checks(&self) -> u64 {
        self.stats().calls.checkrealnameinfo
    }

    pub fn token_fetches(&self) -> u64 {
        let s = self.stats();
        s.calls.token + s.calls.stable_token
    }

    pub fn consent(&self, openid: &str) -> String {
        self.sandbox.state().consent(APPID, openid).unwrap()
    }

    pub fn fault(&self, f: Fault) {
        self.sandbox.state().add_fault(f).unwrap();
    }

    /// A request body for demo user `i` with a fresh consent code.
    pub fn body_for(&self, i: usize) -> Value {
        let u = &USERS[i];
        json!({"openid": u.openid, "real_name": u.submit_name, "cred_id": u.submit_cred_id, "code": self.consent(u.openid)})
    }

    pub async fn verify(&self, body: &Value) -> (u16, Value, reqwest::header::HeaderMap) {
        self.verify_with(body, Some(&self.key), None).await
    }

    pub async fn verify_with(
        &self,
        body: &Value,
        key: Option<&str>,
        idem: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.post(self.url("/v1/verifications")).json(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(i) = idem {
            req = req.header("Idempotency-Key", i);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        crate::canary::inspect("a response", text.as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }

    /// `POST /v1/idchecks` with `key`.
    pub async fn idcheck_with(
        &self,
        key: &str,
        body: &Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let resp = self
            .http
            .post(self.url("/v1/idchecks"))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        crate::canary::inspect("a response", text.as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        crate::canary::inspect("a response", text.as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        crate::canary::inspect("a response", text.as_bytes());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A second key, bound to the given apps.
    pub async fn key_for(&self, apps: &[&str]) -> (String, String) {
        self.key_with(apps, &[]).await
    }

    /// A second key, bound to the given apps, with the given scopes (`idcheck`).
    pub async fn key_with(&self, apps: &[&str], scopes: &[&str]) -> (String, String) {
        let k = gateway::keys::mint();
        self.state
            .store
            .insert_api_key(&store::ApiKeyRecord {
                id: k.id.clone(),
                name: "test".into(),
                key_hash: k.hash.clone(),
                apps: apps.iter().map(|s| s.to_string()).collect(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                created_at_ms: 0,
                revoked_at_ms: None,
            })
            .await
            .unwrap();
        (
            k.id,
            secrecy::ExposeSecret::expose_secret(&k.full).to_owned(),
        )
    }

    /// Stop the gateway (the sandbox keeps running) and start a new one on the same data directory.
    pub async fn restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
        let dir = self._dir.take();
        let b = Builder {
            cfg: self.cfg.clone(),
            sandbox_cfg: SandboxConfig::default(),
            redis_url: None,
            redis_prefix: None,
        };
        let mut app = b
            .start(
                self.sandbox,
                dir,
                Some((self.key_id.clone(), self.key.clone())),
            )
            .await;
        app.clock = self.clock;
        app
    }
}

impl Builder {
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.cfg);
        self
    }

    #[allow(dead_code)]
    pub fn sandbox(mut self, f: impl FnOnce(&mut SandboxConfig)) -> Self {
        f(&mut self.sandbox_cfg);
        self
    }

    pub fn redis(mut self, url: &str) -> Self {
        self.redis_url = Some(url.to_owned());
        self
    }

    /// With `redis`: this key prefix, so that two test apps share their counters.
    pub fn redis_prefix(mut self, prefix: &str) -> Self {
        self.redis_prefix = Some(prefix.to_owned());
        self
    }

    /// Tencent then Aliyun behind `POST /v1/idchecks`, both at the sandbox, no budget; the test key gets the
    /// `idcheck` scope too.
    pub fn idchecks(self) -> Self {
        self.config(|c| {
            c.providers = vec![
                gateway::config::ProviderConfig {
                    name: "tencent".into(),
                    kind: providers::ProviderKind::TencentFaceid,
                    base_url: None,
                    secret_id_env: None,
                    secret_key_env: None,
                    access_key_id_env: None,
                    access_key_secret_env: None,
                    secrets: provider_secrets(TC_SECRET_ID, TC_SECRET_KEY),
                },
                gateway::config::ProviderConfig {
                    name: "aliyun".into(),
                    kind: providers::ProviderKind::AliyunCloudauth,
                    base_url: None,
                    secret_id_env: None,
                    secret_key_env: None,
                    access_key_id_env: None,
                    access_key_secret_env: None,
                    secrets: provider_secrets(ALI_KEY_ID, ALI_KEY_SECRET),
                },
            ];
            c.idcheck.providers = vec!["tencent".into(), "aliyun".into()];
        })
    }

    pub async fn spawn(self) -> TestApp {
        logs();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sandbox = Sandbox::spawn(listener, self.sandbox_cfg.clone())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut b = self;
        b.cfg.data_dir = dir.path().to_path_buf();
        b.start(sandbox, Some(dir), None).await
    }

    async fn start(
        mut self,
        sandbox: SandboxHandle,
        dir: Option<tempfile::TempDir>,
        key: Option<(String, String)>,
    ) -> TestApp {
        self.cfg.upstream_base_url = sandbox.base_url();
        for p in &mut self.cfg.providers {
            p.base_url.get_or_insert_with(|| sandbox.base_url());
        }
        if !self.cfg.providers.is_empty() {
            let s = sandbox.state();
            s.add_tencent_credentials(TC_SECRET_ID, TC_SECRET_KEY)
                .unwrap();
            s.add_aliyun_credentials(ALI_KEY_ID, ALI_KEY_SECRET)
                .unwrap();
        }
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let mut deps = Deps {
            clock: clock.clone(),
            token_store: Arc::new(wechat::MemoryTokenStore::with_clock(clock.clone())),
            ..Deps::default()
        };
        if let Some(url) = &self.redis_url {
            let options = redis_state::RedisOptions {
                prefix: self
                    .redis_prefix
                    .clone()
                    .unwrap_or_else(|| format!("wxrn-test-{}:", uuid::Uuid::new_v4().simple())),
                clock: clock.clone(),
                ..Default::default()
            };
            let redis = redis_state::RedisState::lazy(url, options).unwrap();
            deps.limiter = redis.limiter.clone();
            deps.token_store = redis.tokens.clone();
            deps.redis = Some(redis);
        }
        let app = Application::build_with(self.cfg.clone(), deps)
            .await
            .unwrap();
        let addr = app.local_addr().to_string();
        let state = app.state().clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_with_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut t = TestApp {
            addr,
            sandbox,
            key: String::new(),
            key_id: String::new(),
            http,
            clock,
            data_dir: self.cfg.data_dir.clone(),
            _canary: crate::canary::Guard::new(&self.cfg.data_dir),
            cfg: self.cfg,
            state,
            _dir: dir,
            server,
            stop: Some(stop_tx),
        };
        let idcheck: &[&str] = if t.cfg.providers.is_empty() {
            &[]
        } else {
            &["idcheck"]
        };
        let (id, key) = match key {
            Some(k) => k,
            None => t.key_with(&[APPID], idcheck).await,
        };
        t.key_id = id;
        t.key = key;
        t
    }
}

pub const CHECK: Endpoint = Endpoint::Checkrealnameinfo;

pub fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}
