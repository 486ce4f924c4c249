//! The sandbox over real HTTP: one sandbox on port 0 per test, driven with reqwest. Expiry is tested by
//! moving the sandbox clock, never by sleeping.
mod helpers;

mod admin;
mod consent_page;
mod demo;
mod faults;
mod login;
mod logs;
mod providers;
mod realname;
mod tokens;
