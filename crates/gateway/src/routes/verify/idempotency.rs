//! The idempotency step: with an `Idempotency-Key`, a request either starts the key or gets the first answer.
//!
//! The key is scoped to the API key, and bound to a keyed fingerprint of the request (the same key with a
//! different request is refused). The answer is stored by the recording step in the same transaction as the
//! audit row ([`super::record::append`]); a request that ends without a final answer gives the key back
//! ([`abort`]) so that a retry may run.

use super::Ended;
use crate::error::ApiError;
use crate::state::AppState;
use std::future::Future;
use store::{IdemBegin, IdemBeginRequest};

/// An in-progress Idempotency-Key older than this belonged to a request that died; a retry takes it over.
const IDEMPOTENCY_STALE_MS: i64 = 120_000;

/// One request's Idempotency-Key, scoped to the API key that sent it.
pub(crate) struct IdempotencyKey<'a> {
    pub key_id: &'a str,
    pub key: &'a str,
}

/// An answer stored for an Idempotency-Key, sent again as it was.
pub(crate) struct StoredAnswer {
    pub status: u16,
    pub body: String,
}

/// Start the key: `Ok(None)` to go on, `Ok(Some(_))` the first request's answer to replay; 409
/// `idempotency_in_progress` while the first request runs, 422 `idempotency_key_reused` for a different request.
/// `fingerprint` is the keyed hash of everything that makes the request what it is ([`crate::pii::Pii::fingerprint`]).
pub(crate) async fn begin(
    st: &AppState,
    key: &IdempotencyKey<'_>,
    fingerprint: Vec<u8>,
) -> Result<Option<StoredAnswer>, ApiError> {
    let begin = IdemBeginRequest {
        key_id: key.key_id.to_owned(),
        idem_key: key.key.to_owned(),
        fingerprint,
        now_ms: st.now_ms(),
        stale_after_ms: IDEMPOTENCY_STALE_MS,
    };
    match st.store.begin_idempotent(&begin).await? {
        IdemBegin::Started => Ok(None),
        IdemBegin::Done { status, body } => Ok(Some(StoredAnswer { status, body })),
        IdemBegin::InProgress => Err(ApiError::IdempotencyInProgress),
        IdemBegin::Mismatch => Err(ApiError::IdempotencyKeyReused),
    }
}

/// Give the key back: the request ended without an answer worth replaying, and a retry may run.
pub(crate) async fn abort(st: &AppState, key: &IdempotencyKey<'_>) {
    if let Err(err) = st.store.abort_idempotent(key.key_id, key.key).await {
        tracing::warn!(error = %err, "could not release an Idempotency-Key");
    }
}

/// The step around an attempt, for any check: without a key, run `attempt`. With one, start the key first (a
/// refusal ends the request unrecorded; a finished first answer is returned as `Err`, to replay), run `attempt`,
/// and give the key back when it ended with no audit row. `fingerprint` is only computed when there is a key.
/// `attempt` makes the attempt's future only once the key is started, so the two never share this future's state
/// (holding the attempt across the key's start tripled the size of a verification's task).
pub(crate) async fn around<V, F: Future<Output = Ended<V>>>(
    st: &AppState,
    key: Option<&IdempotencyKey<'_>>,
    fingerprint: impl FnOnce() -> Vec<u8>,
    attempt: impl FnOnce() -> F,
) -> Result<Ended<V>, StoredAnswer> {
    let Some(key) = key else {
        return Ok(attempt().await);
    };
    match begin(st, key, fingerprint()).await {
        Ok(None) => {}
        Ok(Some(stored)) => return Err(stored),
        Err(e) => return Ok(Ended::Unrecorded(e)),
    }
    let ended = attempt().await;
    if let Ended::Unrecorded(_) = &ended {
        abort(st, key).await;
    }
    Ok(ended)
}
