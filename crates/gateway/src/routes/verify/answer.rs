//! The answer step: the one place a result becomes an HTTP answer, and the stored copy replayed for an
//! Idempotency-Key comes from the same function.

use super::Ended;
use super::idempotency::StoredAnswer;
use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The status and JSON body of a result: 200 and the view, or the error's status and envelope. What
/// [`respond`] sends, and what is stored for an Idempotency-Key's replay.
pub(crate) fn status_and_body<V: Serialize>(answer: &Result<V, ApiError>) -> (StatusCode, String) {
    match answer {
        Ok(view) => (
            StatusCode::OK,
            serde_json::to_string(view).unwrap_or_default(),
        ),
        Err(e) => (
            e.status(),
            serde_json::to_string(&e.body()).unwrap_or_default(),
        ),
    }
}

/// The answer to a request that ran the steps. A recorded answer names the API key in `x-wxrn-key-id`.
pub(crate) fn respond<V: Serialize>(ended: Ended<V>, key_id: &str) -> Response {
    match ended {
        Ended::Unrecorded(e) => e.into_response(),
        Ended::Recorded(answer) => {
            let mut resp = match answer {
                // The error's own response: its status and body are `status_and_body`'s, plus its headers
                // (Retry-After).
                Err(e) => e.into_response(),
                ok => {
                    let (status, body) = status_and_body(&ok);
                    json(status, body)
                }
            };
            if let Ok(v) = HeaderValue::from_str(key_id) {
                resp.headers_mut().insert("x-wxrn-key-id", v);
            }
            resp
        }
    }
}

/// The stored answer for an Idempotency-Key, as first sent (in the default languages), marked
/// `Idempotent-Replayed: true`. An error carries its stored body as `StoredError`, so that the router's
/// `localize` layer renders its sentences in the replaying request's languages.
pub(crate) fn replay(stored: StoredAnswer) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let stored_error = (status.is_client_error() || status.is_server_error())
        .then(|| crate::error::StoredError(stored.body.clone()));
    let mut resp = json(status, stored.body);
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    if let Some(stored) = stored_error {
        resp.extensions_mut().insert(stored);
    }
    resp
}

/// Run the rest of a check in a task of its own: once an upstream may be called (a code spent, a call billed),
/// neither a client that goes away nor the request timeout may cut it off between the upstream's answer and its
/// audit row. A panic in it is answered 500 `internal`, logged without its message (the catch-panic layer's rule:
/// no payload in logs).
///
/// Not an `async fn`: `rest` is spawned at once, so the handler's own future holds only the join handle, not a
/// second copy of `rest`'s state (several KB per request in flight, which counts with 10,000 in flight).
pub(crate) fn in_own_task(
    what: &'static str,
    rest: impl std::future::Future<Output = Response> + Send + 'static,
) -> impl std::future::Future<Output = Response> {
    let task = tokio::spawn(rest);
    async move {
        match task.await {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(panicked = e.is_panic(), task = what, "check task failed");
                ApiError::Internal.into_response()
            }
        }
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sent(resp: Response) -> (StatusCode, String) {
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_stored_copy_is_what_was_sent() {
        for answer in [
            Ok(serde_json::json!({"id": "v1", "outcome": "match"})),
            Err(ApiError::CodeAlreadyUsed),
            Err(ApiError::RateLimited {
                retry_after_secs: 3,
            }),
            Err(ApiError::UpstreamRejected { errcode: 12345 }),
        ] {
            let stored = status_and_body(&answer);
            let live = sent(respond(Ended::Recorded(answer), "k1")).await;
            assert_eq!(live, stored);
        }
    }
}
