//! `POST /intp/realname/checkrealnameinfo`: the real-name check itself.
//!
//! Checks run in this order, and the first failure answers: access token (41001, 40001, 42001), daily quota
//! (45009), the app's permission (48001), the body's shape (47001), `cred_type` (40097), the openid (40003),
//! the code (80113). A code is consumed only when it exists, is unexpired and was issued to this app and this
//! openid; a code of another user or app is left for its owner. So a call rejected before the code check
//! leaves the code usable.
use super::token::authenticate;
use super::{Params, WxError, answer};
use crate::data::{Data, Record};
use crate::server::ConnKill;
use crate::{Endpoint, SandboxConfig, SandboxState};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(super) async fn checkrealnameinfo(
    State(state): State<SandboxState>,
    kill: Option<Extension<ConnKill>>,
    query: Result<Query<Params>, QueryRejection>,
    body: Bytes,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let process = Box::new(
        move |data: &mut Data, now: DateTime<Utc>, cfg: &SandboxConfig| {
            let appid = authenticate(data, &q, now)?;
            if !data.take_quota(&appid, Endpoint::Checkrealnameinfo, &cfg.quotas, now) {
                return Err(WxError::DAILY_QUOTA);
            }
            let app = data.apps.get(&appid).ok_or(WxError::INVALID_CREDENTIAL)?;
            if !app.realname_permission {
                return Err(WxError::UNAUTHORIZED);
            }
            let req = CheckRequest::parse(&body)?;
            let result = {
                let user = app.users.get(&req.openid).ok_or_else(|| {
                    tracing::debug!(appid, openid = req.openid, "unknown openid");
                    WxError::INVALID_OPENID
                })?;
                verdict(user.record.as_ref(), &req)
            };
            spend_code(data, &appid, &req.openid, &req.code, now)?;
            let most_specific = if result.1.is_empty() {
                result.0
            } else {
                result.1
            };
            *data
                .stats
                .outcomes
                .entry(most_specific.to_owned())
                .or_default() += 1;
            tracing::debug!(
                appid,
                openid = req.openid,
                result = most_specific,
                "real-name check answered"
            );
            Ok(
                json!({"errcode": 0, "errmsg": "ok", "verify_openid": result.0, "verify_real_name": result.1}),
            )
        },
    );
    answer(
        &state,
        Endpoint::Checkrealnameinfo,
        kill.map(|Extension(k)| k),
        process,
    )
    .await
}

/// The request body. Holds personal data: no `Debug`, never logged.
struct CheckRequest {
    openid: String,
    real_name: String,
    cred_id: String,
    code: String,
}

impl CheckRequest {
    fn parse(body: &[u8]) -> Result<Self, WxError> {
        let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(body) else {
            return Err(WxError::DATA_FORMAT);
        };
        let mut take = |field: &str| match obj.remove(field) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(WxError::DATA_FORMAT),
        };
        let req = Self {
            openid: take("openid")?,
            real_name: take("real_name")?,
            cred_id: take("cred_id")?,
            code: take("code")?,
        };
        // WeChat documents a string; the official PHP sample sends the integer. Both mean the resident ID card.
        match obj.get("cred_type") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "1" => {}
            Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
            Some(_) => return Err(WxError::INVALID_ARGS),
        }
        Ok(req)
    }
}

/// `(verify_openid, verify_real_name)` as the spec's table has them.
fn verdict(record: Option<&Record>, req: &CheckRequest) -> (&'static str, &'static str) {
    match record {
        None => ("V_OP_NA", ""),
        Some(r) if r.real_name != req.real_name => ("V_OP_NM_UM", ""),
        Some(r) if same_cred_id(&r.cred_id, &req.cred_id) => ("V_OP_NM_MA", "V_NM_ID_MA"),
        Some(_) => ("V_OP_NM_MA", "V_NM_ID_UM"),
    }
}

/// Equal, except that a final check character `x` equals `X`.
fn same_cred_id(a: &str, b: &str) -> bool {
    let upper_x = |s: &str| match s.strip_suffix('x') {
        Some(head) => format!("{head}X"),
        None => s.to_owned(),
    };
    upper_x(a) == upper_x(b)
}

fn spend_code(
    data: &mut Data,
    appid: &str,
    openid: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(), WxError> {
    let owned = data
        .codes
        .get(code)
        .is_some_and(|g| g.appid == appid && g.openid == openid);
    if !owned {
        tracing::debug!(
            appid,
            openid,
            "code unknown, used or issued to someone else"
        );
        return Err(WxError::INVALID_CODE);
    }
    let grant = data.codes.remove(code).expect("looked up above");
    if now >= grant.expires_at {
        tracing::debug!(appid, openid, "code expired");
        return Err(WxError::INVALID_CODE);
    }
    data.stats.codes_consumed += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::same_cred_id;

    #[test]
    fn only_the_final_x_is_case_insensitive() {
        assert!(same_cred_id("11010119881108007X", "11010119881108007x"));
        assert!(same_cred_id("11010119881108007x", "11010119881108007X"));
        assert!(!same_cred_id("110101199003070038", "110101199003070039"));
        assert!(!same_cred_id("x10101199003070038", "X10101199003070038"));
    }
}
