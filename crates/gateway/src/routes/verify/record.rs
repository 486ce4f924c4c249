//! The recording step: one audit row per attempt that got past validation, with the answer for its
//! Idempotency-Key, in one transaction committed before the answer is sent.
//!
//! [`append`] is the part any check can use (any view type); [`entry`] and [`verification`] are the
//! verification's own row and bookkeeping (metrics, the log line).

use super::Ended;
use super::VerificationView;
use super::answer;
use super::idempotency::{self, IdempotencyKey};
use super::request::{Subject, ValidRequest};
use crate::error::ApiError;
use crate::state::AppState;
use serde::Serialize;
use std::time::Instant;
use store::{AppendOptions, IdemAnswer, NewAuditEntry};
use wechat::CheckOutcome;

/// The audit row of a check about `subject`, as far as validation can fill it: a fresh id, the time, the key,
/// masked values and blind indexes, `kind`; no app, user or outcome yet. Every route that records a check about a
/// person (verifications, idchecks, identity matches) starts from here.
pub(crate) fn subject_entry(
    st: &AppState,
    key_id: &str,
    s: &Subject,
    purpose: Option<String>,
    kind: &str,
) -> NewAuditEntry {
    let blind = st.pii.blind_indexes(&s.name, &s.cred);
    NewAuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at_ms: st.now_ms(),
        key_id: key_id.to_owned(),
        appid: String::new(),
        openid: String::new(),
        masked_name: s.name.masked(),
        masked_cred_id: s.cred.masked(),
        blind_cred: blind.cred,
        blind_pair: blind.pair,
        key_version: st.pii.key_version,
        purpose,
        outcome: None,
        error_code: None,
        errcode: None,
        verify_openid: Vec::new(),
        verify_real_name: None,
        minor: s.minor,
        latency_ms: 0,
        kind: kind.to_owned(),
        provider: None,
        billed: None,
        consent_ref: None,
    }
}

/// The audit row of a verification as far as validation can fill it: its app and user, masked values, blind
/// indexes, no outcome yet.
pub(crate) fn entry(st: &AppState, req: &ValidRequest) -> NewAuditEntry {
    NewAuditEntry {
        appid: req.appid.clone(),
        openid: req.openid.as_str().to_owned(),
        ..subject_entry(
            st,
            &req.caller.key_id,
            &req.subject,
            req.purpose.clone(),
            store::KIND_VERIFICATION,
        )
    }
}

/// Record a verification that got past validation: WeChat's outcome, or the error it ended with (a policy
/// refusal, a reserved code, a failed call). Counts `wxrn_verifications_total{result}` and logs one line (ids and
/// the result, never the name or ID number).
pub(crate) async fn verification(
    st: &AppState,
    req: &ValidRequest,
    mut entry: NewAuditEntry,
    outcome: Result<CheckOutcome, ApiError>,
    started: Instant,
) -> Ended<VerificationView> {
    if let Err(e) = &outcome {
        entry.error_code = Some(e.code().to_owned());
    }
    let view = VerificationView::answer(&entry);
    let id = view.id.clone();
    let result_label = match &outcome {
        Ok(o) => o.as_str(),
        Err(e) => e.code(),
    };
    let bind_identity = matches!(outcome, Ok(CheckOutcome::Match));
    let idempotency = req.idempotency_key.as_deref().map(|key| IdempotencyKey {
        key_id: &req.caller.key_id,
        key,
    });
    let ended = append(
        st,
        entry,
        outcome.map(|_| view),
        bind_identity,
        idempotency.as_ref(),
    )
    .await;
    if let Ended::Recorded(_) = ended {
        metrics::counter!("wxrn_verifications_total", "result" => result_label).increment(1);
        metrics::histogram!("wxrn_verification_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::info!(id = %id, appid = %req.appid, openid = %req.openid, result = result_label, "verification");
    }
    ended
}

/// Append `entry` to the audit chain; in the same transaction bind the identity (`bind_identity`, on a match)
/// and store `answer` for the Idempotency-Key when it is final. A store failure ends the attempt unrecorded
/// (503): if WeChat answered, that answer is lost and the code stays spent.
pub(crate) async fn append<V: Serialize>(
    st: &AppState,
    entry: NewAuditEntry,
    answer: Result<V, ApiError>,
    bind_identity: bool,
    idempotency: Option<&IdempotencyKey<'_>>,
) -> Ended<V> {
    let is_final = is_final(&answer);
    let idempotent = idempotency.filter(|_| is_final).map(|k| {
        let (status, body) = answer::status_and_body(&answer);
        IdemAnswer {
            key_id: k.key_id.to_owned(),
            idem_key: k.key.to_owned(),
            status: status.as_u16(),
            body,
        }
    });
    let (appid, openid) = (entry.appid.clone(), entry.openid.clone());
    let options = AppendOptions {
        bind_identity,
        idempotent,
    };
    if let Err(e) = st.store.append(entry, options).await {
        tracing::error!(error = %e, appid = %appid, openid = %openid, "could not append an audit row");
        return Ended::Unrecorded(ApiError::DependencyUnavailable);
    }
    if !is_final && let Some(k) = idempotency {
        idempotency::abort(st, k).await;
    }
    Ended::Recorded(answer)
}

/// Whether a retry with the same Idempotency-Key should get this answer again. Not for the refusals made before
/// the code was reserved, nor for a call that provably never left, nor for an idcheck that got no verdict (the
/// budget, every provider failing, the budget counter unreachable): a retry may succeed.
fn is_final<V>(answer: &Result<V, ApiError>) -> bool {
    !matches!(
        answer,
        Err(ApiError::RateLimited { .. }
            | ApiError::CodeAlreadyUsed
            | ApiError::GuardianConsentRequired
            | ApiError::UpstreamNotReached
            | ApiError::BudgetExhausted { .. }
            | ApiError::ProvidersUnavailable
            | ApiError::DependencyUnavailable)
    )
}
