//! The demo's web app: a page that plays the business's mini program, and the small back end a business runs
//! for it. `wxrealname demo` serves it next to the gateway and the sandbox.
//!
//! The flow, as in WeChat: the user picks who they are (a demo user stands for the WeChat login), types a name
//! and an ID number (checked live by `POST /api/validate`, which runs the `identity` crate: the gateway's own
//! rules, one source of truth), taps "verify" and lands on WeChat's consent page (the sandbox's `/consent`),
//! agrees or declines, and comes back to `/return` with a code or a reason. The back end then calls the
//! gateway with the API key, which the browser never sees, and the page shows the outcome with masked values.
//!
//! # Layout
//! - this file: [`Settings`], [`DemoWeb::spawn`], the router and the static page (HTML, CSS, JS compiled in).
//! - `api`: the JSON endpoints; `pending`: verifications waiting for the user to come back.
//! - `idcheck`: the second tab (`/idcheck`), a name + ID-number check through the paid providers behind the
//!   gateway's `POST /v1/idchecks`, without WeChat: no consent page, a consent box and a `consent_ref`.
//! - `assets/`: the page. No build step, no CDN.

mod api;
mod idcheck;
mod pending;
#[cfg(test)]
mod tests;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pending::PendingStore;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Where the back end finds the others, and the key it calls the gateway with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The gateway, as this server reaches it.
    pub gateway_url: String,
    /// The sandbox, as the browser reaches it (its consent page).
    pub sandbox_url: String,
    pub api_key: SecretString,
    pub appid: String,
}

/// What every handler shares.
#[derive(Debug, Clone)]
struct Shared(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    settings: Settings,
    /// `http://host:port` of this server, as the browser reaches it.
    base_url: String,
    http: reqwest::Client,
    pending: PendingStore,
}

impl std::ops::Deref for Shared {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Where the consent page sends the user back to.
fn return_url(base_url: &str) -> String {
    format!("{base_url}/return")
}

/// `http://addr`, with an unspecified address (0.0.0.0, ::) replaced by loopback so a browser can open it.
pub fn browser_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

/// Entry point: `DemoWeb::spawn(listener, settings)`.
#[derive(Debug)]
pub struct DemoWeb;

/// The running web app; dropping it stops the server.
#[derive(Debug)]
pub struct DemoWebHandle {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DemoWeb {
    pub async fn spawn(listener: TcpListener, settings: Settings) -> anyhow::Result<DemoWebHandle> {
        let url = browser_url(listener.local_addr()?);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()?;
        let shared = Shared(Arc::new(Inner {
            settings,
            base_url: url.clone(),
            http,
            pending: PendingStore::default(),
        }));
        let app = router(shared);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(error = %e, "demo web app stopped");
            }
        });
        Ok(DemoWebHandle {
            url,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

impl DemoWebHandle {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DemoWebHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/return", get(index))
        .route("/idcheck", get(index))
        .route("/assets/app.js", get(script))
        .route("/assets/app.css", get(stylesheet))
        // The return URL carries the code: `no-referrer` keeps it from another origin's logs.
        .layer(page_headers::layer(CSP, "no-cache"))
        .merge(api::routes())
        .merge(idcheck::routes())
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(shared)
}

/// Scripts and styles from this origin only; navigation to the consent page is a plain `location` change.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A static asset; the page headers come from the layer.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn index() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("demo_web/assets/index.html"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("demo_web/assets/app.js"),
    )
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("demo_web/assets/app.css"),
    )
}
