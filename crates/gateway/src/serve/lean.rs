//! The lean connection loop (`limits.connection_loop = "lean"`, the default): per-connection memory only while a
//! request is being handled.
//!
//! A connection goes round this cycle:
//!
//! 1. **Waiting** (`wait_for_head`): it holds only its socket (and any bytes of the next request an earlier
//!    round read, which count as part of it). The request head is *peeked* (left in the kernel's buffer) into a
//!    per-thread scratch buffer until it is complete. A connection whose head is not complete within
//!    `limits.header_timeout_ms` of connecting (or of its previous answer: the keep-alive idle time), or that the
//!    client closes, is closed. A head with no end within [`MAX_HEAD_BYTES`] is answered 431 and closed.
//! 2. **Admitted** (`admit`): the [`Gate`](super::Gate) looks at the head (the API key, before any body byte is
//!    read), then the connection takes a permit from the keyed budget (`limits.max_in_flight`, and the address's
//!    share with `limits.max_in_flight_per_ip`) or the open one. A slow client cannot hold a permit while it
//!    dribbles its headers, since the head is already complete; a client without a key never holds a keyed one.
//! 3. **Served** (`serve_requests`): hyper reads and answers the request with its 8 KiB read and write buffers.
//!    hyper is given the bytes of this one request only when its length is known (all but chunked bodies), so
//!    it never reads the next request ahead of that request's admission. Once the answer has been flushed and
//!    no request is open, the connection is taken back from hyper (`graceful_shutdown` on an idle connection,
//!    `into_parts`); bytes hyper had read ahead (after a chunked body) go to the next round's step 1. The
//!    buffers are freed, and the cycle starts over.
//!
//! Taking back is safe only when hyper is idle: every request body was read to its end (otherwise hyper would
//! still be draining it) and every answer is flushed. An answer given before its request body was read to the end
//! (a body too large to drain, a stalled upload, a refused request whose body had not arrived) says `Connection:
//! close`, so hyper closes that connection after it as HTTP requires, instead of it being taken back mid-body.
//! A round on the open budget, whose handlers never wait on WeChat, must end within `limits.header_timeout_ms`:
//! a client that reads no answer cannot keep hyper's buffers. (Permits, in both loops, go with the answer's body,
//! which hyper drops once it has taken all of it.)
//!
//! A verification is never cut short because its client went away: half-closed connections are allowed, and
//! the pipeline runs in a task of its own (`routes::verify`).

use super::admission::{Admit, BodyHint, Handler, Pre, Round};
use super::head::{self, Inspected};
use super::{MAX_HEAD_BYTES, Shared};
use hyper::body::{Buf, Bytes};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// The least header-read time hyper gets once a head is complete, even if the connection's deadline has passed.
const MIN_HEADER_TIME: Duration = Duration::from_millis(100);
/// While a head is incomplete, it is looked at again after these intervals (doubling); a client that sends its
/// head in one piece never waits.
const HEAD_RETRY_FIRST: Duration = Duration::from_millis(1);
const HEAD_RETRY_MAX: Duration = Duration::from_millis(250);
/// After a 431, what the client still sends is read and dropped (so that it gets the answer rather than a
/// reset) until it pauses this long, or this much has come.
const LINGER_IDLE: Duration = Duration::from_millis(500);
const LINGER_MAX: usize = 1 << 20;

/// One connection's life: wait for a complete head, admit it, let hyper serve it, take the socket back.
pub(super) async fn connection(
    mut stream: TcpStream,
    ip: IpAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<()>,
) {
    // Bytes hyper read past the last request it answered: the start of the next one.
    let mut ahead = Bytes::new();
    loop {
        let deadline = Instant::now() + shared.header_timeout;
        // Boxed, as the round below: an idle connection's task holds only what waiting needs.
        let waited = tokio::select! {
            waited = Box::pin(wait_for_head(&stream, &ahead, deadline)) => waited,
            _ = stop.changed() => return,
        };
        let head = match waited {
            Inspected::Complete(head) => Some(head),
            Inspected::Invalid => None,
            Inspected::TooLarge => {
                Box::pin(refuse(stream, &shared.head_too_large)).await;
                return;
            }
            Inspected::Partial => return,
        };
        let (pre, length) = match head {
            Some(head) => {
                let length = head.length;
                let admitted = tokio::select! {
                    pre = Box::pin(admit(head, &shared, ip)) => pre,
                    _ = stop.changed() => return,
                };
                (Some(admitted), length)
            }
            // hyper answers what it cannot parse (400) and closes; no permit, and the open round's time limit.
            None => (None, None),
        };
        let keyed = pre.as_ref().is_some_and(|p| p.admit.is_keyed());
        let header_time = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_HEADER_TIME);
        // Boxed: hyper's connection state is allocated for this round only, and a waiting connection's task stays
        // small.
        let round = Box::pin(serve_requests(
            stream,
            ahead,
            length,
            Handler::new(Arc::clone(&shared), ip, Arc::default(), pre),
            header_time,
            stop.clone(),
        ));
        let back = if keyed {
            round.await
        } else {
            let limit = Instant::now() + shared.header_timeout;
            tokio::time::timeout_at(limit, round).await.ok().flatten()
        };
        let Some((back, read_ahead)) = back else {
            return;
        };
        stream = back;
        ahead = read_ahead;
    }
}

/// The gate's verdict on a complete head, and a permit of the budget it names.
async fn admit(head: Box<head::Head>, shared: &Shared, ip: IpAddr) -> Pre {
    let admit = shared.gate.admit(&head.parts).await;
    let body = match &admit {
        Admit::Keyed(_) => BodyHint::Unknown,
        Admit::Open | Admit::Refused => head.body,
    };
    // The parsed head (every header, owned) is not kept while the connection waits for a permit: in a burst,
    // thousands wait.
    drop(head);
    let permit = shared.budgets.acquire(admit.is_keyed(), ip).await;
    Pre {
        admit,
        permit,
        body,
    }
}

/// Waits until the bytes read ahead and those in the socket make a complete head (or too long or unreadable
/// a one). `Partial`: the client closed, the connection failed or the deadline passed first.
async fn wait_for_head(stream: &TcpStream, ahead: &[u8], deadline: Instant) -> Inspected {
    thread_local! {
        static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; MAX_HEAD_BYTES].into_boxed_slice());
    }
    if !ahead.is_empty() {
        let ahead = &ahead[..ahead.len().min(MAX_HEAD_BYTES)];
        match head::inspect(ahead) {
            Inspected::Partial => {}
            done => return done,
        }
    }
    let mut retry = HEAD_RETRY_FIRST;
    loop {
        // The scratch buffer is used only inside one synchronous poll, so one per thread serves every connection.
        let peeked = poll_fn(|cx| {
            SCRATCH.with_borrow_mut(|scratch| {
                scratch[..ahead.len()].copy_from_slice(ahead);
                let mut buf = ReadBuf::new(&mut scratch[ahead.len()..]);
                stream
                    .poll_peek(cx, &mut buf)
                    // Nothing to peek: the client has closed its side.
                    .map_ok(|n| (n > 0).then(|| head::inspect(&scratch[..ahead.len() + n])))
            })
        });
        match tokio::time::timeout_at(deadline, peeked).await {
            Ok(Ok(Some(Inspected::Partial))) => {
                // The bytes stay readable, so waiting for readiness would return at once: wait for time instead.
                let now = Instant::now();
                if now >= deadline {
                    return Inspected::Partial;
                }
                tokio::time::sleep_until((now + retry).min(deadline)).await;
                retry = (retry * 2).min(HEAD_RETRY_MAX);
            }
            Ok(Ok(Some(done))) => return done,
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return Inspected::Partial,
        }
    }
}

/// Answers a head over the limit with 431 and closes, reading what the client still sends for a moment so that
/// it gets the answer rather than a reset.
async fn refuse(mut stream: TcpStream, answer: &[u8]) {
    let written = tokio::time::timeout(LINGER_IDLE, stream.write_all(answer)).await;
    if !matches!(written, Ok(Ok(()))) {
        return;
    }
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_MAX {
        match tokio::time::timeout(LINGER_IDLE, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// Runs hyper on the connection until it is idle after at least one answer (`Some`: the socket and the bytes
/// read ahead) or the connection ends (`None`).
async fn serve_requests(
    stream: TcpStream,
    ahead: Bytes,
    length: Option<usize>,
    service: Handler,
    header_time: Duration,
    mut stop: watch::Receiver<()>,
) -> Option<(TcpStream, Bytes)> {
    let round = service.round();
    let io = RoundIo {
        stream,
        ahead,
        left: length,
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
    // Taken back: the bytes hyper read ahead come first in the next round, copied out of hyper's buffer so that
    // its allocation goes now.
    let ahead = match (parts.read_buf.is_empty(), io.ahead.is_empty()) {
        (true, _) => io.ahead,
        (false, true) => Bytes::copy_from_slice(&parts.read_buf),
        (false, false) => [&parts.read_buf[..], &io.ahead[..]].concat().into(),
    };
    Some((io.stream, ahead))
}

/// The socket as hyper sees it: first the bytes read ahead in an earlier round, then the stream, and no more
/// than the one request admitted when its length is known; writes mark the round unflushed until hyper flushes.
struct RoundIo {
    stream: TcpStream,
    ahead: Bytes,
    /// Bytes hyper may still read; `None`: no limit.
    left: Option<usize>,
    round: Arc<Round>,
}

impl AsyncRead for RoundIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let room = match self.left {
            // The request is all read: the next one waits for its own admission. Nothing will wake this read,
            // and nothing needs to: hyper is then idle, and the connection is taken back.
            Some(0) => return Poll::Pending,
            Some(left) => left.min(buf.remaining()),
            None => buf.remaining(),
        };
        let n = if self.ahead.is_empty() {
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
            std::task::ready!(Pin::new(&mut self.stream).poll_read(cx, &mut limited))?;
            let n = limited.filled().len();
            buf.advance(n);
            n
        } else {
            let n = self.ahead.len().min(room);
            buf.put_slice(&self.ahead[..n]);
            self.ahead.advance(n);
            n
        };
        if let Some(left) = &mut self.left {
            *left -= n;
        }
        Poll::Ready(Ok(()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::admission::Budgets;
    use crate::serve::{Admit, Gate};
    use axum::http::request::Parts;
    use std::future::Future;
    use tokio::net::TcpListener;

    struct Nobody;

    impl Gate for Nobody {
        fn admit<'a>(&'a self, _: &'a Parts) -> Pin<Box<dyn Future<Output = Admit> + Send + 'a>> {
            Box::pin(async { Admit::Refused })
        }

        fn head_too_large(&self) -> Vec<u8> {
            Vec::new()
        }
    }

    /// 10,000 idle connections are 10,000 of these: hyper's state and the head scratch buffer must stay out.
    #[tokio::test]
    async fn a_waiting_connection_is_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (_stop, stop_rx) = watch::channel(());
        let shared = Arc::new(Shared {
            app: axum::Router::new(),
            gate: Arc::new(Nobody),
            budgets: Budgets::new(1, 0),
            header_timeout: Duration::from_secs(1),
            head_too_large: Bytes::new(),
        });
        let task = connection(stream, IpAddr::from([127, 0, 0, 1]), shared, stop_rx);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 640, "a connection's future is {size} bytes");
    }
}
