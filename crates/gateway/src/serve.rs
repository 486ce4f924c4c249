//! The HTTP/1.1 server loop: one task per connection, a header-read timeout, and a bound on the requests being
//! handled at once.
//!
//! Not `axum::serve`: it gives hyper no timer (so no header-read timeout: a client that connects and never
//! finishes its headers would hold its connection and task forever).
//!
//! - A new connection holds only its socket until the client has sent a byte (peeked, not read): hyper's
//!   per-connection buffers (8 KiB to read, 8 KiB to write) are allocated only for a connection that has
//!   something to say. A connection that stays silent for `limits.header_timeout_ms`, or that the client
//!   closes, is closed.
//! - Each request then waits for one of `limits.max_in_flight` permits before the router sees it, which bounds
//!   the handlers running at once and the connections to WeChat they open, whatever the number of clients.
//! - A verification is never cut short because its client went away: half-closed connections are allowed, and
//!   the pipeline runs in a task of its own (`routes::verify`).
//!
//! Tried and reverted: handing each kept-alive connection back from hyper after every response
//! (`graceful_shutdown` + `poll_without_shutdown` + `into_parts`, replaying any bytes read ahead), so that idle
//! connections hold no buffers. It brought the 10,000-connection benchmark's peak RSS from 295 MB to 63-67 MB,
//! but: a fast client's next request can already be in the router when the previous response is out, and
//! hyper then answers it with `Connection: close` (about 0.2 % of requests failed in the closed-loop benchmark);
//! with that guarded, the sustained 10,000-connection run showed multi-second stalls that were not explained
//! in the time we had. BENCHMARKS.md has the figures.

use axum::body::Body;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The least header-read time a connection gets after its first byte, even if its deadline has passed.
const MIN_HEADER_TIME: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// Time allowed from connecting (or from the previous answer) until a request's headers are complete; also
    /// the keep-alive idle time.
    pub header_timeout: Duration,
    pub max_in_flight: usize,
}
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    cfg: ServeConfig,
    signal: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(());
    let admission = Arc::new(Semaphore::new(cfg.max_in_flight));
    let mut signal = pin!(signal);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = &mut signal => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
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
        conns.spawn(connection(
            stream,
            app.clone(),
            cfg,
            Arc::clone(&admission),
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stop_tx.send(());
    while conns.join_next().await.is_some() {}
    Ok(())
}

async fn connection(
    stream: TcpStream,
    app: axum::Router,
    cfg: ServeConfig,
    admission: Arc<Semaphore>,
    mut stop: watch::Receiver<()>,
) {
    let deadline = Instant::now() + cfg.header_timeout;
    let mut probe = [0u8; 1];
    tokio::select! {
        peeked = tokio::time::timeout_at(deadline, stream.peek(&mut probe)) => {
            if !matches!(peeked, Ok(Ok(n)) if n > 0) {
                return;
            }
        }
        _ = stop.changed() => return,
    }
    let header_time = deadline
        .saturating_duration_since(Instant::now())
        .max(MIN_HEADER_TIME);
    let service = tower::service_fn(move |req: Request<Incoming>| {
        let (app, admission) = (app.clone(), Arc::clone(&admission));
        async move {
            let _permit = admission.acquire_owned().await;
            app.oneshot(req.map(Body::new)).await
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_time)
        // A client may shut its sending side while it waits for the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    let mut conn = pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
