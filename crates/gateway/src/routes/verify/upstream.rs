//! The upstream step: reserve the user's one-time code, make the one WeChat call, and give the code back when
//! WeChat provably did not use it.
//!
//! From [`reserve`] on the code counts as spent: a timeout, a dropped connection or an unreadable answer may have
//! reached WeChat, and a resend could burn the code and turn the real answer into 80113. Two results release it
//! ([`releases_code`], [`release`]): [`wechat::Error::NotSent`] (the connection failed before anything was sent),
//! and WeChat's 80113 (the code is not this user's, or no longer valid: by our documented assumption, the
//! sandbox's behaviour, a code sent with another user's openid stays valid for its owner, who must not then be
//! refused as a replay).

use super::Refusal;
use super::request::ValidRequest;
use crate::error::ApiError;
use crate::state::AppState;
use std::time::Instant;
use store::NewAuditEntry;
use wechat::{CheckOutcome, CheckRequest, ErrCode, Permit};

/// Reserve the code atomically (durable before it returns); one already reserved is refused with 409
/// `code_already_used` (recorded).
pub(crate) async fn reserve(
    st: &AppState,
    appid: &str,
    code_hash: &[u8],
    at_ms: i64,
) -> Result<(), Refusal> {
    match st.store.reserve_code(code_hash, appid, at_ms).await {
        Err(e) => Err(Refusal::Unrecorded(e.into())),
        Ok(false) => Err(Refusal::Recorded(ApiError::CodeAlreadyUsed)),
        Ok(true) => Ok(()),
    }
}

/// The one WeChat check (plus at most one resend after a token error, inside [`wechat::RealnameApi::check_with`]).
/// What WeChat said goes into `entry` (outcome or error code, errcode, `verify_openid`, `verify_real_name`,
/// latency).
pub(crate) async fn call(
    st: &AppState,
    req: &ValidRequest,
    permit: Permit,
    entry: &mut NewAuditEntry,
) -> Result<CheckOutcome, ApiError> {
    let started = Instant::now();
    let result = st.apps[&req.appid]
        .check_with(
            permit,
            &CheckRequest {
                openid: &req.openid,
                real_name: &req.subject.name,
                cred_id: &req.subject.cred,
                code: &req.code,
            },
        )
        .await;
    entry.latency_ms = started.elapsed().as_millis() as i64;
    match result {
        Ok(r) => {
            entry.outcome = Some(r.outcome.as_str().to_owned());
            entry.errcode = Some(0);
            entry.verify_openid = r.verify_openid;
            entry.verify_real_name = r.verify_real_name;
            Ok(r.outcome)
        }
        Err(e) => {
            let err = api_error(&e);
            tracing::warn!(appid = %req.appid, openid = %req.openid, kind = e.kind(), errcode = ?e.errcode(), "WeChat check failed");
            entry.errcode = e.errcode();
            entry.error_code = Some(err.code().to_owned());
            Err(err)
        }
    }
}

/// Whether the call provably never left (the connection failed before anything was sent).
pub(crate) fn never_sent(result: &Result<CheckOutcome, ApiError>) -> bool {
    matches!(result, Err(ApiError::UpstreamNotReached))
}

/// Whether WeChat provably did not use the code, so that its reservation is released: the call never left, or
/// WeChat answered 80113 (the code is not this openid's: its owner may still use it; an expired or used code
/// gets 80113 again, at the cost of one call).
pub(crate) fn releases_code(result: &Result<CheckOutcome, ApiError>) -> bool {
    never_sent(result) || matches!(result, Err(ApiError::InvalidCode))
}

/// Give a code WeChat did not use back, so that a retry with it (the user's, or the code's owner's) is not
/// refused as a replay. The audit row stays (the attempt happened).
pub(crate) async fn release(st: &AppState, appid: &str, code_hash: &[u8]) {
    if let Err(e) = st.store.release_code(code_hash).await {
        tracing::error!(error = %e, appid = %appid, "could not release an unused code; it stays reserved");
    }
}

/// How a WeChat client error is answered.
pub(crate) fn api_error(e: &wechat::Error) -> ApiError {
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
