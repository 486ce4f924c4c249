//! The admin API under `/sandbox/`: what tests and demos drive. JSON in and out; errors are
//! `{"error": {"code", "message"}}` with a 4xx status:
//!
//! | code | status | when |
//! | --- | --- | --- |
//! | `invalid_request` | 400 | the body is not JSON of the expected shape, or a value is out of range |
//! | `unknown_app` | 404 | no app with that appid |
//! | `unknown_user` | 404 | the app has no user with that openid |
//! | `not_found` | 404 | no such endpoint |
//!
//! The paid providers' part: `POST /sandbox/providers/tencent {"secret_id", "secret_key"}`,
//! `POST /sandbox/providers/aliyun {"access_key_id", "access_key_secret"}` register credentials;
//! `POST /sandbox/people {"name", "cred_id"}` puts a person in the authoritative record (answers the masked
//! forms only).
use crate::{Fault, SandboxError, SandboxState};
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::SecondsFormat;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new()
        .route(
            "/sandbox/health",
            get(|| async { Json(json!({"status": "ok"})) }),
        )
        .route("/sandbox/apps", get(list_apps).post(put_app))
        .route("/sandbox/apps/{appid}/tokens", get(token_status))
        .route("/sandbox/users", post(put_user))
        .route("/sandbox/providers/tencent", post(put_tencent))
        .route("/sandbox/providers/aliyun", post(put_aliyun))
        .route("/sandbox/people", post(put_person))
        .route("/sandbox/consent", post(consent))
        .route("/sandbox/consent/bulk", post(consent_bulk))
        .route("/sandbox/login", post(login))
        .route("/sandbox/tokens/revoke", post(revoke))
        .route(
            "/sandbox/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/sandbox/stats", get(stats))
        .route("/sandbox/reset", post(reset))
        .route("/sandbox/clock", get(clock).post(advance_clock))
}

/// The admin error envelope.
#[derive(Debug)]
pub(crate) struct AdminError(SandboxError);

impl From<SandboxError> for AdminError {
    fn from(e: SandboxError) -> Self {
        Self(e)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            SandboxError::UnknownApp(_) | SandboxError::UnknownUser { .. } => StatusCode::NOT_FOUND,
            SandboxError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        };
        error_response(status, self.0.code(), &self.0.to_string())
    }
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

pub(crate) async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

type AdminResult = Result<Json<Value>, AdminError>;

/// A JSON body, with or without a `Content-Type` (so a bare `curl -d` works), rejected in the envelope.
pub(crate) struct AdminJson<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| SandboxError::InvalidRequest("the body could not be read".into()))?;
        serde_json::from_slice(&bytes)
            .map(AdminJson)
            .map_err(|e| SandboxError::InvalidRequest(describe(&e)).into())
    }
}

/// serde's message, unless it could quote the input (which may be a name or an ID number).
fn describe(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let safe = ["missing field", "unknown field", "unknown variant"]
        .iter()
        .any(|p| msg.starts_with(p));
    if safe {
        msg
    } else {
        format!(
            "the body is not JSON of the expected shape ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    }
}

#[derive(Deserialize)]
struct AppBody {
    appid: String,
    secret: String,
    #[serde(default)]
    realname_permission: bool,
}

async fn put_app(State(s): State<SandboxState>, AdminJson(b): AdminJson<AppBody>) -> AdminResult {
    s.add_app(&b.appid, &b.secret, b.realname_permission)?;
    Ok(Json(
        json!({"appid": b.appid, "realname_permission": b.realname_permission}),
    ))
}

async fn list_apps(State(s): State<SandboxState>) -> Json<Value> {
    Json(json!({"apps": s.apps()}))
}

async fn token_status(State(s): State<SandboxState>, Path(appid): Path<String>) -> AdminResult {
    Ok(Json(
        serde_json::to_value(s.token_status(&appid)?).expect("plain data serialises"),
    ))
}

/// Holds (fictional) personal data: no `Debug`.
#[derive(Deserialize)]
struct UserBody {
    appid: String,
    openid: String,
    real_name: Option<String>,
    cred_id: Option<String>,
}

async fn put_user(State(s): State<SandboxState>, AdminJson(b): AdminJson<UserBody>) -> AdminResult {
    s.add_user(
        &b.appid,
        &b.openid,
        b.real_name.as_deref(),
        b.cred_id.as_deref(),
    )?;
    Ok(Json(
        json!({"appid": b.appid, "openid": b.openid, "verified": b.real_name.is_some()}),
    ))
}

/// Holds a secret: no `Debug`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TencentBody {
    secret_id: String,
    secret_key: String,
}

async fn put_tencent(
    State(s): State<SandboxState>,
    AdminJson(b): AdminJson<TencentBody>,
) -> AdminResult {
    s.add_tencent_credentials(&b.secret_id, &b.secret_key)?;
    Ok(Json(
        json!({"provider": "tencent", "secret_id": b.secret_id}),
    ))
}

/// Holds a secret: no `Debug`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliyunBody {
    access_key_id: String,
    access_key_secret: String,
}

async fn put_aliyun(
    State(s): State<SandboxState>,
    AdminJson(b): AdminJson<AliyunBody>,
) -> AdminResult {
    s.add_aliyun_credentials(&b.access_key_id, &b.access_key_secret)?;
    Ok(Json(
        json!({"provider": "aliyun", "access_key_id": b.access_key_id}),
    ))
}

/// Holds (fictional) personal data: no `Debug`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonBody {
    name: String,
    cred_id: String,
}

async fn put_person(
    State(s): State<SandboxState>,
    AdminJson(b): AdminJson<PersonBody>,
) -> AdminResult {
    let (masked_name, masked_cred_id) = s.add_person(&b.name, &b.cred_id)?;
    Ok(Json(
        json!({"masked_name": masked_name, "masked_cred_id": masked_cred_id}),
    ))
}

#[derive(Deserialize)]
struct UserRef {
    appid: String,
    openid: String,
}

async fn consent(State(s): State<SandboxState>, AdminJson(b): AdminJson<UserRef>) -> AdminResult {
    let code = s.consent(&b.appid, &b.openid)?;
    Ok(Json(
        json!({"code": code, "expires_in": s.config().code_ttl.as_secs()}),
    ))
}

#[derive(Deserialize)]
struct BulkBody {
    appid: String,
    openids: Vec<String>,
}

async fn consent_bulk(
    State(s): State<SandboxState>,
    AdminJson(b): AdminJson<BulkBody>,
) -> AdminResult {
    let codes = s.consent_bulk(&b.appid, &b.openids)?;
    Ok(Json(
        json!({"codes": codes, "expires_in": s.config().code_ttl.as_secs()}),
    ))
}

async fn login(State(s): State<SandboxState>, AdminJson(b): AdminJson<UserRef>) -> AdminResult {
    let js_code = s.login(&b.appid, &b.openid)?;
    Ok(Json(
        json!({"js_code": js_code, "expires_in": s.config().js_code_ttl.as_secs()}),
    ))
}

#[derive(Deserialize)]
struct AppRef {
    appid: String,
}

async fn revoke(State(s): State<SandboxState>, AdminJson(b): AdminJson<AppRef>) -> AdminResult {
    Ok(Json(json!({"revoked": s.revoke_tokens(&b.appid)?})))
}

async fn add_fault(State(s): State<SandboxState>, AdminJson(f): AdminJson<Fault>) -> AdminResult {
    let endpoint = f.endpoint;
    s.add_fault(f)?;
    let queued: u64 = s
        .pending_faults()
        .iter()
        .filter(|f| f.endpoint == endpoint)
        .map(|f| u64::from(f.times))
        .sum();
    Ok(Json(json!({"endpoint": endpoint, "queued": queued})))
}

async fn list_faults(State(s): State<SandboxState>) -> Json<Value> {
    Json(json!({"faults": s.pending_faults()}))
}

async fn clear_faults(State(s): State<SandboxState>) -> Json<Value> {
    Json(json!({"cleared": s.clear_faults()}))
}

async fn stats(State(s): State<SandboxState>) -> Json<Value> {
    Json(serde_json::to_value(s.stats()).expect("plain data serialises"))
}

async fn reset(State(s): State<SandboxState>) -> Json<Value> {
    s.reset();
    Json(json!({"status": "reset"}))
}

#[derive(Deserialize)]
struct ClockBody {
    advance_secs: u64,
}

/// A hundred years: far enough for any test, near enough that dates stay representable.
const MAX_ADVANCE_SECS: u64 = 100 * 366 * 24 * 3600;

async fn advance_clock(
    State(s): State<SandboxState>,
    AdminJson(b): AdminJson<ClockBody>,
) -> AdminResult {
    if b.advance_secs > MAX_ADVANCE_SECS {
        return Err(SandboxError::InvalidRequest(format!(
            "advance_secs must be at most {MAX_ADVANCE_SECS}"
        ))
        .into());
    }
    s.advance(Duration::from_secs(b.advance_secs));
    Ok(clock(State(s)).await)
}

async fn clock(State(s): State<SandboxState>) -> Json<Value> {
    Json(json!({
        "now": s.now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "offset_secs": s.clock_offset().as_secs(),
    }))
}
