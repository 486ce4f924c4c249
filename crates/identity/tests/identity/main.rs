//! The identity crate's integration tests: one binary, one module per rule family.

mod cred_id;
mod helpers;
mod ids;
mod mask;
mod name;
mod props;
