//! The HTTP surface: [`router`] builds it from an [`AppState`], with no socket (tests use `oneshot` too).

pub(crate) mod admin;
pub(crate) mod health;
pub(crate) mod idchecks;
pub(crate) mod identities;
mod limits;
pub(crate) mod verify;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::telemetry;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;

pub use idchecks::{IdcheckRequest, IdcheckView};
pub use verify::{VerificationView, VerifyRequest};

pub fn router(state: AppState) -> Router {
    let body_limit = state.cfg.limits.max_body_bytes;
    // Covers the body upload too (`limits::limit_body` reads it): a client that trickles its body is cut off.
    // Headers are read before any of this runs; `startup` limits them (`limits.header_timeout_ms`).
    let request_timeout = state.cfg.request_timeout();
    let language = state.cfg.language;
    Router::new()
        .route("/v1/verifications", post(verify::create))
        .route("/v1/verifications/{id}", get(verify::fetch))
        .route(
            "/v1/identities/{appid}/{openid}",
            get(identities::latest).delete(identities::erase),
        )
        .route("/v1/identities/match", post(identities::matches))
        .route("/v1/idchecks", post(idchecks::create))
        .route("/v1/idchecks/{id}", get(idchecks::fetch))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route(
            "/openapi.json",
            get(|| async { axum::Json(ApiDoc::openapi()) }),
        )
        .merge(admin::routes())
        .fallback(|| async { crate::error::ApiError::NotFound })
        .layer(axum::middleware::from_fn(move |req, next| {
            limits::limit_body(body_limit, req, next)
        }))
        .layer(axum::middleware::from_fn(telemetry::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(
            move |req, next: axum::middleware::Next| async move {
                // A verification past validation runs in its own task and still reaches its audit row.
                match tokio::time::timeout(request_timeout, next.run(req)).await {
                    Ok(response) => response,
                    Err(_) => axum::response::IntoResponse::into_response(ApiError::RequestTimeout),
                }
            },
        ))
        .layer(CatchPanicLayer::custom(
            |_panic: Box<dyn std::any::Any + Send>| {
                // The panic payload is not echoed: it could hold anything.
                axum::response::IntoResponse::into_response(crate::error::ApiError::Internal)
            },
        ))
        // Outermost, so that every error answer (the panic's and the timeout's too) is in the asked language.
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::error::localize(language, req, next)
        }))
        .with_state(state)
}
