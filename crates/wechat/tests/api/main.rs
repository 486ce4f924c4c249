//! The client against the sandbox, over real HTTP on loopback: one binary, each test on its own sandbox.
mod check;
mod errcodes;
mod helpers;
mod no_resend;
mod session;
mod tls;
mod tokens;
