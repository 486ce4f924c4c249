//! `GET /cgi-bin/token` and `POST /cgi-bin/stable_token`, and the access-token check of the other endpoints.
//!
//! Classic: every fetch issues a new token and puts the previous one on a grace period. Stable: one token per
//! app, shared by every caller, renewed only within `stable_refresh_window` of its expiry (the old one then
//! lives out its own lifetime) or by `force_refresh`. Assumption (undocumented by WeChat): a force refresh
//! invalidates the previous stable token at once, with no grace. The two kinds are independent.
use super::{Params, WxError, answer, param};
use crate::clock::{after, secs_left, shanghai_day};
use crate::data::{App, Data, TokenKind, TokenRec, random_hex};
use crate::server::ConnKill;
use crate::{Endpoint, SandboxConfig, SandboxState};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::json;

pub(super) async fn classic(
    State(state): State<SandboxState>,
    kill: Option<Extension<ConnKill>>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let process = Box::new(
        move |data: &mut Data, now: DateTime<Utc>, cfg: &SandboxConfig| {
            let appid = query_credentials(data, &q, "client_credential")?;
            if !data.take_quota(&appid, Endpoint::Token, &cfg.quotas, now) {
                return Err(WxError::DAILY_QUOTA);
            }
            let token = issue(data, &appid, TokenKind::Classic, now, cfg);
            let app = data
                .apps
                .get_mut(&appid)
                .expect("credentials checked the app");
            if let Some(previous) = app.classic_current.replace(token.clone())
                && let Some(rec) = data.tokens.get_mut(&previous)
            {
                let end_of_grace = after(now, cfg.token_grace);
                rec.invalid_from = Some(
                    rec.invalid_from
                        .map_or(end_of_grace, |t| t.min(end_of_grace)),
                );
            }
            data.stats.tokens_issued.token += 1;
            Ok(json!({"access_token": token, "expires_in": cfg.token_ttl.as_secs()}))
        },
    );
    answer(&state, Endpoint::Token, kill.map(|Extension(k)| k), process).await
}

pub(super) async fn stable(
    State(state): State<SandboxState>,
    kill: Option<Extension<ConnKill>>,
    body: Bytes,
) -> Response {
    let process = Box::new(
        move |data: &mut Data, now: DateTime<Utc>, cfg: &SandboxConfig| {
            let req = StableRequest::parse(&body)?;
            let appid = credentials(
                data,
                non_empty(&req.grant_type),
                "client_credential",
                non_empty(&req.appid),
                non_empty(&req.secret),
            )?
            .to_owned();
            if !data.take_quota(&appid, Endpoint::StableToken, &cfg.quotas, now) {
                return Err(WxError::DAILY_QUOTA);
            }
            let app = data
                .apps
                .get_mut(&appid)
                .expect("credentials checked the app");
            if req.force_refresh.unwrap_or(false) {
                allow_force_refresh(app, now, cfg)?;
                if let Some(rec) = app
                    .stable_current
                    .take()
                    .and_then(|t| data.tokens.get_mut(&t))
                {
                    rec.invalid_from = Some(rec.invalid_from.map_or(now, |t| t.min(now)));
                }
            } else if let Some((token, rec)) = app
                .stable_current
                .as_ref()
                .and_then(|t| data.tokens.get(t).map(|r| (t, r)))
                && rec.is_valid(now)
                && after(now, cfg.stable_refresh_window) < rec.expires_at
            {
                return Ok(
                    json!({"access_token": token, "expires_in": secs_left(now, rec.expires_at)}),
                );
            }
            let token = issue(data, &appid, TokenKind::Stable, now, cfg);
            data.apps
                .get_mut(&appid)
                .expect("checked above")
                .stable_current = Some(token.clone());
            data.stats.tokens_issued.stable_token += 1;
            Ok(json!({"access_token": token, "expires_in": cfg.token_ttl.as_secs()}))
        },
    );
    answer(
        &state,
        Endpoint::StableToken,
        kill.map(|Extension(k)| k),
        process,
    )
    .await
}

#[derive(serde::Deserialize)]
struct StableRequest {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    force_refresh: Option<bool>,
}

impl StableRequest {
    fn parse(body: &[u8]) -> Result<Self, WxError> {
        serde_json::from_slice(body).map_err(|_| WxError::DATA_FORMAT)
    }
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// [`credentials`] as the GET endpoints take them, in the query string.
pub(super) fn query_credentials(
    data: &Data,
    q: &Params,
    expected_grant: &str,
) -> Result<String, WxError> {
    let appid = credentials(
        data,
        param(q, "grant_type"),
        expected_grant,
        param(q, "appid"),
        param(q, "secret"),
    )?;
    Ok(appid.to_owned())
}

/// The app's id, once grant type, appid and secret are right.
fn credentials<'d>(
    data: &'d Data,
    grant_type: Option<&str>,
    expected_grant: &str,
    appid: Option<&str>,
    secret: Option<&str>,
) -> Result<&'d str, WxError> {
    if grant_type != Some(expected_grant) {
        return Err(WxError::INVALID_GRANT_TYPE);
    }
    let appid = appid.ok_or(WxError::APPID_MISSING)?;
    let secret = secret.ok_or(WxError::SECRET_MISSING)?;
    let (appid, app) = data
        .apps
        .get_key_value(appid)
        .ok_or(WxError::INVALID_APPID)?;
    if app.secret != secret {
        return Err(WxError::INVALID_SECRET);
    }
    Ok(appid)
}

fn allow_force_refresh(
    app: &mut App,
    now: DateTime<Utc>,
    cfg: &SandboxConfig,
) -> Result<(), WxError> {
    let fr = &mut app.force_refresh;
    let today = shanghai_day(now);
    if fr.day != Some(today) {
        fr.day = Some(today);
        fr.count = 0;
    }
    let too_soon = fr
        .last
        .is_some_and(|last| now < after(last, cfg.force_refresh_interval));
    if too_soon || fr.count >= cfg.force_refresh_per_day {
        return Err(WxError::TOO_FREQUENT);
    }
    fr.count += 1;
    fr.last = Some(now);
    Ok(())
}

fn issue(
    data: &mut Data,
    appid: &str,
    kind: TokenKind,
    now: DateTime<Utc>,
    cfg: &SandboxConfig,
) -> String {
    // 128 characters: within WeChat's advice to reserve 512, long enough to look like the real thing.
    let token = random_hex(64);
    let rec = TokenRec {
        appid: appid.to_owned(),
        kind,
        expires_at: after(now, cfg.token_ttl),
        invalid_from: None,
    };
    data.tokens.insert(token.clone(), rec);
    token
}

/// The app an `access_token` query parameter belongs to: 41001 missing, 40001 unknown, replaced or revoked,
/// 42001 expired.
pub(super) fn authenticate(data: &Data, q: &Params, now: DateTime<Utc>) -> Result<String, WxError> {
    let token = param(q, "access_token").ok_or(WxError::TOKEN_MISSING)?;
    let rec = data.tokens.get(token).ok_or(WxError::INVALID_CREDENTIAL)?;
    if now >= rec.expires_at {
        return Err(WxError::TOKEN_EXPIRED);
    }
    if rec.invalid_from.is_some_and(|t| now >= t) {
        return Err(WxError::INVALID_CREDENTIAL);
    }
    Ok(rec.appid.clone())
}
