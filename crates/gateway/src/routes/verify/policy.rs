//! The policy step: everything that may refuse a valid request before WeChat is called. Nothing here sends
//! anything to WeChat or spends the user's code.
//!
//! In the order the pipeline asks ([`super::attempt`]): [`refusal`] (the refusals no retry can pass), [`admit`]
//! (the circuit breaker), [`rate_limits`], [`token`] (an access token can be had). The rate limits come after the
//! breaker, so that an outage does not use up the user's allowance, and before the token, so that a caller over
//! its limit costs no token fetch; the user's daily count is given back when the call then does not happen
//! ([`Counted::give_back`]).

use super::Refusal;
use super::request::ValidRequest;
use crate::error::ApiError;
use crate::state::AppState;
use limits::{Decision, Window};
use std::time::SystemTime;
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
    /// Count only calls that reach the upstream: the count is given back ([`Counted::give_back`]) when the call
    /// does not happen. Otherwise every attempt that gets this far counts.
    pub only_calls_made: bool,
}

/// `limits.per_key_per_second` for an API key: one bucket per key for every route that checks a person
/// (verifications, idchecks, identity matches), counting every attempt that reaches it.
pub(crate) fn per_key(st: &AppState, key_id: &str) -> Limit {
    Limit {
        per: st.cfg.limits.per_key_per_second,
        bucket: format!("key:{key_id}"),
        window: Window::Second,
        only_calls_made: false,
    }
}

/// A verification's limits: `limits.per_key_per_second` for the API key (every attempt from here on counts),
/// `limits.per_openid_per_day` for the user (only calls that reach WeChat count: an outage must not use up the
/// user's day).
pub(crate) fn verification_limits(st: &AppState, req: &ValidRequest) -> [Limit; 2] {
    let limits = &st.cfg.limits;
    [
        per_key(st, &req.caller.key_id),
        Limit {
            per: limits.per_openid_per_day,
            bucket: format!("openid:{}:{}", req.appid, req.openid),
            window: Window::Day,
            only_calls_made: true,
        },
    ]
}

/// What [`rate_limits`] counted against limits that count only calls made: to give back if the call does not
/// happen. Counting first and giving back after (rather than counting after the call) keeps two concurrent
/// attempts from passing a limit together.
pub(crate) struct Counted {
    buckets: Vec<(String, Window)>,
    at: SystemTime,
}

impl Counted {
    /// The call did not happen (refused after the rate limits, or the connection failed before anything was
    /// sent): give back its counts. A limiter that cannot be reached keeps them (the user loses one call, nothing
    /// more).
    pub(crate) async fn give_back(self, st: &AppState) {
        for (bucket, window) in &self.buckets {
            if let Err(e) = st.limiter.give_back(bucket, *window, self.at).await {
                tracing::warn!(error = %e, "could not give back a rate-limit count");
            }
        }
    }
}

/// Count this request against each limit in turn; the first one passed refuses it (429 `rate_limited` with
/// `Retry-After`, recorded) and gives back what was counted. A limiter that cannot be reached refuses it too
/// (503, not recorded).
pub(crate) async fn rate_limits(st: &AppState, limits: &[Limit]) -> Result<Counted, Refusal> {
    let now = st.clock.now();
    let mut counted = Counted {
        buckets: Vec::new(),
        at: now,
    };
    for limit in limits.iter().filter(|l| l.per > 0) {
        let refusal = match st
            .limiter
            .hit(&limit.bucket, limit.per, limit.window, now)
            .await
        {
            Ok(Decision::Allowed) => {
                if limit.only_calls_made {
                    counted.buckets.push((limit.bucket.clone(), limit.window));
                }
                continue;
            }
            Ok(Decision::Denied { retry_after_secs }) => {
                Refusal::Recorded(ApiError::RateLimited { retry_after_secs })
            }
            Err(e) => {
                tracing::error!(error = %e, "rate limiter");
                Refusal::Unrecorded(ApiError::DependencyUnavailable)
            }
        };
        counted.give_back(st).await;
        return Err(refusal);
    }
    Ok(counted)
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
