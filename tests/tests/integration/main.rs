//! End-to-end tests: the client core and the `ecsp` CLI against the reference server on
//! loopback, with the real OS keyring (scripts/test.sh provides a private Secret Service).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cli;
mod color_cli;
mod consent;
mod crash;
mod keyring;
mod offline;
mod outbox;
mod pipeline;
mod postgres;
mod readme_path;
mod tls;
mod tokens;
