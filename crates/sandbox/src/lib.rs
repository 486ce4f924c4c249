//! WeChat simulated: the token, login and real-name check endpoints, behaving as
//! `wechat-realname-api.md` says WeChat does, so the product can be developed, demonstrated and tested
//! without WeChat credentials. A product feature, not a mock: `wxrealname sandbox` serves it. The same
//! address also simulates the two paid name + ID-number checks (Tencent Cloud FaceID, Aliyun Cloudauth) at
//! `POST /`, as `second-providers.md` describes them.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let sandbox = sandbox::Sandbox::spawn(listener, sandbox::SandboxConfig::default()).await?;
//! sandbox.state().add_app("wx0123456789abcdef", "secret", true).unwrap();
//! println!("WeChat is at {}", sandbox.base_url());
//! # Ok(()) }
//! ```
//!
//! WeChat's side answers as WeChat does (HTTP 200, `{"errcode", "errmsg"}`); the admin API under
//! `/sandbox/` creates apps and users, issues consent and login codes, injects faults, moves the clock and
//! reports counters. Choices WeChat does not document (code lifetime and binding, force-refresh
//! invalidation, what a fault does) are stated where they are implemented; `README.md` tables the admin API,
//! the fault semantics and these assumptions in one place.
//!
//! # Layout
//! - [`config`]: [`SandboxConfig`] and [`Quotas`].
//! - `state`: [`SandboxState`], the admin actions in process; `data`: what its one mutex guards.
//! - `wx/`: the WeChat endpoints (`token`, `login`, `realname`) and the errcode table.
//! - `two_factor/`: the paid providers at `POST /`: Tencent FaceID `IdCardVerification` and Aliyun Cloudauth
//!   `Id2MetaVerify`, signatures checked with the client's own signers (`providers::sign`).
//! - [`admin`]: the `/sandbox/...` HTTP API and its error envelope.
//! - `consent`: WeChat's consent page for browsers (`/consent`): agree, decline, cancel.
//! - [`faults`]: [`Fault`] and [`Endpoint`], what an injected fault does.
//! - `server`: [`Sandbox::spawn`] and [`SandboxHandle`]; why the accept loop is hand-written.
//! - [`demo`]: the built-in demo apps and users, and the newcomer's banner.
//! - `clock`, [`stats`], [`error`].

pub mod admin;
mod clock;
pub mod config;
mod consent;
mod data;
pub mod demo;
pub mod error;
pub mod faults;
mod server;
mod state;
pub mod stats;
mod two_factor;
mod wx;

pub use config::{Quotas, SandboxConfig};
pub use error::{Result, SandboxError};
pub use faults::{Endpoint, Fault};
pub use server::{Sandbox, SandboxHandle};
pub use state::{AppSummary, SandboxState, TokenStatus};
pub use stats::{Billed, Stats};

use axum::Router;
use axum::http::Request;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;

/// Bodies here are a few hundred bytes; anything near this is a mistake or an attack.
const MAX_BODY: usize = 64 * 1024;

/// The whole HTTP surface (WeChat endpoints and admin API) on `state`, without a socket.
pub fn router(state: SandboxState) -> Router {
    // The span carries the path only: query strings hold secrets, tokens and codes.
    // 5xx answers here are injected faults, not failures of the sandbox: no error-level noise.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            tracing::debug_span!("sandbox", method = %req.method(), path = %req.uri().path())
        })
        .on_failure(DefaultOnFailure::new().level(Level::DEBUG));
    Router::new()
        .merge(wx::routes())
        .merge(two_factor::routes())
        .merge(admin::routes())
        .merge(consent::routes())
        .fallback(admin::not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(trace)
        .with_state(state)
}
