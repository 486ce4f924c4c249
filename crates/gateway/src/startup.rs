//! Building and running the gateway: `Application::build(cfg) -> port() -> run_until_stopped()`, exactly as
//! the binary does it, so tests start the real thing.

use crate::auth::Doorman;
use crate::config::Config;
use crate::pii::Pii;
use crate::routes::router;
use crate::serve::{ServeConfig, serve};
use crate::state::{AppState, Inner};
use crate::telemetry;
use anyhow::Context;
use limits::{Limiter, MemoryLimiter};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use wechat::{
    AppSecret, Breaker, BreakerConfig, Client, ClientConfig, Clock, MemoryTokenStore, RealnameApi,
    SystemClock, TokenManager, TokenStore,
};

/// What can be swapped: the clock (tests), and the state shared between instances (in memory for one
/// instance, Redis for several).
#[derive(Debug, Clone)]
pub struct Deps {
    pub clock: Arc<dyn Clock>,
    pub limiter: Arc<dyn Limiter>,
    pub token_store: Arc<dyn TokenStore>,
    /// Set when the shared state lives in Redis: `/readyz` pings it.
    pub redis: Option<redis_state::RedisState>,
}

impl Deps {
    /// In memory, or in Redis when `redis_url` is set. Redis is connected lazily: the gateway starts while Redis
    /// is down, answers 503 `dependency_unavailable` until it is back, and resumes by itself.
    pub fn from_config(cfg: &Config) -> anyhow::Result<Self> {
        let Some(url) = &cfg.redis_url else {
            return Ok(Self::default());
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let options = redis_state::RedisOptions {
            prefix: cfg.redis_prefix.clone(),
            clock: clock.clone(),
            ..Default::default()
        };
        let redis =
            redis_state::RedisState::lazy(secrecy::ExposeSecret::expose_secret(url), options)
                .context("redis_url")?;
        Ok(Self {
            clock,
            limiter: redis.limiter.clone(),
            token_store: redis.tokens.clone(),
            redis: Some(redis),
        })
    }
}

impl Default for Deps {
    fn default() -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            limiter: Arc::new(MemoryLimiter::default()),
            token_store: Arc::new(MemoryTokenStore::with_clock(clock.clone())),
            clock,
            redis: None,
        }
    }
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    pub async fn build(cfg: Config) -> anyhow::Result<Self> {
        let deps = Deps::from_config(&cfg)?;
        Self::build_with(cfg, deps).await
    }

    pub async fn build_with(cfg: Config, deps: Deps) -> anyhow::Result<Self> {
        let state = build_state(cfg, deps).await?;
        let listener = TcpListener::bind(&state.cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", state.cfg.listen))?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The handlers are installed here, before anything is served: a SIGTERM that arrives as soon as the
        // first answer has gone out still shuts down gracefully (with the anchor written), never by default action.
        let signal = shutdown_signal()?;
        self.run_with_shutdown(signal).await
    }

    pub async fn run_with_shutdown(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let pruning = tokio::spawn(crate::maintenance::run(self.state.clone()));
        let anchor = self.state.cfg.audit.anchor_file.clone();
        let anchoring = anchor
            .clone()
            .map(|path| tokio::spawn(crate::anchoring::run(self.state.clone(), path)));
        let limits = &self.state.cfg.limits;
        let cfg = ServeConfig {
            header_timeout: Duration::from_millis(limits.header_timeout_ms),
            max_in_flight: limits.max_in_flight,
            max_in_flight_per_ip: limits.max_in_flight_per_ip,
            connection_loop: limits.connection_loop,
        };
        let gate = Arc::new(Doorman(self.state.clone()));
        let state = self.state.clone();
        let app = router(self.state);
        let served = serve(self.listener, app, gate, cfg, signal).await;
        pruning.abort();
        if let Some(task) = anchoring {
            task.abort();
        }
        // The last word: the heads as this process leaves them.
        if let Some(path) = anchor {
            match crate::anchoring::anchor_now(&state, &path).await {
                Ok(rows) => {
                    tracing::info!(rows, path = %path.display(), "anchored the audit chain heads")
                }
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "cannot write the audit anchor at shutdown")
                }
            }
        }
        served
    }
}

/// Everything but the socket: store, keys, one WeChat client per app.
pub async fn build_state(cfg: Config, deps: Deps) -> anyhow::Result<AppState> {
    store::files::private_dir(&cfg.data_dir)
        .with_context(|| format!("cannot create data_dir {}", cfg.data_dir.display()))?;
    let pii = Pii::load(&cfg.blind_index, &cfg.data_dir)?;
    if let Some(problem) = cfg.anchor_file_problem() {
        anyhow::bail!(problem);
    }
    let store = store::open(
        secrecy::ExposeSecret::expose_secret(&cfg.database_url()),
        pii.audit_keys(),
    )
    .await
    .context("cannot open the database")?;
    let client = Client::new(ClientConfig {
        base_url: cfg.upstream_base_url.clone(),
        timeout: Duration::from_millis(cfg.upstream_timeout_ms),
        connect_timeout: Duration::from_millis(cfg.upstream_connect_timeout_ms),
        ca_file: cfg.upstream_ca_file.clone(),
    })
    .context("cannot build the WeChat client")?;
    let mut apps = BTreeMap::new();
    for app in &cfg.apps {
        let appid = identity::AppId::parse(&app.appid)
            .map_err(|e| anyhow::anyhow!("apps: {}: {e}", app.appid))?;
        let secret =
            AppSecret::new(secrecy::ExposeSecret::expose_secret(&app.secret()?).to_owned());
        let kind = app.token_kind.unwrap_or(cfg.token_kind);
        let tokens = TokenManager::new(
            client.clone(),
            appid,
            secret,
            kind,
            deps.token_store.clone(),
            deps.clock.clone(),
        )
        .with_refresh_ahead(Duration::from_secs(cfg.token_refresh_ahead_secs));
        let mut api = RealnameApi::new(client.clone(), Arc::new(tokens));
        let breaker = &cfg.upstream_breaker;
        if breaker.failures > 0 {
            let settings = BreakerConfig {
                failures: breaker.failures,
                cool_down: Duration::from_secs(breaker.cool_down_secs),
            };
            api = api.with_breaker(Arc::new(Breaker::new(
                &app.appid,
                settings,
                deps.clock.clone(),
            )));
        }
        apps.insert(app.appid.clone(), api);
    }
    let admin_token = cfg.admin_token()?;
    let idcheck =
        crate::idcheck::Checker::from_config(&cfg, deps.limiter.clone(), deps.clock.clone())?
            .map(Arc::new);
    Ok(AppState(Arc::new(Inner {
        store,
        key_cache: crate::auth::KeyCache::from_config(&cfg),
        apps,
        idcheck,
        pii,
        limiter: deps.limiter,
        clock: deps.clock,
        redis: deps.redis,
        metrics: telemetry::metrics_handle(),
        admin_token,
        cfg,
    })))
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not when the future is first polled.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        tracing::info!("shutting down");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}
