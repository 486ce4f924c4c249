//! Prometheus metrics. The recorder is global to the process (the `metrics` facade's design), installed once.
//!
//! Metric names (labels never carry personal data; appids and openids are not used as labels either, to keep
//! cardinality bounded):
//! - `wxrn_http_requests_total{route,status}`, `wxrn_http_request_duration_seconds{route}`
//! - `wxrn_verifications_total{result}`: an outcome (`match`, ...) or an error code (`invalid_code`, ...)
//! - `wxrn_upstream_requests_total{endpoint,result}`, `wxrn_upstream_request_duration_seconds{endpoint}`,
//!   `wxrn_token_fetches_total{kind,result}`: from the `wechat` crate.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub fn metrics_handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("buckets are not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (a host application's): then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Counts and times every request by its route template (`/v1/verifications/{id}`, not the raw path).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("wxrn_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("wxrn_http_request_duration_seconds", "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}
