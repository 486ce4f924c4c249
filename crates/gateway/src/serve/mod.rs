//! The HTTP/1.1 server: one task per connection, a header-read timeout, and two budgets of requests handled at
//! once, so that nobody without a key can hold what keyed callers need.
//!
//! Not `axum::serve`: it gives hyper no timer (so no header-read timeout: a client that connects and never
//! finishes its headers would hold its connection and task forever), and it keeps hyper's buffers for the life
//! of every connection.
//!
//! # Admission (both loops)
//!
//! Every request is looked at once its whole head has arrived and before its body is read ([`Gate`], implemented
//! by `auth::Doorman`): the routes under `/v1/` need a valid API key and those under `/admin/api/` the admin
//! token. A request that presents them is **keyed** and takes one of `limits.max_in_flight` permits (and, with
//! `limits.max_in_flight_per_ip`, one of its client address's); its body is read as usual. Every other request
//! (the unkeyed routes: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`, the admin console's pages, unknown
//! paths; and every request refused for a missing or wrong key) takes one of a small separate **open** budget
//! ([`open_budget`]: an eighth of `max_in_flight`, at least 4) and cannot wait on its client: its body is read
//! only if it has already arrived, otherwise it is answered at once (a refusal: 401) without its body, with
//! `Connection: close`. So a client without a key never holds a `max_in_flight` permit, and holds an open one
//! only for as long as the gateway takes to answer from what it already has.
//!
//! # Two loops (`limits.connection_loop`)
//!
//! - [`lean`] (the default): idle connections hold only their socket; hyper's state and buffers exist only while a
//!   request is handled (peak memory of a 10,000-connection burst 48.5 MB instead of 295 MB). It relies on hyper
//!   behaviour that semver does not promise (polling an idle connection without shutting it down; the read
//!   buffer `into_parts` hands back).
//! - [`plain`]: hyper's own HTTP/1 connection with its header-read timeout and header-size limit, the same
//!   [`Gate`] and budgets, held in the request's service call. Public hyper API only: the fallback if a hyper
//!   upgrade breaks the lean loop. It keeps hyper's buffers for each connection's life, and differs in details
//!   (module docs).

mod admission;
mod head;
mod lean;
mod plain;

pub use crate::config::ConnectionLoop;
pub use admission::{Admit, Gate, open_budget};

use admission::Budgets;
use axum::body::Bytes;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The longest request head accepted; a longer one is answered 431 and its connection closed.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// Time allowed from connecting (or from the previous answer) until a request's headers are complete; also
    /// the keep-alive idle time.
    pub header_timeout: Duration,
    pub max_in_flight: usize,
    /// Keyed permits one client address may hold at once; 0 = no cap.
    pub max_in_flight_per_ip: usize,
    pub connection_loop: ConnectionLoop,
}

/// What every connection task shares.
struct Shared {
    app: axum::Router,
    gate: Arc<dyn Gate>,
    budgets: Budgets,
    header_timeout: Duration,
    /// The whole 431 answer, as written to the socket.
    head_too_large: Bytes,
}

pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    gate: Arc<dyn Gate>,
    cfg: ServeConfig,
    signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(());
    let head_too_large = head::raw_answer(
        "431 Request Header Fields Too Large",
        &gate.head_too_large(),
    );
    let shared = Arc::new(Shared {
        app,
        gate,
        budgets: Budgets::new(cfg.max_in_flight, cfg.max_in_flight_per_ip),
        header_timeout: cfg.header_timeout,
        head_too_large,
    });
    let mut signal = pin!(signal);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Reap finished connections so the set does not grow over a long run.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let _ = stream.set_nodelay(true);
        let (shared, stop) = (Arc::clone(&shared), stop_rx.clone());
        match cfg.connection_loop {
            ConnectionLoop::Lean => conns.spawn(lean::connection(stream, peer.ip(), shared, stop)),
            ConnectionLoop::Plain => {
                conns.spawn(plain::connection(stream, peer.ip(), shared, stop))
            }
        };
    }
    drop(listener);
    let _ = stop_tx.send(());
    while conns.join_next().await.is_some() {}
    Ok(())
}
