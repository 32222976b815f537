//! ecsp-agent integration tests: one binary, one module per area.

mod broker_cluster;
mod cli;
mod remote;
#[cfg(feature = "snmpsim-tests")]
mod snmpsim;
mod upload;

pub mod common;
