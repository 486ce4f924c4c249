//! The demo back end's JSON: what a business's own server does for its mini program.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /api/users` | the demo users (fictional), one per outcome, for the page's picker |
//! | `POST /api/validate` `{field, value}` | runs the `identity` crate on one field: the page's live validation, the same rules as the gateway's |
//! | `POST /api/start` `{openid, real_name, cred_id, guardian_consent}` | validates again, keeps the values here under a fresh `state`, answers the consent page's URL |
//! | `POST /api/verify` `{state, code}` | the user came back with a code: calls the gateway's `POST /v1/verifications` with the API key, which only this server holds |
//! | `POST /api/abandon` `{state}` | the user came back without one (declined, cancelled): forget the values |
//!
//! Errors are `{"error": {"code", "message", "user_message", "message_zh"?}}`, like the gateway's: `message` for
//! developers, `user_message` (Chinese; from `i18n::demo`) for the page to show. Nothing here logs a name or an ID number.
use super::pending::Pending;
use super::{Shared, return_url};
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use identity::{CredId, OpenId, RealName};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Instant;

pub(super) fn routes() -> Router<Shared> {
    use axum::routing::{get, post};
    Router::new()
        .route("/api/users", get(users))
        .route("/api/validate", post(validate))
        .route("/api/start", post(start))
        .route("/api/verify", post(verify))
        .route("/api/abandon", post(abandon))
}

pub(super) fn error(status: StatusCode, code: &str, text: i18n::api::ErrorText) -> Response {
    (status, Json(json!({"error": envelope(code, text)}))).into_response()
}

pub(super) fn envelope(code: &str, text: i18n::api::ErrorText) -> Value {
    json!({"code": code, "message": text.message.en, "user_message": text.user_message.zh})
}

pub(super) fn bad_json(_: JsonRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        i18n::demo::BAD_JSON,
    )
}

async fn users(State(s): State<Shared>) -> Json<Value> {
    let users: Vec<Value> = sandbox::demo::USERS
        .iter()
        .map(|u| {
            json!({
                "openid": u.openid,
                "real_name": u.submit_name,
                "cred_id": u.submit_cred_id,
                "outcome": u.outcome,
                "note": u.note,
            })
        })
        .collect();
    let admin_url = format!("{}/admin", s.settings.gateway_url.trim_end_matches('/'));
    Json(json!({"appid": s.settings.appid, "users": users, "admin_url": admin_url}))
}

/// One field's verdict, as the page shows it: valid, or the identity crate's code and messages.
pub(super) fn field_verdict(field: &str, value: &str) -> Option<Value> {
    let today = identity::today_in_china();
    let (code, reason, en, zh) = match field {
        "real_name" => match RealName::parse(value) {
            Ok(_) => return Some(json!({"field": field, "valid": true})),
            Err(e) => ("invalid_real_name", e.code(), e.to_string(), e.message_zh()),
        },
        "cred_id" => match CredId::parse_on(value, today) {
            Ok(id) => {
                return Some(
                    json!({"field": field, "valid": true, "minor": id.is_minor_on(today)}),
                );
            }
            Err(e) => ("invalid_cred_id", e.code(), e.to_string(), e.message_zh()),
        },
        _ => return None,
    };
    Some(json!({
        "field": field,
        "valid": false,
        "error": {"code": code, "reason": reason, "message": en, "message_zh": zh},
    }))
}

/// Personal data: no `Debug`.
#[derive(Deserialize)]
struct FieldBody {
    field: String,
    value: String,
}

async fn validate(body: Result<Json<FieldBody>, JsonRejection>) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    match field_verdict(&b.field, &b.value) {
        Some(v) => Json(v).into_response(),
        None => error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            i18n::demo::UNKNOWN_FIELD,
        ),
    }
}

/// The name and the ID number by the live validation's rules, or the bad fields' verdicts.
pub(super) fn parse_pair(
    real_name: &str,
    cred_id: &str,
) -> Result<(RealName, CredId), InvalidFields> {
    let name = RealName::parse(real_name);
    let cred = CredId::parse_on(cred_id, identity::today_in_china());
    match (name, cred) {
        (Ok(n), Ok(c)) => Ok((n, c)),
        _ => Err(InvalidFields(
            [("real_name", real_name), ("cred_id", cred_id)]
                .into_iter()
                .filter_map(|(f, v)| field_verdict(f, v))
                .filter(|v| v["valid"] == false)
                .collect(),
        )),
    }
}

/// 422 `invalid_fields`, with each bad field's verdict: the page marks them as it does while typing.
pub(super) struct InvalidFields(Vec<Value>);

impl IntoResponse for InvalidFields {
    fn into_response(self) -> Response {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": envelope("invalid_fields", i18n::demo::INVALID_FIELDS),
                "fields": self.0,
            })),
        )
            .into_response()
    }
}

/// Personal data: no `Debug`.
#[derive(Deserialize)]
struct StartBody {
    openid: String,
    real_name: String,
    cred_id: String,
    #[serde(default)]
    guardian_consent: bool,
}

async fn start(State(s): State<Shared>, body: Result<Json<StartBody>, JsonRejection>) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    let Ok(openid) = OpenId::parse(&b.openid) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_openid",
            i18n::demo::NO_USER,
        );
    };
    // The same check as the live one: a bad value never reaches the consent page, let alone the gateway.
    let (name, cred) = match parse_pair(&b.real_name, &b.cred_id) {
        Ok(pair) => pair,
        Err(refused) => return refused.into_response(),
    };
    let pending = Pending {
        openid,
        name,
        cred,
        guardian_consent: b.guardian_consent,
    };
    let openid = pending.openid.as_str().to_owned();
    let Some(state) = s.pending.insert(pending, Instant::now()) else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "busy", i18n::demo::BUSY);
    };
    let consent_url = sandbox_consent_url(&s, &openid, &state);
    Json(json!({"consent_url": consent_url, "state": state})).into_response()
}

/// What `wx.navigateToMiniProgram` would open: WeChat's consent page, played by the sandbox.
fn sandbox_consent_url(s: &Shared, openid: &str, state: &str) -> String {
    let q = |v: &str| -> String {
        v.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    format!(
        "{}/consent?appid={}&openid={}&return_url={}&state={}",
        s.settings.sandbox_url.trim_end_matches('/'),
        q(&s.settings.appid),
        q(openid),
        q(&return_url(&s.base_url)),
        q(state),
    )
}

#[derive(Deserialize)]
struct VerifyBody {
    state: String,
    code: String,
}

async fn verify(
    State(s): State<Shared>,
    body: Result<Json<VerifyBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    let Some(p) = s.pending.take(&b.state, Instant::now()) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_state",
            i18n::demo::UNKNOWN_STATE,
        );
    };
    let request = json!({
        "appid": s.settings.appid,
        "openid": p.openid.as_str(),
        "real_name": p.name.expose(),
        "cred_id": p.cred.expose(),
        "cred_type": "1",
        "code": b.code,
        "purpose": "wxrealname demo: verify before using city services",
        "guardian_consent": p.guardian_consent,
    });
    forward(&s, "/v1/verifications", request, "demo verification").await
}

/// Send `request` to the gateway with the API key and hand its answer to the page as
/// `{"ok", "status", "body"}`: the gateway's answers hold masked values only, so the page shows them as they are.
/// `what` names the call in the log line (never a name or an ID number).
pub(super) async fn forward(s: &Shared, path: &str, request: Value, what: &str) -> Response {
    let sent = s
        .http
        .post(format!(
            "{}{path}",
            s.settings.gateway_url.trim_end_matches('/')
        ))
        .bearer_auth(s.settings.api_key.expose_secret())
        .json(&request)
        .send()
        .await;
    drop(request);
    let resp = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "demo: the gateway did not answer");
            return error(
                StatusCode::BAD_GATEWAY,
                "gateway_unreachable",
                i18n::demo::GATEWAY_UNREACHABLE,
            );
        }
    };
    let status = resp.status();
    let body: Value = match resp.json().await {
        Ok(v) => v,
        Err(_) => {
            return error(
                StatusCode::BAD_GATEWAY,
                "gateway_unreachable",
                i18n::demo::GATEWAY_UNREADABLE,
            );
        }
    };
    let result = body["outcome"]
        .as_str()
        .or(body["error"]["code"].as_str())
        .unwrap_or("unknown");
    tracing::info!(status = status.as_u16(), result, "{what}");
    Json(json!({"ok": status.is_success(), "status": status.as_u16(), "body": body}))
        .into_response()
}

#[derive(Deserialize)]
struct AbandonBody {
    state: String,
}

async fn abandon(
    State(s): State<Shared>,
    body: Result<Json<AbandonBody>, JsonRejection>,
) -> Response {
    let Json(b) = match body {
        Ok(b) => b,
        Err(e) => return bad_json(e),
    };
    let forgotten = s.pending.take(&b.state, Instant::now()).is_some();
    Json(json!({"forgotten": forgotten})).into_response()
}
