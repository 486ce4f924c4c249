//! `POST /v1/verifications` and `GET /v1/verifications/{id}`: the verification pipeline, one file per step.
//!
//! Before [`create`] runs, the body limit (`routes::limits`) has read the body (413 over
//! `limits.max_body_bytes`) and the `Caller` extractor has authenticated the API key (401). Then, in order (the
//! promise the answers make; ARCHITECTURE.md lists the same steps, and a test keeps the two in step):
//! - [`request`]: parse the body, validate every field -> [`request::ValidRequest`];
//! - [`idempotency`]: start the `Idempotency-Key`, or replay its first answer;
//! - [`policy`]: guardian consent and the replay guard, the circuit breaker, the rate limits, an access token;
//! - [`upstream`]: reserve the code, the one WeChat call, release the code if WeChat provably did not use it;
//! - [`record`]: the audit row, the identity binding and the idempotent answer, in one transaction;
//! - [`answer`]: the result as status + body, for the caller and for the idempotent copy.
//!
//! Nothing before `upstream::reserve` reaches WeChat or spends the code; from there on the code counts as
//! spent, unless WeChat provably did not use it (the connection failed before sending, or 80113: the code is not
//! this openid's), when it is released.
//! `request`, `idempotency`, `policy::rate_limits`, `record::append` and `answer` take no WeChat types: another
//! check that takes a name and ID number can run through them.

pub(crate) mod answer;
pub(crate) mod idempotency;
pub(crate) mod policy;
pub(crate) mod record;
pub(crate) mod request;
pub(crate) mod upstream;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::pii;
use crate::state::{AppState, rfc3339};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use idempotency::IdempotencyKey;
use request::ValidRequest;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use store::{AuditRecord, NewAuditEntry};
use utoipa::ToSchema;

pub use request::VerifyRequest;

/// A verification as answered and as stored: masked values only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerificationView {
    pub id: String,
    pub appid: String,
    pub openid: String,
    /// `match`, `id_mismatch`, `name_mismatch`, `not_verified` or `unknown`; null when the attempt failed.
    pub outcome: Option<String>,
    /// WeChat's raw `verify_openid` values.
    pub verify_openid: Vec<String>,
    /// WeChat's raw `verify_real_name`, null when WeChat sent none or "".
    pub verify_real_name: Option<String>,
    pub masked_real_name: String,
    pub masked_cred_id: String,
    /// Under 14 by the ID number's birth date (PIPL Art. 31).
    pub minor: bool,
    pub checked_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// For a failed attempt (in `GET` only): the error code it was answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl VerificationView {
    /// The answer for an attempt: masked values, no `error_code` (an error is answered with the envelope).
    pub(crate) fn answer(e: &NewAuditEntry) -> Self {
        Self {
            id: e.id.clone(),
            appid: e.appid.clone(),
            openid: e.openid.clone(),
            outcome: e.outcome.clone(),
            verify_openid: e.verify_openid.clone(),
            verify_real_name: e.verify_real_name.clone(),
            masked_real_name: e.masked_name.clone(),
            masked_cred_id: e.masked_cred_id.clone(),
            minor: e.minor,
            checked_at: rfc3339(e.at_ms),
            purpose: e.purpose.clone(),
            error_code: None,
        }
    }
}

impl From<&AuditRecord> for VerificationView {
    /// A stored verification, with the error code a failed attempt was answered with.
    fn from(r: &AuditRecord) -> Self {
        Self {
            error_code: r.entry.error_code.clone(),
            ..Self::answer(&r.entry)
        }
    }
}

/// How a request that passed validation ended, before it becomes an answer ([`answer::respond`]).
pub(crate) enum Ended<V> {
    /// No audit row was written. Either the request was refused before anything was spent (the
    /// Idempotency-Key, the circuit breaker, no access token, the rate limiter or the store unreachable before
    /// the code was reserved), or the audit row could not be appended: then, if WeChat had answered, the
    /// answer is lost and the code stays spent.
    Unrecorded(ApiError),
    /// The attempt is in the audit trail, answered with its view or the error it ended with.
    Recorded(Result<V, ApiError>),
}

/// Why a step stopped a request before WeChat was called.
pub(crate) enum Refusal {
    /// A policy decision about this attempt (guardian consent, a reserved code, a rate limit): recorded in the
    /// audit trail, then answered.
    Recorded(ApiError),
    /// A refusal that leaves no audit row: the circuit breaker, no access token, a store or limiter failure.
    Unrecorded(ApiError),
}

/// Run a real-name check.
#[utoipa::path(post, path = "/v1/verifications", tag = "verifications",
    request_body = VerifyRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "WeChat answered", body = VerificationView),
        (status = 400, description = "invalid_request", body = crate::error::ErrorBody),
        (status = 401, description = "unauthorized", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden_app", body = crate::error::ErrorBody),
        (status = 409, description = "code_already_used, idempotency_in_progress", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_cred_id, invalid_real_name, invalid_openid, personal_data_in_field, unsupported_cred_type, guardian_consent_required, invalid_code, unknown_app, idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 429, description = "rate_limited (see Retry-After)", body = crate::error::ErrorBody),
        (status = 502, description = "upstream_permission_denied, upstream_rejected", body = crate::error::ErrorBody),
        (status = 503, description = "upstream_unavailable, upstream_quota_exhausted, dependency_unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let key_id = caller.key_id.clone();
    let valid = match request::parse(bytes)
        .and_then(|req| request::validate(&st, caller, &headers, &req))
    {
        Ok(valid) => valid,
        Err(e) => {
            return answer::respond(counted(Ended::<VerificationView>::Unrecorded(e)), &key_id);
        }
    };
    // From here a code may be spent and WeChat may answer.
    answer::in_own_task(
        "verification",
        async move { run(&st, valid, started).await },
    )
    .await
}

/// The steps after validation: the Idempotency-Key, then the attempt, then the answer.
async fn run(st: &AppState, req: ValidRequest, started: Instant) -> Response {
    let key_id = req.caller.key_id.as_str();
    let idempotency = req
        .idempotency_key
        .as_deref()
        .map(|key| IdempotencyKey { key_id, key });
    let fingerprint = || fingerprint(st, &req);
    // The attempt inline (the architecture test reads the steps in the order the text calls them).
    match idempotency::around(st, idempotency.as_ref(), fingerprint, || {
        attempt(st, &req, started)
    })
    .await
    {
        Ok(ended) => answer::respond(counted(ended), key_id),
        Err(stored) => answer::replay(stored),
    }
}

/// A verification that ended with no audit row still counts in `wxrn_verifications_total{result}` (a recorded
/// one was counted when it was recorded).
fn counted<V>(ended: Ended<V>) -> Ended<V> {
    if let Ended::Unrecorded(e) = &ended {
        metrics::counter!("wxrn_verifications_total", "result" => e.code()).increment(1);
    }
    ended
}

/// Everything that makes a verification request what it is, keyed: the same Idempotency-Key must come with the
/// same request.
fn fingerprint(st: &AppState, req: &ValidRequest) -> Vec<u8> {
    st.pii.fingerprint(&[
        req.appid.as_bytes(),
        req.openid.as_str().as_bytes(),
        req.subject.name.expose().as_bytes(),
        req.subject.cred.expose().as_bytes(),
        req.code.as_bytes(),
        req.purpose.as_deref().unwrap_or("").as_bytes(),
        &[u8::from(req.guardian_consent)],
    ])
}

/// Policy, the code's reservation, the WeChat call, the record.
async fn attempt(st: &AppState, req: &ValidRequest, started: Instant) -> Ended<VerificationView> {
    let entry = record::entry(st, req);
    let code_hash = pii::code_hash(&req.appid, &req.code);
    let (permit, counted) = match before_call(st, req, &code_hash, entry.at_ms).await {
        Ok(ready) => ready,
        Err(Refusal::Recorded(e)) => {
            return record::verification(st, req, entry, Err(e), started).await;
        }
        Err(Refusal::Unrecorded(e)) => return Ended::Unrecorded(e),
    };
    let mut entry = entry;
    let outcome = upstream::call(st, req, permit, &mut entry).await;
    if upstream::never_sent(&outcome) {
        // Not a call to WeChat: it does not count against the user's day.
        counted.give_back(st).await;
    }
    let releases_code = upstream::releases_code(&outcome);
    let ended = record::verification(st, req, entry, outcome, started).await;
    if releases_code {
        upstream::release(st, &req.appid, &code_hash).await;
    }
    ended
}

/// Every step that may refuse before WeChat is called, in order; the last one reserves the code. Returns the
/// circuit breaker's leave for the one call, and the user's daily count to give back if the call does not
/// happen. A refusal after the rate limits gives that count back at once.
async fn before_call(
    st: &AppState,
    req: &ValidRequest,
    code_hash: &[u8],
    at_ms: i64,
) -> Result<(wechat::Permit, policy::Counted), Refusal> {
    policy::refusal(st, req, code_hash).await?;
    let permit = policy::admit(st, &req.appid)?;
    let counted = policy::rate_limits(st, &policy::verification_limits(st, req)).await?;
    let ready = async {
        policy::token(st, &req.appid).await?;
        upstream::reserve(st, &req.appid, code_hash, at_ms).await
    }
    .await;
    match ready {
        Ok(()) => Ok((permit, counted)),
        Err(refusal) => {
            counted.give_back(st).await;
            Err(refusal)
        }
    }
}

/// A stored verification (masked). Visible to keys allowed for its app.
#[utoipa::path(get, path = "/v1/verifications/{id}", tag = "verifications",
    params(("id" = String, Path, description = "Verification id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = VerificationView),
        (status = 401, body = crate::error::ErrorBody),
        (status = 404, description = "not_found", body = crate::error::ErrorBody),
    ))]
pub async fn fetch(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<VerificationView>, ApiError> {
    let record = st
        .store
        .verification(&id)
        .await?
        .filter(|r| r.entry.kind == store::KIND_VERIFICATION)
        .ok_or(ApiError::NotFound)?;
    if !caller.may_use(&record.entry.appid) {
        // Not 403: whether a verification exists for another app is not this caller's business.
        return Err(ApiError::NotFound);
    }
    Ok(Json(VerificationView::from(&record)))
}
