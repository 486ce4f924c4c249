//! The two paid two-factor providers, simulated at `POST /` on the same address as WeChat: Tencent Cloud
//! FaceID `IdCardVerification` when the request has `X-TC-Action`, Aliyun Cloudauth `Id2MetaVerify` when it
//! has `x-acs-action`. Signatures are checked with the same signers the client uses (`providers::sign`), against
//! the credentials registered through `POST /sandbox/providers/{tencent,aliyun}`; the verdict comes from the
//! people registered through `POST /sandbox/people` (the "authoritative record").
//!
//! Every call goes through [`answer`]: count the call, apply the next queued fault (`result` forces a
//! provider answer; `http_status`, `malformed`, `body` answer without processing; `drop` processes, bills,
//! then closes the connection), process under the state lock, count what is billed by the spec's rules, then
//! delay and respond. Responses carry a `Date` from the sandbox clock, as the real services do, so a client
//! can measure its skew.
mod aliyun;
mod tencent;

use crate::data::Data;
use crate::server::ConnKill;
use crate::wx::{Call, drop_connection, fault_response};
use crate::{Endpoint, SandboxState};
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new().route("/", post(dispatch))
}

async fn dispatch(
    State(state): State<SandboxState>,
    kill: Option<Extension<ConnKill>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let kill = kill.map(|Extension(k)| k);
    if headers.contains_key("x-tc-action") {
        tencent::handle(&state, kill, headers, body).await
    } else if headers.contains_key("x-acs-action") {
        aliyun::handle(&state, kill, uri, headers, body).await
    } else {
        crate::admin::not_found().await
    }
}

/// A provider's answer, before it is sent.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    /// Whether the spec's billing rules bill this answer.
    pub(crate) billed: bool,
    /// What `stats.provider_answers` counts it as: the `Result`, the BizCode, or the error `Code`.
    pub(crate) label: String,
}

type Process<'a> = Box<dyn FnOnce(&mut Data, DateTime<Utc>) -> Reply + Send + 'a>;

/// Run one call of a provider endpoint: faults first, then `process` under the lock, then the answer.
/// `forced` builds the answer a fault's `result` asks for.
pub(crate) async fn answer(
    state: &SandboxState,
    endpoint: Endpoint,
    kill: Option<ConnKill>,
    forced: fn(&str) -> Reply,
    process: Process<'_>,
) -> Response {
    let call = Call::begin(state, endpoint);
    let now = state.now();
    if let Some(fault) = call.answered_by_fault() {
        call.wait().await;
        return with_date(fault_response(fault), now);
    }
    let fault = call.fault();
    let mut reply = match fault.and_then(|f| f.result.as_deref()) {
        Some(result) => forced(result),
        None => state.with(|data, now, _| process(data, now)),
    };
    if let Some(text) = fault.and_then(|f| f.errmsg.as_deref()) {
        reply.replace_message(text);
    }
    state.with(|data, _, _| {
        if reply.billed {
            data.stats.billed.bump(endpoint);
        }
        *data
            .stats
            .provider_answers
            .entry(format!("{}:{}", endpoint.as_str(), reply.label))
            .or_default() += 1;
    });
    tracing::debug!(
        endpoint = endpoint.as_str(),
        status = reply.status.as_u16(),
        answer = %reply.label,
        billed = reply.billed,
        "provider call answered"
    );
    call.wait().await;
    if call.drops() {
        return drop_connection(kill).await;
    }
    with_date((reply.status, axum::Json(reply.body)).into_response(), now)
}

impl Reply {
    /// A fault's `errmsg` in place of the provider's own sentence (Tencent's `Description` or `Error.Message`,
    /// Aliyun's `Message`): to test that a client never repeats what a provider echoes back.
    fn replace_message(&mut self, text: &str) {
        let body = &mut self.body;
        let slot = if let Some(error) = body.pointer_mut("/Response/Error") {
            error.get_mut("Message")
        } else if let Some(response) = body.get_mut("Response") {
            response.get_mut("Description")
        } else {
            body.get_mut("Message")
        };
        if let Some(slot) = slot {
            *slot = serde_json::Value::String(text.to_owned());
        }
    }
}

/// Sets `Date` from the sandbox clock (hyper would otherwise send the system time).
fn with_date(mut response: Response, now: DateTime<Utc>) -> Response {
    let date = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        response.headers_mut().insert(header::DATE, v);
    }
    response
}

/// A request id shaped like the providers' (a UUID).
pub(crate) fn request_id() -> String {
    let h = crate::data::random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The header's value as text, if present and visible ASCII.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The signed headers' values as the request carried them; `None` if one is missing.
pub(crate) fn signed_values<'a>(
    headers: &'a HeaderMap,
    names: &'a [String],
) -> Option<Vec<(&'a str, &'a str)>> {
    names
        .iter()
        .map(|n| header_str(headers, n).map(|v| (n.as_str(), v)))
        .collect()
}
