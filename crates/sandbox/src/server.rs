//! Serving: `Sandbox::spawn` runs the router on a listener, one task per connection.
//!
//! The accept loop is hand-written (hyper's HTTP/1 connection, not `axum::serve`) for one reason: the `drop`
//! fault must close the socket with no response at all, and only the task that owns the connection can do
//! that. Each connection gets a [`ConnKill`] in its requests' extensions; firing it drops the connection.
use crate::{SandboxConfig, SandboxState, Stats};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Entry point: `Sandbox::spawn(listener, cfg)` starts a sandbox in the background.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Serve a new sandbox on `listener` (bind it to `127.0.0.1:0` in tests) until the handle is shut down or
    /// dropped.
    pub async fn spawn(
        listener: TcpListener,
        cfg: SandboxConfig,
    ) -> std::io::Result<SandboxHandle> {
        Self::resume(listener, SandboxState::new(cfg)).await
    }

    /// Serve an existing sandbox's state (apps, users, codes, tokens, counters) on `listener`: the same WeChat
    /// back after an outage, for tests of what happens once it returns.
    pub async fn resume(
        listener: TcpListener,
        state: SandboxState,
    ) -> std::io::Result<SandboxHandle> {
        let addr = listener.local_addr()?;
        let app = crate::router(state.clone());
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, app, stop_rx));
        tracing::info!(%addr, "sandbox listening");
        Ok(SandboxHandle {
            addr,
            state,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running sandbox. Dropping it stops the server too; [`shutdown`](Self::shutdown) also waits for that.
#[derive(Debug)]
pub struct SandboxHandle {
    addr: SocketAddr,
    state: SandboxState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://127.0.0.1:PORT`, with no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn state(&self) -> &SandboxState {
        &self.state
    }
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }
    /// Move the sandbox clock forward.
    pub fn advance(&self, d: Duration) {
        self.state.advance(d);
    }
    /// Stop accepting, close every open connection and wait for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Closes the connection a request came in on, before any response is written.
#[derive(Debug, Clone)]
pub(crate) struct ConnKill(Arc<Notify>);

impl ConnKill {
    pub(crate) fn fire(&self) {
        self.0.notify_one();
    }
}

async fn accept_loop(listener: TcpListener, app: axum::Router, mut stop: oneshot::Receiver<()>) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set does not grow over a long run.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Typically EMFILE under a load test: back off instead of spinning.
                tracing::warn!(error = %e, "sandbox accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        conns.spawn(async move {
            let kill = ConnKill(Arc::new(Notify::new()));
            let tagged = kill.clone();
            let service = app.map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(tagged.clone());
                req
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::select! {
                biased;
                _ = kill.0.notified() => tracing::debug!("connection dropped by a fault"),
                result = conn => if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
            }
        });
    }
    // Dropping the set aborts every connection still open.
    conns.shutdown().await;
}
