//! The plain connection loop (`limits.connection_loop = "plain"`): hyper's HTTP/1 connection as documented, with
//! its header-read timeout and header-size limit, for the life of the connection. The fallback should a hyper
//! release change what the lean loop relies on.
//!
//! The promises are the same as the lean loop's, taken in the service call (`admission::Handler`) once hyper has
//! parsed a head: the API key is checked before the body is read, a keyed request waits for a `max_in_flight`
//! permit (and its address's), any other for an open one, and a head over [`MAX_HEAD_BYTES`] gets 431 (hyper's,
//! with an empty body) and the connection is closed. The differences:
//! - hyper keeps its read and write buffers (about 16 KiB) for every open connection, idle or not;
//! - hyper may read a little of the next request ahead while answering one (it is admitted on its own);
//! - a refused or unkeyed request's body is read if it comes within 100 ms (not known in advance as the lean loop
//!   knows it from the peeked bytes); otherwise it is answered without it and the connection closed;
//! - a connection whose client does not read its answers keeps hyper's buffers for as long as hyper's write is
//!   stuck (the lean loop ends an unkeyed round after `limits.header_timeout_ms`). The permit itself goes, in both
//!   loops, once hyper has taken the whole answer into its buffer.

use super::admission::Handler;
use super::{MAX_HEAD_BYTES, Shared};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::IpAddr;
use std::pin::pin;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::watch;

pub(super) async fn connection(
    stream: TcpStream,
    ip: IpAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<()>,
) {
    let header_timeout = shared.header_timeout;
    let service = Handler::new(shared, ip, Arc::default(), None);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Also the keep-alive idle time: hyper starts it whenever it waits for a head.
        .header_read_timeout(header_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        // A client may shut its sending side while it waits for the answer.
        .half_close(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        _ = stop.changed() => {
            // Finishes the request in hand, if any, then closes.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
