//! The gateway over real HTTP, with the sandbox as WeChat. One binary; see `helpers.rs` for `TestApp`.

mod admin;
mod errors;
mod helpers;
mod outage;
mod outcomes;
mod privacy;
mod records;
mod tokens;
