//! The body limit, applied before any handler runs, so that an oversized body is refused the same way on every
//! route however its length is told (Content-Length, chunked, or a Content-Length that lies).
//!
//! Refusing is not enough on its own: a client still sending when the server closes the connection gets a
//! reset, and often never reads its 413. So after refusing, up to [`DRAIN_MAX_BYTES`] more are read and thrown
//! away while the client keeps sending (what nginx calls a lingering close); a client announcing more than
//! that is answered and cut off at once. Slow bodies are the request timeout's business (`routes::router`).

use crate::error::ApiError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Most bytes read and discarded after a refusal.
const DRAIN_MAX_BYTES: u64 = 1 << 20;
/// Draining stops when the client pauses this long.
const DRAIN_IDLE: Duration = Duration::from_millis(500);

pub(crate) async fn limit_body(limit: usize, req: Request, next: Next) -> Response {
    let (parts, mut body) = req.into_parts();
    let announced = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced
        && n > limit as u64
    {
        if n <= DRAIN_MAX_BYTES {
            drain(&mut body).await;
        }
        return ApiError::PayloadTooLarge.into_response();
    }
    let mut read = Vec::new();
    loop {
        match next_data(&mut body).await {
            Ok(Some(data)) if read.len() + data.len() > limit => {
                drain(&mut body).await;
                return ApiError::PayloadTooLarge.into_response();
            }
            Ok(Some(data)) => read.extend_from_slice(&data),
            Ok(None) => break,
            Err(()) => {
                return ApiError::invalid_request(i18n::api::request::BODY_UNREADABLE)
                    .into_response();
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(read))).await
}

/// The next chunk of data; `None` at the end. Trailers are skipped.
async fn next_data(body: &mut Body) -> Result<Option<Bytes>, ()> {
    loop {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await;
        match frame {
            None => return Ok(None),
            Some(Err(_)) => return Err(()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

async fn drain(body: &mut Body) {
    let mut drained = 0u64;
    while drained <= DRAIN_MAX_BYTES {
        match tokio::time::timeout(DRAIN_IDLE, next_data(body)).await {
            Ok(Ok(Some(data))) => drained += data.len() as u64,
            _ => return,
        }
    }
}
