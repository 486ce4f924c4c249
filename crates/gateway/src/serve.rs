//! The HTTP/1.1 server loop: one task per connection, a bounded number of requests in hyper at once, and idle
//! kept-alive connections that hold no buffers.
//!
//! Not `axum::serve`: it gives hyper no timer (so no header-read timeout), and it keeps every connection inside
//! hyper for its whole life. hyper gives each connection an 8 KiB read buffer and an 8 KiB write buffer, kept
//! while the connection is idle between requests; with ten thousand clients holding keep-alive connections
//! that is most of the process's memory. So each connection runs in cycles:
//!
//! 1. **Idle**: wait until the client sends something, with only the socket held. A connection that stays
//!    silent for `limits.header_timeout_ms` is closed.
//! 2. **Admission**: take one of `limits.max_in_flight` permits. Beyond that the request waits, its bytes in
//!    the kernel, which bounds the memory of requests in flight and of connections to WeChat.
//! 3. **One exchange in hyper**: a fresh hyper connection serves the request, with the rest of the header
//!    timeout. Once the response is written, and if the connection could be kept alive anyway (HTTP/1.1, no
//!    `Connection: close`, the request body read to its end), hyper is asked to stop after it and hands the
//!    socket back with any bytes it read ahead (a pipelined request), which the next cycle replays. Nothing
//!    changes on the wire: no `Connection: close` is added, the client keeps its connection.
//!
//! Any other ending (the client closed, a protocol error, `Connection: close`, an unread body) is hyper's own,
//! and the socket is closed. On shutdown the loop stops accepting and each connection finishes its exchange.

use axum::body::Body;
use axum::body::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The least header-read time a request gets after waiting for admission, even if its deadline has passed.
const MIN_HEADER_TIME: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// Idle time allowed before a request's headers are complete (also the keep-alive idle time).
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
    let mut io = Replay {
        ahead: Bytes::new(),
        stream,
    };
    loop {
        // 1. Idle.
        let deadline = Instant::now() + cfg.header_timeout;
        if io.ahead.is_empty() {
            tokio::select! {
                ready = tokio::time::timeout_at(deadline, io.stream.readable()) => {
                    if !matches!(ready, Ok(Ok(()))) {
                        return;
                    }
                }
                _ = stop.changed() => return,
            }
        }
        // 2. Admission.
        let permit = tokio::select! {
            permit = Arc::clone(&admission).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        // 3. One exchange.
        let header_time = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_HEADER_TIME);
        let exchange = Arc::new(Exchange::default());
        let service = {
            let (app, exchange) = (app.clone(), Arc::clone(&exchange));
            hyper::service::service_fn(move |req| handle(app.clone(), Arc::clone(&exchange), req))
        };
        let mut conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_time)
            // A client may shut its sending side while it waits for the answer; and a verification is never cut
            // short because the client went away (the handler runs to its audit row regardless).
            .half_close(true)
            .serve_connection(TokioIo::new(io), service);
        let mut asked = false;
        let mut stopping = false;
        let ended = {
            let mut stopped = pin!(stop.changed());
            poll_fn(|cx| {
                if !stopping && stopped.as_mut().poll(cx).is_ready() {
                    stopping = true;
                    if !asked {
                        asked = true;
                        Pin::new(&mut conn).graceful_shutdown();
                    }
                }
                loop {
                    let polled = conn.poll_without_shutdown(cx);
                    if polled.is_ready() {
                        return polled;
                    }
                    if !asked && exchange.reusable.load(Ordering::Acquire) {
                        asked = true;
                        Pin::new(&mut conn).graceful_shutdown();
                        continue;
                    }
                    return Poll::Pending;
                }
            })
            .await
        };
        drop(permit);
        if let Err(e) = ended {
            tracing::debug!(error = %e, "connection ended with an error");
            return;
        }
        if !asked || stopping {
            return;
        }
        let parts = conn.into_parts();
        io = parts.io.into_inner();
        if !parts.read_buf.is_empty() {
            io.ahead = [parts.read_buf, std::mem::take(&mut io.ahead)]
                .concat()
                .into();
        }
    }
}

/// What one exchange's request and response tell the connection loop.
#[derive(Debug, Default)]
struct Exchange {
    /// The request body was read to its end (or there was none).
    body_read: AtomicBool,
    /// The response is out and the connection may serve another request.
    reusable: AtomicBool,
}

type Handled = Pin<Box<dyn Future<Output = Result<Response<Answer>, Infallible>> + Send>>;

fn handle(app: axum::Router, exchange: Arc<Exchange>, req: Request<Incoming>) -> Handled {
    Box::pin(async move {
        let keep_alive = req.version() == hyper::Version::HTTP_11 && !wants_close(&req);
        let req = req.map(|body| {
            if hyper::body::Body::is_end_stream(&body) {
                exchange.body_read.store(true, Ordering::Release);
            }
            Body::new(Tracked {
                inner: body,
                exchange: Arc::clone(&exchange),
            })
        });
        let response = match app.oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        Ok(response.map(|inner| Answer {
            inner,
            exchange,
            keep_alive,
        }))
    })
}

fn wants_close<B>(req: &Request<B>) -> bool {
    req.headers()
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("close"))
}

/// The request body, noting when it has been read to its end.
struct Tracked {
    inner: Incoming,
    exchange: Arc<Exchange>,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.exchange.body_read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body: when hyper is done with it, the exchange is over.
struct Answer {
    inner: Body,
    exchange: Arc<Exchange>,
    keep_alive: bool,
}

impl Drop for Answer {
    fn drop(&mut self) {
        if self.keep_alive && self.exchange.body_read.load(Ordering::Acquire) {
            self.exchange.reusable.store(true, Ordering::Release);
        }
    }
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, with bytes hyper read ahead of the exchange it served, to be read first by the next one.
struct Replay {
    ahead: Bytes,
    stream: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ahead.is_empty() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let n = this.ahead.len().min(buf.remaining());
        buf.put_slice(&this.ahead.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
