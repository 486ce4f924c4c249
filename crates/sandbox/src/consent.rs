//! The consent page: what WeChat shows the user after `wx.navigateToMiniProgram` jumps to City Services, played
//! in a browser. A mini program played by a web page (the demo's, or a test's) sends the user here instead.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /consent?appid&openid&return_url&state` | the page: who asks, what is checked, agree / decline |
//! | `POST /consent` (form: the same fields, `action=agree\|decline`) | agree: a code exactly as `POST /sandbox/consent` issues it, then `303` to `return_url?code=..&state=..`; decline: `303` to `return_url?reason=declined&state=..` |
//! | `GET /consent/cancel?appid&return_url&state` | the page's back arrow: `303` to `return_url?reason=cancelled&state=..` |
//! | `GET /consent/consent.css` | the stylesheet |
//!
//! WeChat hands the code back through `extraData`; a web page has only its URL, so the code travels in the return
//! URL's query. `return_url` must be an absolute `http`/`https` URL; anything else is refused with an HTML error
//! page and no redirect (the sandbox is not an open redirector for `javascript:` or relative tricks). Unknown
//! apps and users get a 404 page, as the admin API's `unknown_app` / `unknown_user` do.
//!
//! Everything rendered is HTML-escaped, and the pages carry a CSP without scripts. Nothing here logs a query:
//! the state and the code are the caller's secrets.

mod page;

use crate::{SandboxError, SandboxState};
use axum::Router;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

/// Longest `return_url` accepted; longer is a mistake or an attack.
const MAX_RETURN_URL: usize = 2048;
/// Longest `state` echoed back (WeChat-style state parameters are short opaque strings).
const MAX_STATE: usize = 512;

pub(crate) fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/consent", get(show).post(decide))
        .route("/consent/cancel", get(cancel))
        .layer(page_headers::layer(PAGE_CSP, "no-store"))
        .route("/consent/consent.css", get(stylesheet))
}

/// The page's fields, from the query (`GET`) or the form (`POST`). All optional so that a missing one gets a
/// readable page instead of axum's plain-text rejection.
#[derive(Deserialize, Default)]
struct Fields {
    appid: Option<String>,
    openid: Option<String>,
    return_url: Option<String>,
    state: Option<String>,
    action: Option<String>,
}

/// What the page needs, checked.
struct Request {
    appid: String,
    openid: String,
    return_url: String,
    state: Option<String>,
}

/// Why the page cannot be shown or the decision not carried out: a status and a sentence for the user.
#[derive(Debug)]
struct PageError {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl PageError {
    fn bad(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "请求无效 · Invalid request",
            detail: detail.into(),
        }
    }
}

impl From<SandboxError> for PageError {
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::UnknownApp(_) => Self {
                status: StatusCode::NOT_FOUND,
                title: "找不到该小程序 · Unknown mini program",
                detail: e.to_string(),
            },
            SandboxError::UnknownUser { .. } => Self {
                status: StatusCode::NOT_FOUND,
                title: "找不到该用户 · Unknown user",
                detail: e.to_string(),
            },
            SandboxError::InvalidRequest(d) => Self::bad(d),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        html(self.status, page::error(self.title, &self.detail))
    }
}

/// No script at all; the form may post here and its answer may redirect to any http(s) return URL.
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                        form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

/// An HTML page; the page headers come from the layer on the page routes.
fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn required(v: Option<String>, name: &str) -> Result<String, PageError> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| PageError::bad(format!("the parameter {name} is missing")))
}

impl Fields {
    /// Check the fields every route needs; `openid` only when `need_user`.
    fn check(self, need_user: bool) -> Result<Request, PageError> {
        let appid = required(self.appid, "appid")?;
        let openid = if need_user {
            required(self.openid, "openid")?
        } else {
            self.openid.unwrap_or_default()
        };
        let return_url = required(self.return_url, "return_url")?;
        check_return_url(&return_url).map_err(PageError::bad)?;
        let state = self.state.filter(|s| !s.is_empty());
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE) {
            return Err(PageError::bad(format!(
                "state must be at most {MAX_STATE} bytes"
            )));
        }
        Ok(Request {
            appid,
            openid,
            return_url,
            state,
        })
    }
}

fn from_query(q: Result<Query<Fields>, QueryRejection>) -> Result<Fields, PageError> {
    q.map(|Query(f)| f)
        .map_err(|_| PageError::bad("the query string could not be read"))
}

/// `GET /consent`: the page.
async fn show(
    State(s): State<SandboxState>,
    q: Result<Query<Fields>, QueryRejection>,
) -> Result<Response, PageError> {
    let req = from_query(q)?.check(true)?;
    s.with(|data, _, _| data.check_users(&req.appid, &[&req.openid]))?;
    tracing::debug!(appid = %req.appid, "consent page shown");
    Ok(html(StatusCode::OK, page::consent(&page::View::of(&req))))
}

/// `POST /consent`: the user tapped agree or decline.
async fn decide(
    State(s): State<SandboxState>,
    f: Result<Form<Fields>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(fields) = f.map_err(|_| PageError::bad("the form could not be read"))?;
    let action = fields.action.clone().unwrap_or_default();
    let req = fields.check(true)?;
    let params: Vec<(&str, String)> = match action.as_str() {
        "agree" => {
            let code = s.consent(&req.appid, &req.openid)?;
            vec![("code", code)]
        }
        "decline" => {
            s.with(|data, _, _| data.check_users(&req.appid, &[&req.openid]))?;
            tracing::debug!(appid = %req.appid, "consent declined");
            vec![("reason", "declined".to_owned())]
        }
        _ => return Err(PageError::bad("action must be agree or decline")),
    };
    Ok(back_to(&req, params))
}

/// `GET /consent/cancel`: the back arrow; the user left without deciding.
async fn cancel(
    State(s): State<SandboxState>,
    q: Result<Query<Fields>, QueryRejection>,
) -> Result<Response, PageError> {
    let req = from_query(q)?.check(false)?;
    // Only for a known app: otherwise this would be a redirector for anyone's URL.
    if !s.apps().iter().any(|a| a.appid == req.appid) {
        return Err(SandboxError::UnknownApp(req.appid).into());
    }
    Ok(back_to(&req, vec![("reason", "cancelled".to_owned())]))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("../assets/consent.css"),
    )
        .into_response()
}

/// `303 See Other` to the return URL with `params` and the state added to its query.
fn back_to(req: &Request, mut params: Vec<(&str, String)>) -> Response {
    if let Some(state) = &req.state {
        params.push(("state", state.clone()));
    }
    let target = with_query(&req.return_url, &params);
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            let mut resp = StatusCode::SEE_OTHER.into_response();
            resp.headers_mut().insert(header::LOCATION, location);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        // Unreachable: the URL was checked to be visible ASCII and the parameters are percent-encoded.
        Err(_) => PageError::bad("return_url is not a valid URL").into_response(),
    }
}

/// An absolute `http`/`https` URL with a host, in visible ASCII (browsers percent-encode the rest before sending).
pub(crate) fn check_return_url(url: &str) -> Result<(), String> {
    if url.len() > MAX_RETURN_URL {
        return Err(format!("return_url must be at most {MAX_RETURN_URL} bytes"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) || url.contains('\\') {
        return Err(
            "return_url must be a URL in visible ASCII, with no spaces or backslashes".into(),
        );
    }
    let lower = url.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme))
        .ok_or("return_url must be an absolute http:// or https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err("return_url must name a host".into());
    }
    Ok(())
}

/// `url` with `params` appended to its query, before any fragment.
pub(crate) fn with_query(url: &str, params: &[(&str, String)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    let mut sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (k, v) in params {
        out.push_str(sep);
        out.push_str(&encode(k));
        out.push('=');
        out.push_str(&encode(v));
        sep = "&";
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_must_be_absolute_http() {
        for ok in [
            "http://127.0.0.1:8081/return",
            "https://example.com",
            "HTTPS://example.com/a?b=c#d",
            "http://user@host:1/x",
        ] {
            assert_eq!(check_return_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "/return",
            "//evil.example/",
            "ftp://example.com/",
            "http:///path",
            "http://:80/",
            "https:\\\\evil.example",
            "http://exa mple.com/",
            "data:text/html,<script>alert(1)</script>",
            "",
        ] {
            assert!(check_return_url(bad).is_err(), "{bad}");
        }
        assert!(check_return_url(&format!("http://a/{}", "x".repeat(MAX_RETURN_URL))).is_err());
    }

    #[test]
    fn parameters_are_appended_before_the_fragment_and_encoded() {
        let p = |v: &str| vec![("code", "abc".to_owned()), ("state", v.to_owned())];
        assert_eq!(
            with_query("http://h/r", &p("s 1&x=<y>")),
            "http://h/r?code=abc&state=s%201%26x%3D%3Cy%3E"
        );
        assert_eq!(
            with_query("http://h/r?a=1#top", &p("z")),
            "http://h/r?a=1&code=abc&state=z#top"
        );
        assert_eq!(
            with_query("http://h/r?", &p("z")),
            "http://h/r?code=abc&state=z"
        );
        assert_eq!(
            with_query("http://h/r", &p("状态")),
            "http://h/r?code=abc&state=%E7%8A%B6%E6%80%81"
        );
    }
}
