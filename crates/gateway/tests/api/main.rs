//! The gateway over real HTTP, with the sandbox as WeChat. One binary; see `helpers.rs` for `TestApp`.

mod admin;
mod api_keys;
mod architecture;
mod bad_input;
mod canary;
mod connections;
mod errors;
mod faults;
mod helpers;
mod idcheck;
mod idchecks;
mod identity_match;
mod languages;
mod messages;
mod outage;
mod outcomes;
mod privacy;
mod records;
mod tokens;
mod user_limit;
