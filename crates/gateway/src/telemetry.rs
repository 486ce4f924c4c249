//! Prometheus metrics. The recorder is global to the process (the `metrics` facade's design), installed once.
//!
//! Every metric the workspace records is described in [`METRICS`] (its `# HELP` text, its type and unit; a test
//! finds every `wxrn_*` name in the sources and fails if one is missing). Names carry their unit (`_seconds`) or
//! say they count (`_total`). Labels never carry personal data; appids and openids are not used as labels
//! either, to keep cardinality bounded.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{KeyName, Recorder, SharedString, Unit};
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
            for m in METRICS {
                let (name, help) = (KeyName::from(m.name), SharedString::from(m.help));
                match m.kind {
                    Kind::Counter => recorder.describe_counter(name, Some(Unit::Count), help),
                    Kind::Gauge => recorder.describe_gauge(name, Some(Unit::Count), help),
                    Kind::Histogram => recorder.describe_histogram(name, Some(Unit::Seconds), help),
                }
            }
            let handle = recorder.handle();
            // Another recorder may already be installed (a host application's): then ours only renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count that only goes up (`_total`).
    Counter,
    /// A count of things right now.
    Gauge,
    /// Durations, in seconds (`_seconds`).
    Histogram,
}

/// One metric: its name, type and `# HELP` text.
#[derive(Debug)]
pub struct Described {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn m(name: &'static str, kind: Kind, help: &'static str) -> Described {
    Described { name, kind, help }
}

/// Every metric recorded in the workspace (gateway, `wechat`, `providers`).
pub const METRICS: &[Described] = &[
    m(
        "wxrn_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by route template and status code.",
    ),
    m(
        "wxrn_http_request_duration_seconds",
        Kind::Histogram,
        "Time to answer an HTTP request, in seconds, by route template.",
    ),
    m(
        "wxrn_verifications_total",
        Kind::Counter,
        "Verifications by result: an outcome (match, id_mismatch, ...) or an error code.",
    ),
    m(
        "wxrn_verification_duration_seconds",
        Kind::Histogram,
        "Time from a validated verification request to its recorded result, in seconds.",
    ),
    m(
        "wxrn_identity_erasures_total",
        Kind::Counter,
        "Identity bindings erased on request (DELETE /v1/identities/{appid}/{openid}).",
    ),
    m(
        "wxrn_identity_matches_total",
        Kind::Counter,
        "POST /v1/identities/match calls recorded, by result: match, mismatch, no_identity or an error code.",
    ),
    m(
        "wxrn_idchecks_total",
        Kind::Counter,
        "POST /v1/idchecks calls by result (match, mismatch, no_record or an error code) and cached (true: answered from an earlier verdict, no provider call).",
    ),
    m(
        "wxrn_idcheck_duration_seconds",
        Kind::Histogram,
        "Time from a validated idcheck request to its recorded result, in seconds (the cache and every provider tried).",
    ),
    m(
        "wxrn_idcheck_budget_left",
        Kind::Gauge,
        "Paid provider calls left in today's idcheck.daily_budget (Asia/Shanghai day, all instances); absent without a budget.",
    ),
    m(
        "wxrn_upstream_requests_total",
        Kind::Counter,
        "Calls to WeChat by endpoint and result (ok, an errcode, timeout, not_sent, ...).",
    ),
    m(
        "wxrn_upstream_request_duration_seconds",
        Kind::Histogram,
        "Time a call to WeChat took, in seconds, by endpoint.",
    ),
    m(
        "wxrn_token_fetches_total",
        Kind::Counter,
        "Access-token fetches from WeChat by token kind (stable, classic) and result.",
    ),
    m(
        "wxrn_upstream_breakers_open",
        Kind::Gauge,
        "Apps whose circuit breaker is open or half-open now (WeChat failing for them).",
    ),
    m(
        "wxrn_upstream_breaker_transitions_total",
        Kind::Counter,
        "Circuit-breaker state changes, by the state entered (open, half_open, closed).",
    ),
    m(
        "wxrn_upstream_breaker_rejected_total",
        Kind::Counter,
        "Verifications refused without calling WeChat because the app's circuit was open.",
    ),
    m(
        "wxrn_provider_requests_total",
        Kind::Counter,
        "Calls to a third-party verification provider by provider and result.",
    ),
    m(
        "wxrn_provider_request_duration_seconds",
        Kind::Histogram,
        "Time a provider call took, in seconds, by provider.",
    ),
    m(
        "wxrn_provider_billed_total",
        Kind::Counter,
        "Provider calls the provider says it billed, by provider.",
    ),
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every `wxrn_*` metric name recorded anywhere in the workspace's sources.
    fn recorded_names() -> Vec<String> {
        fn walk(dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for macro_name in ["counter!(", "gauge!(", "histogram!("] {
                        for part in text.split(macro_name).skip(1) {
                            let part = part.trim_start();
                            if let Some(rest) = part.strip_prefix("\"wxrn_") {
                                let name = rest.split('"').next().unwrap();
                                out.push(format!("wxrn_{name}"));
                            }
                        }
                    }
                }
            }
        }
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut out = Vec::new();
        for c in std::fs::read_dir(&crates).unwrap() {
            let src = c.unwrap().path().join("src");
            if src.is_dir() {
                walk(&src, &mut out);
            }
        }
        walk(&crates.join("../src"), &mut out);
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn every_recorded_metric_is_described_with_its_unit_in_the_name() {
        let names = recorded_names();
        assert!(names.len() >= 10, "found {names:?}");
        for name in &names {
            let d = METRICS.iter().find(|m| m.name == name).unwrap_or_else(|| {
                panic!("{name} is recorded but not described in telemetry::METRICS")
            });
            match d.kind {
                Kind::Counter => assert!(name.ends_with("_total"), "{name}"),
                Kind::Histogram => assert!(name.ends_with("_seconds"), "{name}"),
                Kind::Gauge => {}
            }
            assert!(d.help.ends_with('.'), "{name}: help is a sentence");
        }
        for m in METRICS {
            assert!(
                names.iter().any(|n| n == m.name),
                "{} is described but never recorded",
                m.name
            );
        }
    }
}
