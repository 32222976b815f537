//! ecsp-agent integration tests: one binary, one module per area.

mod cli;
mod remote;
#[cfg(feature = "snmpsim-tests")]
mod snmpsim;
mod upload;

pub mod common;
