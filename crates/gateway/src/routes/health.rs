//! Liveness, readiness, metrics.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready to verify: the database answers and every app can obtain an access token.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "ready"), (status = 503, description = "a dependency is failing")))]
pub async fn readyz(State(st): State<AppState>) -> (StatusCode, Json<Value>) {
    let mut ok = true;
    let database = match st.store.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            ok = false;
            tracing::warn!(error = %e, "readyz: database");
            "unavailable".to_owned()
        }
    };
    let redis = match &st.redis {
        None => "not configured".to_owned(),
        Some(r) => match r.ping().await {
            Ok(()) => "ok".to_owned(),
            Err(e) => {
                ok = false;
                tracing::warn!(error = %e, "readyz: redis");
                "unavailable".to_owned()
            }
        },
    };
    let mut tokens = serde_json::Map::new();
    for (appid, api) in &st.apps {
        let state = match api.tokens().token().await {
            Ok(_) => "ok".to_owned(),
            Err(e) => {
                ok = false;
                format!("unavailable ({})", e.kind())
            }
        };
        tokens.insert(appid.clone(), Value::String(state));
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"status": if ok {"ok"} else {"unavailable"}, "database": database, "redis": redis, "tokens": tokens}),
        ),
    )
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
pub async fn metrics(
    State(st): State<AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        st.metrics.render(),
    )
}
