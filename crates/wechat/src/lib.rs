//! A typed client for WeChat's real-name check (`intp/realname/checkrealnameinfo`) and the APIs around it
//! (`cgi-bin/token`, `cgi-bin/stable_token`, `sns/jscode2session`), with single-flight access tokens.
//!
//! The check's `code` is single use, so this crate never retries a check blindly: [`Client`] makes exactly
//! one HTTP call per method, and [`RealnameApi`] resends only after a token error (WeChat refused the call
//! before using the code). Secrets (app secret, access token, session key) and personal data (name, ID
//! number) never appear in a `Debug`, a log line or an error; reqwest errors are stripped of their URL, which
//! carries the token.
//!
//! # Layout
//! - `client.rs`: [`Client`], the one place that sends, classifies failures, checks `errcode`, and records
//!   the `wxrn_upstream_*` metrics; `config.rs`: [`ClientConfig`].
//! - `token_api.rs`, `session.rs`, `check.rs`: the endpoints with their request and reply types;
//!   `check.rs` also turns the raw reply into a [`CheckOutcome`] (precedence rules in its docs).
//! - `tokens/`: [`TokenProvider`], [`TokenStore`] and [`MemoryTokenStore`], and [`TokenManager`]
//!   (single-flight, cancellation-safe refresh; `wxrn_token_fetches_total`).
//! - `realname.rs`: [`RealnameApi`], the check with token recovery and the circuit breaker.
//! - `breaker.rs`: [`Breaker`], which stops calling WeChat while it is failing and probes for its return.
//! - `errcode.rs`: [`ErrCode`]; `error.rs`: [`Error`]; `secret.rs`: [`AppSecret`], [`AccessToken`];
//!   `clock.rs`: [`ManualClock`], and [`Clock`] and [`SystemClock`] from `upstream` (the same trait the paid
//!   providers' clients take).

mod breaker;
mod check;
mod client;
mod clock;
mod config;
mod errcode;
mod error;
#[cfg(test)]
mod http_tests;
mod realname;
mod secret;
mod session;
mod token_api;
mod tokens;

pub use breaker::{Breaker, BreakerConfig, BreakerState, Permit, Verdict};
pub use check::{CheckOutcome, CheckRequest, CheckResult};
pub use client::Client;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ClientConfig, WECHAT_API};
pub use errcode::ErrCode;
pub use error::{Error, Result};
pub use realname::RealnameApi;
pub use secret::{AccessToken, AppSecret};
pub use session::Session;
pub use token_api::IssuedToken;
pub use tokens::{
    LockToken, MemoryTokenStore, StoredToken, TokenKey, TokenKind, TokenManager, TokenProvider,
    TokenStatus, TokenStore,
};

pub use secrecy::{ExposeSecret, SecretString};
