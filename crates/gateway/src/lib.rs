//! The wxrealname verification gateway: the HTTP service a hospital's or a transit company's back end calls to
//! run WeChat's real-name check safely, keep the evidence, and protect the organisation's WeChat permission.
//!
//! # Layout
//! - [`startup`]: `Application::build(cfg)` / `run_until_stopped()`, and [`startup::Deps`] (clock, shared state).
//! - [`serve`]: the HTTP/1.1 connection loops (wait for a complete head, the key checked from the head, keyed
//!   `max_in_flight` and open budgets, hyper per request, idle connections taken back from hyper; a plain hyper
//!   fallback chosen by `limits.connection_loop`).
//! - [`config`]: the TOML + `WXRN_*` configuration.
//! - [`routes`]: the router; `routes/verify/` holds the verification pipeline, one file per step (read its
//!   `mod.rs` first).
//! - [`auth`]: API-key and admin-token checks, their extractors, and the connection loop's gate; [`keys`]:
//!   minting and checking API keys.
//! - [`idcheck`]: the paid name + ID-number providers (Tencent, Aliyun): failover, a breaker each, the daily
//!   budget.
//! - [`pii`]: master key, blind indexes, request fingerprints. Rate limiting is `limits`.
//! - [`error`]: the error envelope, its code -> status table and its languages (`Accept-Language`; sentences in
//!   the `i18n` crate); [`body`]: JSON parsing that never echoes values.
//! - [`maintenance`]: hourly pruning of used codes and idempotent answers past their retention.
//! - [`telemetry`]: Prometheus metrics; [`openapi`]: the generated OpenAPI document.

pub mod anchoring;
pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod idcheck;
pub mod keys;
pub mod maintenance;
pub mod openapi;
pub mod pii;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::Config;
pub use routes::router;
pub use startup::{Application, Deps};
pub use state::AppState;
