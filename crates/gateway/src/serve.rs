//! The HTTP/1.1 server loop: one task per connection, a header-read timeout, and a bound on the requests being
//! handled at once, with per-connection memory only while a request is being handled.
//!
//! Not `axum::serve`: it gives hyper no timer (so no header-read timeout: a client that connects and never
//! finishes its headers would hold its connection and task forever), and it keeps hyper's buffers for the life
//! of every connection.
//!
//! A connection goes round this cycle:
//!
//! 1. **Waiting** (`wait_for_head`): it holds only its socket. The request head is *peeked* (left in the kernel's
//!    buffer) into a per-thread scratch buffer until it is complete. A connection whose head is not complete
//!    within `limits.header_timeout_ms` of connecting (or of its previous answer: the keep-alive idle time), or
//!    that the client closes, is closed.
//! 2. **Admitted**: it takes one of `limits.max_in_flight` permits, which bounds the requests being handled (and
//!    so the connections to WeChat they open and the memory they use) whatever the number of clients. A slow
//!    client cannot hold a permit while it dribbles its headers, since the head is already complete.
//! 3. **Served** (`serve_requests`): hyper reads and answers the request (and any pipelined behind it) with its
//!    8 KiB read and write buffers. Once every answer has been flushed and no request is open, the connection
//!    is taken back from hyper (`graceful_shutdown` on an idle connection, `into_parts`); bytes hyper had read
//!    ahead are replayed to the next round. The permit and the buffers are freed, and the cycle starts over.
//!
//! Taking back is safe only when hyper is idle: every request body was read to its end (otherwise hyper would
//! still be draining it) and every answer is flushed. An answer given before its request body was read to the end
//! (a body too large to drain, a stalled upload) says `Connection: close`, so hyper closes that connection after it as HTTP
//! requires, instead of it being taken back mid-body.
//!
//! A verification is never cut short because its client went away: half-closed connections are allowed, and
//! the pipeline runs in a task of its own (`routes::verify`).

use axum::body::{Body, HttpBody};
use axum::http::{HeaderValue, Response, header};
use hyper::Request;
use hyper::body::{Buf, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// The least header-read time hyper gets once a head is complete, even if the connection's deadline has passed.
const MIN_HEADER_TIME: Duration = Duration::from_millis(100);
/// Bytes of a request head looked at before it is handed to hyper. A longer head is handed over unfinished and
/// hyper applies its own limit.
const HEAD_SCRATCH: usize = 16 * 1024;
/// While a head is incomplete, it is looked at again after these intervals (doubling); a client that sends its
/// head in one piece never waits.
const HEAD_RETRY_FIRST: Duration = Duration::from_millis(1);
const HEAD_RETRY_MAX: Duration = Duration::from_millis(250);

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

/// One connection's life: wait for a complete head, take a permit, let hyper serve, take the socket back.
async fn connection(
    mut stream: TcpStream,
    app: axum::Router,
    cfg: ServeConfig,
    admission: Arc<Semaphore>,
    mut stop: watch::Receiver<()>,
) {
    // Bytes hyper read past the last request it answered: the start of the next one.
    let mut ahead = Bytes::new();
    loop {
        let deadline = Instant::now() + cfg.header_timeout;
        if ahead.is_empty() {
            tokio::select! {
                // Boxed, as the round below: an idle connection's task holds only what waiting needs.
                ready = Box::pin(wait_for_head(&stream, deadline)) => if !ready { return },
                _ = stop.changed() => return,
            }
        }
        let permit = tokio::select! {
            permit = Arc::clone(&admission).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let header_time = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_HEADER_TIME);
        // Boxed: hyper's connection state is allocated for this round only, and a waiting connection's task stays
        // small.
        let round = Box::pin(serve_requests(
            stream,
            ahead,
            app.clone(),
            header_time,
            stop.clone(),
        ));
        let Some((back, read_ahead)) = round.await else {
            return;
        };
        drop(permit);
        stream = back;
        ahead = read_ahead;
    }
}

/// Waits until the socket holds a complete request head (or more bytes than [`HEAD_SCRATCH`]). `false`: the
/// client closed, the connection failed or the deadline passed.
async fn wait_for_head(stream: &TcpStream, deadline: Instant) -> bool {
    thread_local! {
        static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; HEAD_SCRATCH].into_boxed_slice());
    }
    let mut retry = HEAD_RETRY_FIRST;
    loop {
        // The scratch buffer is used only inside one synchronous poll, so one per thread serves every connection.
        let peeked = poll_fn(|cx| {
            SCRATCH.with_borrow_mut(|scratch| {
                let mut buf = ReadBuf::new(scratch);
                stream
                    .poll_peek(cx, &mut buf)
                    .map_ok(|n| head_state(&scratch[..n]))
            })
        });
        match tokio::time::timeout_at(deadline, peeked).await {
            Ok(Ok(Head::Complete)) => return true,
            Ok(Ok(Head::Partial)) => {
                // The bytes stay readable, so waiting for readiness would return at once: wait for time instead.
                let now = Instant::now();
                if now >= deadline {
                    return false;
                }
                tokio::time::sleep_until((now + retry).min(deadline)).await;
                retry = (retry * 2).min(HEAD_RETRY_MAX);
            }
            Ok(Ok(Head::Closed)) | Ok(Err(_)) | Err(_) => return false,
        }
    }
}

#[derive(Debug, PartialEq)]
enum Head {
    Complete,
    Partial,
    Closed,
}

fn head_state(peeked: &[u8]) -> Head {
    if peeked.is_empty() {
        Head::Closed
    } else if peeked.len() >= HEAD_SCRATCH
        || peeked.windows(4).any(|w| w == b"\r\n\r\n")
        || peeked.windows(2).any(|w| w == b"\n\n")
    {
        // hyper's parser also accepts bare line feeds.
        Head::Complete
    } else {
        Head::Partial
    }
}

/// What hyper is doing on one connection, as seen from the service, the bodies and the socket.
#[derive(Default)]
struct Round {
    /// Requests handed to the router whose answer hyper has not finished writing.
    open: AtomicUsize,
    /// Answers hyper has finished writing (into its buffer).
    answered: AtomicUsize,
    /// hyper has written to the socket since it last flushed.
    unflushed: AtomicBool,
    /// An answer says `Connection: close`: hyper ends the connection itself.
    closing: AtomicBool,
}

impl Round {
    /// hyper holds nothing of this connection's that taking it back would lose.
    fn idle(&self) -> bool {
        self.answered.load(Ordering::Acquire) > 0
            && self.open.load(Ordering::Acquire) == 0
            && !self.unflushed.load(Ordering::Acquire)
            && !self.closing.load(Ordering::Acquire)
    }
}

/// Runs hyper on the connection until it is idle after at least one answer (`Some`: the socket and the bytes
/// read ahead) or the connection ends (`None`).
async fn serve_requests(
    stream: TcpStream,
    ahead: Bytes,
    app: axum::Router,
    header_time: Duration,
    mut stop: watch::Receiver<()>,
) -> Option<(TcpStream, Bytes)> {
    let round = Arc::new(Round::default());
    let io = RoundIo {
        stream,
        ahead,
        round: Arc::clone(&round),
    };
    let service = RoundService {
        app,
        round: Arc::clone(&round),
    };
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_time)
        // A client may shut its sending side while it waits for the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(io), service);
    enum Then {
        Ended(hyper::Result<()>),
        Idle,
        Stop,
    }
    let then = tokio::select! {
        then = poll_fn(|cx| match conn.poll_without_shutdown(cx) {
            Poll::Ready(r) => Poll::Ready(Then::Ended(r)),
            // Every change `idle` looks at happens inside hyper's poll, so looking after each poll misses none.
            Poll::Pending if round.idle() => Poll::Ready(Then::Idle),
            Poll::Pending => Poll::Pending,
        }) => then,
        _ = stop.changed() => Then::Stop,
    };
    let taken_back = matches!(then, Then::Idle);
    let ended = match then {
        Then::Ended(result) => result,
        // Idle: hyper closes at once and sends nothing. Stopping: it finishes the request in hand, if any.
        Then::Idle | Then::Stop => {
            Pin::new(&mut conn).graceful_shutdown();
            poll_fn(|cx| conn.poll_without_shutdown(cx)).await
        }
    };
    if let Err(e) = &ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
    let parts = conn.into_parts();
    let mut io = parts.io.into_inner();
    if !taken_back || ended.is_err() {
        let _ = io.stream.shutdown().await;
        return None;
    }
    // Taken back: the bytes hyper read ahead come first in the next round.
    let ahead = if io.ahead.is_empty() {
        parts.read_buf
    } else {
        [parts.read_buf, io.ahead].concat().into()
    };
    Some((io.stream, ahead))
}

/// The socket as hyper sees it: first the bytes read ahead in an earlier round, then the stream; writes mark
/// the round unflushed until hyper flushes.
struct RoundIo {
    stream: TcpStream,
    ahead: Bytes,
    round: Arc<Round>,
}

impl AsyncRead for RoundIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.ahead.is_empty() {
            let n = self.ahead.len().min(buf.remaining());
            buf.put_slice(&self.ahead[..n]);
            self.ahead.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for RoundIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.round.unflushed.store(true, Ordering::Release);
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.round.unflushed.store(true, Ordering::Release);
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // hyper flushes the socket only once its own buffer is empty.
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        if let Poll::Ready(Ok(())) = flushed {
            self.round.unflushed.store(false, Ordering::Release);
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router, counting the requests open in this round.
struct RoundService {
    app: axum::Router,
    round: Arc<Round>,
}

type RoundFuture = Pin<Box<dyn Future<Output = Result<Response<Answer>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for RoundService {
    type Response = Response<Answer>;
    type Error = Infallible;
    type Future = RoundFuture;

    fn call(&self, req: Request<Incoming>) -> RoundFuture {
        // Counted here, inside hyper's poll, as soon as the head is parsed.
        self.round.open.fetch_add(1, Ordering::AcqRel);
        let open = OpenRequest(Arc::clone(&self.round));
        let (req, body_read) = if req.body().is_end_stream() {
            (req.map(Body::new), None)
        } else {
            let read = Arc::new(AtomicBool::new(false));
            let req = req.map(|inner| {
                Body::new(RequestBody {
                    inner,
                    read: Arc::clone(&read),
                })
            });
            (req, Some(read))
        };
        let app = self.app.clone();
        Box::pin(async move {
            let Ok(mut resp) = app.oneshot(req).await;
            if body_read.is_some_and(|read| !read.load(Ordering::Acquire)) {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            let closes = resp
                .headers()
                .get(header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            if closes {
                open.0.closing.store(true, Ordering::Release);
            }
            Ok(resp.map(|inner| Answer { inner, _open: open }))
        })
    }
}

/// A request counted open until its answer's body is dropped (by hyper, once written) or its future is.
struct OpenRequest(Arc<Round>);

impl Drop for OpenRequest {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Ordering::AcqRel);
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body that notes when it has been read to its end.
struct RequestBody {
    inner: Incoming,
    read: Arc<AtomicBool>,
}

impl HttpBody for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
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

/// An answer's body, carrying its request's [`OpenRequest`].
struct Answer {
    inner: Body,
    _open: OpenRequest,
}

impl HttpBody for Answer {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_complete_at_its_blank_line() {
        assert_eq!(head_state(b""), Head::Closed);
        assert_eq!(head_state(b"GET / HTTP/1.1\r\nHost: x\r\n"), Head::Partial);
        assert_eq!(
            head_state(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Head::Complete
        );
        assert_eq!(
            head_state(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"),
            Head::Complete
        );
        assert_eq!(head_state(b"GET / HTTP/1.0\n\n"), Head::Complete);
        assert_eq!(head_state(&[b'a'; HEAD_SCRATCH]), Head::Complete);
    }

    /// 10,000 idle connections are 10,000 of these: hyper's state and the head scratch buffer must stay out.
    #[tokio::test]
    async fn a_waiting_connection_is_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_stop, stop_rx) = watch::channel(());
        let cfg = ServeConfig {
            header_timeout: Duration::from_secs(1),
            max_in_flight: 1,
        };
        let task = connection(
            stream,
            axum::Router::new(),
            cfg,
            Arc::new(Semaphore::new(1)),
            stop_rx,
        );
        let size = std::mem::size_of_val(&task);
        assert!(size <= 640, "a connection's future is {size} bytes");
    }
}
