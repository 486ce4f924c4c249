//! `POST /v1/idchecks` and `GET /v1/idchecks/{id}`: the paid name + ID-number check (issue 14), for
//! organisations without WeChat's real-name permission.
//!
//! It runs through the verification pipeline's shared steps rather than copies of them: `verify::request`
//! (the name, the ID number, the purpose, the `Idempotency-Key`), `verify::idempotency::around`,
//! `verify::policy::rate_limits` (the key's `limits.per_key_per_second`), `verify::record::append` (one row of the
//! same audit chain, kind `idcheck`) and `verify::answer`. Its own steps, in order:
//! - [`validate`]: the key's `idcheck` scope (403 `forbidden`), providers configured (404
//!   `idcheck_not_configured`), then the body: `consent_ref` first (422 `consent_required`: nothing about the
//!   person is looked at without it), then the name and ID number exactly as for WeChat, the purpose;
//! - the cache ([`cached`]): a pair (blind index of name + ID number) a provider answered match or mismatch
//!   within `idcheck.cache_days` is answered from the audit trail: `cached: true, billed: false`, no call;
//! - the providers (`crate::idcheck::Checker`): failover, a breaker each, the daily budget (429
//!   `budget_exhausted` until midnight in Asia/Shanghai), 503 `upstream_unavailable` when none answers.

use super::verify::answer;
use super::verify::idempotency::{self, IdempotencyKey};
use super::verify::policy;
use super::verify::record;
use super::verify::request::{self, Subject};
use super::verify::{Ended, Refusal};
use crate::auth::Caller;
use crate::body;
use crate::error::ApiError;
use crate::idcheck::{CheckError, Checker};
use crate::state::{AppState, rfc3339};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use i18n::Msg;
use providers::InvalidField;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use store::{AuditRecord, NewAuditEntry};
use utoipa::ToSchema;

const MAX_CONSENT_REF_CHARS: usize = 200;
const DAY_MS: i64 = 86_400_000;

/// A name + ID-number check through a paid provider.
// The name and ID number are `SecretString`s: `Debug` shows neither, and their memory is zeroised on drop.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdcheckRequest {
    /// The name to check (Chinese characters and the middle dot; normalised before checking).
    #[schema(value_type = String)]
    pub real_name: SecretString,
    /// The 18-character mainland resident ID number.
    #[schema(value_type = String)]
    pub cred_id: SecretString,
    /// Why the check is made, kept in the audit trail (PIPL: purpose limitation). At most 200 characters.
    pub purpose: Option<String>,
    /// Your reference to the user's separate consent to processing their ID number (PIPL Art. 29), kept in the
    /// audit trail. Required; at most 200 characters, no ID number.
    pub consent_ref: Option<String>,
}

/// An idcheck as answered and as stored: masked values only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IdcheckView {
    pub id: String,
    /// `match`, `mismatch` or `no_record`; null for a failed check (in `GET` only).
    pub outcome: Option<String>,
    /// The configured name of the provider that gave the verdict (for a cached answer, the one that gave it
    /// first); for a failed check, the last provider tried, if any.
    pub provider: Option<String>,
    /// This check was, or may have been, billed by a provider (a timed-out call counts: it may have been
    /// processed). False for a cached answer.
    pub billed: bool,
    /// Answered from an earlier verdict within `idcheck.cache_days`: no provider was asked.
    pub cached: bool,
    pub masked_real_name: String,
    pub masked_cred_id: String,
    /// Under 14 by the ID number's birth date (PIPL Art. 31).
    pub minor: bool,
    pub checked_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    pub consent_ref: String,
    /// For a failed check (in `GET` only): the error code it was answered with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

impl IdcheckView {
    fn answer(e: &NewAuditEntry, cached: bool) -> Self {
        Self {
            id: e.id.clone(),
            outcome: e.outcome.clone(),
            provider: e.provider.clone(),
            billed: e.billed == Some(true),
            cached,
            masked_real_name: e.masked_name.clone(),
            masked_cred_id: e.masked_cred_id.clone(),
            minor: e.minor,
            checked_at: rfc3339(e.at_ms),
            purpose: e.purpose.clone(),
            consent_ref: e.consent_ref.clone().unwrap_or_default(),
            error_code: None,
        }
    }
}

impl From<&AuditRecord> for IdcheckView {
    /// A stored idcheck. A verdict that billed nothing was answered from the cache (every verdict a provider
    /// gives is billed: Tencent "0"/"-1", Aliyun BizCode 1/2).
    fn from(r: &AuditRecord) -> Self {
        let e = &r.entry;
        let cached =
            e.billed == Some(false) && matches!(e.outcome.as_deref(), Some("match" | "mismatch"));
        Self {
            error_code: e.error_code.clone(),
            ..Self::answer(e, cached)
        }
    }
}

/// An idcheck request that passed every local check.
struct ValidIdcheck {
    caller: Caller,
    subject: Subject,
    purpose: Option<String>,
    consent_ref: String,
    idempotency_key: Option<String>,
}

/// Check a name and ID number with the configured providers.
#[utoipa::path(post, path = "/v1/idchecks", tag = "idchecks",
    request_body = IdcheckRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays return the first answer")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A provider (or the cache) gave a verdict", body = IdcheckView),
        (status = 400, description = "invalid_request", body = crate::error::ErrorBody),
        (status = 401, description = "unauthorized", body = crate::error::ErrorBody),
        (status = 403, description = "forbidden (the key lacks the idcheck scope)", body = crate::error::ErrorBody),
        (status = 404, description = "idcheck_not_configured", body = crate::error::ErrorBody),
        (status = 409, description = "idempotency_in_progress", body = crate::error::ErrorBody),
        (status = 422, description = "consent_required, invalid_cred_id, invalid_real_name (reason provider_refused when a provider refused it), personal_data_in_field, idempotency_key_reused", body = crate::error::ErrorBody),
        (status = 429, description = "rate_limited, budget_exhausted (see Retry-After)", body = crate::error::ErrorBody),
        (status = 503, description = "upstream_unavailable, dependency_unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let key_id = caller.key_id.clone();
    let (checker, valid) = match validate(&st, caller, &headers, bytes) {
        Ok(valid) => valid,
        Err(e) => return answer::respond(counted(Ended::<IdcheckView>::Unrecorded(e)), &key_id),
    };
    // From here a provider may be called, and may bill.
    answer::in_own_task("idcheck", async move {
        run(&st, &checker, valid, started).await
    })
    .await
}

/// The scope, the providers, then the body's fields (see the module docs for the order).
fn validate(
    st: &AppState,
    caller: Caller,
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<(Arc<Checker>, ValidIdcheck), ApiError> {
    if !caller.may_idcheck() {
        return Err(ApiError::Forbidden);
    }
    let checker = st.idcheck.clone().ok_or(ApiError::IdcheckNotConfigured)?;
    let req: IdcheckRequest = body::parse(&body::bytes(bytes)?)?;
    let consent_ref = consent_ref(req.consent_ref.as_deref())?;
    let subject = request::subject(&req.real_name, &req.cred_id, st.today())?;
    let purpose = request::purpose(req.purpose.as_deref())?;
    let idempotency_key = request::idempotency_key(headers)?;
    Ok((
        checker,
        ValidIdcheck {
            caller,
            subject,
            purpose,
            consent_ref,
            idempotency_key,
        },
    ))
}

/// `consent_ref`, trimmed: required (422 `consent_required` when missing or blank), at most 200 characters with
/// no control characters (400), and no ID number in it (422 `personal_data_in_field`).
fn consent_ref(raw: Option<&str>) -> Result<String, ApiError> {
    let value = raw
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or(ApiError::ConsentRequired)?;
    request::no_cred_id_in("consent_ref", value)?;
    if value.chars().count() > MAX_CONSENT_REF_CHARS || value.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(
            i18n::api::request::CONSENT_REF_FORMAT.msg(&[("max", &MAX_CONSENT_REF_CHARS)]),
        ));
    }
    Ok(value.to_owned())
}

/// The Idempotency-Key, the attempt, the answer.
async fn run(st: &AppState, checker: &Checker, req: ValidIdcheck, started: Instant) -> Response {
    let key_id = req.caller.key_id.as_str();
    let idempotency = req
        .idempotency_key
        .as_deref()
        .map(|key| IdempotencyKey { key_id, key });
    let fingerprint = || {
        st.pii.fingerprint(&[
            b"idcheck",
            req.subject.name.expose().as_bytes(),
            req.subject.cred.expose().as_bytes(),
            req.purpose.as_deref().unwrap_or("").as_bytes(),
            req.consent_ref.as_bytes(),
        ])
    };
    let attempt = || attempt(st, checker, &req, idempotency.as_ref(), started);
    match idempotency::around(st, idempotency.as_ref(), fingerprint, attempt).await {
        Ok(ended) => answer::respond(counted(ended), key_id),
        Err(stored) => answer::replay(stored),
    }
}

/// The key's rate limit, the cache, the providers; then the row.
async fn attempt(
    st: &AppState,
    checker: &Checker,
    req: &ValidIdcheck,
    idempotency: Option<&IdempotencyKey<'_>>,
    started: Instant,
) -> Ended<IdcheckView> {
    let mut entry = entry(st, req);
    let rec = |entry, answer, cached| finish(st, entry, answer, cached, idempotency, started);
    match policy::rate_limits(st, &[policy::per_key(st, &req.caller.key_id)]).await {
        Ok(_) => {}
        Err(Refusal::Recorded(e)) => return rec(entry, Err(e), false).await,
        Err(Refusal::Unrecorded(e)) => return Ended::Unrecorded(e),
    }
    match cached(st, &entry).await {
        Ok(Some(verdict)) => {
            entry.outcome = verdict.outcome;
            entry.provider = verdict.provider;
            entry.billed = Some(false);
            return rec(entry, Ok(()), true).await;
        }
        Ok(None) => {}
        Err(e) => return Ended::Unrecorded(e),
    }
    let result = checker.check(&req.subject.name, &req.subject.cred).await;
    let attempts = match &result {
        Ok(checked) => &checked.attempts,
        Err(failed) => &failed.attempts,
    };
    let may_have_been_billed = attempts.iter().any(|a| a.may_have_been_billed);
    entry.billed = Some(may_have_been_billed);
    entry.provider = attempts.last().map(|a| a.provider.clone());
    if let Some(left) = checker.budget_left().await {
        metrics::gauge!("wxrn_idcheck_budget_left").set(f64::from(left));
    }
    let answer = match result {
        Ok(checked) => {
            entry.outcome = Some(checked.answer.outcome.as_str().to_owned());
            Ok(())
        }
        Err(failed) => Err(match failed.error {
            CheckError::BudgetExhausted { retry_after_secs } => {
                ApiError::BudgetExhausted { retry_after_secs }
            }
            CheckError::InvalidInput { field, .. } => provider_refused(field),
            CheckError::Unavailable => ApiError::ProvidersUnavailable,
            // The budget counter is down: with no provider asked there is nothing to record.
            CheckError::Dependency if failed.attempts.is_empty() => {
                return Ended::Unrecorded(ApiError::DependencyUnavailable);
            }
            CheckError::Dependency => ApiError::DependencyUnavailable,
        }),
    };
    rec(entry, answer, false).await
}

/// The verdict the cache repeats, if `idcheck.cache_days` allows one (0 turns the cache off).
async fn cached(st: &AppState, entry: &NewAuditEntry) -> Result<Option<NewAuditEntry>, ApiError> {
    let days = i64::from(st.cfg.idcheck.cache_days);
    if days == 0 {
        return Ok(None);
    }
    let since = entry.at_ms - days * DAY_MS;
    Ok(st
        .store
        .idcheck_verdict(&entry.blind_pair, since)
        .await?
        .map(|r| r.entry))
}

/// A provider refused what our own checks let through: the same codes as our refusals, reason
/// `provider_refused`. Aliyun's 401 does not say which field: `invalid_cred_id`, whose sentence says so.
fn provider_refused(field: InvalidField) -> ApiError {
    use i18n::api::request as t;
    let (text, name) = match field {
        InvalidField::CredId => (t::PROVIDER_REFUSED_CRED_ID, false),
        InvalidField::RealName => (t::PROVIDER_REFUSED_NAME, true),
        InvalidField::Unspecified => (t::PROVIDER_REFUSED_INPUT, false),
    };
    let message = Msg::from(text);
    let reason = "provider_refused";
    if name {
        ApiError::InvalidRealName { reason, message }
    } else {
        ApiError::InvalidCredId { reason, message }
    }
}

/// The row as far as validation can fill it: not a WeChat check, so no app and no user.
fn entry(st: &AppState, req: &ValidIdcheck) -> NewAuditEntry {
    NewAuditEntry {
        consent_ref: Some(req.consent_ref.clone()),
        ..record::subject_entry(
            st,
            &req.caller.key_id,
            &req.subject,
            req.purpose.clone(),
            store::KIND_IDCHECK,
        )
    }
}

/// Append the row (and the idempotent answer), count it, log one line (ids and the result only).
async fn finish(
    st: &AppState,
    mut entry: NewAuditEntry,
    answer: Result<(), ApiError>,
    cached: bool,
    idempotency: Option<&IdempotencyKey<'_>>,
    started: Instant,
) -> Ended<IdcheckView> {
    entry.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    if let Err(e) = &answer {
        entry.error_code = Some(e.code().to_owned());
    }
    let view = IdcheckView::answer(&entry, cached);
    let result = match &answer {
        Ok(()) => view.outcome.clone().unwrap_or_default(),
        Err(e) => e.code().to_owned(),
    };
    let (id, provider) = (view.id.clone(), view.provider.clone());
    let ended = record::append(st, entry, answer.map(|()| view), false, idempotency).await;
    if let Ended::Recorded(_) = ended {
        metrics::counter!("wxrn_idchecks_total", "result" => result.clone(), "cached" => cached.to_string())
            .increment(1);
        metrics::histogram!("wxrn_idcheck_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        tracing::info!(id = %id, provider = ?provider, cached, result = %result, "idcheck");
    }
    ended
}

/// An idcheck that ended with no row still counts in `wxrn_idchecks_total{result}`.
fn counted<V>(ended: Ended<V>) -> Ended<V> {
    if let Ended::Unrecorded(e) = &ended {
        metrics::counter!("wxrn_idchecks_total", "result" => e.code(), "cached" => "false")
            .increment(1);
    }
    ended
}

/// A stored idcheck (masked). Visible to keys with the `idcheck` scope.
#[utoipa::path(get, path = "/v1/idchecks/{id}", tag = "idchecks",
    params(("id" = String, Path, description = "Idcheck id")),
    security(("api_key" = [])),
    responses(
        (status = 200, body = IdcheckView),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden (the key lacks the idcheck scope)", body = crate::error::ErrorBody),
        (status = 404, description = "not_found", body = crate::error::ErrorBody),
    ))]
pub async fn fetch(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IdcheckView>, ApiError> {
    if !caller.may_idcheck() {
        return Err(ApiError::Forbidden);
    }
    let record = st
        .store
        .verification(&id)
        .await?
        .filter(|r| r.entry.kind == store::KIND_IDCHECK)
        .ok_or(ApiError::NotFound)?;
    Ok(Json(IdcheckView::from(&record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_ref_is_required_bounded_and_free_of_id_numbers() {
        assert_eq!(consent_ref(None), Err(ApiError::ConsentRequired));
        assert_eq!(consent_ref(Some(" \t ")), Err(ApiError::ConsentRequired));
        assert_eq!(consent_ref(Some(" c-1 ")).unwrap(), "c-1");
        assert_eq!(
            consent_ref(Some(&"x".repeat(201))).unwrap_err().code(),
            "invalid_request"
        );
        assert_eq!(
            consent_ref(Some(&"同".repeat(200))).unwrap(),
            "同".repeat(200)
        );
        assert_eq!(
            consent_ref(Some("consent for 11010519491231002X")).unwrap_err(),
            ApiError::PersonalDataInField {
                field: "consent_ref"
            }
        );
    }

    #[test]
    fn debug_of_a_request_shows_no_name_or_id_number() {
        let req: IdcheckRequest = crate::body::parse(
            br#"{"real_name":"\u5f20\u4e09","cred_id":"11010519491231002X","consent_ref":"c-1"}"#,
        )
        .unwrap();
        let shown = format!("{req:?}");
        assert!(shown.contains("c-1"), "{shown}");
        assert!(
            !shown.contains("张三") && !shown.contains("11010519491231002X"),
            "{shown}"
        );
    }
}
