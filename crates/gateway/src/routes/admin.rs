//! The admin console, served by the gateway itself: `GET /admin` is a static page (HTML, CSS and JS compiled into
//! the binary, no CDN), and the page reads JSON from `/admin/api/...` with the admin token as a bearer token.
//!
//! | route | answers |
//! | --- | --- |
//! | `GET /admin` (+ `/admin/admin.js`, `/admin/admin.css`) | the console; asks for the admin token, keeps it in `sessionStorage` |
//! | `GET /admin/api/verifications?limit=50` | the newest audit rows, masked values only (at most 500) |
//! | `GET /admin/api/overview?window=hour\|day` | outcomes per minute (hour) or per hour (day), WeChat errcodes, rate-limit rejections |
//! | `GET /admin/api/tokens` | the access token of every configured app: age, next refresh, fetches, last error |
//!
//! The page is bilingual (Chinese, or English for an English browser; a switch in the header, remembered in
//! `localStorage`; its sentences in admin.js's `TEXT`) and shows times in a named zone, Asia/Shanghai unless the
//! reader picks UTC or the browser's (the JSON's times are RFC 3339 UTC).
//!
//! The page needs no token to load (it holds no data); every `/admin/api/` call does (401 without it, or when the
//! gateway has no `admin_token` configured). Nothing here returns a raw name or ID number: the audit trail holds
//! none.

mod overview;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::routes::VerificationView;
use crate::state::{AppState, rfc3339, to_ms};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use overview::Window;
use serde::{Deserialize, Serialize};

/// Most rows one overview reads: a busy gateway's last hour may hold more, and then the answer says `truncated`.
const MAX_ROWS: i64 = 5_000;
const MAX_LIST: i64 = 500;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(page))
        .route("/admin/", get(page))
        .route("/admin/admin.js", get(script))
        .route("/admin/admin.css", get(stylesheet))
        .layer(page_headers::layer(CSP, "no-cache"))
        .route("/admin/api/verifications", get(verifications))
        .route("/admin/api/overview", get(overview))
        .route("/admin/api/tokens", get(tokens))
}

/// Same-origin everything; the data arrives by `fetch` and is put in the page as text, never as markup.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// A static asset; the page headers come from the layer.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn page() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../../assets/admin.html"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/admin.js"),
    )
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/admin.css"),
    )
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

/// One audit row as the console lists it: the API's masked view plus what operators look at.
#[derive(Debug, Serialize)]
struct Row {
    /// `verification`, `idcheck` or `identity_match`.
    kind: String,
    #[serde(flatten)]
    view: VerificationView,
    errcode: Option<i64>,
    latency_ms: i64,
    key_id: String,
    seq: i64,
}

use i18n::api::request::{ADMIN_LIMIT as LIMIT_RANGE, ADMIN_WINDOW as WINDOW};

async fn verifications(
    _: Admin,
    State(st): State<AppState>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q
        .map_err(|_| ApiError::InvalidRequest(LIMIT_RANGE.msg(&[("max", &MAX_LIST)])))?
        .0
        .limit
        .unwrap_or(50);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(ApiError::InvalidRequest(
            LIMIT_RANGE.msg(&[("max", &MAX_LIST)]),
        ));
    }
    let rows: Vec<Row> = st
        .store
        .recent(limit)
        .await?
        .iter()
        .map(|r| Row {
            kind: r.entry.kind.clone(),
            view: VerificationView::from(r),
            errcode: r.entry.errcode,
            latency_ms: r.entry.latency_ms,
            key_id: r.entry.key_id.clone(),
            seq: r.seq,
        })
        .collect();
    Ok(Json(serde_json::json!({ "verifications": rows })))
}

#[derive(Debug, Deserialize)]
struct OverviewQuery {
    window: Option<String>,
}

async fn overview(
    _: Admin,
    State(st): State<AppState>,
    q: Result<Query<OverviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<overview::Overview>, ApiError> {
    let q = q.map_err(|_| ApiError::invalid_request(WINDOW))?;
    let window =
        Window::parse(q.window.as_deref()).ok_or_else(|| ApiError::invalid_request(WINDOW))?;
    let rows = st.store.recent(MAX_ROWS).await?;
    let capped = rows.len() as i64 >= MAX_ROWS;
    // Identity-match rows are in the trail, not in these counts: they are no checks.
    let rows: Vec<_> = rows
        .into_iter()
        .filter(|r| r.entry.kind != store::KIND_IDENTITY_MATCH)
        .collect();
    Ok(Json(overview::summarise(
        &rows,
        st.now_ms(),
        window,
        capped,
    )))
}

/// One app's access token, as its provider sees it. Holds no token.
#[derive(Debug, Serialize)]
struct TokenRow {
    appid: String,
    kind: &'static str,
    /// A token is held and has not expired.
    cached: bool,
    fetched_at: Option<String>,
    age_secs: Option<i64>,
    expires_in_secs: Option<i64>,
    /// Seconds until the provider refreshes ahead of expiry (negative: overdue, the next call refreshes).
    refresh_in_secs: Option<i64>,
    fetches: u64,
    failures: u64,
    last_error: Option<String>,
}

async fn tokens(_: Admin, State(st): State<AppState>) -> Json<serde_json::Value> {
    let now = st.now_ms();
    let secs = |t: Option<std::time::SystemTime>| t.map(|t| (to_ms(t) - now).div_euclid(1000));
    let apps: Vec<TokenRow> = st
        .apps
        .iter()
        .map(|(appid, api)| {
            let s = api.tokens().status();
            TokenRow {
                appid: appid.clone(),
                kind: s.kind.as_str(),
                cached: s.cached,
                fetched_at: s.fetched_at.map(|t| rfc3339(to_ms(t))),
                age_secs: secs(s.fetched_at).map(|d| -d),
                expires_in_secs: secs(s.expires_at),
                refresh_in_secs: secs(s.refresh_at),
                fetches: s.fetches,
                failures: s.failures,
                last_error: s.last_error,
            }
        })
        .collect();
    Json(serde_json::json!({ "now": rfc3339(now), "apps": apps }))
}
