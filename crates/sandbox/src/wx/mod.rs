//! The four WeChat endpoints, answered as WeChat answers: HTTP 200 with `{"errcode", "errmsg"}` on failure.
//!
//! Every endpoint goes through [`answer`]: count the call, apply the next queued fault, process the request
//! under the state lock, then delay (the configured `upstream_delay` plus any fault's), drop or respond.
mod errcode;
mod login;
mod realname;
mod token;

pub(crate) use errcode::WxError;

use crate::data::Data;
use crate::server::ConnKill;
use crate::{Endpoint, Fault, SandboxConfig, SandboxState};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/cgi-bin/token", get(token::classic))
        .route("/cgi-bin/stable_token", post(token::stable))
        .route("/sns/jscode2session", get(login::jscode2session))
        .route(
            "/intp/realname/checkrealnameinfo",
            post(realname::checkrealnameinfo),
        )
}

/// Query parameters, read leniently: WeChat answers a missing parameter with an errcode, never with a 400.
pub(crate) type Params = HashMap<String, String>;

pub(crate) fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

type Process<'a> =
    Box<dyn FnOnce(&mut Data, DateTime<Utc>, &SandboxConfig) -> Result<Value, WxError> + Send + 'a>;

/// Run one call of `endpoint`: faults first, then `process` under the lock, then the answer.
pub(crate) async fn answer(
    state: &SandboxState,
    endpoint: Endpoint,
    kill: Option<ConnKill>,
    process: Process<'_>,
) -> Response {
    let call = Call::begin(state, endpoint);
    if let Some(fault) = call.answered_by_fault() {
        if let Some(code) = fault.errcode {
            state.with(|data, _, _| *data.stats.errcodes.entry(code).or_default() += 1);
        }
        call.wait().await;
        return fault_response(fault);
    }

    let result = state.with(|data, now, cfg| {
        let result = process(data, now, cfg);
        if let Err(e) = &result {
            *data.stats.errcodes.entry(e.0).or_default() += 1;
        }
        result
    });
    let errcode = result.as_ref().map_or_else(|e| e.0, |_| 0);
    tracing::debug!(
        endpoint = endpoint.as_str(),
        errcode,
        "wechat call answered"
    );
    call.wait().await;
    if call.drops() {
        return drop_connection(kill).await;
    }
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// One call of an endpoint, WeChat's or a provider's, as far as faults go: counted, its fault (if one is queued)
/// taken, and the delay it waits before it answers.
pub(crate) struct Call {
    endpoint: Endpoint,
    fault: Option<Fault>,
    /// The configured `upstream_delay` plus the fault's; `None` when there is nothing to wait.
    delay: Option<Duration>,
}

impl Call {
    /// Count a call of `endpoint` and take the next fault queued for it.
    pub(crate) fn begin(state: &SandboxState, endpoint: Endpoint) -> Self {
        let fault = state.with(|data, _, _| {
            data.stats.calls.bump(endpoint);
            let fault = next_fault(data, endpoint);
            if fault.is_some() {
                data.stats.faults_applied += 1;
            }
            fault
        });
        let delay = fault
            .as_ref()
            .and_then(Fault::delay_duration)
            .unwrap_or_default()
            + state.config().upstream_delay;
        Self {
            endpoint,
            fault,
            delay: Some(delay).filter(|d| !d.is_zero()),
        }
    }

    /// The fault, when it answers the call alone (the call is not processed).
    pub(crate) fn answered_by_fault(&self) -> Option<&Fault> {
        let fault = self.fault.as_ref().filter(|f| f.short_circuits())?;
        tracing::debug!(endpoint = self.endpoint.as_str(), "fault answered the call");
        Some(fault)
    }

    /// The fault taken for this call, if any.
    pub(crate) fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref()
    }

    /// Wait the call's delay (real time).
    pub(crate) async fn wait(&self) {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
    }

    /// Whether the call, once processed, ends with the connection dropped instead of an answer.
    pub(crate) fn drops(&self) -> bool {
        self.fault.as_ref().is_some_and(|f| f.drop)
    }
}

fn next_fault(data: &mut Data, endpoint: Endpoint) -> Option<Fault> {
    let queue = data.faults.get_mut(&endpoint)?;
    let front = queue.front_mut()?;
    let fault = Fault {
        times: 1,
        ..front.clone()
    };
    front.times -= 1;
    if front.times == 0 {
        queue.pop_front();
    }
    Some(fault)
}

pub(crate) fn fault_response(fault: &Fault) -> Response {
    if let Some(code) = fault.errcode {
        return match &fault.errmsg {
            Some(msg) => axum::Json(json!({"errcode": code, "errmsg": msg})).into_response(),
            None => WxError(code).into_response(),
        };
    }
    if let Some(status) = fault.http_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        let reason = status.canonical_reason().unwrap_or("Error");
        let html = format!(
            "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
            code = status.as_u16()
        );
        return (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/html"))],
            html,
        )
            .into_response();
    }
    if fault.malformed {
        // A body cut short, still labelled JSON: what a broken proxy or a truncated read looks like.
        let body = r#"{"errcode":0,"errmsg":"ok","verify_openid":"V_OP_NM_"#;
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; encoding=utf-8"),
            )],
            body,
        )
            .into_response();
    }
    axum::Json(fault.body.clone().unwrap_or(Value::Null)).into_response()
}

/// Close the connection without a response. Served by [`crate::Sandbox`], the socket is closed before a
/// single byte of response; under another server (no [`ConnKill`]), the headers go out and the body then
/// fails, which a client also sees as an error, only later.
pub(crate) async fn drop_connection(kill: Option<ConnKill>) -> Response {
    match kill {
        Some(kill) => {
            kill.fire();
            // The connection task drops this future together with the socket.
            std::future::pending().await
        }
        None => {
            let failing = futures::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::other(
                    "connection dropped by a sandbox fault",
                ))
            });
            Body::from_stream(failing).into_response()
        }
    }
}
