//! `GET /sns/jscode2session`: a `wx.login` code for the user's openid and a session key.
use super::token::query_credentials;
use super::{Params, WxError, answer, param};
use crate::data::Data;
use crate::server::ConnKill;
use crate::{Endpoint, SandboxConfig, SandboxState};
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::json;

pub(super) async fn jscode2session(
    State(state): State<SandboxState>,
    kill: Option<Extension<ConnKill>>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let process = Box::new(
        move |data: &mut Data, now: DateTime<Utc>, cfg: &SandboxConfig| {
            let appid = query_credentials(data, &q, "authorization_code")?;
            let js_code = param(&q, "js_code").ok_or(WxError::CODE_MISSING)?;
            if !data.take_quota(&appid, Endpoint::Jscode2session, &cfg.quotas, now) {
                return Err(WxError::DAILY_QUOTA);
            }
            // A code of another app is left alone: only its own app can spend it.
            let grant = data
                .js_codes
                .get(js_code)
                .filter(|g| g.appid == appid)
                .ok_or(WxError::INVALID_JS_CODE)?;
            let expired = now >= grant.expires_at;
            let grant = data.js_codes.remove(js_code).expect("looked up above");
            if expired {
                return Err(WxError::INVALID_JS_CODE);
            }
            data.stats.js_codes_consumed += 1;
            tracing::debug!(appid, openid = grant.openid, "js_code exchanged");
            let mut key = [0u8; 16];
            rand::rng().fill_bytes(&mut key);
            let session_key = base64::engine::general_purpose::STANDARD.encode(key);
            Ok(json!({"openid": grant.openid, "session_key": session_key}))
        },
    );
    answer(
        &state,
        Endpoint::Jscode2session,
        kill.map(|Extension(k)| k),
        process,
    )
    .await
}
