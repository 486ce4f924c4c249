//! The policy step: everything that may refuse a valid request before WeChat is called. Nothing here sends
//! anything to WeChat or spends the user's code.
//!
//! In the order the pipeline asks ([`super::attempt`]): [`refusal`] (the refusals no retry can pass), [`admit`]
//! (the circuit breaker), [`rate_limits`], [`token`] (an access token can be had). The rate limits come after the
//! breaker, so that an outage does not use up the user's allowance, and before the token, so that a caller over
//! its limit costs no token fetch.

use super::Refusal;
use super::request::ValidRequest;
use crate::error::ApiError;
use crate::state::AppState;
use limits::{Decision, Window};
use wechat::Permit;

/// Guardian consent for a minor (when `policy.require_guardian_consent` is on), then the replay guard: a code
/// already reserved is refused (409) without reserving anything. Both are recorded in the audit trail.
pub(crate) async fn refusal(
    st: &AppState,
    req: &ValidRequest,
    code_hash: &[u8],
) -> Result<(), Refusal> {
    if req.subject.minor && st.cfg.policy.require_guardian_consent && !req.guardian_consent {
        return Err(Refusal::Recorded(ApiError::GuardianConsentRequired));
    }
    if st
        .store
        .code_seen(code_hash)
        .await
        .map_err(|e| Refusal::Unrecorded(e.into()))?
    {
        return Err(Refusal::Recorded(ApiError::CodeAlreadyUsed));
    }
    Ok(())
}

/// The app's circuit breaker: while WeChat is failing, refuse before anything is spent, neither the code nor the
/// user's rate-limit allowance (503 with `Retry-After`, not recorded). The permit is this request's leave to
/// call WeChat (in half-open, the one probe); dropped unused, it is given back.
pub(crate) fn admit(st: &AppState, appid: &str) -> Result<Permit, Refusal> {
    st.apps[appid].admit().map_err(|e| {
        tracing::warn!(appid = %appid, kind = e.kind(), "WeChat call refused by the circuit breaker");
        Refusal::Unrecorded(super::upstream::api_error(&e))
    })
}

/// One rate limit: at most `per` calls per `window` in `bucket`; 0 turns it off.
pub(crate) struct Limit {
    pub per: u32,
    pub bucket: String,
    pub window: Window,
}

/// A verification's limits: `limits.per_key_per_second` for the API key, `limits.per_openid_per_day` for the user.
pub(crate) fn verification_limits(st: &AppState, req: &ValidRequest) -> [Limit; 2] {
    let limits = &st.cfg.limits;
    [
        Limit {
            per: limits.per_key_per_second,
            bucket: format!("key:{}", req.caller.key_id),
            window: Window::Second,
        },
        Limit {
            per: limits.per_openid_per_day,
            bucket: format!("openid:{}:{}", req.appid, req.openid),
            window: Window::Day,
        },
    ]
}

/// Count this request against each limit in turn; the first one passed refuses it (429 `rate_limited` with
/// `Retry-After`, recorded). A limiter that cannot be reached refuses it too (503, not recorded).
pub(crate) async fn rate_limits(st: &AppState, limits: &[Limit]) -> Result<(), Refusal> {
    let now = st.clock.now();
    for limit in limits.iter().filter(|l| l.per > 0) {
        match st
            .limiter
            .hit(&limit.bucket, limit.per, limit.window, now)
            .await
        {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Denied { retry_after_secs }) => {
                return Err(Refusal::Recorded(ApiError::RateLimited {
                    retry_after_secs,
                }));
            }
            Err(e) => {
                tracing::error!(error = %e, "rate limiter");
                return Err(Refusal::Unrecorded(ApiError::DependencyUnavailable));
            }
        }
    }
    Ok(())
}

/// Make sure a token can be had before the code is spent: if WeChat's token endpoint or the shared token store is
/// down, the caller gets a 503 (not recorded) and the user's code stays good for a retry.
pub(crate) async fn token(st: &AppState, appid: &str) -> Result<(), Refusal> {
    if let Err(e) = st.apps[appid].tokens().token().await {
        tracing::warn!(appid = %appid, kind = e.kind(), errcode = ?e.errcode(), "no access token");
        return Err(Refusal::Unrecorded(match e {
            wechat::Error::Store(_) => ApiError::DependencyUnavailable,
            _ => ApiError::UpstreamNoToken,
        }));
    }
    Ok(())
}
