//! The identity registry: who has been verified, and does a name + ID match what was verified.

use super::verify::policy::{self, Limit};
use super::verify::{Ended, Refusal, answer, record, request};
use crate::auth::Caller;
use crate::body;
use crate::error::ApiError;
use crate::state::{AppState, rfc3339};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use identity::OpenId;
use limits::Window;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use store::NewAuditEntry;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentityView {
    pub verified: bool,
    pub verified_at: String,
    pub masked_real_name: String,
    pub masked_cred_id: String,
    /// The verification that established it.
    pub verification_id: String,
}

/// 404 naming the lookup that missed. The path is the caller's text: the appid is repeated only when it is one
/// (it was authorised above, so it is), the openid only when it is one and holds no ID number (also spread out or
/// in full-width digits).
fn no_identity(appid: &str, openid: &str) -> ApiError {
    let is_openid = identity::OpenId::parse(openid).is_ok() && !identity::contains_cred_id(openid);
    ApiError::NoIdentity {
        appid: appid.to_owned(),
        openid: is_openid.then(|| openid.to_owned()),
    }
}

/// The latest successful match for a user.
#[utoipa::path(get, path = "/v1/identities/{appid}/{openid}", tag = "identities",
    params(("appid" = String, Path), ("openid" = String, Path)),
    security(("api_key" = [])),
    responses(
        (status = 200, body = IdentityView),
        (status = 403, description = "forbidden_app", body = crate::error::ErrorBody),
        (status = 404, description = "not_found: no successful match for this user", body = crate::error::ErrorBody),
    ))]
pub async fn latest(
    State(st): State<AppState>,
    caller: Caller,
    Path((appid, openid)): Path<(String, String)>,
) -> Result<Json<IdentityView>, ApiError> {
    if !caller.may_use(&appid) {
        return Err(ApiError::ForbiddenApp);
    }
    let found = st
        .store
        .identity(&appid, &openid)
        .await?
        .ok_or_else(|| no_identity(&appid, &openid))?;
    Ok(Json(IdentityView {
        verified: true,
        verified_at: rfc3339(found.verified_at_ms),
        masked_real_name: found.masked_name,
        masked_cred_id: found.masked_cred_id,
        verification_id: found.verification_id,
    }))
}

/// Forget a user's verified identity: the user's request to erase their data (PIPL art. 47), or the end of the
/// purpose it was kept for. Afterwards the user counts as unverified (`GET` 404, `match` false) until a new
/// verification. The audit rows stay, holding masked values and keyed blind indexes only, until the audit
/// retention (`retention.audit_days`) purges them: they are the record that each check was made.
#[utoipa::path(delete, path = "/v1/identities/{appid}/{openid}", tag = "identities",
    params(("appid" = String, Path), ("openid" = String, Path)),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "the identity is forgotten"),
        (status = 403, description = "forbidden_app", body = crate::error::ErrorBody),
        (status = 404, description = "not_found: no identity is kept for this user", body = crate::error::ErrorBody),
    ))]
pub async fn erase(
    State(st): State<AppState>,
    caller: Caller,
    Path((appid, openid)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if !caller.may_use(&appid) {
        return Err(ApiError::ForbiddenApp);
    }
    if !st.store.delete_identity(&appid, &openid).await? {
        return Err(no_identity(&appid, &openid));
    }
    metrics::counter!("wxrn_identity_erasures_total").increment(1);
    tracing::info!(appid = %appid, openid = %openid, key_id = %caller.key_id, "identity erased");
    Ok(StatusCode::NO_CONTENT)
}

// The name and ID number are `SecretString`s: `Debug` shows neither, and their memory is zeroised when the request
// is dropped.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub appid: Option<String>,
    pub openid: String,
    #[schema(value_type = String)]
    pub real_name: SecretString,
    #[schema(value_type = String)]
    pub cred_id: SecretString,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatchView {
    /// True when the name and ID number are the ones of the user's latest successful match.
    pub matches: bool,
    /// When that match was made; null when the user has none.
    pub verified_at: Option<String>,
}

/// Compare a name and ID number with the user's verified identity, through the blind index. No WeChat call,
/// no new consent. Every call that passes validation is recorded in the audit trail (kind `identity_match`,
/// masked values, the result) and counts against `limits.match_per_openid_per_day` and the key's
/// `limits.per_key_per_second`.
#[utoipa::path(post, path = "/v1/identities/match", tag = "identities",
    request_body = MatchRequest,
    security(("api_key" = [])),
    responses(
        (status = 200, body = MatchView),
        (status = 400, body = crate::error::ErrorBody),
        (status = 403, description = "forbidden_app", body = crate::error::ErrorBody),
        (status = 422, description = "invalid_openid, personal_data_in_field, invalid_cred_id, invalid_real_name", body = crate::error::ErrorBody),
        (status = 429, description = "rate_limited (see Retry-After)", body = crate::error::ErrorBody),
        (status = 503, description = "dependency_unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn matches(
    State(st): State<AppState>,
    caller: Caller,
    bytes: Result<Bytes, BytesRejection>,
) -> Response {
    let key_id = caller.key_id.clone();
    let valid = body::bytes(bytes)
        .and_then(|b| body::parse::<MatchRequest>(&b))
        .and_then(|req| {
            let appid = caller.resolve_app(req.appid.as_deref())?;
            let openid = request::openid(&req.openid)?;
            let subject = request::subject(&req.real_name, &req.cred_id, st.today())?;
            Ok((appid, openid, subject))
        });
    let (appid, openid, subject) = match valid {
        Ok(valid) => valid,
        Err(e) => return e.into_response(),
    };
    let ended = compare(&st, &caller, &appid, &openid, &subject).await;
    answer::respond(ended, &key_id)
}

/// The rate limits, the comparison and its audit row.
async fn compare(
    st: &AppState,
    caller: &Caller,
    appid: &str,
    openid: &OpenId,
    subject: &request::Subject,
) -> Ended<MatchView> {
    let mut entry = NewAuditEntry {
        appid: appid.to_owned(),
        openid: openid.as_str().to_owned(),
        ..super::verify::record::subject_entry(
            st,
            &caller.key_id,
            subject,
            None,
            store::KIND_IDENTITY_MATCH,
        )
    };
    let limits = &st.cfg.limits;
    let limits = [
        policy::per_key(st, &caller.key_id),
        Limit {
            per: limits.match_per_openid_per_day,
            bucket: format!("match:{appid}:{openid}"),
            window: Window::Day,
            only_calls_made: false,
        },
    ];
    let answer = match policy::rate_limits(st, &limits).await {
        Ok(_) => match st.store.identity(appid, openid.as_str()).await {
            Err(e) => return Ended::Unrecorded(e.into()),
            Ok(None) => {
                entry.outcome = Some("no_identity".into());
                Ok(MatchView {
                    matches: false,
                    verified_at: None,
                })
            }
            Ok(Some(found)) => {
                // A row indexed under a key version whose key is no longer configured cannot be compared: no
                // match.
                let matches = st
                    .pii
                    .pair_index_for(found.key_version, &subject.name, &subject.cred)
                    .is_some_and(|pair| bool::from(pair.ct_eq(&found.blind_pair)));
                entry.outcome = Some(if matches { "match" } else { "mismatch" }.into());
                Ok(MatchView {
                    matches,
                    verified_at: Some(rfc3339(found.verified_at_ms)),
                })
            }
        },
        Err(Refusal::Recorded(e)) => {
            entry.error_code = Some(e.code().to_owned());
            Err(e)
        }
        Err(Refusal::Unrecorded(e)) => return Ended::Unrecorded(e),
    };
    let id = entry.id.clone();
    let result = entry
        .outcome
        .clone()
        .or_else(|| entry.error_code.clone())
        .unwrap_or_default();
    let ended = record::append(st, entry, answer, false, None).await;
    if let Ended::Recorded(_) = ended {
        metrics::counter!("wxrn_identity_matches_total", "result" => result.clone()).increment(1);
        tracing::info!(id = %id, appid = %appid, openid = %openid, result = %result, "identity match");
    }
    ended
}
