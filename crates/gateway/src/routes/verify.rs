//! `POST /v1/verifications` and `GET /v1/verifications/{id}`: the verification pipeline.
//!
//! Order matters, and is the product's promise: parse -> authenticate -> validate -> idempotency -> policy
//! (guardian consent, replay guard, circuit breaker, rate limits) -> token -> reserve the code -> one WeChat
//! call -> record -> respond.
//! Nothing before "reserve the code" reaches WeChat or spends quota; from that point the code counts as spent,
//! unless the call provably never left (the connection failed before sending), when the reservation is released.

use crate::auth::Caller;
use crate::body;
use crate::error::ApiError;
use crate::pii;
use crate::state::{AppState, rfc3339};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use identity::{CredId, OpenId, RealName};
use limits::{Decision, Window};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use store::{AppendOptions, AuditRecord, IdemAnswer, IdemBegin, IdemBeginRequest, NewAuditEntry};
use utoipa::ToSchema;
use wechat::{CheckOutcome, CheckRequest, ErrCode};

const MAX_CODE_LEN: usize = 256;
const MAX_PURPOSE_CHARS: usize = 200;
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// An in-progress Idempotency-Key older than this belonged to a request that died; a retry takes it over.
const IDEMPOTENCY_STALE_MS: i64 = 120_000;

/// A verification request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The mini program's appid; may be omitted when the API key is bound to one app.
    pub appid: Option<String>,
    /// The user's openid under that mini program.
    pub openid: String,
    /// The name to check (Chinese characters and the middle dot; normalised before checking).
    pub real_name: String,
    /// The 18-character mainland resident ID number.
    pub cred_id: String,
    /// `1` or `"1"` (resident ID card), the default and the only type supported.
    #[schema(value_type = Option<Object>)]
    pub cred_type: Option<serde_json::Value>,
    /// The one-time code WeChat returned in `extraData` after the user agreed.
    pub code: String,
    /// Why the check is made, kept in the audit trail (PIPL: purpose limitation). At most 200 characters.
    pub purpose: Option<String>,
    /// A guardian agreed (needed for users under 14 when `policy.require_guardian_consent` is on).
    pub guardian_consent: Option<bool>,
}

/// Holds the raw name and ID number: `Debug` shows neither.
impl std::fmt::Debug for VerifyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("appid", &self.appid)
            .field("openid", &self.openid)
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

impl Drop for VerifyRequest {
    fn drop(&mut self) {
        // The raw values leave memory with the request, not with the allocator's whim.
        use zeroize::Zeroize;
        self.real_name.zeroize();
        self.cred_id.zeroize();
    }
}

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

impl From<&AuditRecord> for VerificationView {
    fn from(r: &AuditRecord) -> Self {
        let e = &r.entry;
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
            error_code: e.error_code.clone(),
        }
    }
}

/// Everything validated: from here on no raw string is handled.
struct Checked {
    caller: Caller,
    appid: String,
    openid: OpenId,
    name: RealName,
    cred: CredId,
    code: String,
    purpose: Option<String>,
    minor: bool,
    guardian_consent: bool,
    idem_key: Option<String>,
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
        (status = 422, description = "invalid_cred_id, invalid_real_name, invalid_openid, unsupported_cred_type, guardian_consent_required, invalid_code, unknown_app, idempotency_key_reused", body = crate::error::ErrorBody),
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
    let req: VerifyRequest = match body::bytes(bytes).and_then(|b| body::parse(&b)) {
        Ok(r) => r,
        Err(e) => return finish_early(e),
    };
    let checked = match validate(&st, caller, &headers, &req) {
        Ok(c) => c,
        Err(e) => return finish_early(e),
    };
    drop(req);
    // From here a code may be spent and WeChat may answer: the rest runs in a task of its own, so that neither a
    // client that goes away nor the request timeout can cut it off between WeChat's answer and its audit row.
    match tokio::spawn(async move { run(&st, checked, started).await }).await {
        Ok(response) => response,
        Err(e) => {
            // Not the panic's message: the catch-panic layer's rule (no payload in logs) holds here too.
            tracing::error!(panicked = e.is_panic(), "verification task failed");
            ApiError::Internal.into_response()
        }
    }
}

fn finish_early(e: ApiError) -> Response {
    metrics::counter!("wxrn_verifications_total", "result" => e.code()).increment(1);
    e.into_response()
}

fn validate(
    st: &AppState,
    caller: Caller,
    headers: &HeaderMap,
    req: &VerifyRequest,
) -> Result<Checked, ApiError> {
    let appid = caller.resolve_app(req.appid.as_deref())?;
    if !st.apps.contains_key(&appid) {
        return Err(ApiError::UnknownApp);
    }
    let openid = OpenId::parse(&req.openid).map_err(|_| ApiError::InvalidOpenid)?;
    let name = RealName::parse(&req.real_name).map_err(|e| ApiError::InvalidRealName {
        reason: e.code(),
        message: e.to_string(),
    })?;
    let cred = CredId::parse_on(&req.cred_id, st.today()).map_err(|e| ApiError::InvalidCredId {
        reason: e.code(),
        message: e.to_string(),
    })?;
    match &req.cred_type {
        None => {}
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(serde_json::Value::String(s)) if s == "1" => {}
        Some(_) => return Err(ApiError::UnsupportedCredType),
    }
    let code = req.code.trim();
    if code.is_empty() || code.len() > MAX_CODE_LEN || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::InvalidRequest(format!(
            "code must be 1 to {MAX_CODE_LEN} printable ASCII characters"
        )));
    }
    let purpose = req
        .purpose
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    if purpose
        .is_some_and(|p| p.chars().count() > MAX_PURPOSE_CHARS || p.chars().any(char::is_control))
    {
        return Err(ApiError::InvalidRequest(format!(
            "purpose must be at most {MAX_PURPOSE_CHARS} characters, no control characters"
        )));
    }
    let idem_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .ok()
                .filter(|v| !v.is_empty() && v.len() <= MAX_IDEMPOTENCY_KEY_LEN);
            Some(v.ok_or_else(|| ApiError::InvalidRequest(format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            )))?.to_owned())
        }
    };
    let minor = cred.is_minor_on(st.today());
    Ok(Checked {
        caller,
        appid,
        openid,
        name,
        cred,
        code: code.to_owned(),
        purpose: purpose.map(str::to_owned),
        minor,
        guardian_consent: req.guardian_consent == Some(true),
        idem_key,
    })
}

async fn run(st: &AppState, c: Checked, started: Instant) -> Response {
    let idem_key = c.idem_key.clone();
    if let Some(key) = &idem_key {
        let fingerprint = st.pii.fingerprint(&[
            c.appid.as_bytes(),
            c.openid.as_str().as_bytes(),
            c.name.expose().as_bytes(),
            c.cred.expose().as_bytes(),
            c.code.as_bytes(),
            c.purpose.as_deref().unwrap_or("").as_bytes(),
            &[u8::from(c.guardian_consent)],
        ]);
        let begin = IdemBeginRequest {
            key_id: c.caller.key_id.clone(),
            idem_key: key.clone(),
            fingerprint,
            now_ms: st.now_ms(),
            stale_after_ms: IDEMPOTENCY_STALE_MS,
        };
        match st.store.idem_begin(&begin).await {
            Err(e) => return finish_early(e.into()),
            Ok(IdemBegin::Started) => {}
            Ok(IdemBegin::Done { status, body }) => return replay(status, body),
            Ok(IdemBegin::InProgress) => return finish_early(ApiError::IdempotencyInProgress),
            Ok(IdemBegin::Mismatch) => return finish_early(ApiError::IdempotencyKeyReused),
        }
    }
    let result = pipeline(st, &c, started).await;
    let mut resp = match result {
        Ok(Reached {
            record_error: Some(e),
            ..
        }) => e.into_response(),
        Ok(Reached {
            view,
            record_error: None,
        }) => (StatusCode::OK, Json(view)).into_response(),
        Err(Early(e)) => {
            if let Some(key) = &idem_key
                && let Err(err) = st.store.idem_abort(&c.caller.key_id, key).await
            {
                tracing::warn!(error = %err, "could not release an Idempotency-Key");
            }
            return finish_early(e);
        }
    };
    if let Ok(v) = HeaderValue::from_str(&c.caller.key_id) {
        resp.headers_mut().insert("x-wxrn-key-id", v);
    }
    resp
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut resp = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    resp.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

/// The attempt reached policy and is in the audit trail; `record_error` is how it ended if not with an outcome.
struct Reached {
    view: VerificationView,
    record_error: Option<ApiError>,
}

/// Ended before anything was recorded (a store failure): no audit row, nothing spent.
struct Early(ApiError);

async fn pipeline(st: &AppState, c: &Checked, started: Instant) -> Result<Reached, Early> {
    let blind = st.pii.blind_indexes(&c.name, &c.cred);
    let mut entry = NewAuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at_ms: st.now_ms(),
        key_id: c.caller.key_id.clone(),
        appid: c.appid.clone(),
        openid: c.openid.as_str().to_owned(),
        masked_name: c.name.masked(),
        masked_cred_id: c.cred.masked(),
        blind_cred: blind.cred,
        blind_pair: blind.pair,
        key_version: st.pii.key_version,
        purpose: c.purpose.clone(),
        outcome: None,
        error_code: None,
        errcode: None,
        verify_openid: Vec::new(),
        verify_real_name: None,
        minor: c.minor,
        latency_ms: 0,
    };
    let code_hash = pii::code_hash(&c.appid, &c.code);

    // Policy: nothing here reaches WeChat. First the refusals that hold whatever state WeChat is in.
    if let Some(err) = refusal(st, c, &code_hash).await.map_err(Early)? {
        entry.error_code = Some(err.code().to_owned());
        return record(st, c, entry, Err(err), started).await;
    }
    // The circuit breaker: while WeChat is failing, refuse before anything is spent, neither the code nor the
    // user's rate-limit allowance. The permit is this request's leave to call WeChat (in half-open, the one
    // probe); dropped unused, it is given back.
    let api = &st.apps[&c.appid];
    let permit = match api.admit() {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(appid = %c.appid, kind = e.kind(), "WeChat call refused by the circuit breaker");
            return Err(Early(upstream_error(&e)));
        }
    };
    if let Some(err) = rate_limits(st, c).await.map_err(Early)? {
        entry.error_code = Some(err.code().to_owned());
        return record(st, c, entry, Err(err), started).await;
    }
    // Make sure a token can be had before the code is spent: if WeChat's token endpoint or the shared token store
    // is down, the caller gets a 503 and the user's code stays good for a retry.
    if let Err(e) = api.tokens().token().await {
        tracing::warn!(appid = %c.appid, kind = e.kind(), errcode = ?e.errcode(), "no access token");
        return Err(Early(match e {
            wechat::Error::Store(_) => ApiError::DependencyUnavailable,
            _ => ApiError::UpstreamNoToken,
        }));
    }
    match st
        .store
        .reserve_code(&code_hash, &c.appid, entry.at_ms)
        .await
    {
        Err(e) => return Err(Early(e.into())),
        Ok(false) => {
            entry.error_code = Some(ApiError::CodeAlreadyUsed.code().to_owned());
            return record(st, c, entry, Err(ApiError::CodeAlreadyUsed), started).await;
        }
        Ok(true) => {}
    }

    // The one WeChat call (plus at most one resend after a token error, inside RealnameApi).
    let call = Instant::now();
    let result = api
        .check_with(
            permit,
            &CheckRequest {
                openid: &c.openid,
                real_name: &c.name,
                cred_id: &c.cred,
                code: &c.code,
            },
        )
        .await;
    entry.latency_ms = call.elapsed().as_millis() as i64;
    let outcome = match result {
        Ok(r) => {
            entry.outcome = Some(r.outcome.as_str().to_owned());
            entry.errcode = Some(0);
            entry.verify_openid = r.verify_openid;
            entry.verify_real_name = r.verify_real_name;
            Ok(r.outcome)
        }
        Err(e) => {
            let err = upstream_error(&e);
            tracing::warn!(appid = %c.appid, openid = %c.openid, kind = e.kind(), errcode = ?e.errcode(), "WeChat check failed");
            entry.errcode = e.errcode();
            entry.error_code = Some(err.code().to_owned());
            Err(err)
        }
    };
    let not_sent = matches!(outcome, Err(ApiError::UpstreamNotReached));
    let reached = record(st, c, entry, outcome, started).await;
    if not_sent {
        // The request provably never left: give the code back, so that the user's retry is not refused as a
        // replay. The audit row stays (the attempt happened); the answer says the code is unused.
        if let Err(e) = st.store.release_code(&code_hash).await {
            tracing::error!(error = %e, appid = %c.appid, "could not release an unsent code; it stays reserved");
        }
    }
    reached
}

/// The policy checks that no retry can pass: guardian consent, the replay guard. `Ok(Some(_))` is a refusal to
/// audit; `Err` a store failure.
async fn refusal(
    st: &AppState,
    c: &Checked,
    code_hash: &[u8],
) -> Result<Option<ApiError>, ApiError> {
    if c.minor && st.cfg.policy.require_guardian_consent && !c.guardian_consent {
        return Ok(Some(ApiError::GuardianConsentRequired));
    }
    if st.store.code_seen(code_hash).await? {
        return Ok(Some(ApiError::CodeAlreadyUsed));
    }
    Ok(None)
}

/// The rate limits, which count every attempt they let through. As [`refusal`] for the result.
async fn rate_limits(st: &AppState, c: &Checked) -> Result<Option<ApiError>, ApiError> {
    let now = st.clock.now();
    let limits = &st.cfg.limits;
    let checks = [
        (
            limits.per_key_per_second,
            format!("key:{}", c.caller.key_id),
            Window::Second,
        ),
        (
            limits.per_openid_per_day,
            format!("openid:{}:{}", c.appid, c.openid),
            Window::Day,
        ),
    ];
    for (limit, bucket, window) in checks {
        if limit == 0 {
            continue;
        }
        match st.limiter.hit(&bucket, limit, window, now).await {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Denied { retry_after_secs }) => {
                return Ok(Some(ApiError::RateLimited { retry_after_secs }));
            }
            Err(e) => {
                tracing::error!(error = %e, "rate limiter");
                return Err(ApiError::DependencyUnavailable);
            }
        }
    }
    Ok(None)
}

fn upstream_error(e: &wechat::Error) -> ApiError {
    match e {
        wechat::Error::WeChat { code, .. } => match code {
            ErrCode::InvalidCode => ApiError::InvalidCode,
            // WeChat does not know this openid under this app: the caller sent the wrong one.
            ErrCode::InvalidOpenId => ApiError::UpstreamUnknownOpenid,
            ErrCode::Unauthorized => ApiError::UpstreamPermissionDenied,
            ErrCode::DailyQuotaReached => ApiError::UpstreamQuotaExhausted,
            ErrCode::SystemBusy | ErrCode::RateLimited => ApiError::UpstreamUnavailable,
            // A token error that survived the one refresh, or a credential problem: WeChat is reachable but
            // refuses this gateway's credentials. The operator must act; the caller may retry later.
            c if c.is_token_error() => ApiError::UpstreamUnavailable,
            other => ApiError::UpstreamRejected {
                errcode: other.code(),
            },
        },
        // The shared token store (Redis) failed: not WeChat's fault.
        wechat::Error::Store(_) => ApiError::DependencyUnavailable,
        // The connection failed before anything was sent: the pipeline releases the code.
        wechat::Error::NotSent(_) => ApiError::UpstreamNotReached,
        // Nothing was sent and the code is untouched: say when to retry with it.
        wechat::Error::CircuitOpen { retry_after } => ApiError::UpstreamPaused {
            retry_after_secs: retry_after.as_secs_f64().ceil().max(1.0) as u64,
        },
        _ => ApiError::UpstreamUnavailable,
    }
}

async fn record(
    st: &AppState,
    c: &Checked,
    entry: NewAuditEntry,
    outcome: Result<CheckOutcome, ApiError>,
    started: Instant,
) -> Result<Reached, Early> {
    let view = VerificationView::from(&AuditRecord {
        seq: 0,
        entry: entry.clone(),
        prev_hash: vec![],
        hash: vec![],
    });
    let view = VerificationView {
        error_code: None,
        ..view
    };
    let (status, body, record_error) = match &outcome {
        Ok(_) => (200, serde_json::to_string(&view).unwrap_or_default(), None),
        Err(e) => (
            e.status().as_u16(),
            serde_json::to_string(&e.body()).unwrap_or_default(),
            Some(e.clone()),
        ),
    };
    // Refusals before the code was reserved, and a call that provably never left, are not worth replaying: a retry
    // may succeed.
    let spent = !matches!(
        outcome,
        Err(ApiError::RateLimited { .. }
            | ApiError::CodeAlreadyUsed
            | ApiError::GuardianConsentRequired
            | ApiError::UpstreamNotReached)
    );
    let idempotent = match (&c.idem_key, spent) {
        (Some(k), true) => Some(IdemAnswer {
            key_id: c.caller.key_id.clone(),
            idem_key: k.clone(),
            status,
            body,
        }),
        _ => None,
    };
    let bind_identity = matches!(outcome, Ok(CheckOutcome::Match));
    let result_label = match &outcome {
        Ok(o) => o.as_str(),
        Err(e) => e.code(),
    };
    if let Err(e) = st
        .store
        .append(
            entry,
            AppendOptions {
                bind_identity,
                idempotent,
            },
        )
        .await
    {
        // WeChat may have answered, but without the audit row the answer cannot be given.
        tracing::error!(error = %e, appid = %c.appid, openid = %c.openid, "could not record a verification");
        return Err(Early(ApiError::DependencyUnavailable));
    }
    if !spent && let Some(k) = &c.idem_key {
        let _ = st.store.idem_abort(&c.caller.key_id, k).await;
    }
    metrics::counter!("wxrn_verifications_total", "result" => result_label).increment(1);
    metrics::histogram!("wxrn_verification_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    tracing::info!(id = %view.id, appid = %c.appid, openid = %c.openid, result = result_label, "verification");
    Ok(Reached { view, record_error })
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
        .ok_or(ApiError::NotFound)?;
    if !caller.may_use(&record.entry.appid) {
        // Not 403: whether a verification exists for another app is not this caller's business.
        return Err(ApiError::NotFound);
    }
    Ok(Json(VerificationView::from(&record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_request_shows_no_name_or_id_number() {
        let req: VerifyRequest = crate::body::parse(
            br#"{"openid":"o1","real_name":"\u5f20\u4e09","cred_id":"11010519491231002X","code":"c"}"#,
        )
        .unwrap();
        let shown = format!("{req:?}");
        assert!(shown.contains("o1"), "{shown}");
        assert!(
            !shown.contains("张三") && !shown.contains("11010519491231002X"),
            "{shown}"
        );
    }
}
