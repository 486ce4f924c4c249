//! Who may hold what: the [`Gate`] a request head passes, the two budgets, and the service both loops hand hyper
//! (it takes the permit, decides whether the body is read, and keeps the permit until the answer is written).

use super::Shared;
use axum::body::{Body, HttpBody};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderValue, Response, header};
use hyper::Request;
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use std::cell::Cell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// How long an unkeyed or refused request's body may take to be read when it is not known to have arrived with
/// its head (the plain loop; a chunked body): bodies sent with their head are read in well under this.
const ARRIVED_WAIT: Duration = Duration::from_millis(100);
/// The most of such a body read; a longer one is not read.
const ARRIVED_MAX: usize = 64 * 1024;

/// The verdict on a request head, before its body is read.
#[derive(Debug)]
pub enum Admit {
    /// Valid credentials: a `max_in_flight` permit, the body is read, and these extensions (the authenticated
    /// caller) go with the request.
    Keyed(Extensions),
    /// A route that needs no credentials: the open budget.
    Open,
    /// Credentials missing or wrong: the open budget, answered (401) without waiting for the body.
    Refused,
}

impl Admit {
    pub fn is_keyed(&self) -> bool {
        matches!(self, Admit::Keyed(_))
    }
}

/// Looks at a request head before any permit is taken or any body byte read.
pub trait Gate: Send + Sync + 'static {
    fn admit<'a>(&'a self, head: &'a Parts) -> Pin<Box<dyn Future<Output = Admit> + Send + 'a>>;
    /// The body (the error envelope) of the 431 answer to a head over [`super::MAX_HEAD_BYTES`].
    fn head_too_large(&self) -> Vec<u8>;
}

/// The open budget for a given `max_in_flight`: an eighth of it, at least 4.
pub fn open_budget(max_in_flight: usize) -> usize {
    max_in_flight.div_ceil(8).max(4)
}

pub(super) struct Budgets {
    keyed: Arc<Semaphore>,
    open: Arc<Semaphore>,
    per_ip: Option<Arc<PerIp>>,
}

/// A request's place in one of the budgets, held until its answer has been written.
pub(super) struct Permit {
    _budget: OwnedSemaphorePermit,
    _ip: Option<IpPermit>,
}

impl Budgets {
    pub(super) fn new(max_in_flight: usize, per_ip: usize) -> Self {
        Self {
            keyed: Arc::new(Semaphore::new(max_in_flight)),
            open: Arc::new(Semaphore::new(open_budget(max_in_flight))),
            per_ip: (per_ip > 0).then(|| {
                Arc::new(PerIp {
                    cap: per_ip,
                    held: Mutex::default(),
                })
            }),
        }
    }

    /// Waits for a place: a keyed one (its address's first, so that an address at its cap waits without holding
    /// a global permit) or an open one.
    pub(super) async fn acquire(&self, keyed: bool, ip: IpAddr) -> Permit {
        let (semaphore, ip) = if keyed {
            let ip = match &self.per_ip {
                Some(per_ip) => Some(PerIp::acquire(per_ip, ip).await),
                None => None,
            };
            (&self.keyed, ip)
        } else {
            (&self.open, None)
        };
        let budget = Arc::clone(semaphore)
            .acquire_owned()
            .await
            .expect("the budgets are never closed");
        Permit {
            _budget: budget,
            _ip: ip,
        }
    }
}

/// `limits.max_in_flight_per_ip`: a semaphore per client address, kept only while someone holds or waits for it.
struct PerIp {
    cap: usize,
    held: Mutex<HashMap<IpAddr, Arc<Semaphore>>>,
}

impl PerIp {
    async fn acquire(this: &Arc<Self>, ip: IpAddr) -> IpPermit {
        let semaphore = {
            let mut held = this.held.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                held.entry(ip)
                    .or_insert_with(|| Arc::new(Semaphore::new(this.cap))),
            )
        };
        // Built before waiting, so that a wait given up also forgets an address nobody else holds.
        let entry = IpEntry {
            ip,
            semaphore: Some(semaphore),
            owner: Arc::clone(this),
        };
        let permit = entry
            .semaphore
            .as_ref()
            .map(|s| Arc::clone(s).acquire_owned());
        let permit = match permit {
            Some(p) => p.await.expect("never closed"),
            None => unreachable!("set above"),
        };
        IpPermit {
            _permit: permit,
            _entry: entry,
        }
    }
}

/// Field order matters: the permit (and its reference to the semaphore) goes before the entry looks whether
/// anyone else still uses it.
struct IpPermit {
    _permit: OwnedSemaphorePermit,
    _entry: IpEntry,
}

struct IpEntry {
    ip: IpAddr,
    semaphore: Option<Arc<Semaphore>>,
    owner: Arc<PerIp>,
}

impl Drop for IpEntry {
    fn drop(&mut self) {
        drop(self.semaphore.take());
        let mut held = self.owner.held.lock().unwrap_or_else(|e| e.into_inner());
        // Every other user of this address's semaphore holds an `IpEntry`, cloned under this lock.
        if held
            .get(&self.ip)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            held.remove(&self.ip);
        }
    }
}

/// What is known of a request's body from the bytes that arrived with its head (the lean loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyHint {
    /// No body, or all of it has arrived.
    Here,
    /// A body of known length, not all arrived.
    Missing,
    /// Chunked, or more than was looked at.
    Unknown,
}

/// A request admitted before hyper was started (the lean loop).
pub(super) struct Pre {
    pub(super) admit: Admit,
    pub(super) permit: Permit,
    pub(super) body: BodyHint,
}

/// What hyper is doing on one connection, as seen from the service, the bodies and the socket (the lean loop
/// takes a connection back only when [`Round::idle`]).
#[derive(Default)]
pub(super) struct Round {
    /// Requests handed to the service whose answer hyper has not finished writing.
    open: AtomicUsize,
    /// Answers hyper has finished writing (into its buffer).
    answered: AtomicUsize,
    /// hyper has written to the socket since it last flushed.
    pub(super) unflushed: AtomicBool,
    /// An answer says `Connection: close`: hyper ends the connection itself.
    closing: AtomicBool,
}

impl Round {
    /// hyper holds nothing of this connection's that taking it back would lose.
    pub(super) fn idle(&self) -> bool {
        self.answered.load(Ordering::Acquire) > 0
            && self.open.load(Ordering::Acquire) == 0
            && !self.unflushed.load(Ordering::Acquire)
            && !self.closing.load(Ordering::Acquire)
    }
}

/// The service hyper calls for each request head it has parsed.
pub(super) struct Handler {
    shared: Arc<Shared>,
    ip: IpAddr,
    round: Arc<Round>,
    /// The first request's verdict and permit, when the lean loop took them before starting hyper.
    pre: Cell<Option<Pre>>,
}

impl Handler {
    pub(super) fn new(
        shared: Arc<Shared>,
        ip: IpAddr,
        round: Arc<Round>,
        pre: Option<Pre>,
    ) -> Self {
        Self {
            shared,
            ip,
            round,
            pre: Cell::new(pre),
        }
    }

    pub(super) fn round(&self) -> Arc<Round> {
        Arc::clone(&self.round)
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Answer>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response<Answer>;
    type Error = Infallible;
    type Future = HandlerFuture;

    fn call(&self, req: Request<Incoming>) -> HandlerFuture {
        // Counted here, inside hyper's poll, as soon as the head is parsed.
        self.round.open.fetch_add(1, Ordering::AcqRel);
        let open = OpenRequest(Arc::clone(&self.round));
        let pre = self.pre.take();
        let shared = Arc::clone(&self.shared);
        let ip = self.ip;
        Box::pin(async move {
            let (mut parts, incoming) = req.into_parts();
            let Pre {
                admit,
                permit,
                body,
            } = match pre {
                Some(pre) => pre,
                None => {
                    let admit = shared.gate.admit(&parts).await;
                    let permit = shared.budgets.acquire(admit.is_keyed(), ip).await;
                    Pre {
                        admit,
                        permit,
                        body: BodyHint::Unknown,
                    }
                }
            };
            let (body, read) = admitted_body(admit, &mut parts, incoming, body).await;
            let Ok(mut resp) = shared
                .app
                .clone()
                .oneshot(Request::from_parts(parts, body))
                .await;
            if read.is_some_and(|read| !read.load(Ordering::Acquire)) {
                // hyper would otherwise be left mid-body: it must close the connection after this answer.
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
            Ok(resp.map(|inner| Answer {
                inner,
                _permit: permit,
                _open: open,
            }))
        })
    }
}

/// The body the router gets, and (for a body that may be left unread) the flag that says it was read to its end.
async fn admitted_body(
    admit: Admit,
    parts: &mut Parts,
    incoming: Incoming,
    hint: BodyHint,
) -> (Body, Option<Arc<AtomicBool>>) {
    let keyed = match admit {
        Admit::Keyed(extensions) => {
            parts.extensions.extend(extensions);
            true
        }
        Admit::Open | Admit::Refused => false,
    };
    if incoming.is_end_stream() {
        return (Body::new(incoming), None);
    }
    if keyed || hint == BodyHint::Here {
        return tracked(incoming);
    }
    if hint == BodyHint::Unknown
        && let Some(arrived) = arrived(incoming).await
    {
        return (Body::from(arrived), None);
    }
    // Not read at all: the router sees a request without a body and answers from its head.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    (Body::empty(), Some(Arc::new(AtomicBool::new(false))))
}

fn tracked(inner: Incoming) -> (Body, Option<Arc<AtomicBool>>) {
    let read = Arc::new(AtomicBool::new(false));
    let body = Body::new(RequestBody {
        inner,
        read: Arc::clone(&read),
    });
    (body, Some(read))
}

/// The whole body, if it is no longer than [`ARRIVED_MAX`] and comes within [`ARRIVED_WAIT`].
async fn arrived(mut body: Incoming) -> Option<Bytes> {
    let read = async {
        let mut whole = Vec::new();
        while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            if let Ok(data) = frame.ok()?.into_data() {
                if whole.len() + data.len() > ARRIVED_MAX {
                    return None;
                }
                whole.extend_from_slice(&data);
            }
        }
        Some(Bytes::from(whole))
    };
    tokio::time::timeout(ARRIVED_WAIT, read)
        .await
        .ok()
        .flatten()
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

/// An answer's body, carrying its request's permit and [`OpenRequest`].
pub(super) struct Answer {
    inner: Body,
    _permit: Permit,
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
